#include "obs/log.h"

#include <algorithm>

#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include "call/json.h"

namespace h2gate {
namespace {

std::atomic<bool> g_json{false};

// Marks a message whose payload is already JSON members ("msg":...,"key":...).
constexpr char kPreformatted = '\x1e';

// %* in the JSON pattern: the message as a JSON member, unless LogEvent preformatted it.
class JsonMessage : public spdlog::custom_flag_formatter {
 public:
  void format(const spdlog::details::log_msg& msg, const std::tm&,
              spdlog::memory_buf_t& dest) override {
    std::string_view payload(msg.payload.data(), msg.payload.size());
    std::string out;
    if (!payload.empty() && payload.front() == kPreformatted) {
      out = payload.substr(1);
    } else {
      out = "\"msg\":";
      AppendJsonString(out, payload);
    }
    dest.append(out.data(), out.data() + out.size());
  }
  std::unique_ptr<custom_flag_formatter> clone() const override {
    return std::make_unique<JsonMessage>();
  }
};

// Text values are quoted when they would not read as one word.
void AppendTextValue(std::string& out, std::string_view v) {
  const bool plain = !v.empty() && v.find_first_of(" \"=\\") == std::string_view::npos &&
                     std::all_of(v.begin(), v.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (plain)
    out += v;
  else
    AppendJsonString(out, v);
}

}  // namespace

void SetUpLogging(std::string_view level, std::string_view format) {
  auto logger = spdlog::stderr_logger_mt("h2gate");
  g_json = format == "json";
  auto formatter = std::make_unique<spdlog::pattern_formatter>(spdlog::pattern_time_type::utc);
  if (g_json) {
    formatter->add_flag<JsonMessage>('*').set_pattern(
        "{\"time\":\"%Y-%m-%dT%H:%M:%S.%eZ\",\"level\":\"%l\",%*}");
  } else {
    formatter->set_pattern("%Y-%m-%dT%H:%M:%S.%eZ %l %v");
  }
  logger->set_formatter(std::move(formatter));
  logger->set_level(spdlog::level::from_str(std::string(level)));
  logger->flush_on(spdlog::level::info);
  spdlog::set_default_logger(std::move(logger));
}

void LogEvent(spdlog::level::level_enum level, std::string_view msg,
              std::initializer_list<LogField> fields) {
  if (!spdlog::should_log(level)) return;
  std::string line;
  if (g_json) {
    line += kPreformatted;
    line += "\"msg\":";
    AppendJsonString(line, msg);
    for (const auto& f : fields) {
      line += ',';
      AppendJsonString(line, f.key);
      line += ':';
      AppendJsonString(line, f.value);
    }
  } else {
    line = msg;
    for (const auto& f : fields) {
      line += ' ';
      line += f.key;
      line += '=';
      AppendTextValue(line, f.value);
    }
  }
  spdlog::log(level, "{}", line);
}

bool LogLimiter::Allow(std::uint64_t* suppressed) {
  const auto now =
      static_cast<std::uint32_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                     std::chrono::steady_clock::now().time_since_epoch())
                                     .count());
  // The second and the count of that second are one atomic word: moving to a new second and
  // counting in it cannot interleave with another thread's call.
  std::uint64_t state = state_.load(std::memory_order_relaxed);
  std::uint64_t next;
  do {
    const auto window = static_cast<std::uint32_t>(state >> 32);
    const std::uint32_t used = window == now ? static_cast<std::uint32_t>(state) : 0;
    if (used >= per_second_) {
      dropped_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    next = (std::uint64_t{now} << 32) | (used + 1);
  } while (!state_.compare_exchange_weak(state, next, std::memory_order_relaxed));
  *suppressed = dropped_.exchange(0, std::memory_order_relaxed);
  return true;
}

}  // namespace h2gate
