// Who still calls gRPC paths over HTTP/1.x: the heaviest callers, in bounded memory.
//
// A space-saving sketch (Metwally et al., 2005) of fixed capacity K: a caller already tracked is
// counted exactly; a new caller, when the table is full, replaces the one with the lowest count
// and inherits that count as its possible overestimate (`error`). Any caller with more than
// total/K calls is guaranteed to be in the table.
#pragma once

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace h2gate {

class LegacyCallers {
 public:
  using Clock = std::chrono::system_clock;

  struct Entry {
    std::string client;      // peer IP, or the first X-Forwarded-For hop when trusted
    std::string user_agent;  // clipped
    std::string method;      // the gRPC path called
    bool registered = false;
    std::string policy = "reject";     // what the caller got
    std::string http_version = "1.1";  // how it called last: "1.0", "1.1" or "2"
    std::string tls_subject;           // its client certificate's, last seen (mTLS); clipped
    std::uint64_t count = 0;
    std::uint64_t error = 0;  // count may overstate the truth by up to this
    Clock::time_point first_seen;
    Clock::time_point last_seen;
    Clock::time_point last_logged;
  };

  // Longer user agents and paths are clipped to this many bytes before keying.
  static constexpr std::size_t kMaxFieldBytes = 128;

  explicit LegacyCallers(std::size_t capacity) : capacity_(capacity) {}

  // Counts one call. Returns true if this caller has not been logged within `log_every`, and
  // marks it logged: per-caller rate limiting for the rejection log.
  // `policy` is what the call got ("reject", "warn" or "allow"), `http_version` what it came
  // over; the latest of each is kept.
  bool Record(std::string_view client, std::string_view user_agent, std::string_view method,
              bool registered, Clock::time_point now, std::chrono::seconds log_every,
              std::string_view policy = "reject", std::string_view http_version = "1.1",
              std::string_view tls_subject = {});

  // The tracked callers, heaviest first; at most `limit`.
  std::vector<Entry> Top(std::size_t limit) const;
  std::uint64_t total() const;
  void Reset();

  std::string RenderJson(std::size_t limit) const;
  std::string RenderText(std::size_t limit) const;

 private:
  struct Snapshot {
    std::vector<Entry> top;
    std::uint64_t total = 0;
    Clock::time_point since;
  };
  // One consistent copy, heaviest first, at most `limit` entries.
  Snapshot Take(std::size_t limit) const;
  static std::string Key(std::string_view client, std::string_view user_agent,
                         std::string_view method);

  const std::size_t capacity_;
  mutable std::mutex mu_;
  std::vector<Entry> entries_;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  // Key() -> position in entries_
  std::unordered_map<std::string, std::size_t, Hash, std::equal_to<>> index_;
  std::uint64_t total_ = 0;
  Clock::time_point since_ = Clock::now();
};

}  // namespace h2gate
