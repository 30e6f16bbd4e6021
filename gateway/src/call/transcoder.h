// Serves an HTTP/1.x JSON call by making the unary gRPC call in process: a codec over
// InProcessCall (inprocess_call.h) that turns JSON in protobuf's canonical mapping into the
// request message and the reply or status back into JSON. The call goes through gRPC's
// in-process channel, so interceptors, deadlines and metrics all apply.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <grpcpp/channel.h>
#include <grpcpp/generic/generic_stub.h>

#include "call/grpc_status.h"
#include "call/inprocess_call.h"
#include "h2gate/gateway.h"

namespace google::protobuf {
class Message;
class MethodDescriptor;
}  // namespace google::protobuf

namespace h2gate {

// HTTP request headers passed on as gRPC metadata; everything else stays behind.
inline constexpr std::string_view kForwardedHeaders[] = {
    "authorization", "x-request-id", "x-correlation-id", "traceparent", "tracestate"};

struct TranscodeResult {
  unsigned http_status = 200;
  int grpc_code = 0;
  std::string body;  // JSON
};

class Transcoder {
 public:
  explicit Transcoder(std::shared_ptr<grpc::Channel> in_process);

  // Starts the call. `done` runs once, on `executor`, also for a request that never became a
  // call (a bad JSON body). Returns what cancels the call (`done` then sees CANCELLED); it may be
  // called from any thread, also after the call ended. Empty if the call never started.
  std::function<void()> Call(std::string_view path, std::string_view json, const Metadata& metadata,
                             Duration timeout, boost::asio::any_io_executor executor,
                             std::function<void(TranscodeResult)> done);

 private:
  std::shared_ptr<grpc::Channel> channel_;
  grpc::GenericStub stub_;
  const google::protobuf::MethodDescriptor* Find(std::string_view path) const;
};

// Parses a grpc-timeout value ("250m", "5S", "1H"...); nullopt if malformed.
std::optional<Duration> ParseGrpcTimeout(std::string_view value);

}  // namespace h2gate
