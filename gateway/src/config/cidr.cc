#include "config/cidr.h"

#include <charconv>

#include <fmt/format.h>

namespace h2gate {
namespace net = boost::asio;

namespace {

std::string_view Trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return s;
}

bool PrefixMatches(const std::uint8_t* a, const std::uint8_t* b, int bits) {
  for (int i = 0; bits > 0; ++i, bits -= 8) {
    const std::uint8_t mask = bits >= 8 ? 0xff : static_cast<std::uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (b[i] & mask)) return false;
  }
  return true;
}

}  // namespace

std::optional<CidrList> CidrList::Parse(std::string_view text, std::string* why) {
  CidrList list;
  text = Trim(text);
  if (text.empty() || text == "none") return list;
  if (text == "all") {
    list.all_ = true;
    return list;
  }
  while (!text.empty()) {
    const auto comma = text.find(',');
    const std::string_view entry = Trim(text.substr(0, comma));
    text = comma == std::string_view::npos ? std::string_view() : text.substr(comma + 1);
    const auto slash = entry.find('/');
    boost::system::error_code ec;
    const auto address = net::ip::make_address(std::string(entry.substr(0, slash)), ec);
    if (ec) {
      *why = fmt::format("{:?} is not an IP address or range (like 10.0.0.0/8 or ::1)", entry);
      return std::nullopt;
    }
    Range r;
    r.v6 = address.is_v6();
    const int max = r.v6 ? 128 : 32;
    r.prefix = max;
    if (slash != std::string_view::npos) {
      const std::string_view bits = entry.substr(slash + 1);
      const auto [end, err] = std::from_chars(bits.data(), bits.data() + bits.size(), r.prefix);
      if (err != std::errc() || end != bits.data() + bits.size() || bits.empty() || r.prefix < 0 ||
          r.prefix > max) {
        *why = fmt::format("{:?}: the prefix length must be 0 to {}", entry, max);
        return std::nullopt;
      }
    }
    if (r.v6) {
      r.bytes = address.to_v6().to_bytes();
    } else {
      const auto v4 = address.to_v4().to_bytes();
      std::copy(v4.begin(), v4.end(), r.bytes.begin());
    }
    list.ranges_.push_back(r);
  }
  return list;
}

bool CidrList::Contains(const net::ip::address& address) const {
  if (all_) return true;
  std::array<std::uint8_t, 16> bytes{};
  bool v6 = address.is_v6();
  if (v6 && address.to_v6().is_v4_mapped()) {
    const auto v4 = net::ip::make_address_v4(net::ip::v4_mapped, address.to_v6()).to_bytes();
    std::copy(v4.begin(), v4.end(), bytes.begin());
    v6 = false;
  } else if (v6) {
    bytes = address.to_v6().to_bytes();
  } else {
    const auto v4 = address.to_v4().to_bytes();
    std::copy(v4.begin(), v4.end(), bytes.begin());
  }
  for (const Range& r : ranges_) {
    if (r.v6 == v6 && PrefixMatches(r.bytes.data(), bytes.data(), r.prefix)) return true;
  }
  return false;
}

std::string CidrList::ToString() const {
  if (all_) return "all";
  if (ranges_.empty()) return "none";
  std::string out;
  for (const Range& r : ranges_) {
    if (!out.empty()) out += ',';
    if (r.v6) {
      net::ip::address_v6::bytes_type b;
      std::copy(r.bytes.begin(), r.bytes.end(), b.begin());
      out += net::ip::address_v6(b).to_string();
    } else {
      out += net::ip::address_v4({r.bytes[0], r.bytes[1], r.bytes[2], r.bytes[3]}).to_string();
    }
    out += fmt::format("/{}", r.prefix);
  }
  return out;
}

}  // namespace h2gate
