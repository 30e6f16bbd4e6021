// h2gate: one port for gRPC and the HTTP/1.1 callers that still find it.
//
// A Gateway owns an embedded gRPC server and a front listener. The listener reads each new
// connection's first bytes: HTTP/2 (h2c with prior knowledge) is handed to gRPC with those bytes,
// and gRPC owns the connection from then on; HTTP/1.x is answered by the gateway itself: 426 on a
// gRPC path, /healthz, /readyz and /metrics, 404 elsewhere.
//
//   int main(int argc, char** argv) {
//     h2gate::BlockShutdownSignals();  // first, before any thread exists
//     h2gate::Options options = h2gate::ParseOptionsOrExit(argc, argv);
//     MyService service;
//     h2gate::Gateway gateway(options);
//     gateway.RegisterService(&service);
//     return gateway.Run();  // serves until SIGTERM or SIGINT, then drains
//   }
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

namespace grpc {
class Service;
class ServerBuilder;
namespace experimental {
class ServerInterceptorFactoryInterface;
}  // namespace experimental
}  // namespace grpc

namespace h2gate {

using Duration = std::chrono::milliseconds;
using SystemTime = std::chrono::system_clock::time_point;

// A listening address: an IP literal (no brackets) and a port; port 0 picks one.
struct HostPort {
  std::string host;
  std::uint16_t port = 0;
  std::string ToString() const;  // "0.0.0.0:8080", "[::1]:0"
  bool operator==(const HostPort&) const = default;
};

// What HTTP/1.x JSON callers of a unary gRPC method get (README: Migration mode).
enum class Http1Policy { kReject, kWarn, kAllow };

// Every setting, with its default. Each has a flag and an H2GATE_* environment variable; see
// Usage() for the list.
struct Options {
  HostPort listen{"0.0.0.0", 8080};       // the front listener
  std::optional<HostPort> direct_listen;  // if set, gRPC also listens here on its own (benchmarks)
  std::optional<HostPort> admin_listen;   // if set, an HTTP/1.1-only listener for operators
  int io_threads = 1;                     // threads serving the front listener
  int max_connections = 10000;            // connections the front listener holds at once
  // The kernel holds a new connection until its first bytes arrive (TCP_DEFER_ACCEPT, about 1 s
  // at most): HTTP/1 and HTTP/2 clients speak first, so the front listener need not wait.
  bool defer_accept = true;
  Duration sniff_timeout{5000};    // a new connection must show its protocol by then
  Duration header_timeout{10000};  // an HTTP/1.x request must arrive, and its answer leave, by then
  Duration idle_timeout{60000};    // keep-alive connections idle longer are closed
  std::size_t max_header_bytes = 16384;  // larger request headers get 431
  std::size_t max_body_bytes = 65536;    // larger bodies are not read: answered, then closed
  Duration shutdown_delay{0};            // after SIGTERM: not ready, but still serving, this long
  Duration drain_timeout{20000};         // then in-flight RPCs get this long to finish
  Duration grpc_max_connection_age{0};   // 0: unlimited
  Duration grpc_max_connection_age_grace{0};  // 0: unlimited
  Duration grpc_keepalive_time{7200000};      // server pings an idle connection this often
  Duration grpc_keepalive_timeout{20000};     // and closes it if no ack comes by then
  Duration grpc_min_ping_interval{300000};    // clients pinging more often are told off
  bool grpc_permit_keepalive_without_calls = false;
  bool metrics = true;  // serve /metrics and /debug/legacy-callers on the front listener too
  std::size_t legacy_callers_capacity = 1000;  // callers the legacy-caller report tracks
  bool trust_forwarded_for = false;            // key callers by the first X-Forwarded-For hop
  Duration rejection_log_interval{60000};      // a caller's 426s are logged once per interval
  // Migration mode: what HTTP/1.x JSON callers of unary gRPC methods get.
  Http1Policy http1_policy = Http1Policy::kReject;  // the default rule
  std::optional<SystemTime> http1_sunset;           // the default warn turns into reject then
  std::optional<SystemTime> http1_deprecated;       // the Deprecation date warn answers carry
  std::string http1_policy_file;      // per-service and per-method rules; reloaded on SIGHUP
  std::string migration_link;         // URL of the migration guide, for Link headers
  Duration transcode_timeout{10000};  // deadline of a JSON call; a grpc-timeout can only shorten it
  std::string log_level = "info";     // trace, debug, info, warn, error, critical, off
  std::string log_format = "text";    // text or json
  // HTTP/2 connections reach gRPC through a guard that reads frame headers and cuts abusive
  // clients (rapid reset, floods). Sources in this list ("none", "all", or CIDR ranges such as
  // "127.0.0.1/32,10.0.0.0/8") are handed over untouched instead (README: what that costs).
  std::string http2_guard_exempt = "none";
  // HTTP/2 connections from these sources ("none", "all", or CIDR ranges) are served by the
  // gateway itself, request by request: gRPC calls go to the embedded server in process, anything
  // else gets the answer its HTTP/1.x twin gets. For an ingress that sends every caller over
  // h2c. Other connections are handed to gRPC unless their first request is not gRPC.
  std::string http2_route_per_request = "none";
  // A connection that sent its preface and SETTINGS but no request yet is looked at again this
  // much later, its bytes still unread: gRPC clients wait for the server's SETTINGS first and
  // then go to gRPC untouched; curl and other HTTP/2 clients send their first request in the
  // next segment and are answered by the gateway if it is not gRPC.
  Duration http2_first_request_wait{10};
  int http2_max_concurrent_streams = 250;  // SETTINGS_MAX_CONCURRENT_STREAMS gRPC advertises
  int http2_reset_burst = 200;             // streams a client may reset at once,
  int http2_reset_rate = 100;              // and per second after that, before it is cut
  // Resident bytes above which new connections are refused; 0: none; -1 (auto): 90% of the
  // cgroup's memory limit, if it has one.
  std::int64_t memory_limit = -1;

  // TLS on the same port (README: TLS). With a certificate and key, a ClientHello that offers
  // ALPN h2 and not http/1.1 (every gRPC stack's) goes to the embedded gRPC server, which runs
  // the handshake itself; any other is terminated by the gateway with the same certificate.
  // Without them, TLS connections are closed and counted.
  std::string tls_cert;                   // PEM chain, leaf first
  std::string tls_key;                    // PEM private key of tls_cert
  std::string tls_client_ca;              // PEM CAs for client certificates; empty: none asked
  std::string tls_client_auth = "off";    // off, request (verified if sent), require
  std::string tls_min_version = "1.2";    // 1.2 or 1.3: older ClientHellos are refused
  Duration tls_handshake_timeout{10000};  // on both sides: gRPC's own default is 2 minutes
  // Plaintext on the main port is refused: HTTP/1.x gets 426 with Upgrade: TLS/1.2, HTTP/1.1,
  // HTTP/2 a GOAWAY(INADEQUATE_SECURITY). The admin listener stays plaintext (probes, scrapes).
  bool tls_required = false;
  // How often the TLS files are looked at for a rotation (gRPC's copies are reread each second);
  // 0: never.
  Duration tls_reload_interval{10000};

  // The PROXY protocol (v1 and v2) that L4 balancers send ahead of a connection's first byte
  // (README: PROXY protocol): off; optional (a header is read if sent, only from the sources in
  // proxy_protocol_from, which it then needs); required (every connection on the main port must
  // send one; from any source unless proxy_protocol_from names them). The caller it names is the
  // connection's peer from then on: logs, the legacy-caller report, --http2-* source lists.
  std::string proxy_protocol = "off";
  std::string proxy_protocol_from;  // CIDR ranges of the balancers; empty: not set
};

// Outcome of parsing flags and environment. Flags win over environment, which wins over defaults.
struct ParsedOptions {
  Options options;
  bool help = false;  // --help was given
  std::string error;  // non-empty when a flag or variable is invalid; names it and its value
};

// `args` excludes the program name; `getenv` looks up an environment variable (nullptr if unset).
ParsedOptions ParseOptions(std::span<const std::string_view> args,
                           const std::function<const char*(const char*)>& getenv);

// The --help text: every flag, its variable and its default.
std::string Usage();

// For main(): parses argv and the process environment; prints Usage() and exits 0 on --help,
// prints the error and exits 2 on a bad value.
Options ParseOptionsOrExit(int argc, char** argv);

// Blocks SIGTERM, SIGINT and SIGHUP in the calling thread, so that every thread started later
// (gRPC's included) inherits the block and Gateway::Run() alone receives them. Call it first.
void BlockShutdownSignals();

class Gateway {
 public:
  // Also turns off abseil's debug-only mutex deadlock detection for the process: Debian's
  // abseil leaves it on, and it costs gRPC about a tenth of its instructions.
  explicit Gateway(Options options);
  ~Gateway();
  Gateway(const Gateway&) = delete;
  Gateway& operator=(const Gateway&) = delete;

  // Adds a gRPC service (sync, callback or async). It must outlive the gateway. Call before
  // Start(). Its methods are what the gateway reports as "registered" in 426 answers and metrics.
  void RegisterService(grpc::Service* service);

  // Adds a server interceptor, after the gateway's own metrics interceptor. Call before Start().
  void AddInterceptorFactory(
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> factory);

  // The embedded server's builder, for what the calls above do not cover (channel arguments,
  // resource quotas). Call before Start(). The gateway owns the listening ports and the
  // interceptor list: use AddInterceptorFactory, not the builder's SetInterceptorCreators.
  grpc::ServerBuilder& builder();

  // Starts gRPC and the front listener. Returns false with a reason if it cannot (bad address,
  // port in use).
  bool Start(std::string* error);

  // The front listener's bound port (useful with port 0); 0 before Start().
  int port() const;
  // The admin listener's bound port; 0 without --admin-listen.
  int admin_port() const;

  // Re-reads --http1-policy-file and applies it to new requests; on error keeps the old rules
  // and returns false with the reason. Run() calls it on SIGHUP. Thread-safe.
  bool ReloadPolicy(std::string* error);

  // Replaces the wall clock that sunsets are compared with (tests).
  void SetClock(std::function<std::chrono::system_clock::time_point()> now);

  // Begins a graceful drain: readiness off at once, serving for shutdown_delay, then no new
  // connections, GOAWAY to gRPC clients, and in-flight RPCs get drain_timeout to finish.
  // Thread-safe; later calls do nothing.
  void Shutdown();

  // Blocks until a drain begun by Shutdown() has finished.
  void Wait();

  // Start(), then waits for SIGTERM or SIGINT (see BlockShutdownSignals) and drains. A second
  // signal during the drain cuts it short. Returns the process exit code: 0 after a drain, 1 if
  // the gateway could not start.
  int Run();

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace h2gate
