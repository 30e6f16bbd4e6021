// The gateway's metrics and their Prometheus text exposition (format 0.0.4). Every metric is
// declared in metrics.cc's table, with its help text; label values come only from fixed enums and
// the registered-method table, so no request can add a series.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "grpc_path.h"

namespace h2gate {

class Counter {
 public:
  void Inc(std::uint64_t n = 1) { value_.fetch_add(n, std::memory_order_relaxed); }
  std::uint64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::uint64_t> value_{0};
};

class Gauge {
 public:
  void Add(std::int64_t n) { value_.fetch_add(n, std::memory_order_relaxed); }
  void Set(std::int64_t n) { value_.store(n, std::memory_order_relaxed); }
  std::int64_t Value() const { return value_.load(std::memory_order_relaxed); }

 private:
  std::atomic<std::int64_t> value_{0};
};

// Fixed buckets in seconds; observations are kept in nanoseconds so every update is one atomic add.
class Histogram {
 public:
  static constexpr std::array<double, 12> kBounds = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05,
                                                     0.1,    0.5,    1,     2.5,   5,    10};
  void Observe(std::chrono::nanoseconds d);
  void Render(std::string& out, std::string_view name) const;

 private:
  std::array<std::atomic<std::uint64_t>, kBounds.size() + 1> buckets_{};  // last is +Inf
  std::atomic<std::uint64_t> sum_ns_{0};
};

// Counters indexed by an enum whose last member is kCount.
template <typename E>
class EnumCounter {
 public:
  void Inc(E e) { counters_[static_cast<std::size_t>(e)].Inc(); }
  std::uint64_t Value(E e) const { return counters_[static_cast<std::size_t>(e)].Value(); }

 private:
  std::array<Counter, static_cast<std::size_t>(E::kCount)> counters_;
};

enum class SniffFailure { kTimeout, kClosed, kError, kCount };
enum class Limit {
  kConnections,    // --max-connections: closed at accept
  kSniffTimeout,   // --sniff-timeout: no protocol decided in time
  kHeaderTimeout,  // --header-timeout: request header or body too slow
  kHeaderSize,     // --max-header-bytes: answered 431
  kBodySize,       // --max-body-bytes: answered, then closed without reading the body
  kIdleTimeout,    // --idle-timeout: keep-alive connection closed
  kCount
};
enum class StatusClass { k2xx, k3xx, k4xx, k5xx, kCount };
enum class HttpMethod { kGet, kHead, kPost, kPut, kDelete, kPatch, kOptions, kOther, kCount };

HttpMethod HttpMethodFromName(std::string_view name);

class Metrics {
 public:
  Metrics();

  // Sizes the per-method rejection counters. Called once, before any connection is served.
  void SetMethods(const MethodTable* methods);

  // A 426 on a gRPC path; `method_index` is -1 for an unregistered path.
  void CountRejection(int method_index, HttpMethod http_method);
  std::uint64_t Rejections(int method_index, HttpMethod http_method) const;
  void CountProtocol(std::string_view protocol);  // "http2", "http1", "tls", "unknown"
  void CountResponse(unsigned status);

  std::string Render() const;

  Counter connections_accepted;
  Gauge connections_open;
  Gauge ready;
  Counter connections_http2, connections_http1, connections_tls, connections_unknown;
  EnumCounter<SniffFailure> sniff_failures;
  Histogram sniff_duration;
  EnumCounter<Limit> limits;
  Counter handoffs;
  Counter handoff_failures;
  EnumCounter<StatusClass> http1_responses;

 private:
  const MethodTable* methods_ = nullptr;
  std::unique_ptr<Counter[]> rejections_;  // [(method_index + 1) * kHttpMethods + http_method]
  std::size_t rejection_slots_ = 0;
  double start_time_seconds_;
};

}  // namespace h2gate
