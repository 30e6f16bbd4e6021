// Logging: one line format for the whole process (text or JSON), structured events, and a
// limiter for hot paths.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <initializer_list>
#include <string_view>

#include <spdlog/common.h>

namespace h2gate {

// Sets up spdlog's default logger: stderr, UTC timestamps, the given level; `format` is "text"
// or "json" (one JSON object per line: time, level, msg, and an event's fields).
void SetUpLogging(std::string_view level, std::string_view format = "text");

struct LogField {
  std::string_view key;
  std::string_view value;
};

// Logs an event with named fields: "msg key=value ..." as text, or fields of the JSON object.
void LogEvent(spdlog::level::level_enum level, std::string_view msg,
              std::initializer_list<LogField> fields);

// Allows at most `per_second` events in each one-second window, across threads; the first event
// allowed after a suppressed run learns how many were dropped, so the log says so.
class LogLimiter {
 public:
  explicit LogLimiter(std::uint32_t per_second) : per_second_(per_second) {}
  // True if this event may be logged; `suppressed` gets the count dropped since the last allowed.
  bool Allow(std::uint64_t* suppressed);

 private:
  const std::uint32_t per_second_;
  std::atomic<std::uint64_t> state_{0};  // second (high 32 bits), calls allowed in it (low 32)
  std::atomic<std::uint64_t> dropped_{0};
};

}  // namespace h2gate
