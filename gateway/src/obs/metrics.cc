#include "obs/metrics.h"

#include <fmt/format.h>

#include "obs/process_stats.h"
#include "version.h"

namespace h2gate {
namespace {

struct Family {
  std::string_view name;
  std::string_view type;
  std::string_view help;
};

// Every metric the gateway exports, in exposition order.
constexpr Family kBuildInfo{"h2gate_build_info", "gauge",
                            "Always 1; labels carry the h2gate and gRPC versions."};
constexpr Family kStartTime{"process_start_time_seconds", "gauge",
                            "Start time of the process since the Unix epoch, in seconds."};
constexpr Family kCpu{"process_cpu_seconds_total", "counter",
                      "User and system CPU time spent, in seconds."};
constexpr Family kResident{"process_resident_memory_bytes", "gauge",
                           "Resident memory size, in bytes."};
constexpr Family kVirtual{"process_virtual_memory_bytes", "gauge",
                          "Virtual memory size, in bytes."};
constexpr Family kOpenFds{"process_open_fds", "gauge", "Open file descriptors."};
constexpr Family kMaxFds{"process_max_fds", "gauge", "Limit on open file descriptors."};
constexpr Family kThreads{"process_threads", "gauge", "Threads in the process."};
constexpr Family kReady{"h2gate_ready", "gauge", "1 while serving, 0 once draining has begun."};
constexpr Family kAccepted{"h2gate_connections_accepted_total", "counter",
                           "Connections accepted by the front listener."};
constexpr Family kOpen{"h2gate_connections_open", "gauge",
                       "Connections held by the front listener (sniffing or HTTP/1.x); HTTP/2 "
                       "connections belong to gRPC once handed off."};
constexpr Family kProtocol{"h2gate_connections_total", "counter",
                           "Connections by the protocol detected from their first bytes."};
constexpr Family kSniffFailures{"h2gate_sniff_failures_total", "counter",
                                "Connections closed before their protocol was known, by reason."};
constexpr Family kSniffDuration{"h2gate_sniff_duration_seconds", "histogram",
                                "Time from accept to the end of sniffing, by outcome: the "
                                "protocol detected, or why sniffing failed."};
constexpr Family kLimits{"h2gate_limit_hits_total", "counter",
                         "Times a configured limit cut a connection or request short."};
constexpr Family kHandoffs{"h2gate_grpc_handoffs_total", "counter",
                           "HTTP/2 connections handed to the embedded gRPC server."};
constexpr Family kHandoffFailures{"h2gate_grpc_handoff_failures_total", "counter",
                                  "HTTP/2 connections that could not be handed to gRPC."};
constexpr Family kResponses{"h2gate_http1_responses_total", "counter",
                            "HTTP/1.x responses by status class."};
constexpr Family kRejections{"h2gate_http1_rejections_total", "counter",
                             "Calls on gRPC paths that are not gRPC, rejected: 426 Upgrade "
                             "Required over HTTP/1.x, 415 over HTTP/2."};
constexpr Family kHttp2Kept{"h2gate_http2_kept_connections_total", "counter",
                            "HTTP/2 connections the gateway serves itself instead of handing "
                            "them to gRPC, by why."};
constexpr Family kHttp2KeptOpen{"h2gate_http2_kept_connections", "gauge",
                                "HTTP/2 connections the gateway serves itself, open now."};
constexpr Family kHttp2KeptStreams{"h2gate_http2_kept_streams_total", "counter",
                                   "Requests on kept HTTP/2 connections: gRPC calls relayed "
                                   "in process, HTTP requests answered like HTTP/1.x ones, and "
                                   "streams reset as malformed or over the limit."};
constexpr Family kHttp2KeptCloses{"h2gate_http2_kept_closes_total", "counter",
                                  "Kept HTTP/2 connections closed by the gateway, by why."};

constexpr Family kTlsHellos{"h2gate_tls_client_hellos_total", "counter",
                            "TLS connections by how their ClientHello read: ok, not_tls, "
                            "malformed, too_large (over 64 KiB), timeout, closed."};
constexpr Family kTlsConnections{"h2gate_tls_connections_total", "counter",
                                 "TLS connections by where they went: grpc (the embedded server "
                                 "ran the handshake: --http2-guard-exempt sources), guarded "
                                 "(terminated by the gateway, its first request gRPC: relayed "
                                 "through the HTTP/2 guard), gateway (terminated and served "
                                 "by the gateway)."};
constexpr Family kTlsRefused{"h2gate_tls_refused_total", "counter",
                             "TLS connections refused before a handshake: version (all offered "
                             "versions older than --tls-min-version), not_configured (no "
                             "--tls-cert)."};
constexpr Family kTlsHandshakes{"h2gate_tls_handshakes_total", "counter",
                                "TLS handshakes the gateway ran itself, by result."};
constexpr Family kTlsAlpn{"h2gate_tls_alpn_total", "counter",
                          "Handshakes the gateway ran itself, by the protocol ALPN chose: h2 "
                          "(its HTTP/2 session), http/1.1, none (no ALPN: HTTP/1.1)."};
constexpr Family kTlsVersions{"h2gate_tls_versions_total", "counter",
                              "Handshakes the gateway ran itself, by the TLS version agreed."};
constexpr Family kPlaintextRefused{"h2gate_plaintext_refused_total", "counter",
                                   "Plaintext callers refused under --tls-required: http1 (426 "
                                   "with Upgrade: TLS/1.2), http2 (GOAWAY INADEQUATE_SECURITY)."};
constexpr Family kProxyHeaders{
    "h2gate_proxy_protocol_total", "counter",
    "Connections by how their PROXY protocol header read (--proxy-protocol): v1, v2 and local "
    "were served, absent came without one where it was optional; missing, untrusted, malformed, "
    "too_large, timeout and closed were closed."};
constexpr Family kTlsMisdirected{"h2gate_tls_misdirected_total", "counter",
                                 "Requests answered 421 Misdirected Request: their Host or "
                                 ":authority named another server than the TLS connection's "
                                 "SNI."};
constexpr Family kTlsHandshakeDuration{"h2gate_tls_handshake_duration_seconds", "histogram",
                                       "Time of the TLS handshakes the gateway ran itself."};
constexpr Family kTlsReloads{"h2gate_tls_reloads_total", "counter",
                             "Times the --tls-* files changed, by whether the new set loaded "
                             "(ok) or the previous one stayed (failed)."};
constexpr Family kTlsExpiry{"h2gate_tls_certificate_expiry_timestamp_seconds", "gauge",
                            "When the serving certificate expires, in Unix seconds; 0 without "
                            "TLS."};
constexpr Family kHttp2Abuse{"h2gate_http2_abuse_total", "counter",
                             "HTTP/2 connections cut with GOAWAY(ENHANCE_YOUR_CALM) by the guard, "
                             "by the limit the client broke."};
constexpr Family kHttp2Guarded{"h2gate_http2_guarded_connections", "gauge",
                               "HTTP/2 connections passing through the guard to gRPC."};
constexpr Family kDrainNotices{"h2gate_http2_drain_notices_total", "counter",
                               "Guarded HTTP/2 connections told of a drain (GOAWAY and PING) "
                               "before gRPC shuts down: sent, then acked by the client's PING "
                               "ACK or closed before it came."};
constexpr Family kMemoryLimit{"h2gate_memory_limit_bytes", "gauge",
                              "The resident memory limit in force (--memory-limit); 0: none."};
constexpr Family kMemoryDegraded{"h2gate_memory_degraded", "gauge",
                                 "1 while over the memory limit: new connections are refused."};
constexpr Family kMemoryTrims{"h2gate_memory_trims_total", "counter",
                              "Times freed heap was returned to the system (malloc_trim)."};
constexpr Family kUnsupportedMedia{
    "h2gate_http1_unsupported_media_type_total", "counter",
    "HTTP/1.x calls to a method served as JSON that sent another body (answered 415), by what "
    "the Content-Type says the body is."};
constexpr Family kTranscoded{"h2gate_http1_transcoded_total", "counter",
                             "HTTP/1.x JSON calls served by transcoding to gRPC, by policy and "
                             "gRPC status code."};
constexpr std::size_t kGrpcCodes = kGrpcCodeCount;

constexpr std::array<std::string_view, static_cast<std::size_t>(SniffFailure::kCount)>
    kSniffFailureNames = {"timeout", "closed", "error"};
constexpr std::array<std::string_view, static_cast<std::size_t>(SniffOutcome::kCount)>
    kSniffOutcomeNames = {"http2", "http1", "tls", "unknown", "timeout", "closed", "error"};
constexpr std::array<std::string_view, static_cast<std::size_t>(Limit::kCount)> kLimitNames = {
    "connections", "sniff_timeout", "header_timeout", "header_size",
    "body_size",   "idle_timeout",  "write_timeout",  "memory"};
constexpr std::array<std::string_view, static_cast<std::size_t>(StatusClass::kCount)>
    kStatusClassNames = {"2xx", "3xx", "4xx", "5xx"};
constexpr std::array<std::string_view, static_cast<std::size_t>(HttpMethod::kCount)>
    kHttpMethodNames = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "OTHER"};
constexpr std::size_t kHttpMethods = kHttpMethodNames.size();
constexpr std::array<std::string_view, static_cast<std::size_t>(HttpVersion::kCount)>
    kHttpVersionNames = {"1.x", "2"};
constexpr std::size_t kHttpVersions = kHttpVersionNames.size();
constexpr std::array<std::string_view, static_cast<std::size_t>(KeptReason::kCount)>
    kKeptReasonNames = {"first_request", "route_per_request", "alpn"};
constexpr std::array<std::string_view, static_cast<std::size_t>(KeptStream::kCount)>
    kKeptStreamNames = {"grpc", "http", "reset"};
constexpr std::array<std::string_view, static_cast<std::size_t>(KeptClose::kCount)>
    kKeptCloseNames = {"protocol_error", "idle", "write_timeout"};
constexpr std::array<std::string_view, static_cast<std::size_t>(DrainNoticeResult::kCount)>
    kDrainNoticeNames = {"sent", "acked", "closed"};

constexpr std::array<std::string_view, static_cast<std::size_t>(TlsHello::kCount)> kTlsHelloNames =
    {"ok", "not_tls", "malformed", "too_large", "timeout", "closed"};
constexpr std::array<std::string_view, static_cast<std::size_t>(TlsRoute::kCount)> kTlsRouteNames =
    {"grpc", "guarded", "gateway"};
constexpr std::array<std::string_view, static_cast<std::size_t>(TlsRefusal::kCount)>
    kTlsRefusalNames = {"version", "not_configured"};
constexpr std::array<std::string_view, static_cast<std::size_t>(TlsHandshake::kCount)>
    kTlsHandshakeNames = {"ok", "failed", "timeout"};
constexpr std::array<std::string_view, static_cast<std::size_t>(TlsAlpn::kCount)> kTlsAlpnNames = {
    "h2", "http/1.1", "none"};
constexpr std::array<std::string_view, static_cast<std::size_t>(TlsVersion::kCount)>
    kTlsVersionNames = {"TLSv1.2", "TLSv1.3"};
constexpr std::array<std::string_view, static_cast<std::size_t>(PlaintextRefusal::kCount)>
    kPlaintextRefusalNames = {"http1", "http2"};
constexpr std::array<std::string_view, static_cast<std::size_t>(ProxyOutcome::kCount)>
    kProxyOutcomeNames = {"v1",        "v2",        "local",     "absent",  "missing",
                          "untrusted", "malformed", "too_large", "timeout", "closed"};
constexpr std::array<std::string_view, static_cast<std::size_t>(TlsReload::kCount)>
    kTlsReloadNames = {"ok", "failed"};

void Header(std::string& out, const Family& f) { AppendHeader(out, f.name, f.type, f.help); }

template <typename E, std::size_t N>
void RenderEnum(std::string& out, const Family& f, std::string_view label, const EnumCounter<E>& c,
                const std::array<std::string_view, N>& names) {
  Header(out, f);
  for (std::size_t i = 0; i < N; ++i) {
    fmt::format_to(std::back_inserter(out), "{}{{{}=\"{}\"}} {}\n", f.name, label, names[i],
                   c.Value(static_cast<E>(i)));
  }
}

}  // namespace

// Label values here come from fixed tables or protobuf identifiers, but escape anyway: the
// exposition format breaks on a stray quote, backslash or newline.
void AppendLabelValue(std::string& out, std::string_view v) {
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
}

void AppendHeader(std::string& out, std::string_view name, std::string_view type,
                  std::string_view help) {
  fmt::format_to(std::back_inserter(out), "# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

std::string_view LimitName(Limit limit) { return kLimitNames[static_cast<std::size_t>(limit)]; }

HttpMethod HttpMethodFromName(std::string_view name) {
  for (std::size_t i = 0; i + 1 < kHttpMethods; ++i) {
    if (kHttpMethodNames[i] == name) return static_cast<HttpMethod>(i);
  }
  return HttpMethod::kOther;
}

Histogram::Histogram(std::span<const double> bounds)
    : bounds_(bounds),
      buckets_(std::make_unique<std::atomic<std::uint64_t>[]>(bounds.size() + 1)) {}

void Histogram::Observe(std::chrono::nanoseconds d) {
  const double seconds = std::chrono::duration<double>(d).count();
  std::size_t i = 0;
  while (i < bounds_.size() && seconds > bounds_[i]) ++i;
  buckets_[i].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(std::max<std::int64_t>(d.count(), 0)),
                    std::memory_order_relaxed);
}

void Histogram::Render(std::string& out, std::string_view name, std::string_view labels) const {
  const std::string_view sep = labels.empty() ? "" : ",";
  std::uint64_t cumulative = 0;
  for (std::size_t i = 0; i <= bounds_.size(); ++i) {
    cumulative += buckets_[i].load(std::memory_order_relaxed);
    if (i < bounds_.size()) {
      fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"{}\"}} {}\n", name, labels, sep,
                     bounds_[i], cumulative);
    } else {
      fmt::format_to(std::back_inserter(out), "{}_bucket{{{}{}le=\"+Inf\"}} {}\n", name, labels,
                     sep, cumulative);
    }
  }
  const std::string braces = labels.empty() ? "" : fmt::format("{{{}}}", labels);
  fmt::format_to(std::back_inserter(out), "{}_sum{} {}\n{}_count{} {}\n", name, braces,
                 static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9, name, braces,
                 cumulative);
}

Metrics::Metrics()
    : start_time_seconds_(
          std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch())
              .count()) {
  SetMethods(nullptr);
}

void Metrics::SetMethods(const MethodTable* methods) {
  methods_ = methods;
  const std::size_t n = methods ? methods->methods().size() : 0;
  rejection_slots_ = kHttpVersions * (n + 1) * kHttpMethods;
  rejections_ = std::make_unique<Counter[]>(rejection_slots_);
  transcoded_ = std::make_unique<Counter[]>(kHttpVersions * n * 2 * kGrpcCodes);
}

// Index into transcoded_, or -1 when out of range.
static std::ptrdiff_t TranscodedSlot(const MethodTable* methods, int method_index, bool warn,
                                     int grpc_code, HttpVersion version) {
  const std::size_t n = methods ? methods->methods().size() : 0;
  if (method_index < 0 || static_cast<std::size_t>(method_index) >= n || grpc_code < 0 ||
      grpc_code >= static_cast<int>(kGrpcCodes)) {
    return -1;
  }
  const std::size_t m = static_cast<std::size_t>(version) * n + method_index;
  return static_cast<std::ptrdiff_t>((m * 2 + warn) * kGrpcCodes +
                                     static_cast<std::size_t>(grpc_code));
}

void Metrics::CountTranscoded(int method_index, bool warn, int grpc_code, HttpVersion version) {
  const auto slot = TranscodedSlot(methods_, method_index, warn, grpc_code, version);
  if (slot >= 0) transcoded_[slot].Inc();
}

std::uint64_t Metrics::Transcoded(int method_index, bool warn, int grpc_code,
                                  HttpVersion version) const {
  const auto slot = TranscodedSlot(methods_, method_index, warn, grpc_code, version);
  return slot >= 0 ? transcoded_[slot].Value() : 0;
}

std::size_t Metrics::RejectionSlot(int method_index, HttpMethod http_method,
                                   HttpVersion version) const {
  const std::size_t per_version = rejection_slots_ / kHttpVersions;
  if (method_index + 1 < 0 ||
      static_cast<std::size_t>(method_index + 1) * kHttpMethods >= per_version) {
    return SIZE_MAX;
  }
  return static_cast<std::size_t>(version) * per_version +
         static_cast<std::size_t>(method_index + 1) * kHttpMethods +
         static_cast<std::size_t>(http_method);
}

void Metrics::CountRejection(int method_index, HttpMethod http_method, HttpVersion version) {
  const std::size_t slot = RejectionSlot(method_index, http_method, version);
  if (slot < rejection_slots_) rejections_[slot].Inc();
}

std::uint64_t Metrics::Rejections(int method_index, HttpMethod http_method,
                                  HttpVersion version) const {
  const std::size_t slot = RejectionSlot(method_index, http_method, version);
  return slot < rejection_slots_ ? rejections_[slot].Value() : 0;
}

void Metrics::CountProtocol(std::string_view protocol) {
  if (protocol == "http2")
    connections_http2.Inc();
  else if (protocol == "http1")
    connections_http1.Inc();
  else if (protocol == "tls")
    connections_tls.Inc();
  else
    connections_unknown.Inc();
}

void Metrics::CountResponse(unsigned status) {
  if (status >= 500)
    http1_responses.Inc(StatusClass::k5xx);
  else if (status >= 400)
    http1_responses.Inc(StatusClass::k4xx);
  else if (status >= 300)
    http1_responses.Inc(StatusClass::k3xx);
  else
    http1_responses.Inc(StatusClass::k2xx);
}

void Metrics::Render(std::string& out) const {
  auto line = [&out](std::string_view name, auto value) {
    fmt::format_to(std::back_inserter(out), "{} {}\n", name, value);
  };

  Header(out, kBuildInfo);
  fmt::format_to(std::back_inserter(out), "{}{{version=\"{}\",grpc_version=\"{}\"}} 1\n",
                 kBuildInfo.name, kVersion, GrpcVersion());
  const ProcessStats process = ReadProcessStats();
  Header(out, kStartTime);
  line(kStartTime.name, fmt::format("{:.3f}", start_time_seconds_));
  Header(out, kCpu);
  line(kCpu.name, process.cpu_seconds);
  Header(out, kResident);
  line(kResident.name, process.resident_bytes);
  Header(out, kVirtual);
  line(kVirtual.name, process.virtual_bytes);
  Header(out, kOpenFds);
  line(kOpenFds.name, process.open_fds);
  Header(out, kMaxFds);
  line(kMaxFds.name, process.max_fds);
  Header(out, kThreads);
  line(kThreads.name, process.threads);
  Header(out, kReady);
  line(kReady.name, ready.Value());
  Header(out, kAccepted);
  line(kAccepted.name, connections_accepted.Value());
  Header(out, kOpen);
  line(kOpen.name, connections_open.Value());

  Header(out, kProtocol);
  const std::pair<std::string_view, const Counter*> protocols[] = {
      {"http2", &connections_http2},
      {"http1", &connections_http1},
      {"tls", &connections_tls},
      {"unknown", &connections_unknown}};
  for (const auto& [name, counter] : protocols) {
    fmt::format_to(std::back_inserter(out), "{}{{protocol=\"{}\"}} {}\n", kProtocol.name, name,
                   counter->Value());
  }
  RenderEnum(out, kSniffFailures, "reason", sniff_failures, kSniffFailureNames);
  Header(out, kSniffDuration);
  for (std::size_t i = 0; i < sniff_duration.size(); ++i) {
    sniff_duration[i].Render(out, kSniffDuration.name,
                             fmt::format("outcome=\"{}\"", kSniffOutcomeNames[i]));
  }
  RenderEnum(out, kLimits, "limit", limits, kLimitNames);
  Header(out, kHandoffs);
  line(kHandoffs.name, handoffs.Value());
  Header(out, kHandoffFailures);
  line(kHandoffFailures.name, handoff_failures.Value());
  RenderEnum(out, kResponses, "code", http1_responses, kStatusClassNames);
  Header(out, kHttp2Abuse);
  for (std::size_t i = 0; i < static_cast<std::size_t>(Http2Abuse::kCount); ++i) {
    const auto abuse = static_cast<Http2Abuse>(i);
    fmt::format_to(std::back_inserter(out), "{}{{kind=\"{}\"}} {}\n", kHttp2Abuse.name,
                   Http2AbuseName(abuse), http2_abuse.Value(abuse));
  }
  Header(out, kUnsupportedMedia);
  for (std::size_t i = 1; i < static_cast<std::size_t>(MediaKind::kCount); ++i) {  // not json
    const auto media = static_cast<MediaKind>(i);
    fmt::format_to(std::back_inserter(out), "{}{{content_type=\"{}\"}} {}\n",
                   kUnsupportedMedia.name, MediaKindName(media), unsupported_media.Value(media));
  }
  Header(out, kHttp2Guarded);
  line(kHttp2Guarded.name, http2_guarded.Value());
  RenderEnum(out, kDrainNotices, "result", drain_notices, kDrainNoticeNames);
  RenderEnum(out, kHttp2Kept, "reason", http2_kept, kKeptReasonNames);
  Header(out, kHttp2KeptOpen);
  line(kHttp2KeptOpen.name, http2_kept_open.Value());
  RenderEnum(out, kHttp2KeptStreams, "kind", http2_kept_streams, kKeptStreamNames);
  RenderEnum(out, kHttp2KeptCloses, "reason", http2_kept_closes, kKeptCloseNames);
  RenderEnum(out, kTlsHellos, "result", tls_client_hellos, kTlsHelloNames);
  RenderEnum(out, kTlsConnections, "route", tls_connections, kTlsRouteNames);
  RenderEnum(out, kTlsRefused, "reason", tls_refused, kTlsRefusalNames);
  RenderEnum(out, kTlsHandshakes, "result", tls_handshakes, kTlsHandshakeNames);
  RenderEnum(out, kTlsAlpn, "alpn", tls_alpn, kTlsAlpnNames);
  RenderEnum(out, kTlsVersions, "version", tls_versions, kTlsVersionNames);
  RenderEnum(out, kPlaintextRefused, "protocol", plaintext_refused, kPlaintextRefusalNames);
  RenderEnum(out, kProxyHeaders, "outcome", proxy_headers, kProxyOutcomeNames);
  Header(out, kTlsMisdirected);
  line(kTlsMisdirected.name, tls_misdirected.Value());
  Header(out, kTlsHandshakeDuration);
  tls_handshake_duration.Render(out, kTlsHandshakeDuration.name);
  RenderEnum(out, kTlsReloads, "result", tls_reloads, kTlsReloadNames);
  Header(out, kTlsExpiry);
  line(kTlsExpiry.name, tls_certificate_expiry.Value());
  Header(out, kMemoryLimit);
  line(kMemoryLimit.name, memory_limit_bytes.Value());
  Header(out, kMemoryDegraded);
  line(kMemoryDegraded.name, memory_degraded.Value());
  Header(out, kMemoryTrims);
  line(kMemoryTrims.name, memory_trims.Value());

  // Registered methods always show their POST series (a legacy JSON call is a POST), so a rate()
  // starts from zero; other series appear once counted.
  Header(out, kRejections);
  const std::size_t n_methods = methods_ ? methods_->methods().size() : 0;
  for (std::size_t version = 0; version < kHttpVersions; ++version) {
    for (std::size_t m = 0; m <= n_methods; ++m) {
      const bool registered = m > 0;
      const std::string_view service =
          registered ? std::string_view(methods_->methods()[m - 1].service) : "unknown";
      const std::string_view method =
          registered ? std::string_view(methods_->methods()[m - 1].method) : "unknown";
      for (std::size_t v = 0; v < kHttpMethods; ++v) {
        const std::uint64_t count =
            rejections_[(version * (n_methods + 1) + m) * kHttpMethods + v].Value();
        if (count == 0 &&
            !(registered && version == 0 && static_cast<HttpMethod>(v) == HttpMethod::kPost)) {
          continue;
        }
        out += kRejections.name;
        out += "{grpc_service=\"";
        AppendLabelValue(out, service);
        out += "\",grpc_method=\"";
        AppendLabelValue(out, method);
        fmt::format_to(std::back_inserter(out),
                       "\",http_method=\"{}\",registered=\"{}\",http_version=\"{}\"}} {}\n",
                       kHttpMethodNames[v], registered ? "true" : "false",
                       kHttpVersionNames[version], count);
      }
    }
  }

  // Series appear once a call of that kind happened.
  Header(out, kTranscoded);
  for (std::size_t version = 0; version < kHttpVersions; ++version) {
    for (std::size_t m = 0; m < n_methods; ++m) {
      for (int warn = 0; warn < 2; ++warn) {
        for (std::size_t code = 0; code < kGrpcCodes; ++code) {
          const std::size_t slot = ((version * n_methods + m) * 2 + warn) * kGrpcCodes + code;
          const auto count = transcoded_[slot].Value();
          if (count == 0) continue;
          const MethodInfo& info = methods_->methods()[m];
          fmt::format_to(std::back_inserter(out),
                         "{}{{grpc_service=\"{}\",grpc_method=\"{}\",policy=\"{}\","
                         "grpc_code=\"{}\",http_version=\"{}\"}} {}\n",
                         kTranscoded.name, info.service, info.method, warn ? "warn" : "allow",
                         GrpcCodeName(static_cast<int>(code)), kHttpVersionNames[version], count);
        }
      }
    }
  }
}

}  // namespace h2gate
