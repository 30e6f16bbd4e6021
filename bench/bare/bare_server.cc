// The benchmarks' baseline: a bare gRPC C++ server with what h2gate's embedded server serves the
// bench's calls with, and nothing else: echo.v1.Echo's unary Echo on gRPC's callback API (the
// demo service's behaviour, server/echo_service.cc) and gRPC's default health service. No front
// listener, no interceptor, no metrics, no reflection. bench/run.sh (TESTS=bare) and
// bench/lib/callgrind.sh (CG_SIDES=bare) measure h2gate against it.
//
//   h2gate_bare 127.0.0.1:PORT   # prints "h2gate_bare listening on ..."; exits 0 on SIGTERM
#include <absl/synchronization/mutex.h>
#include <grpcpp/alarm.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/health_check_service_interface.h>
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <memory>
#include <string>

#include "echo/v1/echo.grpc.pb.h"

namespace {

using echo::v1::EchoRequest;
using echo::v1::EchoResponse;

// As server/echo_service.cc: delay_ms is capped, a delayed answer waits on an Alarm.
constexpr std::uint32_t kMaxWaitMs = 600000;

class DelayedEchoReactor : public grpc::ServerUnaryReactor {
 public:
  DelayedEchoReactor(std::uint32_t delay_ms, const EchoRequest& request, EchoResponse* response) {
    response->set_message(request.message());
    response->set_payload(request.payload());
    alarm_.Set(
        std::chrono::system_clock::now() + std::chrono::milliseconds(delay_ms), [this](bool fired) {
          Finish(fired ? grpc::Status::OK : grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
        });
  }
  void OnCancel() override { alarm_.Cancel(); }
  void OnDone() override { delete this; }

 private:
  grpc::Alarm alarm_;
};

// Unary Echo only; the streaming methods stay the generated base's UNIMPLEMENTED (the bench does
// not call them), so the same four methods are registered as in h2gate.
class EchoService final : public echo::v1::Echo::CallbackService {
 public:
  grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context, const EchoRequest* request,
                                 EchoResponse* response) override {
    if (request->delay_ms() > kMaxWaitMs) {
      auto* reactor = context->DefaultReactor();
      reactor->Finish(
          grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "delay_ms is at most 600000"));
      return reactor;
    }
    if (request->delay_ms() > 0)
      return new DelayedEchoReactor(request->delay_ms(), *request, response);
    response->set_message(request->message());
    response->set_payload(request->payload());
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
};

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2 || std::strchr(argv[1], ':') == nullptr) {
    std::fprintf(stderr, "usage: h2gate_bare HOST:PORT   (e.g. 127.0.0.1:50051)\n");
    return 2;
  }
  const std::string address = argv[1];
  // Before gRPC starts its threads, so that SIGTERM and SIGINT reach sigwait below, as in h2gate.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);

  // As h2gate (gateway/src/gateway.cc): Debian builds abseil without NDEBUG, which leaves
  // absl::Mutex's deadlock detector on for every lock gRPC takes (a tenth of all instructions in
  // h2gate's callgrind runs); h2gate turns it off, upstream release builds never run it. Left on
  // here, the baseline would pay a cost that neither h2gate nor a release build pays.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  grpc::EnableDefaultHealthCheckService(true);

  EchoService echo;
  grpc::ServerBuilder builder;
  // The channel arguments h2gate's embedded server is built with (gateway/src/gateway.cc,
  // ConfigureGrpc), at h2gate's defaults: the stream limit gRPC advertises in SETTINGS, and the
  // per-connection timers (keepalive, ping policing, handshake deadline) each new connection arms.
  // h2gate's max-connection-age arguments are off by default, so not set here either.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS, 250);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS, 7200000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIMEOUT_MS, 20000);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS, 300000);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 10000);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 0);
  int port = 0;
  builder.AddListeningPort(address, grpc::InsecureServerCredentials(), &port);
  builder.RegisterService(&echo);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  if (server == nullptr || port == 0) {
    std::fprintf(stderr, "h2gate_bare: cannot listen on %s\n", address.c_str());
    return 1;
  }
  std::printf("h2gate_bare listening on %s (gRPC %s)\n", address.c_str(), grpc::Version().c_str());
  std::fflush(stdout);

  int sig = 0;
  sigwait(&signals, &sig);
  // In-flight calls get 5 s, as a bounded drain; then gRPC cancels them.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  server->Wait();
  return 0;
}
