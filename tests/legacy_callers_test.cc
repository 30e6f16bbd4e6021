#include "policy/legacy_callers.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <random>
#include <thread>

namespace h2gate {
namespace {

using namespace std::chrono_literals;
const auto kT0 = LegacyCallers::Clock::time_point(std::chrono::seconds(1'800'000'000));

TEST(LegacyCallers, CountsExactlyWhileUnderCapacity) {
  LegacyCallers callers(10);
  for (int i = 0; i < 5; ++i) callers.Record("10.0.0.1", "curl/8", "/a.B/C", true, kT0, 60s);
  callers.Record("10.0.0.2", "curl/8", "/a.B/C", true, kT0 + 1s, 60s);
  callers.Record("10.0.0.1", "python-requests/2", "/a.B/C", true, kT0 + 2s, 60s);
  const auto top = callers.Top(10);
  ASSERT_EQ(top.size(), 3u);
  EXPECT_EQ(top[0].client, "10.0.0.1");
  EXPECT_EQ(top[0].user_agent, "curl/8");
  EXPECT_EQ(top[0].count, 5u);
  EXPECT_EQ(top[0].error, 0u);
  EXPECT_EQ(top[0].first_seen, kT0);
  EXPECT_EQ(callers.total(), 7u);
}

// Heavy hitters survive a flood of one-off callers, and memory stays at the capacity.
TEST(LegacyCallers, FindsHeavyHittersInBoundedMemory) {
  constexpr std::size_t kCapacity = 50;
  LegacyCallers callers(kCapacity);
  std::mt19937 rng(7);
  std::uint64_t heavy_a = 0, heavy_b = 0;
  for (int i = 0; i < 100000; ++i) {
    const auto r = rng() % 100;
    if (r < 10) {
      callers.Record("10.1.1.1", "legacy-billing/1.0", "/shop.v1.Cart/Add", true, kT0, 60s);
      ++heavy_a;
    } else if (r < 15) {
      callers.Record("10.2.2.2", "cron", "/shop.v1.Cart/List", true, kT0, 60s);
      ++heavy_b;
    } else {
      callers.Record("10.9." + std::to_string(rng() % 250) + "." + std::to_string(rng() % 250),
                     "scanner", "/x.Y/Z", false, kT0, 60s);
    }
  }
  const auto top = callers.Top(1000);
  EXPECT_EQ(top.size(), kCapacity);
  ASSERT_GE(top.size(), 2u);
  EXPECT_EQ(top[0].client, "10.1.1.1");
  EXPECT_EQ(top[1].client, "10.2.2.2");
  // Space-saving never undercounts, and overcounts by at most `error`.
  EXPECT_GE(top[0].count, heavy_a);
  EXPECT_LE(top[0].count - top[0].error, heavy_a);
  EXPECT_GE(top[1].count, heavy_b);
  EXPECT_LE(top[1].count - top[1].error, heavy_b);
  EXPECT_EQ(callers.total(), 100000u);
}

TEST(LegacyCallers, LogsEachCallerAtMostOncePerInterval) {
  LegacyCallers callers(10);
  EXPECT_TRUE(callers.Record("10.0.0.1", "ua", "/a.B/C", true, kT0, 60s));
  EXPECT_FALSE(callers.Record("10.0.0.1", "ua", "/a.B/C", true, kT0 + 59s, 60s));
  EXPECT_TRUE(callers.Record("10.0.0.2", "ua", "/a.B/C", true, kT0 + 59s, 60s));
  EXPECT_TRUE(callers.Record("10.0.0.1", "ua", "/a.B/C", true, kT0 + 60s, 60s));
}

TEST(LegacyCallers, ClipsLongFieldsAndResets) {
  LegacyCallers callers(10);
  callers.Record("10.0.0.1", std::string(10000, 'u'), "/a.B/C", true, kT0, 60s);
  callers.Record("10.0.0.1", std::string(20000, 'u'), "/a.B/C", true, kT0, 60s);
  auto top = callers.Top(10);
  ASSERT_EQ(top.size(), 1u);  // same caller once clipped
  EXPECT_EQ(top[0].user_agent.size(), LegacyCallers::kMaxFieldBytes);
  EXPECT_EQ(top[0].count, 2u);
  callers.Reset();
  EXPECT_TRUE(callers.Top(10).empty());
  EXPECT_EQ(callers.total(), 0u);
}

TEST(LegacyCallers, JsonIsValidWithHostileUserAgents) {
  LegacyCallers callers(10);
  callers.Record("10.0.0.1", "evil\"\\\n\x01\xff agent", "/a.B/C", false, kT0, 60s);
  google::protobuf::Struct json;
  const std::string body = callers.RenderJson(10);
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(body, &json).ok()) << body;
  const auto& caller = json.fields().at("callers").list_value().values(0).struct_value().fields();
  EXPECT_EQ(caller.at("client").string_value(), "10.0.0.1");
  EXPECT_EQ(caller.at("count").number_value(), 1);
  EXPECT_EQ(caller.at("registered").bool_value(), false);
  EXPECT_EQ(caller.at("first_seen").string_value(), "2027-01-15T08:00:00.000Z");
  const std::string text = callers.RenderText(10);
  EXPECT_EQ(text.find('\x01'), std::string::npos);
  EXPECT_NE(text.find("/a.B/C (unregistered)"), std::string::npos) << text;
}

TEST(LegacyCallers, ConcurrentRecordsAddUp) {
  LegacyCallers callers(100);
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&callers, t] {
      for (int i = 0; i < 20000; ++i) {
        callers.Record("10.0.0." + std::to_string(t), "ua", "/a.B/C", true, kT0, 60s);
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(callers.total(), 160000u);
  for (const auto& e : callers.Top(100)) EXPECT_EQ(e.count, 20000u);
}

}  // namespace
}  // namespace h2gate
