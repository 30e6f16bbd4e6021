#include "call/transcoder.h"

#include <charconv>

#include <fmt/format.h>
#include <google/protobuf/descriptor.h>
#include <google/protobuf/message.h>
#include <google/protobuf/util/json_util.h>
#include <boost/asio/post.hpp>

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
                                       const Metadata& metadata, Duration timeout,
                                       boost::asio::any_io_executor executor,
                                       std::function<void(TranscodeResult)> done) {
  // A request that never becomes a call is answered on the executor too: `done` never runs
  // inside this function.
  auto fail = [&](TranscodeResult result) {
    boost::asio::post(executor, [done = std::move(done), result = std::move(result)]() mutable {
      done(std::move(result));
    });
    return std::function<void()>();
  };
  const MethodDescriptor* method = Find(path);
  if (method == nullptr) {
    return fail(
        Error(grpc::StatusCode::UNIMPLEMENTED, fmt::format("{} cannot be called as JSON", path)));
  }
  auto* factory = google::protobuf::MessageFactory::generated_factory();
  std::unique_ptr<Message> request(factory->GetPrototype(method->input_type())->New());
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  const auto parsed = google::protobuf::util::JsonStringToMessage(
      json.empty() ? std::string_view("{}") : json, request.get(), options);
  if (!parsed.ok()) {
    return fail(
        Error(grpc::StatusCode::INVALID_ARGUMENT,
              fmt::format("request body is not a valid {} in JSON: {}",
                          method->input_type()->full_name(), parsed.message().as_string())));
  }

  // The codec: one request message in, one response message out, both as JSON.
  struct Reply {
    std::unique_ptr<Message> message;
    bool received = false;
  };
  auto reply = std::make_shared<Reply>();
  reply->message.reset(factory->GetPrototype(method->output_type())->New());
  InProcessCall::Events events;
  events.on_message = [reply](std::string bytes) {
    reply->received = reply->message->ParseFromString(bytes);
  };
  events.on_done = [reply, done = std::move(done)](grpc::Status status, Metadata) {
    if (!status.ok()) return done(Error(status.error_code(), status.error_message()));
    std::string json;
    if (!reply->received ||
        !google::protobuf::util::MessageToJsonString(*reply->message, &json).ok()) {
      return done(Error(grpc::StatusCode::INTERNAL, "the reply could not be converted to JSON"));
    }
    json += '\n';
    done({200, 0, std::move(json)});
  };
  const auto call =
      InProcessCall::Start(stub_, std::string(path), metadata, timeout, std::move(executor),
                           std::move(events), request->SerializeAsString());
  return [weak = std::weak_ptr<InProcessCall>(call)] {
    if (const auto c = weak.lock()) c->Cancel();
  };
}

}  // namespace h2gate
