// Address ranges from operator settings ("10.0.0.0/8,::1/128"), matched against a peer's
// address. Pure: parsed once at start-up, matched per connection without allocating.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/asio/ip/address.hpp>

namespace h2gate {

class CidrList {
 public:
  // "none" or "" (matches nothing), "all" (matches everything), or comma-separated ranges:
  // IPv4 or IPv6 literals, each with an optional /prefix (a bare address is one host). Returns
  // nullopt with `*why` set if an entry is not a range.
  static std::optional<CidrList> Parse(std::string_view text, std::string* why);

  // An IPv4-mapped IPv6 address (::ffff:10.0.0.1) matches IPv4 ranges.
  bool Contains(const boost::asio::ip::address& address) const;
  bool empty() const { return !all_ && ranges_.empty(); }
  bool all() const { return all_; }
  // The setting as given, normalised: "none", "all", or the ranges joined by commas.
  std::string ToString() const;

 private:
  struct Range {
    std::array<std::uint8_t, 16> bytes{};  // IPv4 in the first 4
    bool v6 = false;
    int prefix = 0;
  };
  bool all_ = false;
  std::vector<Range> ranges_;
};

}  // namespace h2gate
