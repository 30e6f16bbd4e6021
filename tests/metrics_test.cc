#include "metrics.h"

#include <gtest/gtest.h>

#include <thread>
#include <vector>

namespace h2gate {
namespace {

TEST(Metrics, RejectionSeriesAreBoundedByTheMethodTable) {
  MethodTable methods({{"echo.v1.Echo", "Echo", "/echo.v1.Echo/Echo", RpcType::kUnary}});
  Metrics metrics;
  metrics.SetMethods(&methods);
  // Distinct bogus paths all land on the one "unknown" series per HTTP method.
  for (int i = 0; i < 10000; ++i) metrics.CountRejection(-1, HttpMethod::kPost);
  metrics.CountRejection(0, HttpMethod::kGet);
  metrics.CountRejection(0, HttpMethod::kOther);
  std::string text;
  metrics.Render(text);
  EXPECT_NE(text.find("h2gate_http1_rejections_total{grpc_service=\"unknown\",grpc_method="
                      "\"unknown\",http_method=\"POST\",registered=\"false\"} 10000\n"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("h2gate_http1_rejections_total{grpc_service=\"echo.v1.Echo\",grpc_method="
                      "\"Echo\",http_method=\"POST\",registered=\"true\"} 0\n"),
            std::string::npos);
  EXPECT_NE(text.find("grpc_method=\"Echo\",http_method=\"GET\",registered=\"true\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("http_method=\"OTHER\",registered=\"true\"} 1\n"), std::string::npos);
  std::size_t series = 0;
  for (std::size_t pos = 0;
       (pos = text.find("\nh2gate_http1_rejections_total{", pos)) != std::string::npos; ++pos) {
    ++series;
  }
  EXPECT_EQ(series, 4u);
}

TEST(Metrics, LabelValuesAreEscaped) {
  std::string out;
  AppendLabelValue(out, "a\"b\\c\nd");
  EXPECT_EQ(out, "a\\\"b\\\\c\\nd");
}

TEST(Metrics, CountersOnlyGoUp) {
  Metrics metrics;
  std::uint64_t last = 0;
  for (int i = 0; i < 100; ++i) {
    metrics.connections_accepted.Inc(static_cast<std::uint64_t>(i % 3));
    EXPECT_GE(metrics.connections_accepted.Value(), last);
    last = metrics.connections_accepted.Value();
  }
  EXPECT_EQ(last, 99u);
}

TEST(Metrics, OutOfRangeMethodIndexIsIgnored) {
  Metrics metrics;  // no methods: only the unknown row exists
  metrics.CountRejection(5, HttpMethod::kPost);
  EXPECT_EQ(metrics.Rejections(5, HttpMethod::kPost), 0u);
}

TEST(Metrics, HistogramBucketsAreCumulativeWithInf) {
  Histogram h(Histogram::kStepBounds);
  h.Observe(std::chrono::microseconds(50));  // <= 0.0001
  h.Observe(std::chrono::milliseconds(3));   // <= 0.005
  h.Observe(std::chrono::seconds(60));       // +Inf only
  std::string out;
  h.Render(out, "x_seconds");
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.0001\"} 1\n"), std::string::npos) << out;
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.001\"} 1\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{le=\"0.005\"} 2\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{le=\"10\"} 2\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_bucket{le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_count 3\n"), std::string::npos);
  EXPECT_NE(out.find("x_seconds_sum 60.00305\n"), std::string::npos);
  std::string labelled;
  h.Render(labelled, "y_seconds", "a=\"b\"");
  EXPECT_NE(labelled.find("y_seconds_bucket{a=\"b\",le=\"+Inf\"} 3\n"), std::string::npos);
  EXPECT_NE(labelled.find("y_seconds_count{a=\"b\"} 3\n"), std::string::npos);
}

TEST(Metrics, EveryFamilyHasHelpAndType) {
  Metrics metrics;
  std::string text;
  metrics.Render(text);
  std::size_t helps = 0, types = 0;
  for (std::size_t pos = 0; (pos = text.find("# HELP ", pos)) != std::string::npos; ++pos) ++helps;
  for (std::size_t pos = 0; (pos = text.find("# TYPE ", pos)) != std::string::npos; ++pos) ++types;
  EXPECT_EQ(helps, types);
  EXPECT_GE(helps, 13u);
}

TEST(Metrics, ConcurrentCountsAddUpExactly) {
  MethodTable methods({{"a.B", "C", "/a.B/C", RpcType::kUnary}});
  Metrics metrics;
  metrics.SetMethods(&methods);
  constexpr int kThreads = 8, kEach = 100000;
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&metrics] {
      for (int i = 0; i < kEach; ++i) {
        metrics.CountRejection(0, HttpMethod::kPost);
        metrics.limits.Inc(Limit::kSniffTimeout);
        metrics.connections_open.Add(1);
        metrics.connections_open.Add(-1);
        metrics.ObserveSniff(SniffOutcome::kHttp1, std::chrono::microseconds(i % 2000));
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(metrics.Rejections(0, HttpMethod::kPost), std::uint64_t{kThreads} * kEach);
  EXPECT_EQ(metrics.limits.Value(Limit::kSniffTimeout), std::uint64_t{kThreads} * kEach);
  EXPECT_EQ(metrics.connections_open.Value(), 0);
  std::string sniff;
  metrics.sniff_duration[static_cast<std::size_t>(SniffOutcome::kHttp1)].Render(sniff, "s");
  EXPECT_NE(sniff.find("s_count 800000\n"), std::string::npos) << sniff;
  std::string text;
  metrics.Render(text);
  EXPECT_EQ(metrics.sniff_failures.Value(SniffFailure::kTimeout), 0u);
}

}  // namespace
}  // namespace h2gate
