// Flags and H2GATE_* environment variables, declared once in kFlags.
#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include <fmt/format.h>

#include "config/cidr.h"
#include "config/host_port.h"
#include "h2gate/gateway.h"
#include "policy/policy.h"

namespace h2gate {
namespace {

// Each parser stores a valid value and returns "", or returns what is wrong with it.
using Setter = std::string (*)(Options&, std::string_view);

struct Flag {
  std::string_view name;  // without the leading "--"
  std::string_view env;
  std::string_view help;
  std::string (*show)(const Options&);  // the current value, for --help defaults
  Setter set;
};

template <typename Int>
std::string ParseInt(std::string_view v, Int& out, Int min, Int max) {
  Int value{};
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size(), value);
  if (ec != std::errc() || end != v.data() + v.size() || v.empty()) return "not a whole number";
  if (value < min || value > max) return fmt::format("must be between {} and {}", min, max);
  out = value;
  return "";
}

// "250ms", "5s", "2m", "1h"; a bare "0" is zero.
std::string ParseDuration(std::string_view v, Duration& out) {
  std::size_t digits = 0;
  while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9') ++digits;
  std::int64_t n = 0;
  if (digits == 0 || ParseInt<std::int64_t>(v.substr(0, digits), n, 0, 1'000'000'000) != "") {
    return "not a duration (like 250ms, 5s, 2m, 1h)";
  }
  const std::string_view unit = v.substr(digits);
  std::int64_t ms_per_unit = 0;
  if (unit == "ms")
    ms_per_unit = 1;
  else if (unit == "s")
    ms_per_unit = 1000;
  else if (unit == "m")
    ms_per_unit = 60'000;
  else if (unit == "h")
    ms_per_unit = 3'600'000;
  else if (unit.empty() && n == 0)
    ms_per_unit = 1;
  else
    return "not a duration (like 250ms, 5s, 2m, 1h)";
  if (n > 100LL * 24 * 3'600'000 / ms_per_unit) return "longer than 100 days";
  out = Duration(n * ms_per_unit);
  return "";
}

std::string ParseBool(std::string_view v, bool& out) {
  if (v == "true" || v == "1" || v == "yes")
    out = true;
  else if (v == "false" || v == "0" || v == "no")
    out = false;
  else
    return "not a boolean (true or false)";
  return "";
}

// "auto", "0", a number of bytes, or one with a Ki, Mi or Gi suffix.
std::string ParseMemoryLimit(std::string_view v, std::int64_t& out) {
  if (v == "auto") {
    out = -1;
    return "";
  }
  std::size_t digits = 0;
  while (digits < v.size() && v[digits] >= '0' && v[digits] <= '9') ++digits;
  const std::string_view unit = v.substr(digits);
  int shift = 0;
  if (unit == "Ki")
    shift = 10;
  else if (unit == "Mi")
    shift = 20;
  else if (unit == "Gi")
    shift = 30;
  else if (!unit.empty())
    return "not a size (like 200Mi, 1Gi, 0 or auto)";
  std::int64_t n = 0;
  if (digits == 0 || ParseInt<std::int64_t>(v.substr(0, digits), n, 0, 1LL << 40) != "") {
    return "not a size (like 200Mi, 1Gi, 0 or auto)";
  }
  if (n > (1LL << 50) >> shift) return "larger than 1 PiB";
  out = n << shift;
  return "";
}

// Empty is "off".
std::string ParseOptionalAddress(std::string_view v, std::optional<HostPort>& out) {
  if (v.empty()) {
    out.reset();
    return "";
  }
  out = ParseHostPort(v);
  return out ? "" : "not HOST:PORT (like 127.0.0.1:9090)";
}

std::string ShowAddress(const std::optional<HostPort>& a) { return a ? a->ToString() : ""; }

// Empty is "never".
std::string ParseOptionalTime(std::string_view v, std::optional<SystemTime>& out) {
  if (v.empty()) {
    out.reset();
    return "";
  }
  out = ParseRfc3339(v);
  return out ? "" : "not an RFC 3339 time (like 2027-03-01T00:00:00Z)";
}

std::string ShowTime(const std::optional<SystemTime>& t) { return t ? FormatRfc3339(*t) : ""; }

std::string ShowBytes(std::int64_t n) {
  if (n != 0 && n % (1 << 30) == 0) return fmt::format("{}Gi", n >> 30);
  if (n != 0 && n % (1 << 20) == 0) return fmt::format("{}Mi", n >> 20);
  if (n != 0 && n % (1 << 10) == 0) return fmt::format("{}Ki", n >> 10);
  return fmt::format("{}", n);
}

std::string ShowDuration(Duration d) {
  const auto ms = d.count();
  if (ms == 0) return "0";
  if (ms % 3'600'000 == 0) return fmt::format("{}h", ms / 3'600'000);
  if (ms % 60'000 == 0) return fmt::format("{}m", ms / 60'000);
  if (ms % 1000 == 0) return fmt::format("{}s", ms / 1000);
  return fmt::format("{}ms", ms);
}

#define H2GATE_DURATION_FLAG(flag, env, field, help)                             \
  Flag {                                                                         \
    flag, env, help, [](const Options& o) { return ShowDuration(o.field); },     \
        [](Options& o, std::string_view v) { return ParseDuration(v, o.field); } \
  }

#define H2GATE_INT_FLAG(flag, env, field, type, min, max, help)                             \
  Flag {                                                                                    \
    flag, env, help, [](const Options& o) { return fmt::format("{}", o.field); },           \
        [](Options& o, std::string_view v) { return ParseInt<type>(v, o.field, min, max); } \
  }

#define H2GATE_BOOL_FLAG(flag, env, field, help)                                               \
  Flag {                                                                                       \
    flag, env, help, [](const Options& o) { return std::string(o.field ? "true" : "false"); }, \
        [](Options& o, std::string_view v) { return ParseBool(v, o.field); }                   \
  }

// A value taken as given (a file path): what is in the file is checked where it is read.
#define H2GATE_STRING_FLAG(flag, env, field, help)             \
  Flag {                                                       \
    flag, env, help, [](const Options& o) { return o.field; }, \
        [](Options& o, std::string_view v) -> std::string {    \
          o.field = v;                                         \
          return "";                                           \
        }                                                      \
  }

const Flag kFlags[] = {
    {"listen", "H2GATE_LISTEN", "HOST:PORT the front listener binds (gRPC and HTTP/1.1)",
     [](const Options& o) { return o.listen.ToString(); },
     [](Options& o, std::string_view v) -> std::string {
       const auto address = ParseHostPort(v);
       if (!address) return "not HOST:PORT (like 0.0.0.0:8080 or [::1]:0)";
       o.listen = *address;
       return "";
     }},
    {"direct-listen", "H2GATE_DIRECT_LISTEN",
     "HOST:PORT where gRPC also listens without the front listener; empty: off",
     [](const Options& o) { return ShowAddress(o.direct_listen); },
     [](Options& o, std::string_view v) { return ParseOptionalAddress(v, o.direct_listen); }},
    {"admin-listen", "H2GATE_ADMIN_LISTEN",
     "HOST:PORT of an HTTP/1.1-only admin listener for /metrics, /debug/legacy-callers, "
     "/healthz and /readyz; empty: off",
     [](const Options& o) { return ShowAddress(o.admin_listen); },
     [](Options& o, std::string_view v) { return ParseOptionalAddress(v, o.admin_listen); }},
    H2GATE_INT_FLAG("io-threads", "H2GATE_IO_THREADS", io_threads, int, 1, 64,
                    "threads serving the front listener"),
    H2GATE_INT_FLAG("max-connections", "H2GATE_MAX_CONNECTIONS", max_connections, int, 1,
                    10'000'000, "connections the front listener holds at once; more are closed"),
    H2GATE_BOOL_FLAG("defer-accept", "H2GATE_DEFER_ACCEPT", defer_accept,
                     "the kernel hands a new connection over once its first bytes arrive, or "
                     "after about 1 s (TCP_DEFER_ACCEPT)"),
    H2GATE_DURATION_FLAG("sniff-timeout", "H2GATE_SNIFF_TIMEOUT", sniff_timeout,
                         "a new connection that shows no protocol by then is closed (counted "
                         "from when the kernel hands it over)"),
    H2GATE_DURATION_FLAG(
        "header-timeout", "H2GATE_HEADER_TIMEOUT", header_timeout,
        "an HTTP/1.x request must arrive whole, and its answer be taken, within this"),
    H2GATE_DURATION_FLAG("idle-timeout", "H2GATE_IDLE_TIMEOUT", idle_timeout,
                         "idle HTTP/1.x keep-alive connections are closed after this"),
    H2GATE_INT_FLAG("max-header-bytes", "H2GATE_MAX_HEADER_BYTES", max_header_bytes, std::size_t,
                    std::size_t{256}, std::size_t{1} << 20,
                    "larger HTTP/1.x request headers are answered 431"),
    H2GATE_INT_FLAG("max-body-bytes", "H2GATE_MAX_BODY_BYTES", max_body_bytes, std::size_t,
                    std::size_t{0}, std::size_t{64} << 20,
                    "larger HTTP/1.x request bodies are not read: answered, then closed"),
    H2GATE_DURATION_FLAG("shutdown-delay", "H2GATE_SHUTDOWN_DELAY", shutdown_delay,
                         "after SIGTERM, keep serving (not ready) this long before draining"),
    H2GATE_DURATION_FLAG("drain-timeout", "H2GATE_DRAIN_TIMEOUT", drain_timeout,
                         "in-flight RPCs get this long to finish, then are cancelled"),
    H2GATE_DURATION_FLAG("grpc-max-connection-age", "H2GATE_GRPC_MAX_CONNECTION_AGE",
                         grpc_max_connection_age,
                         "gRPC connections older than this get GOAWAY (+/-10% jitter); 0: never"),
    H2GATE_DURATION_FLAG("grpc-max-connection-age-grace", "H2GATE_GRPC_MAX_CONNECTION_AGE_GRACE",
                         grpc_max_connection_age_grace,
                         "after that GOAWAY, RPCs get this long before the connection closes; 0: "
                         "unlimited"),
    H2GATE_DURATION_FLAG("grpc-keepalive-time", "H2GATE_GRPC_KEEPALIVE_TIME", grpc_keepalive_time,
                         "the server pings idle gRPC connections this often"),
    H2GATE_DURATION_FLAG("grpc-keepalive-timeout", "H2GATE_GRPC_KEEPALIVE_TIMEOUT",
                         grpc_keepalive_timeout, "and closes them when no ping ack comes by then"),
    H2GATE_DURATION_FLAG("grpc-min-ping-interval", "H2GATE_GRPC_MIN_PING_INTERVAL",
                         grpc_min_ping_interval,
                         "clients that ping more often than this are sent GOAWAY"),
    H2GATE_BOOL_FLAG("grpc-permit-keepalive-without-calls",
                     "H2GATE_GRPC_PERMIT_KEEPALIVE_WITHOUT_CALLS",
                     grpc_permit_keepalive_without_calls,
                     "allow client pings on connections with no RPC in flight"),
    H2GATE_BOOL_FLAG("metrics", "H2GATE_METRICS", metrics,
                     "serve the operator endpoints /metrics and /debug/legacy-callers on the "
                     "front listener (the admin listener always does)"),
    H2GATE_INT_FLAG("legacy-callers-capacity", "H2GATE_LEGACY_CALLERS_CAPACITY",
                    legacy_callers_capacity, std::size_t, std::size_t{0}, std::size_t{100000},
                    "callers the legacy-caller report tracks (heaviest kept); 0: off"),
    H2GATE_BOOL_FLAG("trust-forwarded-for", "H2GATE_TRUST_FORWARDED_FOR", trust_forwarded_for,
                     "report the first X-Forwarded-For hop as the caller (only behind a proxy "
                     "that sets it)"),
    H2GATE_DURATION_FLAG("rejection-log-interval", "H2GATE_REJECTION_LOG_INTERVAL",
                         rejection_log_interval,
                         "log a caller's 426s at most once per this interval"),
    {"log-level", "H2GATE_LOG_LEVEL", "trace, debug, info, warn, error, critical or off",
     [](const Options& o) { return o.log_level; },
     [](Options& o, std::string_view v) -> std::string {
       for (std::string_view level :
            {"trace", "debug", "info", "warn", "error", "critical", "off"}) {
         if (v == level) {
           o.log_level = v;
           return "";
         }
       }
       return "not one of trace, debug, info, warn, error, critical, off";
     }},
    {"http1-policy", "H2GATE_HTTP1_POLICY",
     "what HTTP/1.x JSON calls to unary gRPC methods get: reject (426), warn (served, with "
     "Deprecation and Sunset headers) or allow (served)",
     [](const Options& o) { return std::string(PolicyName(o.http1_policy)); },
     [](Options& o, std::string_view v) -> std::string {
       const auto policy = ParsePolicyName(v);
       if (!policy) return "not reject, warn or allow";
       o.http1_policy = *policy;
       return "";
     }},
    {"http1-sunset", "H2GATE_HTTP1_SUNSET",
     "RFC 3339 time when --http1-policy=warn turns into reject; empty: never",
     [](const Options& o) { return ShowTime(o.http1_sunset); },
     [](Options& o, std::string_view v) { return ParseOptionalTime(v, o.http1_sunset); }},
    {"http1-deprecated", "H2GATE_HTTP1_DEPRECATED",
     "RFC 3339 date HTTP/1.x JSON calls were (or will be) deprecated, sent by warn in the "
     "Deprecation header (RFC 9745); empty: no Deprecation header",
     [](const Options& o) { return ShowTime(o.http1_deprecated); },
     [](Options& o, std::string_view v) { return ParseOptionalTime(v, o.http1_deprecated); }},
    H2GATE_STRING_FLAG("http1-policy-file", "H2GATE_HTTP1_POLICY_FILE", http1_policy_file,
                       "file of per-service and per-method policies; re-read on SIGHUP; empty: "
                       "none"),
    {"migration-link", "H2GATE_MIGRATION_LINK",
     "URL of the migration guide, sent in Link headers; empty: none",
     [](const Options& o) { return o.migration_link; },
     [](Options& o, std::string_view v) -> std::string {
       if (!v.empty() && !v.starts_with("https://") && !v.starts_with("http://")) {
         return "not an http(s) URL";
       }
       o.migration_link = v;
       return "";
     }},
    {"http2-guard-exempt", "H2GATE_HTTP2_GUARD_EXEMPT",
     "sources whose HTTP/2 connections go to gRPC untouched, without the guard that cuts "
     "rapid-reset and flooding clients: none, all, or CIDR ranges (like 127.0.0.1/32,10.0.0.0/8)",
     [](const Options& o) { return o.http2_guard_exempt; },
     [](Options& o, std::string_view v) -> std::string {
       std::string why;
       if (!CidrList::Parse(v, &why)) return why;
       o.http2_guard_exempt = v;
       return "";
     }},
    H2GATE_DURATION_FLAG("http2-first-request-wait", "H2GATE_HTTP2_FIRST_REQUEST_WAIT",
                         http2_first_request_wait,
                         "how long an HTTP/2 connection that sent its preface and no request is "
                         "watched for a first request that is not gRPC before it goes to gRPC "
                         "(gRPC clients send none until the server's SETTINGS; 0: hand over at "
                         "once)"),
    {"http2-route-per-request", "H2GATE_HTTP2_ROUTE_PER_REQUEST",
     "sources whose HTTP/2 connections the gateway always serves itself, routing each request "
     "(gRPC to the embedded server, anything else answered like HTTP/1.x): for an ingress that "
     "multiplexes every caller over h2c; none, all, or CIDR ranges",
     [](const Options& o) { return o.http2_route_per_request; },
     [](Options& o, std::string_view v) -> std::string {
       std::string why;
       if (!CidrList::Parse(v, &why)) return why;
       o.http2_route_per_request = v;
       return "";
     }},
    H2GATE_INT_FLAG("http2-max-concurrent-streams", "H2GATE_HTTP2_MAX_CONCURRENT_STREAMS",
                    http2_max_concurrent_streams, int, 1, 1000000,
                    "streams a client may have open on one HTTP/2 connection (advertised)"),
    H2GATE_INT_FLAG("http2-reset-burst", "H2GATE_HTTP2_RESET_BURST", http2_reset_burst, int, 1,
                    1000000, "streams a client may reset before they finish, at once"),
    H2GATE_INT_FLAG("http2-reset-rate", "H2GATE_HTTP2_RESET_RATE", http2_reset_rate, int, 1,
                    1000000,
                    "and per second after the burst; a faster client gets GOAWAY and is cut"),
    {"memory-limit", "H2GATE_MEMORY_LIMIT",
     "resident memory above which new connections are refused (like 200Mi or 1Gi); 0: none; "
     "auto: 90% of the container's memory limit, none without one",
     [](const Options& o) {
       return o.memory_limit < 0 ? std::string("auto") : ShowBytes(o.memory_limit);
     },
     [](Options& o, std::string_view v) { return ParseMemoryLimit(v, o.memory_limit); }},
    H2GATE_STRING_FLAG("tls-cert", "H2GATE_TLS_CERT", tls_cert,
                       "PEM certificate chain (leaf first) for TLS on the listening port; empty: "
                       "no TLS"),
    H2GATE_STRING_FLAG("tls-key", "H2GATE_TLS_KEY", tls_key, "PEM private key of --tls-cert"),
    H2GATE_STRING_FLAG("tls-client-ca", "H2GATE_TLS_CLIENT_CA", tls_client_ca,
                       "PEM CA certificates that sign client certificates (mTLS); empty: none "
                       "asked for"),
    {"tls-client-auth", "H2GATE_TLS_CLIENT_AUTH",
     "client certificates with --tls-client-ca: off, request (verified when sent), require",
     [](const Options& o) { return o.tls_client_auth; },
     [](Options& o, std::string_view v) -> std::string {
       if (v != "off" && v != "request" && v != "require") return "not off, request or require";
       o.tls_client_auth = v;
       return "";
     }},
    {"tls-min-version", "H2GATE_TLS_MIN_VERSION",
     "oldest TLS version accepted: 1.2 or 1.3 (older ClientHellos get a protocol_version alert)",
     [](const Options& o) { return o.tls_min_version; },
     [](Options& o, std::string_view v) -> std::string {
       if (v != "1.2" && v != "1.3") return "not 1.2 or 1.3";
       o.tls_min_version = v;
       return "";
     }},
    H2GATE_BOOL_FLAG("tls-required", "H2GATE_TLS_REQUIRED", tls_required,
                     "refuse plaintext on the main port (426 for HTTP/1.x, GOAWAY for HTTP/2); "
                     "needs --tls-cert"),
    H2GATE_DURATION_FLAG("tls-handshake-timeout", "H2GATE_TLS_HANDSHAKE_TIMEOUT",
                         tls_handshake_timeout,
                         "a TLS handshake must be done by then, the gateway's and gRPC's"),
    H2GATE_DURATION_FLAG("tls-reload-interval", "H2GATE_TLS_RELOAD_INTERVAL", tls_reload_interval,
                         "how often the --tls-* files are looked at; changed files that load "
                         "replace the certificate without a restart; 0: never"),
    {"proxy-protocol", "H2GATE_PROXY_PROTOCOL",
     "PROXY protocol v1/v2 header from an L4 load balancer ahead of each main-port connection: "
     "off, optional (read if sent; needs --proxy-protocol-from), required (closed without one)",
     [](const Options& o) { return o.proxy_protocol; },
     [](Options& o, std::string_view v) -> std::string {
       if (v != "off" && v != "optional" && v != "required") {
         return "not off, optional or required";
       }
       o.proxy_protocol = v;
       return "";
     }},
    {"proxy-protocol-from", "H2GATE_PROXY_PROTOCOL_FROM",
     "the load balancers' addresses (CIDR ranges, or all): only they may send a PROXY header; "
     "with required, other sources are refused; empty: any source under required",
     [](const Options& o) { return o.proxy_protocol_from; },
     [](Options& o, std::string_view v) -> std::string {
       std::string why;
       if (!v.empty() && !CidrList::Parse(v, &why)) return why;
       o.proxy_protocol_from = v;
       return "";
     }},
    H2GATE_DURATION_FLAG("transcode-timeout", "H2GATE_TRANSCODE_TIMEOUT", transcode_timeout,
                         "deadline of a JSON call, and the most a grpc-timeout header may ask for"),
    {"log-format", "H2GATE_LOG_FORMAT", "text, or json (one object per line)",
     [](const Options& o) { return o.log_format; },
     [](Options& o, std::string_view v) -> std::string {
       if (v != "text" && v != "json") return "not text or json";
       o.log_format = v;
       return "";
     }},
};

const Flag* FindFlag(std::string_view name) {
  for (const Flag& f : kFlags) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

}  // namespace

ParsedOptions ParseOptions(std::span<const std::string_view> args,
                           const std::function<const char*(const char*)>& getenv) {
  ParsedOptions result;
  for (const Flag& f : kFlags) {
    const char* value = getenv(std::string(f.env).c_str());
    if (value == nullptr) continue;
    if (std::string why = f.set(result.options, value); !why.empty()) {
      result.error = fmt::format("invalid {}={:?}: {}", f.env, value, why);
      return result;
    }
  }
  for (std::size_t i = 0; i < args.size(); ++i) {
    std::string_view arg = args[i];
    if (arg == "--help" || arg == "-h") {
      result.help = true;
      return result;
    }
    if (!arg.starts_with("--")) {
      result.error = fmt::format("unexpected argument {:?} (flags look like --name=value)", arg);
      return result;
    }
    arg.remove_prefix(2);
    const auto eq = arg.find('=');
    const std::string_view name = arg.substr(0, eq);
    const Flag* flag = FindFlag(name);
    if (flag == nullptr) {
      result.error = fmt::format("unknown flag --{} (see --help)", name);
      return result;
    }
    std::string_view value;
    if (eq != std::string_view::npos) {
      value = arg.substr(eq + 1);
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      result.error = fmt::format("flag --{} needs a value", name);
      return result;
    }
    if (std::string why = flag->set(result.options, value); !why.empty()) {
      result.error = fmt::format("invalid --{}={:?}: {}", name, value, why);
      return result;
    }
  }
  return result;
}

std::string Usage() {
  std::string out =
      "Usage: h2gate [--flag=value ...]\n"
      "Serves gRPC (HTTP/2 with prior knowledge) and answers HTTP/1.1 callers on one port.\n"
      "Every flag can also be set by its environment variable; flags win.\n\n";
  const Options defaults;
  for (const Flag& f : kFlags) {
    fmt::format_to(std::back_inserter(out), "  --{}  [{}]  default {:?}\n      {}\n", f.name, f.env,
                   f.show(defaults), f.help);
  }
  return out;
}

Options ParseOptionsOrExit(int argc, char** argv) {
  std::vector<std::string_view> args(argv + 1, argv + argc);
  const ParsedOptions parsed =
      ParseOptions(args, [](const char* name) { return std::getenv(name); });
  if (parsed.help) {
    std::fputs(Usage().c_str(), stdout);
    std::exit(0);
  }
  if (!parsed.error.empty()) {
    std::fprintf(stderr, "h2gate: %s\n", parsed.error.c_str());
    std::exit(2);
  }
  return parsed.options;
}

}  // namespace h2gate
