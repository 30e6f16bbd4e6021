#include "h2gate/gateway.h"

#include <signal.h>

#include <condition_variable>
#include <cstdint>
#include <fstream>
#include <future>
#include <mutex>
#include <optional>
#include <thread>

#include <absl/synchronization/mutex.h>
#include <fmt/chrono.h>
#include <fmt/format.h>
#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <grpcpp/security/server_credentials.h>
#include <grpcpp/server.h>
#include <grpcpp/server_builder.h>
#include <spdlog/spdlog.h>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>

#include "config/host_port.h"
#include "front/connection.h"
#include "front/grpc_embed.h"
#include "front/listener.h"
#include "front/memory_guard.h"
#include "front/proxy_session.h"
#include "http1/http1_response.h"
#include "obs/log.h"
#include "tls/tls_context.h"
#include "tls/tls_reloader.h"
#include "version.h"

namespace h2gate {
namespace net = boost::asio;

namespace {

sigset_t ShutdownSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGHUP);
  return set;
}

std::int64_t MemoryLimit(const Options& o) {
  if (o.memory_limit >= 0) return o.memory_limit;
  return CgroupMemoryLimit() / 10 * 9;  // auto; no cgroup limit: none
}

int Ms(Duration d) { return static_cast<int>(std::min<Duration::rep>(d.count(), INT32_MAX)); }

}  // namespace

void BlockShutdownSignals() {
  const sigset_t set = ShutdownSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

// gRPC rereads its copies of the TLS files this often: a reload reaches its handshakes within it.
constexpr unsigned kGrpcTlsRefreshSeconds = 1;

class Gateway::Impl {
 public:
  explicit Impl(Options options)
      // The concurrency hint lets asio drop locking it does not need with one I/O thread.
      : options_(std::move(options)),
        shared_(options_.legacy_callers_capacity),
        io_(options_.io_threads),
        listener_(io_, shared_, options_),
        admin_(io_, shared_, options_, true),
        memory_(io_, shared_, MemoryLimit(options_)) {
    interceptors_.push_back(shared_.grpc_metrics.NewInterceptorFactory());
    // Debian builds abseil without NDEBUG, which leaves absl::Mutex's debug-only deadlock
    // detector on: every lock gRPC takes consults a process-wide lock graph. Measured with
    // callgrind, it was a tenth of all instructions h2gate executed serving churned gRPC
    // connections and unary calls. Upstream release builds never run it.
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }

  ~Impl() {
    Shutdown();
    Wait();
    server_.reset();
    if (!shared_.grpc_metrics.WaitForCalls(std::chrono::seconds(2))) {
      spdlog::error("gRPC calls still alive 2 s after the server was destroyed");
    }
  }

  grpc::ServerBuilder& builder() { return builder_; }
  void AddInterceptorFactory(
      std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> factory) {
    interceptors_.push_back(std::move(factory));
  }

  bool Start(std::string* error) {
    if (spdlog::get("h2gate") == nullptr) {
      SetUpLogging(options_.log_level, options_.log_format);
    }
    const Options& o = options_;
    auto context = std::make_shared<Context>(o);
    std::string why;
    const auto exempt = CidrList::Parse(o.http2_guard_exempt, &why);
    if (!exempt) {
      *error = fmt::format("invalid --http2-guard-exempt={:?}: {}", o.http2_guard_exempt, why);
      return false;
    }
    context->guard_exempt = *exempt;
    const auto per_request = CidrList::Parse(o.http2_route_per_request, &why);
    if (!per_request) {
      *error =
          fmt::format("invalid --http2-route-per-request={:?}: {}", o.http2_route_per_request, why);
      return false;
    }
    context->route_per_request = *per_request;
    if (!ConfigureProxyProtocol(o, *context, error)) return false;
    std::string tls_error;
    context->tls = TlsContext::Load(o, &tls_error);
    if (!tls_error.empty()) {
      *error = std::move(tls_error);
      return false;
    }
    if (context->tls) {
      shared_.tls.Set(context->tls);
      grpc_tls_files_ = GrpcTlsFiles::Create(*context->tls, error);
      if (!grpc_tls_files_) return false;
    }
    // Bind first: a port in use fails start-up before gRPC spins up.
    if (!listener_.Bind(o.listen, error)) return false;
    if (o.admin_listen && !admin_.Bind(*o.admin_listen, error)) return false;

    static std::once_flag grpc_globals;
    std::call_once(grpc_globals, [] {
      grpc::EnableDefaultHealthCheckService(true);
      grpc::reflection::InitProtoReflectionServerBuilderPlugin();
    });
    if (!LoadPolicy(error)) return false;
    ConfigureGrpc();
    builder_.experimental().SetInterceptorCreators(std::move(interceptors_));
    auto acceptor = builder_.experimental().AddExternalConnectionAcceptor(
        grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
        grpc::InsecureServerCredentials());
    // gRPC over TLS: its own handshake on the connections handed to it, same certificate.
    std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> tls_acceptor;
    if (context->tls) {
      tls_acceptor = builder_.experimental().AddExternalConnectionAcceptor(
          grpc::ServerBuilder::experimental_type::ExternalConnectionType::FROM_FD,
          grpc_tls_files_->Credentials(o.tls_client_auth, kGrpcTlsRefreshSeconds));
    }
    int direct_port = 0;
    if (o.direct_listen) {
      // With TLS the direct port is gRPC's own TLS port: the baseline of TLS benchmarks.
      builder_.AddListeningPort(
          o.direct_listen->ToString(),
          context->tls ? grpc_tls_files_->Credentials(o.tls_client_auth, kGrpcTlsRefreshSeconds)
                       : grpc::InsecureServerCredentials(),
          &direct_port);
    }
    std::vector<std::string> service_names;
    CaptureServiceNames(builder_, &service_names);
    server_ = builder_.BuildAndStart();
    if (server_ == nullptr || (o.direct_listen && direct_port == 0)) {
      *error = !o.direct_listen
                   ? "the embedded gRPC server failed to start"
                   : fmt::format("the embedded gRPC server cannot listen on --direct-listen={}",
                                 o.direct_listen->ToString());
      return false;
    }
    handoff_.emplace(std::move(acceptor), listener_.native_handle());
    context->handoff = &*handoff_;
    if (tls_acceptor) {
      tls_handoff_.emplace(std::move(tls_acceptor), listener_.native_handle());
      context->tls_handoff = &*tls_handoff_;
      shared_.metrics.tls_certificate_expiry.Set(context->tls->not_after());
    }
    context->methods = MethodTable(DescribeMethods(service_names));
    for (const MethodInfo& m : context->methods.methods()) {
      context->reject_wire.push_back({SerializedPostRejection(m.path, context->methods, false),
                                      SerializedPostRejection(m.path, context->methods, true)});
    }
    // JSON calls go through gRPC's in-process channel: same server, same interceptors.
    // The minimal stack leaves out the client filters a relay has no use for (census, the
    // client's own deadline and message-size checks): the server's filters, on the other end of
    // the in-process transport, still enforce both.
    grpc::ChannelArguments relay;
    relay.SetInt(GRPC_ARG_MINIMAL_STACK, 1);
    const auto in_process = server_->InProcessChannel(relay);
    context->transcoder = std::make_unique<Transcoder>(in_process);
    context->grpc_stub = std::make_unique<grpc::GenericStub>(in_process);
    // Published before any connection is accepted; never changed after.
    shared_.context = std::move(context);
    shared_.metrics.SetMethods(&shared_.context->methods);
    shared_.grpc_metrics.SetMethods(&shared_.context->methods);
    if (auto* health = server_->GetHealthCheckService()) {
      for (const auto& name : service_names) health->SetServingStatus(name, true);
    }
    shared_.metrics.ready.Set(1);

    listener_.Start();
    if (o.admin_listen) admin_.Start();
    memory_.Start();
    if (grpc_tls_files_ && o.tls_reload_interval.count() > 0) {
      tls_reloader_.emplace(io_, shared_, *grpc_tls_files_);
      tls_reloader_->Start();
    }
    threads_.reserve(o.io_threads);
    for (int i = 0; i < o.io_threads; ++i) threads_.emplace_back([this] { io_.run(); });

    std::string services;
    for (const auto& s : shared_.context->methods.Services())
      services += (services.empty() ? "" : ", ") + s;
    spdlog::info(
        "h2gate {} listening on {}:{} ({}{}){}{}; services: {}", kVersion, o.listen.host,
        listener_.port(),
        o.tls_required ? "TLS only: plaintext refused" : "gRPC over h2c and HTTP/1.1",
        shared_.context->tls
            ? fmt::format(", and TLS with {} until {:%Y-%m-%d %H:%M} UTC", o.tls_cert,
                          fmt::gmtime(static_cast<std::time_t>(shared_.context->tls->not_after())))
            : "",
        o.direct_listen ? fmt::format(", gRPC direct on {}", o.direct_listen->ToString()) : "",
        o.admin_listen ? fmt::format(", admin on {}:{}", o.admin_listen->host, admin_.port()) : "",
        services);
    started_ = true;
    return true;
  }

  int port() const { return listener_.port(); }

  // Reads the policy flags and file into the store; keeps the old rules on error.
  bool LoadPolicy(std::string* error) {
    const Options& o = options_;
    PolicyRule defaults;
    defaults.policy = o.http1_policy;
    defaults.sunset = o.http1_sunset;
    defaults.deprecated = o.http1_deprecated;
    if (defaults.deprecated && defaults.sunset && *defaults.deprecated > *defaults.sunset) {
      *error =
          "--http1-deprecated is after --http1-sunset: a call stops working only after it is "
          "deprecated";
      return false;
    }
    defaults.link = o.migration_link;
    std::optional<PolicySet> set = PolicySet{};
    set->fallback = defaults;
    if (!o.http1_policy_file.empty()) {
      std::ifstream file(o.http1_policy_file);
      if (!file) {
        *error = fmt::format("cannot read --http1-policy-file={}", o.http1_policy_file);
        return false;
      }
      const std::string text((std::istreambuf_iterator<char>(file)),
                             std::istreambuf_iterator<char>());
      std::string why;
      set = ParsePolicyFile(text, defaults, &why);
      if (!set) {
        *error = fmt::format("--http1-policy-file={} {}", o.http1_policy_file, why);
        return false;
      }
    }
    shared_.policies.Set(std::move(*set));
    return true;
  }

  void SetClock(std::function<SystemTime()> now) { shared_.clock = std::move(now); }
  int admin_port() const { return admin_.port(); }

  void Shutdown() {
    std::call_once(shutdown_once_, [this] {
      if (!started_) {
        std::lock_guard lock(mu_);
        done_ = true;
        return;
      }
      drain_thread_ = std::thread([this] { Drain(); });
    });
  }

  // Ends the shutdown delay now, for a second signal.
  void Hurry() {
    std::lock_guard lock(mu_);
    hurry_ = true;
    cv_.notify_all();
  }

  void Wait() {
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [this] { return done_; });
    }
    if (drain_thread_.joinable()) drain_thread_.join();
  }

  bool WaitFor(Duration d) {
    std::unique_lock lock(mu_);
    return cv_.wait_for(lock, d, [this] { return done_; });
  }

 private:
  void ConfigureGrpc() {
    const Options& o = options_;
    if (o.grpc_max_connection_age.count() > 0) {
      builder_.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_MS, Ms(o.grpc_max_connection_age));
    }
    if (o.grpc_max_connection_age_grace.count() > 0) {
      builder_.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_AGE_GRACE_MS,
                                  Ms(o.grpc_max_connection_age_grace));
    }
    builder_.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, o.http2_max_concurrent_streams);
    builder_.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, Ms(o.grpc_keepalive_time));
    builder_.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, Ms(o.grpc_keepalive_timeout));
    builder_.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
                                Ms(o.grpc_min_ping_interval));
    builder_.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, Ms(o.tls_handshake_timeout));
    builder_.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS,
                                o.grpc_permit_keepalive_without_calls ? 1 : 0);
  }

  // Guarded clients were sent GOAWAY and a PING (DrainNotice): once each has answered, no stream
  // it opens can reach gRPC after its shutdown. Bounded: a client that does not answer gets
  // gRPC's own GOAWAY as before.
  void WaitForDrainNotices() {
    constexpr auto kAnswerWait = std::chrono::seconds(1);
    // What a client sent before its PING ACK is in gRPC's socket pair by then; gRPC reads it and
    // starts those calls within this (a loaded 2-core machine: a few milliseconds).
    constexpr auto kReadGrace = std::chrono::milliseconds(100);
    if (shared_.drain_notices_pending.load() == 0) return;
    const auto by = std::chrono::steady_clock::now() + kAnswerWait;
    while (shared_.drain_notices_pending.load() > 0 && std::chrono::steady_clock::now() < by) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    std::this_thread::sleep_for(kReadGrace);
  }

  void Drain() {
    const Options& o = options_;
    shared_.draining = true;
    shared_.metrics.ready.Set(0);
    if (auto* health = server_->GetHealthCheckService()) health->SetServingStatus(false);
    spdlog::info("draining: not ready; serving {} ms more, then in-flight RPCs get {} ms",
                 o.shutdown_delay.count(), o.drain_timeout.count());
    {
      std::unique_lock lock(mu_);
      cv_.wait_for(lock, o.shutdown_delay, [this] { return hurry_; });
    }

    // Stop accepting on the listener's own thread, and wait until it has.
    std::promise<void> stopped;
    net::post(io_, [this, &stopped] {
      listener_.Stop();
      admin_.Stop();
      stopped.set_value();
    });
    stopped.get_future().wait();
    // Kept HTTP/2 connections get GOAWAY now, as gRPC's own get it below: in-flight calls go on.
    shared_.kept.DrainAll();
    WaitForDrainNotices();
    spdlog::info("draining: listener closed; waiting for in-flight RPCs");

    // JSON calls run on gRPC's in-process channel, whose transport Shutdown closes at once
    // (their callers would get 503 "Transport closed"): they finish first, within the same
    // drain deadline. Answers during the drain close their connections, so few new ones start.
    const auto deadline = std::chrono::system_clock::now() + o.drain_timeout;
    auto wait_for_calls = [&] {
      while (shared_.calls.in_flight() > 0 && std::chrono::system_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    };
    wait_for_calls();
    // No call may start once gRPC shuts down (it would crash in the channel stack being torn
    // down): later ones are answered 503 (UNAVAILABLE for gRPC calls). Those that took a ticket
    // just before finish first, within the same deadline.
    shared_.calls.Close();
    wait_for_calls();
    // Sends GOAWAY, lets in-flight RPCs finish until the deadline, then cancels the rest.
    server_->Shutdown(deadline);
    // gRPC has written its last frames into the guards' socket pairs, and answers of JSON calls
    // it cut short are posted to their sessions: let both reach the clients before the I/O
    // threads stop (bounded: a client that reads nothing is left behind).
    const auto flush_by = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while ((shared_.metrics.http2_guarded.Value() > 0 || shared_.calls.in_flight() > 0 ||
            shared_.metrics.http2_kept_open.Value() > 0) &&
           std::chrono::steady_clock::now() < flush_by) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    net::post(io_, [this] {
      memory_.Stop();
      if (tls_reloader_) tls_reloader_->Stop();
    });
    io_.stop();
    for (auto& t : threads_) t.join();
    spdlog::info("drained; exiting");
    std::lock_guard lock(mu_);
    done_ = true;
    cv_.notify_all();
  }

  const Options options_;  // as given; connections read the copy in shared_.context
  // Declared before io_: handlers still queued when io_ is destroyed hold sessions that count
  // themselves out of shared_'s metrics.
  Shared shared_;
  net::io_context io_;
  Listener listener_;
  Listener admin_;  // bound only with --admin-listen
  MemoryGuard memory_;
  // With --tls-cert: the copies gRPC's TLS acceptor reads (they outlive the server), and what
  // follows the files.
  std::unique_ptr<GrpcTlsFiles> grpc_tls_files_;
  std::optional<TlsReloader> tls_reloader_;
  grpc::ServerBuilder builder_;
  std::vector<std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>> interceptors_;
  std::optional<GrpcHandoff> handoff_;
  std::optional<GrpcHandoff> tls_handoff_;  // with --tls-cert
  std::unique_ptr<grpc::Server> server_;
  std::vector<std::thread> threads_;
  bool started_ = false;
  std::once_flag shutdown_once_;
  std::thread drain_thread_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool done_ = false;
  bool hurry_ = false;
};

Gateway::Gateway(Options options) : impl_(std::make_unique<Impl>(std::move(options))) {}
Gateway::~Gateway() = default;

void Gateway::RegisterService(grpc::Service* service) { impl_->builder().RegisterService(service); }
void Gateway::AddInterceptorFactory(
    std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> factory) {
  impl_->AddInterceptorFactory(std::move(factory));
}
grpc::ServerBuilder& Gateway::builder() { return impl_->builder(); }
bool Gateway::Start(std::string* error) { return impl_->Start(error); }
int Gateway::port() const { return impl_->port(); }
bool Gateway::ReloadPolicy(std::string* error) { return impl_->LoadPolicy(error); }
void Gateway::SetClock(std::function<std::chrono::system_clock::time_point()> now) {
  impl_->SetClock(std::move(now));
}
int Gateway::admin_port() const { return impl_->admin_port(); }
void Gateway::Shutdown() { impl_->Shutdown(); }
void Gateway::Wait() { impl_->Wait(); }

int Gateway::Run() {
  BlockShutdownSignals();
  std::string error;
  if (!Start(&error)) {
    spdlog::critical("cannot start: {}", error);
    return 1;
  }
  const sigset_t set = ShutdownSignals();
  int signal = 0;
  while (true) {
    if (sigwait(&set, &signal) != 0) continue;
    if (signal != SIGHUP) break;
    if (ReloadPolicy(&error)) {
      spdlog::info("SIGHUP: policy reloaded");
    } else {
      spdlog::error("SIGHUP: policy not reloaded, the previous rules stay: {}", error);
    }
  }
  spdlog::info("{} received: draining (a second signal skips the shutdown delay)",
               signal == SIGTERM ? "SIGTERM" : "SIGINT");
  Shutdown();
  // Poll for a second signal while draining, in short bounded waits.
  const timespec tick{0, 100'000'000};
  while (!impl_->WaitFor(Duration(0))) {
    if (sigtimedwait(&set, nullptr, &tick) > 0) impl_->Hurry();
  }
  Wait();
  return 0;
}

}  // namespace h2gate
