#include "obs/grpc_metrics.h"

#include <thread>

#include <fmt/format.h>

namespace h2gate {
namespace {

using grpc::experimental::InterceptionHookPoints;
using grpc::experimental::ServerRpcInfo;

RpcType TypeOf(ServerRpcInfo::Type type) {
  switch (type) {
    case ServerRpcInfo::Type::UNARY: return RpcType::kUnary;
    case ServerRpcInfo::Type::CLIENT_STREAMING: return RpcType::kClientStream;
    case ServerRpcInfo::Type::SERVER_STREAMING: return RpcType::kServerStream;
    case ServerRpcInfo::Type::BIDI_STREAMING: return RpcType::kBidiStream;
  }
  return RpcType::kUnary;
}

class MetricsInterceptor : public grpc::experimental::Interceptor {
 public:
  MetricsInterceptor(GrpcMetrics* metrics, GrpcMetrics::PerMethod* m)
      : metrics_(metrics), m_(m), start_(std::chrono::steady_clock::now()) {
    metrics_->Opened();
    m_->started.Inc();
  }

  // A call torn down without a status (gRPC cancelled it) still counts as handled.
  ~MetricsInterceptor() override {
    if (!handled_) Handled(grpc::StatusCode::CANCELLED);
    metrics_->Closed();
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_MESSAGE)) {
      m_->msg_received.Inc();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_MESSAGE)) {
      m_->msg_sent.Inc();
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      Handled(methods->GetSendStatus().error_code());
    }
    metrics_->Touched();
    methods->Proceed();
  }

 private:
  void Handled(grpc::StatusCode code) {
    handled_ = true;
    const auto c = static_cast<std::size_t>(code);
    m_->handled[c < GrpcMetrics::kCodes ? c : 2].Inc();  // out of range: Unknown
    m_->handling.Observe(std::chrono::steady_clock::now() - start_);
  }

  GrpcMetrics* metrics_;
  GrpcMetrics::PerMethod* m_;
  std::chrono::steady_clock::time_point start_;
  bool handled_ = false;
};

class Factory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(GrpcMetrics* metrics) : metrics_(metrics) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_, metrics_->For(info->method(), TypeOf(info->type())));
  }

 private:
  GrpcMetrics* metrics_;
};

}  // namespace

void GrpcMetrics::SetMethods(const MethodTable* methods) {
  registered_ = std::make_unique<PerMethod[]>(methods->methods().size());
  methods_.store(methods, std::memory_order_release);
}

GrpcMetrics::PerMethod* GrpcMetrics::For(std::string_view path, RpcType type) {
  if (const MethodTable* table = methods_.load(std::memory_order_acquire)) {
    const int index = table->Find(path);
    if (index >= 0) return &registered_[static_cast<std::size_t>(index)];
  }
  return &unknown_[static_cast<std::size_t>(type)];
}

void GrpcMetrics::Render(std::string& out) const {
  const MethodTable* table = methods_.load(std::memory_order_acquire);
  const std::size_t n = table ? table->methods().size() : 0;
  struct Row {
    std::string labels;
    const PerMethod* m;
  };
  std::vector<Row> rows;
  for (std::size_t i = 0; i < n; ++i) {
    const MethodInfo& info = table->methods()[i];
    rows.push_back({fmt::format("grpc_type=\"{}\",grpc_service=\"{}\",grpc_method=\"{}\"",
                                RpcTypeName(info.type), info.service, info.method),
                    &registered_[i]});
  }
  for (std::size_t t = 0; t < unknown_.size(); ++t) {
    if (unknown_[t].started.Value() == 0) continue;  // unknown series appear once used
    rows.push_back({fmt::format("grpc_type=\"{}\",grpc_service=\"unknown\",grpc_method=\"unknown\"",
                                RpcTypeName(static_cast<RpcType>(t))),
                    &unknown_[t]});
  }

  AppendHeader(out, "grpc_server_started_total", "counter", "RPCs started on the server.");
  for (const Row& r : rows) {
    fmt::format_to(std::back_inserter(out), "grpc_server_started_total{{{}}} {}\n", r.labels,
                   r.m->started.Value());
  }
  AppendHeader(out, "grpc_server_handled_total", "counter",
               "RPCs completed on the server, by gRPC status code.");
  for (const Row& r : rows) {
    for (std::size_t c = 0; c < kCodes; ++c) {
      const auto v = r.m->handled[c].Value();
      if (v == 0 && c != 0) continue;  // OK always shows; other codes once they occur
      fmt::format_to(std::back_inserter(out),
                     "grpc_server_handled_total{{{},grpc_code=\"{}\"}} {}\n", r.labels,
                     GrpcCodeName(static_cast<int>(c)), v);
    }
  }
  AppendHeader(out, "grpc_server_handling_seconds", "histogram",
               "Time from the start of an RPC to its status being sent.");
  for (const Row& r : rows) r.m->handling.Render(out, "grpc_server_handling_seconds", r.labels);
  AppendHeader(out, "grpc_server_msg_received_total", "counter",
               "Messages received by the server.");
  for (const Row& r : rows) {
    fmt::format_to(std::back_inserter(out), "grpc_server_msg_received_total{{{}}} {}\n", r.labels,
                   r.m->msg_received.Value());
  }
  AppendHeader(out, "grpc_server_msg_sent_total", "counter", "Messages sent by the server.");
  for (const Row& r : rows) {
    fmt::format_to(std::back_inserter(out), "grpc_server_msg_sent_total{{{}}} {}\n", r.labels,
                   r.m->msg_sent.Value());
  }
}

bool GrpcMetrics::WaitForCalls(std::chrono::milliseconds timeout) const {
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (live_.load(std::memory_order_acquire) > 0) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
GrpcMetrics::NewInterceptorFactory() {
  return std::make_unique<Factory>(this);
}

}  // namespace h2gate
