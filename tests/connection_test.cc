#include "front/connection.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace h2gate {
namespace {

TEST(ConnectionLimiter, SlotsAreTokensOfTheCap) {
  ConnectionLimiter limiter(2);
  Metrics metrics;
  ConnectionSlot a = ConnectionSlot::TryAcquire(limiter, metrics);
  ConnectionSlot b = ConnectionSlot::TryAcquire(limiter, metrics);
  ConnectionSlot c = ConnectionSlot::TryAcquire(limiter, metrics);
  EXPECT_TRUE(a.held());
  EXPECT_TRUE(b.held());
  EXPECT_FALSE(c.held()) << "the cap is full";
  EXPECT_EQ(metrics.connections_open.Value(), 2);
  {
    ConnectionSlot moved(std::move(a));
    EXPECT_FALSE(a.held());
    EXPECT_EQ(limiter.open(), 2) << "moving a slot does not free it";
  }
  EXPECT_EQ(limiter.open(), 1) << "destroying it does";
  b.Release();
  b.Release();  // twice is once
  EXPECT_EQ(limiter.open(), 0);
  EXPECT_EQ(metrics.connections_open.Value(), 0);
}

// Four threads take and give back slots as fast as they can; the slots held at once, counted
// independently, never exceed the cap.
TEST(ConnectionLimiter, NeverExceedsTheCapAcrossThreads) {
  constexpr int kCap = 8;
  ConnectionLimiter limiter(kCap);
  Metrics metrics;
  std::atomic<int> held{0}, most{0};
  std::atomic<long> refused{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 50000; ++i) {
        ConnectionSlot s = ConnectionSlot::TryAcquire(limiter, metrics);
        if (!s.held()) {
          ++refused;
          continue;
        }
        const int now = ++held;
        int seen = most.load();
        while (now > seen && !most.compare_exchange_weak(seen, now)) {
        }
        --held;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(most.load(), kCap);
  EXPECT_EQ(limiter.open(), 0);
  EXPECT_EQ(metrics.connections_open.Value(), 0);
}

}  // namespace
}  // namespace h2gate
