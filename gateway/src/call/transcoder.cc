#include "call/transcoder.h"

#include <charconv>

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/byte_buffer.h>

#include "call/grpc_status.h"
#include "call/json.h"
#include "route/grpc_path.h"

namespace h2gate {
namespace {

using google::protobuf::Message;
using google::protobuf::MethodDescriptor;

TranscodeResult Error(grpc::StatusCode code, std::string_view message) {
  return {HttpStatusForGrpc(code), code, StatusJson(code, message)};
}

// State of one call, alive until gRPC reports completion.
struct Pending {
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  std::unique_ptr<Message> reply;
  std::function<void(TranscodeResult)> done;
};

}  // namespace

std::optional<Duration> ParseGrpcTimeout(std::string_view v) {
  // TimeoutValue is one to eight ASCII digits (gRPC's PROTOCOL-HTTP2.md): no sign, no space.
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
  for (char c : v.substr(0, v.size() - 1)) {
    if (c < '0' || c > '9') return std::nullopt;
  }
  std::int64_t n = 0;
  const auto [end, ec] = std::from_chars(v.data(), v.data() + v.size() - 1, n);
  if (ec != std::errc() || end != v.data() + v.size() - 1 || n < 0) return std::nullopt;
  using namespace std::chrono;
  switch (v.back()) {
    case 'H': return duration_cast<Duration>(hours(n));
    case 'M': return duration_cast<Duration>(minutes(n));
    case 'S': return duration_cast<Duration>(seconds(n));
    case 'm': return duration_cast<Duration>(milliseconds(n));
    case 'u': return duration_cast<Duration>(microseconds(n));
    case 'n': return duration_cast<Duration>(nanoseconds(n));
    default: return std::nullopt;
  }
}

Transcoder::Transcoder(std::shared_ptr<grpc::Channel> in_process)
    : channel_(std::move(in_process)), stub_(channel_) {}

const MethodDescriptor* Transcoder::Find(std::string_view path) const {
  // Paths are "/pkg.Service/Method"; the pool names methods "pkg.Service.Method".
  const auto parsed = ParseGrpcPath(path);
  if (!parsed) return nullptr;
  const auto* service = google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
      std::string(parsed->service));
  if (service == nullptr) return nullptr;
  const auto* method = service->FindMethodByName(std::string(parsed->method));
  if (method == nullptr || method->client_streaming() || method->server_streaming()) {
    return nullptr;
  }
  return method;
}

std::function<void()> Transcoder::Call(std::string_view path, std::string_view json,
                                       std::vector<std::pair<std::string, std::string>> metadata,
                                       Duration timeout,
                                       std::function<void(TranscodeResult)> done) {
  const MethodDescriptor* method = Find(path);
  if (method == nullptr) {
    done(Error(grpc::StatusCode::UNIMPLEMENTED, fmt::format("{} cannot be called as JSON", path)));
    return {};
  }
  auto* factory = google::protobuf::MessageFactory::generated_factory();
  std::unique_ptr<Message> request(factory->GetPrototype(method->input_type())->New());
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      json.empty() ? std::string_view("{}") : json, request.get(), options);
  if (!parsed.ok()) {
    done(Error(grpc::StatusCode::INVALID_ARGUMENT,
               fmt::format("request body is not a valid {} in JSON: {}",
                           method->input_type()->full_name(), parsed.message().as_string())));
    return {};
  }

  auto pending = std::make_shared<Pending>();
  pending->done = std::move(done);
  pending->reply.reset(factory->GetPrototype(method->output_type())->New());
  const std::string bytes = request->SerializeAsString();
  grpc::Slice slice(bytes.data(), bytes.size());
  pending->request = grpc::ByteBuffer(&slice, 1);
  pending->context.set_deadline(std::chrono::system_clock::now() + timeout);
  for (auto& [key, value] : metadata) pending->context.AddMetadata(key, value);

  stub_.UnaryCall(&pending->context, std::string(path), grpc::StubOptions(), &pending->request,
                  &pending->response, [pending](grpc::Status status) {
                    if (!status.ok()) {
                      return pending->done(Error(status.error_code(), status.error_message()));
                    }
                    std::string bytes;
                    std::vector<grpc::Slice> slices;
                    if (pending->response.Dump(&slices).ok()) {
                      for (const auto& s : slices) {
                        bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
                      }
                    }
                    std::string json;
                    if (!pending->reply->ParseFromString(bytes) ||
                        !google::protobuf::util::MessageToJsonString(*pending->reply, &json).ok()) {
                      return pending->done(Error(grpc::StatusCode::INTERNAL,
                                                 "the reply could not be converted to JSON"));
                    }
                    json += '\n';
                    pending->done({200, 0, std::move(json)});
                  });
  return [weak = std::weak_ptr<Pending>(pending)] {
    if (const auto p = weak.lock()) p->context.TryCancel();
  };
}

}  // namespace h2gate
