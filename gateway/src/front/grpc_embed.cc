#include "front/grpc_embed.h"

#include <google/protobuf/descriptor.h>
#include <grpc/grpc.h>
#include <grpcpp/impl/server_builder_option.h>
#include <grpcpp/impl/server_builder_plugin.h>
#include <grpcpp/impl/server_initializer.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/slice.h>

#include "grpc/health/v1/health.pb.h"
#include "version.h"

namespace h2gate {
namespace {

class ServiceNamesPlugin : public grpc::ServerBuilderPlugin {
 public:
  explicit ServiceNamesPlugin(std::vector<std::string>* names) : names_(names) {}
  std::string name() override { return "h2gate_service_names"; }
  void InitServer(grpc::ServerInitializer*) override {}
  // Runs at the end of BuildAndStart, when every service, default ones included, is registered.
  void Finish(grpc::ServerInitializer* initializer) override {
    *names_ = *initializer->GetServiceList();
  }
  void ChangeArguments(const std::string&, void*) override {}

 private:
  std::vector<std::string>* names_;
};

class ServiceNamesOption : public grpc::ServerBuilderOption {
 public:
  explicit ServiceNamesOption(std::vector<std::string>* names) : names_(names) {}
  void UpdateArguments(grpc::ChannelArguments*) override {}
  void UpdatePlugins(std::vector<std::unique_ptr<grpc::ServerBuilderPlugin>>* plugins) override {
    plugins->push_back(std::make_unique<ServiceNamesPlugin>(names_));
  }

 private:
  std::vector<std::string>* names_;
};

RpcType TypeOf(const google::protobuf::MethodDescriptor& m) {
  if (m.client_streaming() && m.server_streaming()) return RpcType::kBidiStream;
  if (m.client_streaming()) return RpcType::kClientStream;
  if (m.server_streaming()) return RpcType::kServerStream;
  return RpcType::kUnary;
}

}  // namespace

std::string_view GrpcVersion() { return grpc_version_string(); }

bool GrpcHandoff::Handoff(int fd, std::string_view bytes_read) {
  grpc::experimental::ExternalConnectionAcceptor::NewConnectionParameters params;
  params.listener_fd = listener_fd_;
  params.fd = fd;
  if (!bytes_read.empty()) {
    grpc::Slice slice(bytes_read.data(), bytes_read.size());
    params.read_buffer = grpc::ByteBuffer(&slice, 1);
  }
  // gRPC owns the fd from here; it closes it itself if the server is shutting down.
  acceptor_->HandleNewConnection(&params);
  return true;
}

void CaptureServiceNames(grpc::ServerBuilder& builder, std::vector<std::string>* names) {
  builder.SetOption(std::make_unique<ServiceNamesOption>(names));
}

std::vector<MethodInfo> DescribeMethods(const std::vector<std::string>& service_names) {
  // gRPC's built-in health service is not protobuf-generated; our copy of its descriptor is.
  // Touching it here keeps it linked in.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  const auto* pool = google::protobuf::DescriptorPool::generated_pool();
  std::vector<MethodInfo> methods;
  for (const auto& name : service_names) {
    const auto* service = pool->FindServiceByName(name);
    if (service == nullptr) continue;
    for (int i = 0; i < service->method_count(); ++i) {
      const auto* m = service->method(i);
      methods.push_back({name, m->name(), "/" + name + "/" + m->name(), TypeOf(*m)});
    }
  }
  return methods;
}

}  // namespace h2gate
