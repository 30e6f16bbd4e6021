#include "obs/metrics.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>
#include <thread>
#include <vector>

namespace h2gate {
namespace {

std::vector<std::string_view> Lines(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const auto nl = text.find('\n');
    lines.push_back(text.substr(0, nl));
    if (nl == std::string_view::npos) break;
    text.remove_prefix(nl + 1);
  }
  return lines;
}

// True if `text` has `line` as one whole line.
bool HasLine(std::string_view text, std::string_view line) {
  for (const auto l : Lines(text)) {
    if (l == line) return true;
  }
  return false;
}

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
  EXPECT_NE(
      text.find(
          "h2gate_http1_rejections_total{grpc_service=\"unknown\",grpc_method="
          "\"unknown\",http_method=\"POST\",registered=\"false\",http_version=\"1.x\"} 10000\n"),
      std::string::npos)
      << text;
  EXPECT_NE(
      text.find("h2gate_http1_rejections_total{grpc_service=\"echo.v1.Echo\",grpc_method="
                "\"Echo\",http_method=\"POST\",registered=\"true\",http_version=\"1.x\"} 0\n"),
      std::string::npos);
  EXPECT_NE(
      text.find(
          "grpc_method=\"Echo\",http_method=\"GET\",registered=\"true\",http_version=\"1.x\"} 1\n"),
      std::string::npos);
  EXPECT_NE(text.find("http_method=\"OTHER\",registered=\"true\",http_version=\"1.x\"} 1\n"),
            std::string::npos);
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

TEST(Metrics, CounterGaugeAndEnumCounterReadBackWhatWasCounted) {
  Counter c;
  EXPECT_EQ(c.Value(), 0u);
  c.Inc();
  c.Inc(5);
  c.Inc(0);
  EXPECT_EQ(c.Value(), 6u);

  Gauge g;
  g.Add(3);
  g.Add(-5);
  EXPECT_EQ(g.Value(), -2);  // a gauge goes below zero
  g.Set(7);
  EXPECT_EQ(g.Value(), 7);  // Set replaces, it does not add
  g.Add(-7);
  EXPECT_EQ(g.Value(), 0);

  EnumCounter<Limit> limits;
  limits.Inc(Limit::kHeaderSize);
  limits.Inc(Limit::kHeaderSize);
  limits.Inc(Limit::kMemory);  // the last member before kCount has its own slot
  EXPECT_EQ(limits.Value(Limit::kHeaderSize), 2u);
  EXPECT_EQ(limits.Value(Limit::kMemory), 1u);
  EXPECT_EQ(limits.Value(Limit::kConnections), 0u);
  EXPECT_EQ(limits.Value(Limit::kBodySize), 0u);
}

// What was counted shows in the exposition, on the right series, with the right number.
TEST(Metrics, RenderShowsTheCountedValues) {
  Metrics metrics;
  metrics.connections_accepted.Inc(3);
  metrics.connections_open.Add(2);
  metrics.ready.Set(1);
  metrics.CountProtocol("http1");
  metrics.CountProtocol("http1");
  metrics.CountProtocol("tls");
  metrics.CountProtocol("gopher");  // anything else is "unknown"
  metrics.sniff_failures.Inc(SniffFailure::kClosed);
  metrics.limits.Inc(Limit::kBodySize);
  metrics.limits.Inc(Limit::kBodySize);
  metrics.handoffs.Inc(4);
  metrics.handoff_failures.Inc();
  // Status classes at their boundaries.
  for (unsigned status : {200u, 299u, 300u, 399u, 400u, 426u, 499u, 500u, 503u}) {
    metrics.CountResponse(status);
  }
  metrics.memory_limit_bytes.Set(1 << 20);
  metrics.memory_trims.Inc(2);
  std::string text;
  metrics.Render(text);
  for (const char* line : {
           "h2gate_ready 1",
           "h2gate_connections_accepted_total 3",
           "h2gate_connections_open 2",
           "h2gate_connections_total{protocol=\"http2\"} 0",
           "h2gate_connections_total{protocol=\"http1\"} 2",
           "h2gate_connections_total{protocol=\"tls\"} 1",
           "h2gate_connections_total{protocol=\"unknown\"} 1",
           "h2gate_sniff_failures_total{reason=\"timeout\"} 0",
           "h2gate_sniff_failures_total{reason=\"closed\"} 1",
           "h2gate_limit_hits_total{limit=\"header_size\"} 0",
           "h2gate_limit_hits_total{limit=\"body_size\"} 2",
           "h2gate_limit_hits_total{limit=\"memory\"} 0",
           "h2gate_grpc_handoffs_total 4",
           "h2gate_grpc_handoff_failures_total 1",
           "h2gate_http1_responses_total{code=\"2xx\"} 2",
           "h2gate_http1_responses_total{code=\"3xx\"} 2",
           "h2gate_http1_responses_total{code=\"4xx\"} 3",
           "h2gate_http1_responses_total{code=\"5xx\"} 2",
           "h2gate_memory_limit_bytes 1048576",
           "h2gate_memory_degraded 0",
           "h2gate_memory_trims_total 2",
       }) {
    EXPECT_TRUE(HasLine(text, line)) << line << "\n---\n" << text;
  }
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

// The exposition as Prometheus reads it (text format 0.0.4): each family has one HELP then one
// TYPE line, no family appears twice, every sample belongs to the family whose TYPE precedes it
// (histograms: _bucket, _sum, _count), no series appears twice, and every value is a number.
TEST(Metrics, ExpositionIsWellFormed) {
  MethodTable methods({{"echo.v1.Echo", "Echo", "/echo.v1.Echo/Echo", RpcType::kUnary}});
  Metrics metrics;
  metrics.SetMethods(&methods);
  // So that the families whose series appear once counted have some.
  metrics.CountTranscoded(0, true, 0);
  metrics.CountRejection(-1, HttpMethod::kGet);
  metrics.ObserveSniff(SniffOutcome::kHttp2, std::chrono::microseconds(10));
  std::string text;
  metrics.Render(text);
  ASSERT_FALSE(text.empty());
  ASSERT_EQ(text.back(), '\n');

  struct FamilyLines {
    int helps = 0, types = 0, samples = 0;
    std::string type;
  };
  std::map<std::string, FamilyLines, std::less<>> families;
  std::set<std::string, std::less<>> series;
  std::string family;        // of the last TYPE line
  std::string pending_help;  // a HELP not yet followed by its TYPE
  const auto lines = Lines(std::string_view(text).substr(0, text.size() - 1));
  for (const std::string_view line : lines) {
    SCOPED_TRACE(std::string(line));
    ASSERT_FALSE(line.empty());
    if (line.starts_with("# HELP ")) {
      ASSERT_TRUE(pending_help.empty()) << "HELP without TYPE: " << pending_help;
      const std::string_view rest = line.substr(7);
      const auto space = rest.find(' ');
      ASSERT_NE(space, std::string_view::npos);
      EXPECT_GT(rest.size(), space + 1) << "empty help text";
      pending_help = rest.substr(0, space);
      ++families[pending_help].helps;
      continue;
    }
    if (line.starts_with("# TYPE ")) {
      const std::string_view rest = line.substr(7);
      const auto space = rest.find(' ');
      ASSERT_NE(space, std::string_view::npos);
      family = rest.substr(0, space);
      EXPECT_EQ(family, pending_help) << "TYPE does not follow its family's HELP";
      pending_help.clear();
      FamilyLines& f = families[family];
      ++f.types;
      f.type = rest.substr(space + 1);
      EXPECT_TRUE(f.type == "counter" || f.type == "gauge" || f.type == "histogram") << f.type;
      if (f.type == "counter") {
        EXPECT_TRUE(family.ends_with("_total")) << family;
      }
      continue;
    }
    ASSERT_FALSE(line.starts_with("#")) << "unknown comment line";
    ASSERT_TRUE(pending_help.empty()) << "sample between HELP and TYPE";
    ASSERT_FALSE(family.empty()) << "sample before any TYPE";
    const auto name_end = line.find_first_of("{ ");
    ASSERT_NE(name_end, std::string_view::npos);
    const std::string_view name = line.substr(0, name_end);
    if (families[family].type == "histogram") {
      EXPECT_TRUE(name == family + "_bucket" || name == family + "_sum" ||
                  name == family + "_count")
          << name << " in histogram " << family;
    } else {
      EXPECT_EQ(name, family);
    }
    const auto value_start = line.rfind(' ');
    ASSERT_NE(value_start, std::string_view::npos);
    const std::string_view key = line.substr(0, value_start);
    if (key.size() > name.size()) {
      EXPECT_EQ(key[name.size()], '{');
      EXPECT_EQ(key.back(), '}');
    }
    if (name.ends_with("_bucket")) {
      EXPECT_NE(key.find("le=\""), std::string_view::npos) << key;
    }
    EXPECT_TRUE(series.emplace(key).second) << "duplicate series " << key;
    const std::string value(line.substr(value_start + 1));
    char* end = nullptr;
    std::strtod(value.c_str(), &end);
    EXPECT_TRUE(!value.empty() && end == value.c_str() + value.size()) << "value " << value;
    ++families[family].samples;
  }
  EXPECT_TRUE(pending_help.empty()) << "HELP without TYPE at the end: " << pending_help;
  for (const auto& [name, f] : families) {
    EXPECT_EQ(f.helps, 1) << name;
    EXPECT_EQ(f.types, 1) << name;
    EXPECT_GT(f.samples, 0) << name << " has no samples";
  }
  for (const char* name :
       {"h2gate_build_info", "process_start_time_seconds", "h2gate_ready",
        "h2gate_connections_total", "h2gate_sniff_duration_seconds", "h2gate_limit_hits_total",
        "h2gate_http1_responses_total", "h2gate_http1_rejections_total",
        "h2gate_http1_transcoded_total", "h2gate_http2_abuse_total"}) {
    EXPECT_TRUE(families.contains(name)) << name;
  }
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
  EXPECT_EQ(metrics.sniff_failures.Value(SniffFailure::kTimeout), 0u);
  std::string text;
  metrics.Render(text);
  for (const char* line : {
           "h2gate_http1_rejections_total{grpc_service=\"a.B\",grpc_method=\"C\","
           "http_method=\"POST\",registered=\"true\",http_version=\"1.x\"} 800000",
           "h2gate_limit_hits_total{limit=\"sniff_timeout\"} 800000",
           "h2gate_limit_hits_total{limit=\"header_timeout\"} 0",
           "h2gate_connections_open 0",
           "h2gate_sniff_duration_seconds_count{outcome=\"http1\"} 800000",
           "h2gate_sniff_duration_seconds_bucket{outcome=\"http1\",le=\"+Inf\"} 800000",
           "h2gate_sniff_duration_seconds_count{outcome=\"http2\"} 0",
           "h2gate_sniff_failures_total{reason=\"timeout\"} 0",
       }) {
    EXPECT_TRUE(HasLine(text, line)) << line << "\n---\n" << text;
  }
}

}  // namespace
}  // namespace h2gate
