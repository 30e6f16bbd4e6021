// Small parsers and the log limiter, table-driven: grpc-timeout values, HOST:PORT flags, and the
// per-second log budget.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "call/transcoder.h"
#include "config/host_port.h"
#include "obs/log.h"

namespace h2gate {
namespace {

using std::chrono::milliseconds;

// gRPC over HTTP/2 (doc/PROTOCOL-HTTP2.md): Timeout = "grpc-timeout" TimeoutValue TimeoutUnit;
// TimeoutValue = a positive integer as ASCII of at most 8 digits; TimeoutUnit = H (hour),
// M (minute), S (second), m (millisecond), u (microsecond), n (nanosecond).
struct TimeoutRow {
  std::string_view value;
  std::optional<std::int64_t> ms;  // nullopt: malformed
};

TEST(ParseGrpcTimeout, EachUnitAndEachMalformedShape) {
  const TimeoutRow rows[] = {
      // Every unit.
      {"1H", 3'600'000},
      {"2M", 120'000},
      {"5S", 5'000},
      {"250m", 250},
      {"2000u", 2},
      {"3000000n", 3},
      // Eight digits is the most the spec allows, leading zeros included.
      {"12345678m", 12'345'678},
      {"00000001S", 1'000},
      // The largest value the spec allows: about 11,400 years, still representable.
      {"99999999H", 99'999'999LL * 3'600'000},
      {"99999999M", 99'999'999LL * 60'000},
      // Nine digits: too long.
      {"123456789S", std::nullopt},
      {"000000001S", std::nullopt},
      {"999999999H", std::nullopt},
      // Digits only: no sign, even on zero.
      {"-0S", std::nullopt},
      {"-00000m", std::nullopt},
      // Empty, a unit alone, digits alone.
      {"", std::nullopt},
      {"S", std::nullopt},
      {"m", std::nullopt},
      {"5", std::nullopt},
      {"55", std::nullopt},
      {"12345678", std::nullopt},
      // Units are case-sensitive and only these six.
      {"5s", std::nullopt},
      {"5h", std::nullopt},
      {"5U", std::nullopt},
      {"5N", std::nullopt},
      {"5x", std::nullopt},
      {"5ms", std::nullopt},
      // Signs, fractions, exponents, hex, spaces: not ASCII digits.
      {"-5S", std::nullopt},
      {"-1m", std::nullopt},
      {"+5S", std::nullopt},
      {"1.5S", std::nullopt},
      {"1e3m", std::nullopt},
      {"0x10S", std::nullopt},
      {" 5S", std::nullopt},
      {"5 S", std::nullopt},
      {"5S ", std::nullopt},
      {"5SS", std::nullopt},
      {"S5", std::nullopt},
  };
  for (const auto& row : rows) {
    const auto got = ParseGrpcTimeout(row.value);
    if (!row.ms) {
      EXPECT_FALSE(got.has_value()) << '"' << row.value << "\" -> " << got->count() << " ms";
      continue;
    }
    ASSERT_TRUE(got.has_value()) << '"' << row.value << '"';
    EXPECT_EQ(*got, milliseconds(*row.ms)) << '"' << row.value << '"';
  }
}

struct HostPortRow {
  std::string_view text;
  std::optional<HostPort> want;  // nullopt: rejected
};

TEST(ParseHostPort, LiteralsPortsAndGarbage) {
  const HostPortRow rows[] = {
      {"127.0.0.1:8080", HostPort{"127.0.0.1", 8080}},
      {"10.1.2.3:1", HostPort{"10.1.2.3", 1}},
      {"0.0.0.0:0", HostPort{"0.0.0.0", 0}},  // port 0: the kernel picks one
      {"127.0.0.1:65535", HostPort{"127.0.0.1", 65535}},
      {"[::1]:443", HostPort{"::1", 443}},
      {"[::]:50051", HostPort{"::", 50051}},
      {"[2001:db8::1]:65535", HostPort{"2001:db8::1", 65535}},
      {"[::ffff:127.0.0.1]:80", HostPort{"::ffff:127.0.0.1", 80}},
      {"localhost:80", HostPort{"127.0.0.1", 80}},
      // Port out of range, missing, or not a decimal number.
      {"127.0.0.1:65536", std::nullopt},
      {"127.0.0.1:99999999999", std::nullopt},
      {"127.0.0.1:", std::nullopt},
      {"127.0.0.1", std::nullopt},
      {"127.0.0.1:-1", std::nullopt},
      {"127.0.0.1:+80", std::nullopt},
      {"127.0.0.1:80x", std::nullopt},
      {"127.0.0.1: 80", std::nullopt},
      {"127.0.0.1:0x50", std::nullopt},
      {"[::1]:", std::nullopt},
      {"[::1]", std::nullopt},
      // Host missing or not an IP literal: names are never resolved.
      {":8080", std::nullopt},
      {"[]:80", std::nullopt},
      {"example.com:80", std::nullopt},
      {"256.0.0.1:80", std::nullopt},
      {"1.2.3:80", std::nullopt},
      {" 127.0.0.1:80", std::nullopt},
      // IPv6 needs its brackets, both of them.
      {"::1:80", std::nullopt},
      {"[::1:80", std::nullopt},
      {"::1]:80", std::nullopt},
      {"[:::1]:80", std::nullopt},
      // Brackets are for IPv6 only (RFC 3986 section 3.2.2).
      {"[127.0.0.1]:80", std::nullopt},
      {"", std::nullopt},
      {":", std::nullopt},
      {"garbage", std::nullopt},
  };
  for (const auto& row : rows) {
    const auto got = ParseHostPort(row.text);
    if (!row.want) {
      EXPECT_FALSE(got.has_value())
          << '"' << row.text << "\" -> " << got->host << " port " << got->port;
      continue;
    }
    ASSERT_TRUE(got.has_value()) << '"' << row.text << '"';
    EXPECT_EQ(got->host, row.want->host) << '"' << row.text << '"';
    EXPECT_EQ(got->port, row.want->port) << '"' << row.text << '"';
  }
}

// LogLimiter reads steady_clock itself and has no clock to inject, so these tests use real time
// and nothing tighter than "within one window": its windows are whole steady_clock seconds.
// A burst straddles a second rarely; twenty in a row means the machine is stalled.
constexpr int kAttempts = 20;

std::int64_t SteadySecond() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

void SleepIntoNextWindow() {
  const auto next = std::chrono::steady_clock::time_point(std::chrono::seconds(SteadySecond() + 1));
  std::this_thread::sleep_until(next + milliseconds(20));
}

struct Burst {
  int allowed = 0;
  int denied = 0;
  std::vector<std::uint64_t> suppressed;  // as reported by each allowed call
  bool untouched_when_denied = true;      // `suppressed` left alone by a denied call
};

// `calls` Allow()s, all within one window: retried on a fresh limiter if a second boundary fell
// inside the burst (it takes microseconds, so a retry is rare and a second one rarer).
Burst OneWindowBurst(std::unique_ptr<LogLimiter>& limiter, std::uint32_t per_second, int calls) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    limiter = std::make_unique<LogLimiter>(per_second);
    Burst b;
    const auto before = SteadySecond();
    for (int i = 0; i < calls; ++i) {
      std::uint64_t suppressed = 12345;
      if (limiter->Allow(&suppressed)) {
        ++b.allowed;
        b.suppressed.push_back(suppressed);
      } else {
        ++b.denied;
        if (suppressed != 12345) b.untouched_when_denied = false;
      }
    }
    if (SteadySecond() == before) return b;
  }
  ADD_FAILURE() << "every burst straddled a second";
  return {};
}

TEST(LogLimiter, AllowsTheBudgetThenCountsWhatItDrops) {
  std::unique_ptr<LogLimiter> limiter;
  const Burst b = OneWindowBurst(limiter, 3, 10);
  EXPECT_EQ(b.allowed, 3);
  EXPECT_EQ(b.denied, 7);
  EXPECT_EQ(b.suppressed, (std::vector<std::uint64_t>{0, 0, 0}));  // nothing dropped before them
  EXPECT_TRUE(b.untouched_when_denied);

  // The next window has a fresh budget, and its first event learns how many were dropped.
  SleepIntoNextWindow();
  std::uint64_t suppressed = 0;
  ASSERT_TRUE(limiter->Allow(&suppressed));
  EXPECT_EQ(suppressed, 7u);
  ASSERT_TRUE(limiter->Allow(&suppressed));
  EXPECT_EQ(suppressed, 0u);  // reported once, not again
}

TEST(LogLimiter, EachAllowedEventReportsOnlyTheDropsSinceThePreviousOne) {
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    std::unique_ptr<LogLimiter> limiter;
    const Burst b = OneWindowBurst(limiter, 1, 4);
    ASSERT_EQ(b.allowed, 1);
    ASSERT_EQ(b.denied, 3);
    SleepIntoNextWindow();
    const auto window = SteadySecond();
    std::uint64_t suppressed = 0;
    ASSERT_TRUE(limiter->Allow(&suppressed));
    EXPECT_EQ(suppressed, 3u);
    // This window's budget is spent: two more are dropped.
    const bool first = limiter->Allow(&suppressed), second = limiter->Allow(&suppressed);
    if (SteadySecond() != window) continue;  // a boundary fell inside: try again
    EXPECT_FALSE(first);
    EXPECT_FALSE(second);
    SleepIntoNextWindow();
    ASSERT_TRUE(limiter->Allow(&suppressed));
    EXPECT_EQ(suppressed, 2u);  // not 5: the 3 were reported already
    return;
  }
  FAIL() << "every attempt straddled a second";
}

TEST(LogLimiter, ZeroBudgetAllowsNothing) {
  LogLimiter limiter(0);
  std::uint64_t suppressed = 99;
  for (int i = 0; i < 100; ++i) EXPECT_FALSE(limiter.Allow(&suppressed));
  EXPECT_EQ(suppressed, 99u);
}

// Across threads the budget holds within a window, also at its start (the window and its count
// move together), and every event it refused is counted.
TEST(LogLimiter, BudgetHoldsAcrossThreadsWithinAWindow) {
  constexpr std::uint32_t kBudget = 10;
  constexpr int kThreads = 4, kEach = 500;
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    LogLimiter limiter(kBudget);
    const auto before = SteadySecond();
    std::uint64_t suppressed = 0;
    std::atomic<int> allowed{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&] {
        for (int i = 0; i < kEach; ++i) {
          std::uint64_t s = 0;
          if (limiter.Allow(&s)) allowed.fetch_add(1);
        }
      });
    }
    for (auto& t : threads) t.join();
    if (SteadySecond() != before) continue;  // straddled a window: try again
    EXPECT_EQ(allowed.load(), static_cast<int>(kBudget));
    SleepIntoNextWindow();
    ASSERT_TRUE(limiter.Allow(&suppressed));
    EXPECT_EQ(suppressed, std::uint64_t{kThreads * kEach - kBudget});
    return;
  }
  FAIL() << "every attempt straddled a second";
}

}  // namespace
}  // namespace h2gate
