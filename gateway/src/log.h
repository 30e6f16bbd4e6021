// Logging helpers: one line format for all connection logs, and a limiter for hot paths.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <string_view>

namespace h2gate {

// Sets up spdlog's default logger: stderr, UTC timestamps, the given level.
void SetUpLogging(std::string_view level);

// Allows at most `per_second` events in each one-second window, across threads; the first event
// allowed after a suppressed run learns how many were dropped, so the log says so.
class LogLimiter {
 public:
  explicit LogLimiter(std::uint32_t per_second) : per_second_(per_second) {}
  // True if this event may be logged; `suppressed` gets the count dropped since the last allowed.
  bool Allow(std::uint64_t* suppressed);

 private:
  const std::uint32_t per_second_;
  std::atomic<std::int64_t> window_{0};
  std::atomic<std::uint32_t> used_{0};
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace h2gate
