// The embedded gRPC server's side of the gateway: the hand-off target, and the registered-method
// discovery that labels 426 answers and metrics.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include <grpcpp/server_builder.h>

#include "front/connection.h"
#include "route/grpc_path.h"

namespace h2gate {

// Hands HTTP/2 connections to gRPC through its external connection acceptor, bytes read included.
class GrpcHandoff : public HandoffTarget {
 public:
  GrpcHandoff(std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor,
              int listener_fd)
      : acceptor_(std::move(acceptor)), listener_fd_(listener_fd) {}
  bool Handoff(int fd, std::string_view bytes_read) override;

 private:
  std::unique_ptr<grpc::experimental::ExternalConnectionAcceptor> acceptor_;
  int listener_fd_;
};

// Makes `builder` record, once built, the names of every service the server registered (the
// user's and gRPC's default ones) into `*names`.
void CaptureServiceNames(grpc::ServerBuilder& builder, std::vector<std::string>* names);

// Methods of the named services, from the protobuf descriptors linked into this process. Services
// without a descriptor (generic ones) contribute no methods: their paths count as unregistered.
std::vector<MethodInfo> DescribeMethods(const std::vector<std::string>& service_names);

}  // namespace h2gate
