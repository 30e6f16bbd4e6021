// Server-side gRPC metrics in go-grpc-prometheus's vocabulary (grpc_server_started_total,
// grpc_server_handled_total, grpc_server_handling_seconds, grpc_server_msg_*_total), recorded by
// a server interceptor. Series are preallocated per registered method: recording a call is a few
// relaxed atomic adds and no allocation beyond the interceptor gRPC asks for.
#pragma once

#include <atomic>
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

 private:
  std::atomic<const MethodTable*> methods_{nullptr};
  std::unique_ptr<PerMethod[]> registered_;
  std::array<PerMethod, 4> unknown_;  // by RpcType
};

}  // namespace h2gate
