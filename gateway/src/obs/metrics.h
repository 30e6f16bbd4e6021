// The gateway's metrics and their Prometheus text exposition (format 0.0.4). Each family the
// gateway renders is declared once in metrics.cc's table with its help text (the gRPC server's
// in grpc_metrics.cc); label values come only from fixed enums and the registered-method table,
// so no request can add a series.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <span>
#include <string>
#include <string_view>

#include "call/grpc_status.h"
#include "front/h2_policer.h"
#include "route/grpc_path.h"
#include "route/media.h"

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

// Buckets fixed at construction, in seconds; observations are kept in nanoseconds so every
// update is a couple of relaxed atomic adds.
class Histogram {
 public:
  // For the front listener's own steps: sub-millisecond up.
  static constexpr std::array<double, 12> kStepBounds = {0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05,
                                                         0.1,    0.5,    1,     2.5,   5,    10};
  // For RPC handling times: go-grpc-prometheus' buckets, extended down for loopback latencies.
  static constexpr std::array<double, 16> kLatencyBounds = {
      0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025,
      0.05,   0.1,     0.25,   0.5,   1,      2.5,   5,    10};

  explicit Histogram(std::span<const double> bounds = kStepBounds);
  void Observe(std::chrono::nanoseconds d);
  // Writes the _bucket, _sum and _count lines; `labels` (may be empty) precede "le".
  void Render(std::string& out, std::string_view name, std::string_view labels = "") const;

 private:
  std::span<const double> bounds_;
  std::unique_ptr<std::atomic<std::uint64_t>[]> buckets_;  // bounds_.size() + 1; last is +Inf
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
// How the sniff phase ended: a detected protocol, or a failure.
enum class SniffOutcome { kHttp2, kHttp1, kTls, kUnknown, kTimeout, kClosed, kError, kCount };
enum class Limit {
  kConnections,    // --max-connections: closed at accept
  kSniffTimeout,   // --sniff-timeout: no protocol decided in time
  kHeaderTimeout,  // --header-timeout: request header or body too slow
  kHeaderSize,     // --max-header-bytes: answered 431
  kBodySize,       // --max-body-bytes: answered, then closed without reading the body
  kIdleTimeout,    // --idle-timeout: keep-alive connection closed
  kWriteTimeout,   // --header-timeout: the client did not take its answer in time
  kMemory,         // --memory-limit: closed at accept while the process is over its limit
  kCount
};
// Why an HTTP/2 connection was kept by the gateway instead of handed to gRPC.
// Why the gateway serves an HTTP/2 connection itself: its first request was not gRPC, its source
// is in --http2-route-per-request, or (TLS) ALPN chose h2 for a client that also offered
// http/1.1 (browsers, curl).
enum class KeptReason { kFirstRequest, kRoutePerRequest, kAlpn, kCount };
// What a stream on a kept connection was: a gRPC call, an HTTP request, or one the gateway reset
// (malformed, or over the stream limit).
enum class KeptStream { kGrpc, kHttp, kReset, kCount };
// How a kept connection ended other than cleanly.
enum class KeptClose { kProtocolError, kIdle, kWriteTimeout, kCount };
// The drain notices guarded HTTP/2 clients are sent before gRPC shuts down (front/h2_guard.h):
// sent, then acked (the client's PING ACK came back) or closed (the connection ended first).
enum class DrainNoticeResult { kSent, kAcked, kClosed, kCount };
// TLS on the listening port (tls/): how its ClientHello read, where the connection went, why one
// was refused, and how the handshakes the gateway runs itself ended.
enum class TlsHello { kOk, kNotTls, kMalformed, kTooLarge, kTimeout, kClosed, kCount };
enum class TlsRoute { kGrpc, kGuarded, kGateway, kCount };
enum class TlsRefusal { kVersion, kNotConfigured, kCount };
enum class TlsHandshake { kOk, kFailed, kTimeout, kCount };
// What the handshakes the gateway ran agreed on.
enum class TlsAlpn { kH2, kHttp11, kNone, kCount };
enum class TlsVersion { kTls12, kTls13, kCount };
enum class TlsReload { kOk, kFailed, kCount };
// Plaintext refused under --tls-required, by what it was.
enum class PlaintextRefusal { kHttp1, kHttp2, kCount };
// How a connection's PROXY protocol header read (--proxy-protocol): v1 and v2 carried a caller,
// local named none (a v2 LOCAL or a v1 UNKNOWN: the balancer's own check), absent (none sent, and
// none needed). The rest are closed.
enum class ProxyOutcome {
  kV1,
  kV2,
  kLocal,
  kAbsent,
  kMissing,    // required, and the connection began with something else
  kUntrusted,  // from a source not in --proxy-protocol-from
  kMalformed,
  kTooLarge,
  kTimeout,
  kClosed,
  kCount
};
enum class StatusClass { k2xx, k3xx, k4xx, k5xx, kCount };
enum class HttpMethod { kGet, kHead, kPost, kPut, kDelete, kPatch, kOptions, kOther, kCount };
// The http_version label of calls on gRPC paths: "1.x" (HTTP/1.0 and 1.1) or "2".
enum class HttpVersion { k1, k2, kCount };
inline HttpVersion HttpVersionOf(unsigned version) {
  return version >= 20 ? HttpVersion::k2 : HttpVersion::k1;
}

HttpMethod HttpMethodFromName(std::string_view name);
std::string_view LimitName(Limit limit);
// Appends a metric family's "# HELP" and "# TYPE" lines.
void AppendHeader(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help);
// Appends `v` escaped for a label value of the text exposition format: \\, \" and \n.
void AppendLabelValue(std::string& out, std::string_view v);

class Metrics {
 public:
  Metrics();
  ~Metrics() { alive_.store(0, std::memory_order_relaxed); }

  // Aborts if this object has been destroyed. A connection that outlives the gateway's state
  // writes into memory that is still allocated (it is a member of the gateway), so no sanitizer
  // sees it; connections check this before they count themselves out.
  void CheckAlive() const {
    if (alive_.load(std::memory_order_relaxed) != kAlive) std::abort();
  }

  // Sizes the per-method rejection counters. Called once, before any connection is served.
  void SetMethods(const MethodTable* methods);

  // A JSON call served by transcoding, under warn or allow, with its gRPC status code.
  void CountTranscoded(int method_index, bool warn, int grpc_code,
                       HttpVersion version = HttpVersion::k1);
  std::uint64_t Transcoded(int method_index, bool warn, int grpc_code,
                           HttpVersion version = HttpVersion::k1) const;

  // A rejected call on a gRPC path (426 over HTTP/1.x, 415 over HTTP/2); `method_index` is -1
  // for an unregistered path.
  void CountRejection(int method_index, HttpMethod http_method,
                      HttpVersion version = HttpVersion::k1);
  std::uint64_t Rejections(int method_index, HttpMethod http_method,
                           HttpVersion version = HttpVersion::k1) const;
  void CountProtocol(std::string_view protocol);  // "http2", "http1", "tls", "unknown"
  void CountResponse(unsigned status);

  // Appends the gateway's own metrics and the process_* ones.
  void Render(std::string& out) const;

  void ObserveSniff(SniffOutcome outcome, std::chrono::nanoseconds d) {
    sniff_duration[static_cast<std::size_t>(outcome)].Observe(d);
  }

  Counter connections_accepted;
  Gauge connections_open;
  Gauge ready;
  Counter connections_http2, connections_http1, connections_tls, connections_unknown;
  EnumCounter<SniffFailure> sniff_failures;
  std::array<Histogram, static_cast<std::size_t>(SniffOutcome::kCount)> sniff_duration;
  EnumCounter<Limit> limits;
  Counter handoffs;
  Counter handoff_failures;
  EnumCounter<StatusClass> http1_responses;
  EnumCounter<MediaKind> unsupported_media;  // 415s, by what was sent instead of JSON
  EnumCounter<Http2Abuse> http2_abuse;
  Gauge http2_guarded;
  EnumCounter<DrainNoticeResult> drain_notices;
  // The HTTP/2 connections the gateway serves itself (h2/h2_session.h).
  EnumCounter<KeptReason> http2_kept;
  Gauge http2_kept_open;
  EnumCounter<KeptStream> http2_kept_streams;
  EnumCounter<KeptClose> http2_kept_closes;
  EnumCounter<TlsHello> tls_client_hellos;
  EnumCounter<TlsRoute> tls_connections;
  EnumCounter<TlsRefusal> tls_refused;
  EnumCounter<TlsHandshake> tls_handshakes;
  Histogram tls_handshake_duration;
  EnumCounter<TlsAlpn> tls_alpn;
  EnumCounter<TlsVersion> tls_versions;
  Counter tls_misdirected;
  EnumCounter<PlaintextRefusal> plaintext_refused;
  EnumCounter<ProxyOutcome> proxy_headers;
  EnumCounter<TlsReload> tls_reloads;
  Gauge tls_certificate_expiry;  // the leaf's notAfter, Unix seconds; 0 without TLS
  Gauge memory_limit_bytes;
  Gauge memory_degraded;
  Counter memory_trims;

 private:
  std::size_t RejectionSlot(int method_index, HttpMethod http_method, HttpVersion version) const;

  const MethodTable* methods_ = nullptr;
  // [((version * (methods + 1)) + method_index + 1) * kHttpMethods + http_method]
  std::unique_ptr<Counter[]> rejections_;
  std::size_t rejection_slots_ = 0;
  // [((version * methods + method_index) * 2 + warn) * 17 + grpc_code]
  std::unique_ptr<Counter[]> transcoded_;
  double start_time_seconds_;
  static constexpr std::uint32_t kAlive = 0x6a1f3c5d;
  std::atomic<std::uint32_t> alive_{kAlive};  // an atomic: the destructor's store is not elided
};

}  // namespace h2gate
