#include "transcoder.h"

#include <charconv>

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <grpcpp/client_context.h>
#include <grpcpp/support/byte_buffer.h>

#include "http1_response.h"

namespace h2gate {
namespace {

using google::protobuf::Message;
using google::protobuf::MethodDescriptor;

TranscodeResult Error(int code, std::string_view message) {
  std::string body = fmt::format("{{\"code\":{},\"message\":", code);
  AppendJsonString(body, message);
  body += ",\"details\":[]}\n";
  return {HttpStatusForGrpc(code), code, std::move(body)};
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

unsigned HttpStatusForGrpc(int code) {
  static constexpr unsigned kStatus[] = {
      200,  // OK
      499,  // CANCELLED
      500,  // UNKNOWN
      400,  // INVALID_ARGUMENT
      504,  // DEADLINE_EXCEEDED
      404,  // NOT_FOUND
      409,  // ALREADY_EXISTS
      403,  // PERMISSION_DENIED
      429,  // RESOURCE_EXHAUSTED
      400,  // FAILED_PRECONDITION
      409,  // ABORTED
      400,  // OUT_OF_RANGE
      501,  // UNIMPLEMENTED
      500,  // INTERNAL
      503,  // UNAVAILABLE
      500,  // DATA_LOSS
      401,  // UNAUTHENTICATED
  };
  return code >= 0 && code < 17 ? kStatus[code] : 500;
}

std::optional<Duration> ParseGrpcTimeout(std::string_view v) {
  if (v.size() < 2 || v.size() > 9) return std::nullopt;
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
    done(Error(12, fmt::format("{} cannot be called as JSON", path)));
    return {};
  }
  auto* factory = google::protobuf::MessageFactory::generated_factory();
  std::unique_ptr<Message> request(factory->GetPrototype(method->input_type())->New());
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      json.empty() ? std::string_view("{}") : json, request.get(), options);
  if (!parsed.ok()) {
    done(Error(3, fmt::format("request body is not a valid {} in JSON: {}",
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
                      return pending->done(Error(13, "the reply could not be converted to JSON"));
                    }
                    json += '\n';
                    pending->done({200, 0, std::move(json)});
                  });
  return [weak = std::weak_ptr<Pending>(pending)] {
    if (const auto p = weak.lock()) p->context.TryCancel();
  };
}

}  // namespace h2gate
