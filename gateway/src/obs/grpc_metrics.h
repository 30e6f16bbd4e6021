// Server-side gRPC metrics in go-grpc-prometheus's vocabulary (grpc_server_started_total,
// grpc_server_handled_total, grpc_server_handling_seconds, grpc_server_msg_*_total), recorded by
// a server interceptor. Series are preallocated per registered method: recording a call is a few
// relaxed atomic adds and no allocation beyond the interceptor gRPC asks for.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/support/server_interceptor.h>

#include "obs/metrics.h"
#include "route/grpc_path.h"

namespace h2gate {

class GrpcMetrics {
 public:
  static constexpr int kCodes = 17;  // grpc::StatusCode OK .. UNAUTHENTICATED

  // Publishes the registered methods; calls before this count under "unknown".
  void SetMethods(const MethodTable* methods);

  struct PerMethod {
    Counter started;
    std::array<Counter, kCodes> handled;
    Counter msg_received;
    Counter msg_sent;
    Histogram handling{Histogram::kLatencyBounds};
  };

  // Series for `path`; never null (unknown paths share one slot per RPC type).
  PerMethod* For(std::string_view path, RpcType type);

  void Render(std::string& out) const;

  std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface> NewInterceptorFactory();

  // Waits, at most `timeout`, until no interceptor of this object is alive; true if none is.
  // gRPC may destroy a call's interceptors after grpc::Server is gone, on its own threads: the
  // owner calls this before freeing the series they write.
  bool WaitForCalls(std::chrono::milliseconds timeout) const;

  // For the interceptors: each step they take ends with Touched(), so that WaitForCalls()
  // happens after every write they made, whichever gRPC thread ran it.
  void Opened() { live_.fetch_add(1, std::memory_order_relaxed); }
  void Touched() { live_.fetch_add(0, std::memory_order_release); }
  void Closed() { live_.fetch_sub(1, std::memory_order_release); }

 private:
  std::atomic<int> live_{0};
  std::atomic<const MethodTable*> methods_{nullptr};
  std::unique_ptr<PerMethod[]> registered_;
  std::array<PerMethod, 4> unknown_;  // by RpcType
};

}  // namespace h2gate
