// The requests of a kept HTTP/2 connection: gRPC calls relayed to the embedded server, and the
// answers to everything else.
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/post.hpp>

#include "h2/first_request.h"
#include "h2/h2_session.h"
#include "h2/h2_stream.h"
#include "route/caller.h"
#include "tls/tls_context.h"

namespace h2gate {
namespace http = boost::beast::http;

namespace {

// gRPC's default limit on a received message; a longer one is refused before it is buffered.
constexpr std::size_t kMaxMessage = 4 * 1024 * 1024;
// Request bytes given to gRPC and not yet taken, per stream, before the client's window stops
// being returned; and response bytes waiting for the client's window before gRPC is not read.
constexpr std::size_t kQueuedLimit = 256 * 1024;
constexpr std::size_t kPendingLimit = 256 * 1024;

// Header fields that belong to one HTTP/2 hop, or that gRPC sets itself.
bool Reserved(std::string_view name) {
  return name == "te" || name == "host" || name == "connection" || name == "keep-alive" ||
         name == "proxy-connection" || name == "transfer-encoding" || name == "upgrade" ||
         name.starts_with("grpc-");
}

nghttp2_nv Nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<std::uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<std::uint8_t*>(const_cast<char*>(value.data())), name.size(),
          value.size(), NGHTTP2_NV_FLAG_NONE};
}

// A metadata value as sent on the wire: "-bin" values in base64.
std::string WireValue(std::string_view key, std::string_view value) {
  return key.ends_with("-bin") ? Base64Encode(value) : std::string(value);
}

}  // namespace

void H2Session::Consume(Stream& s, std::size_t n) {
  if (n > 0) nghttp2_session_consume(session_, s.id, n);
}

void H2Session::OnRequestHeaders(Stream& s) {
  s.grpc = IsGrpcContentType(s.content_type) && s.method == "POST";
  shared_.metrics.http2_kept_streams.Inc(s.grpc ? KeptStream::kGrpc : KeptStream::kHttp);
  if (s.headers_too_large) {
    shared_.metrics.limits.Inc(Limit::kHeaderSize);
    if (s.grpc) {
      return GrpcError(s, grpc::StatusCode::RESOURCE_EXHAUSTED,
                       "request headers larger than the limit (--max-header-bytes)");
    }
    return Respond(s,
                   JsonError(http::status::request_header_fields_too_large,
                             grpc::StatusCode::RESOURCE_EXHAUSTED,
                             "request header larger than the limit (--max-header-bytes)", 20),
                   false);
  }
  if (tls_ && !ctx_->route_per_request.Contains(label_.peer_address)) {
    // As over HTTP/1.1 (http1_session.cc): a connection coalesced for another host gets 421.
    const std::string wrong = MisdirectedMessage(tls_->native_handle(), s.authority);
    if (!wrong.empty()) {
      shared_.metrics.tls_misdirected.Inc();
      s.grpc = false;  // answered now, its body read and dropped, as any answered request's
      return Respond(s,
                     JsonError(http::status::misdirected_request,
                               grpc::StatusCode::FAILED_PRECONDITION, wrong, 20),
                     false);
    }
  }
  if (!s.grpc) return;  // answered once the body is in (OnRequestEnd)
  const int index = ctx_->methods.Find(s.path);
  if (index < 0) {
    // Answered here: gRPC's generic in-process call to an unknown method is not safe to make.
    return GrpcError(s, grpc::StatusCode::UNIMPLEMENTED,
                     fmt::format("unknown method {:.200}", s.path));
  }
  if (!s.grpc_encoding.empty() && s.grpc_encoding != "identity") {
    return GrpcError(
        s, grpc::StatusCode::UNIMPLEMENTED,
        fmt::format("grpc-encoding {:.50} is not supported here; send identity", s.grpc_encoding));
  }
  s.reader.emplace(kMaxMessage);
  const RpcType type = ctx_->methods.methods()[index].type;
  // A unary or server-streaming call sends one message: it starts with it, in one step.
  s.one_message = type == RpcType::kUnary || type == RpcType::kServerStream;
  s.unary = type == RpcType::kUnary;
  if (!s.one_message) StartGrpcCall(s, std::nullopt);
}

void H2Session::OnRequestData(Stream& s, std::string_view data) {
  if (s.responded && !s.grpc) return Consume(s, data.size());
  if (!s.grpc) {
    Consume(s, data.size());
    if (s.body_too_large) return;
    if (s.body.size() + data.size() > ctx_->options.max_body_bytes) {
      s.body_too_large = true;
      s.body.clear();
      shared_.metrics.limits.Inc(Limit::kBodySize);
      return AnswerHttp(s, false);
    }
    s.body.append(data);
    return;
  }
  if (s.ended || !s.reader) return Consume(s, data.size());
  std::size_t taken = 0;
  const auto error = s.reader->Feed(data, [&](std::string message) {
    ++s.messages;
    if (s.one_message) {
      if (s.messages == 1) s.only_message = std::move(message);
      return;
    }
    if (!s.call) return;
    s.writing.push_back(message.size() + 5);
    s.queued += message.size() + 5;
    taken += message.size() + 5;
    s.call->Write(std::move(message));
  });
  if (error != GrpcMessageReader::Error::kNone) {
    Consume(s, data.size());
    return GrpcError(s,
                     error == GrpcMessageReader::Error::kCompressed
                         ? grpc::StatusCode::UNIMPLEMENTED
                         : grpc::StatusCode::RESOURCE_EXHAUSTED,
                     error == GrpcMessageReader::Error::kCompressed
                         ? "compressed messages are not supported here; send them uncompressed"
                         : "request message larger than 4 MiB");
  }
  if (s.one_message && s.messages > 1) {
    Consume(s, data.size());
    return GrpcError(s, grpc::StatusCode::UNIMPLEMENTED,
                     "more than one request message for a unary or server-streaming method");
  }
  // Bytes of messages still being assembled, and of a one-message call, are returned at once
  // (bounded by kMaxMessage); those of messages gRPC has not taken wait once enough are queued.
  if (s.queued > kQueuedLimit) {
    s.unconsumed += data.size();
  } else {
    Consume(s, data.size());
  }
}

void H2Session::OnRequestEnd(Stream& s) {
  if (!s.grpc) {
    if (!s.responded) AnswerHttp(s, !s.body_too_large);
    return;
  }
  if (s.ended) return;
  if (!s.reader->AtBoundary()) {
    return GrpcError(s, grpc::StatusCode::INTERNAL, "the request ended inside a message");
  }
  if (s.one_message) {
    if (s.messages != 1) {
      return GrpcError(s, grpc::StatusCode::UNIMPLEMENTED,
                       "a unary or server-streaming call sends exactly one request message");
    }
    return StartGrpcCall(s, std::move(s.only_message));
  }
  if (s.call) s.call->WritesDone();
}

void H2Session::StartGrpcCall(Stream& s, std::optional<std::string> only_message) {
  Duration timeout = InProcessCall::kNoDeadline;
  if (!s.grpc_timeout.empty()) {
    const auto t = ParseGrpcTimeout(s.grpc_timeout);
    if (!t) {
      return GrpcError(s, grpc::StatusCode::INTERNAL,
                       fmt::format("malformed grpc-timeout {:.20}", s.grpc_timeout));
    }
    timeout = *t;
  }
  Metadata metadata;
  for (auto& [key, value] : s.metadata) {
    if (Reserved(key)) continue;
    if (key.ends_with("-bin")) {
      auto raw = Base64Decode(value);
      if (!raw) {
        return GrpcError(s, grpc::StatusCode::INTERNAL,
                         fmt::format("metadata {:.50} is not base64", key));
      }
      metadata.emplace_back(key, std::move(*raw));
    } else {
      metadata.emplace_back(key, value);
    }
  }
  s.metadata.clear();
  s.in_flight = shared_.calls.TryEnter();
  if (!s.in_flight) {  // past the drain's last call: gRPC is shutting down, and says UNAVAILABLE
    return GrpcError(s, grpc::StatusCode::UNAVAILABLE, "draining: this instance is shutting down");
  }
  const std::weak_ptr<H2Session> weak = shared_from_this();
  const std::int32_t id = s.id;
  if (s.unary) return StartUnaryCall(s, std::move(*only_message), metadata, timeout);
  InProcessCall::Events events;
  events.on_headers = [weak, id](Metadata headers) {
    if (auto self = weak.lock()) self->OnGrpcHeaders(id, std::move(headers));
  };
  events.on_message = [weak, id](std::string message) {
    if (auto self = weak.lock()) self->OnGrpcMessage(id, std::move(message));
  };
  events.on_written = [weak, id] {
    if (auto self = weak.lock()) self->OnGrpcWritten(id);
  };
  events.on_done = [weak, id](grpc::Status status, Metadata trailers) {
    if (auto self = weak.lock()) self->OnGrpcDone(id, status, std::move(trailers));
  };
  s.call = InProcessCall::Start(*ctx_->grpc_stub, s.path, metadata, timeout,
                                Socket().get_executor(), std::move(events), std::move(only_message),
                                /*paced=*/true);
}

namespace {

// A unary call's state, alive until gRPC's callback has run.
struct UnaryCall {
  grpc::ClientContext context;
  grpc::ByteBuffer request, response;
};

}  // namespace

// A unary call in one step: gRPC's callback unary API runs the call as one batch and reports
// once, where the bidi reactor of InProcessCall reports headers, message and end separately,
// each a hand-off from a gRPC thread to the session's (bench/README.md, row 9).
void H2Session::StartUnaryCall(Stream& s, std::string message, const Metadata& metadata,
                               Duration timeout) {
  auto call = std::make_shared<UnaryCall>();
  if (timeout != InProcessCall::kNoDeadline) {
    call->context.set_deadline(std::chrono::system_clock::now() + timeout);
  }
  for (const auto& [key, value] : metadata) call->context.AddMetadata(key, value);
  call->request = ToByteBuffer(message);
  s.cancel = [call] { call->context.TryCancel(); };
  const std::weak_ptr<H2Session> weak = shared_from_this();
  const std::int32_t id = s.id;
  ctx_->grpc_stub->UnaryCall(
      &call->context, s.path, grpc::StubOptions(), &call->request, &call->response,
      [call, weak, id, executor = Socket().get_executor()](grpc::Status status) {
        boost::asio::post(executor, [call, weak, id, status = std::move(status)] {
          if (auto self = weak.lock()) self->OnUnaryDone(id, call->context, call->response, status);
        });
      });
}

void H2Session::OnUnaryDone(std::int32_t id, grpc::ClientContext& context,
                            grpc::ByteBuffer& response, const grpc::Status& status) {
  Stream* s = Find(id);
  if (s == nullptr || closed_) return;  // reset: the call was cancelled with the stream
  s->cancel = {};
  // Headers, message and trailers go out together: flushed once, below.
  ++in_nghttp2_;
  OnGrpcHeaders(id, CopyMetadata(context.GetServerInitialMetadata()));
  if (status.ok()) AppendGrpcMessage(s->out, response);
  OnGrpcDone(id, status, CopyMetadata(context.GetServerTrailingMetadata()));
  --in_nghttp2_;
  Flush();
}

void H2Session::OnGrpcHeaders(std::int32_t id, Metadata headers) {
  Stream* s = Find(id);
  if (s == nullptr || s->responded || closed_) return;
  std::vector<std::pair<std::string, std::string>> fields;
  fields.reserve(headers.size());
  for (auto& [key, value] : headers) {
    if (key == "content-type" || key.starts_with(':')) continue;
    fields.emplace_back(key, WireValue(key, value));
  }
  std::vector<nghttp2_nv> nva = {Nv(":status", "200"), Nv("content-type", "application/grpc")};
  for (auto& [k, v] : fields) nva.push_back(Nv(k, v));
  nghttp2_data_provider provider;
  provider.source.ptr = s;
  provider.read_callback = ReadBody;
  s->responded = true;
  nghttp2_submit_response(session_, id, nva.data(), nva.size(), &provider);
  Flush();
}

void H2Session::OnGrpcMessage(std::int32_t id, std::string message) {
  Stream* s = Find(id);
  if (s == nullptr || closed_) return;  // reset: the call was cancelled with the stream
  AppendGrpcMessage(s->out, message);
  // The next message is read from gRPC while the client keeps up; otherwise when the window
  // has taken this much (ReadBody).
  if (s->pending() < kPendingLimit) {
    s->call->ReadNext();
  } else {
    s->read_paused = true;
  }
  nghttp2_session_resume_data(session_, id);
  Flush();
}

void H2Session::OnGrpcWritten(std::int32_t id) {
  Stream* s = Find(id);
  if (s == nullptr || s->writing.empty()) return;
  s->queued -= s->writing.front();
  s->writing.pop_front();
  if (s->queued <= kQueuedLimit && s->unconsumed > 0) {
    Consume(*s, std::exchange(s->unconsumed, 0));
    Flush();
  }
}

void H2Session::OnGrpcDone(std::int32_t id, const grpc::Status& status, Metadata trailers) {
  Stream* s = Find(id);
  if (s == nullptr) return;
  s->in_flight.reset();
  if (s->ended || closed_) return;
  if (!s->responded) return GrpcError(*s, status.error_code(), status.error_message());
  s->done = true;
  s->ended = true;
  s->trailers.emplace_back("grpc-status", std::to_string(static_cast<int>(status.error_code())));
  if (!status.error_message().empty()) {
    s->trailers.emplace_back("grpc-message", PercentEncode(status.error_message()));
  }
  if (!status.error_details().empty()) {
    s->trailers.emplace_back("grpc-status-details-bin", Base64Encode(status.error_details()));
  }
  for (auto& [key, value] : trailers) {
    if (key.starts_with(':') || key == "grpc-status" || key == "grpc-message") continue;
    s->trailers.emplace_back(key, WireValue(key, value));
  }
  nghttp2_session_resume_data(session_, id);
  Flush();
}

void H2Session::GrpcError(Stream& s, grpc::StatusCode code, std::string_view message) {
  if (s.call) s.call->Cancel();
  if (s.cancel) std::exchange(s.cancel, {})();
  if (s.ended) return;
  s.ended = true;
  s.done = true;
  const std::string status = std::to_string(static_cast<int>(code));
  const std::string encoded = PercentEncode(message);
  if (s.responded) {  // headers are out: the status goes in the trailers
    s.trailers = {{"grpc-status", status}, {"grpc-message", encoded}};
    nghttp2_session_resume_data(session_, s.id);
    return Flush();
  }
  // Trailers-Only (gRPC's PROTOCOL-HTTP2.md): one HEADERS frame that ends the stream.
  s.responded = true;
  const nghttp2_nv nva[] = {Nv(":status", "200"), Nv("content-type", "application/grpc"),
                            Nv("grpc-status", status), Nv("grpc-message", encoded),
                            Nv("grpc-accept-encoding", "identity")};
  nghttp2_submit_response(session_, s.id, nva, std::size(nva), nullptr);
  Flush();
}

void H2Session::AnswerHttp(Stream& s, bool body_complete) {
  const http::verb verb = http::string_to_verb(s.method);
  const auto policy = shared_.policies.MayServe() ? shared_.policies.Get() : nullptr;
  const RouterState state{.methods = ctx_->methods,
                          .routes = {.grpc = true, .operator_endpoints = ctx_->options.metrics},
                          .reject_wire = {},
                          .policy = policy.get(),
                          .can_transcode = ctx_->transcoder != nullptr,
                          .draining = shared_.draining.load(std::memory_order_relaxed),
                          .now = policy ? shared_.clock() : SystemTime()};
  const RouteRequestFacts facts{.line = {verb, s.method, s.path, 20},
                                .content_type = s.content_type,
                                .body_complete = body_complete,
                                .upgrade = false,
                                .tls = tls_ != nullptr};
  Decision d = Decide(facts, state);
  const CallerFacts caller{.x_forwarded_for = s.forwarded_for,
                           .user_agent = s.user_agent,
                           .http_method = s.method,
                           .version = 20};
  Response& res = d.response;
  switch (d.action) {
    case Action::kTranscode: return TranscodeHttp(s, d);
    case Action::kReject:
      shared_.metrics.CountRejection(d.route.method_index, HttpMethodFromName(s.method),
                                     HttpVersion::k2);
      RecordCaller(shared_, label_, d.route, caller, "reject");
      break;
    case Action::kUnsupportedMedia:
      shared_.metrics.unsupported_media.Inc(d.media);
      RecordCaller(shared_, label_, d.route, caller, "unsupported_media_type");
      break;
    case Action::kMetrics:
    case Action::kLegacyCallers:
    case Action::kLegacyCallersText: res = *RenderOperatorPage(d.action, shared_, 20); break;
    case Action::kResetLegacyCallers:
      shared_.legacy_callers.Reset();
      spdlog::info("conn={} peer={} legacy-caller report reset", label_.id, label_.peer);
      break;
    case Action::kAnswer: break;
  }
  Respond(s, std::move(res), verb == http::verb::head);
}

void H2Session::TranscodeHttp(Stream& s, const Decision& d) {
  const MethodInfo& method = ctx_->methods.methods()[d.route.method_index];
  RecordCaller(shared_, label_, d.route,
               {.x_forwarded_for = s.forwarded_for,
                .user_agent = s.user_agent,
                .http_method = s.method,
                .version = 20},
               PolicyName(d.rule.policy));
  Metadata metadata;
  for (auto& [key, value] : s.metadata) {
    for (std::string_view name : kForwardedHeaders) {
      if (key == name) metadata.emplace_back(key, value);
    }
  }
  Duration timeout = ctx_->options.transcode_timeout;
  if (const auto t = ParseGrpcTimeout(s.grpc_timeout)) timeout = std::min(*t, timeout);
  s.in_flight = shared_.calls.TryEnter();
  if (!s.in_flight) {
    return Respond(s,
                   JsonError(http::status::service_unavailable, grpc::StatusCode::UNAVAILABLE,
                             "draining: this instance is shutting down; send the call again", 20),
                   false);
  }
  const std::weak_ptr<H2Session> weak = shared_from_this();
  const std::int32_t id = s.id;
  const int method_index = d.route.method_index;
  const bool warn = d.rule.policy == Http1Policy::kWarn;
  DeprecationNotice notice{method.path, d.rule.deprecated, d.rule.sunset, d.rule.link};
  s.cancel = ctx_->transcoder->Call(method.path, s.body, metadata, timeout, Socket().get_executor(),
                                    [weak, id, method_index, warn, notice](TranscodeResult result) {
                                      const auto self = weak.lock();
                                      if (!self) return;
                                      Stream* s = self->Find(id);
                                      if (s == nullptr) return;  // the client reset the stream
                                      s->cancel = {};
                                      s->in_flight.reset();
                                      self->shared_.metrics.CountTranscoded(
                                          method_index, warn, result.grpc_code, HttpVersion::k2);
                                      Response res = TranscodedAnswer(result.http_status,
                                                                      std::move(result.body), 20);
                                      if (warn) AddDeprecationHeaders(res, notice);
                                      self->Respond(*s, std::move(res), false);
                                      self->Flush();
                                    });
}

void H2Session::Respond(Stream& s, Response response, bool head) {
  if (s.responded || closed_) return;
  s.responded = true;
  s.ended = true;
  Finalize(response, true, head);
  shared_.metrics.CountResponse(response.result_int());
  const std::string status = std::to_string(response.result_int());
  std::vector<std::pair<std::string, std::string>> fields;
  for (const auto& field : response) {
    std::string name(field.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    // Connection-specific fields do not exist in HTTP/2 (RFC 9113 8.2.2).
    if (name == "connection" || name == "keep-alive" || name == "transfer-encoding" ||
        name == "upgrade" || name == "proxy-connection") {
      continue;
    }
    fields.emplace_back(std::move(name), std::string(field.value()));
  }
  std::vector<nghttp2_nv> nva = {Nv(":status", status)};
  for (auto& [k, v] : fields) nva.push_back(Nv(k, v));
  if (!head) s.out = std::move(response.body());
  if (s.out.empty()) {
    nghttp2_submit_response(session_, s.id, nva.data(), nva.size(), nullptr);
  } else {
    nghttp2_data_provider provider;
    provider.source.ptr = &s;
    provider.read_callback = ReadBody;
    nghttp2_submit_response(session_, s.id, nva.data(), nva.size(), &provider);
  }
  Flush();
}

}  // namespace h2gate
