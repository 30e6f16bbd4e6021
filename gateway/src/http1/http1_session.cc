#include "http1/http1_session.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/write.hpp>

#include "http1/http1_rules.h"
#include "route/caller.h"
#include "route/router.h"
#include "tls/tls_context.h"

namespace h2gate {
namespace http = beast::http;
namespace net = boost::asio;

namespace {
constexpr std::size_t kReadChunk = 1024;
// After the answer, unread request bytes are drained for at most this long (and this much) so
// closing does not reset the connection before the client has read the answer.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr std::size_t kLingerBytes = 1 << 20;
}  // namespace

template <class Stream>
Http1Session<Stream>::Http1Session(Stream stream, beast::flat_buffer buffer, Shared& shared,
                                   ConnectionSlot slot, ConnectionLabel label, bool admin)
    : stream_(std::move(stream)),
      timer_(stream_.get_executor()),
      buffer_(std::move(buffer)),
      shared_(shared),
      ctx_(shared.context),
      slot_(std::move(slot)),
      label_(std::move(label)),
      routes_{.grpc = !admin, .operator_endpoints = admin || shared.context->options.metrics} {}

template <class Stream>
Http1Session<Stream>::~Http1Session() {
  shared_.kept.Remove(label_.id);
}

template <class Stream>
void Http1Session<Stream>::Start() {
  shared_.kept.Add(label_.id, this->shared_from_this());
  if (buffer_.size() > 0) return ReadHeader();
  WaitForRequest();
}

template <class Stream>
void Http1Session<Stream>::Drain() {
  net::post(stream_.get_executor(), [self = this->shared_from_this()] {
    if (!self->idle_ || self->timed_out_) return;  // busy: its answer says Connection: close
    self->timed_out_ = true;
    beast::error_code ignored;
    self->Socket().close(ignored);  // nothing unread: a FIN, which the client sees before reuse
  });
}

template <class Stream>
void Http1Session<Stream>::WaitForRequest() {
  // The idle deadline runs until the next request's first byte; the header deadline from there.
  SetDeadline(ctx_->options.idle_timeout, Limit::kIdleTimeout);
  idle_ = true;
  stream_.async_read_some(buffer_.prepare(kReadChunk),
                          [self = this->shared_from_this()](beast::error_code ec, std::size_t n) {
                            self->idle_ = false;
                            if (self->timed_out_) return;
                            if (ec) return self->Close();  // EOF: the client is done
                            self->buffer_.commit(n);
                            self->ReadHeader();
                          });
}

template <class Stream>
void Http1Session<Stream>::ReadHeader() {
  parser_.emplace();
  parser_->header_limit(static_cast<std::uint32_t>(ctx_->options.max_header_bytes));
  parser_->body_limit(ctx_->options.max_body_bytes);
  parser_->eager(true);
  // A request usually arrives whole in one read: parse what is buffered first, and wait (with
  // a deadline) only for what is missing.
  beast::error_code ec;
  while (buffer_.size() > 0 && !parser_->is_done()) {
    buffer_.consume(parser_->put(buffer_.data(), ec));
    if (ec) break;
  }
  if (ec == http::error::need_more) ec = {};
  if (ec || parser_->is_header_done()) return OnHeader(ec);
  SetDeadline(ctx_->options.header_timeout, Limit::kHeaderTimeout);
  http::async_read_header(
      stream_, buffer_, *parser_,
      [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->OnHeader(ec); });
}

template <class Stream>
void Http1Session<Stream>::OnHeader(beast::error_code ec) {
  if (timed_out_) return;
  if (ec == http::error::header_limit) {
    shared_.metrics.limits.Inc(Limit::kHeaderSize);
    return SendError(http::status::request_header_fields_too_large,
                     "request header larger than the limit (--max-header-bytes)");
  }
  if (ec == http::error::end_of_stream || ec == net::error::eof ||
      ec == net::error::connection_reset) {
    return Close();  // the client left mid-request
  }
  // While reading the header, body_limit means a declared Content-Length over the cap; Beast
  // reports it once every field is parsed, so the request line and fields are all there.
  const bool declared_too_large = ec == http::error::body_limit;
  if (ec && !declared_too_large) {
    return SendError(http::status::bad_request, "malformed HTTP/1.x request: " + ec.message());
  }

  const auto& req = parser_->get();
  // RFC 9112 6.3: a request whose Transfer-Encoding does not end in chunked has no knowable body
  // length; answering it would let the next "request" be whatever the sender smuggled in.
  if (req.count(http::field::transfer_encoding) > 0 && !parser_->chunked()) {
    return SendError(http::status::bad_request,
                     "Transfer-Encoding must end in chunked (RFC 9112 section 6.3)");
  }
  // A body declared too large is not read: answer now and close, so no body byte is ever taken
  // for the next request.
  const auto length = parser_->content_length();
  const bool too_large = declared_too_large || (length && *length > ctx_->options.max_body_bytes);
  if (too_large) {
    shared_.metrics.limits.Inc(Limit::kBodySize);
    return Respond(false, /*body_complete=*/false);
  }
  if (parser_->is_done()) return Respond(req.keep_alive(), true);
  if (req.version() >= 11 && beast::iequals(req[http::field::expect], "100-continue")) {
    // The client waits for this before sending the body it announced (HTTP/1.0 ones do not).
    static constexpr std::string_view kContinue = "HTTP/1.1 100 Continue\r\n\r\n";
    return net::async_write(stream_, net::buffer(kContinue.data(), kContinue.size()),
                            [self = this->shared_from_this()](beast::error_code ec, std::size_t) {
                              if (!ec) self->ReadBody();
                            });
  }
  ReadBody();
}

template <class Stream>
void Http1Session<Stream>::ReadBody() {
  SetDeadline(ctx_->options.header_timeout, Limit::kHeaderTimeout);
  http::async_read(
      stream_, buffer_, *parser_,
      [self = this->shared_from_this()](beast::error_code ec, std::size_t) { self->OnBody(ec); });
}

template <class Stream>
void Http1Session<Stream>::OnBody(beast::error_code ec) {
  if (timed_out_) return;
  if (ec == http::error::body_limit) {
    shared_.metrics.limits.Inc(Limit::kBodySize);
    return Respond(false, false);  // chunked body past the cap: answer, then stop reading
  }
  if (ec == http::error::end_of_stream || ec == net::error::eof ||
      ec == net::error::connection_reset) {
    return Close();
  }
  if (ec) return SendError(http::status::bad_request, "malformed HTTP/1.x body: " + ec.message());
  Respond(parser_->get().keep_alive(), true);
}

template <class Stream>
void Http1Session<Stream>::Respond(bool keep_alive, bool body_complete) {
  const auto& req = parser_->get();
  const RequestVerdict verdict = CheckRequest(HeadOf(req));
  if (!verdict.ok) return SendError(http::status::bad_request, verdict.why);
  if constexpr (!kTls) {
    // --tls-required: the admin listener (probes, scrapes) stays plaintext.
    if (ctx_->options.tls_required && routes_.grpc) return RefusePlaintext();
  }
  if constexpr (kTls) {
    // A connection reused for another host (HTTP/2 coalescing, a proxy's pool) says so with the
    // 421 of RFC 9110 7.4, and the client retries on a new one. An ingress's connections carry
    // its callers' hosts under its own SNI: not checked.
    if (!ctx_->route_per_request.Contains(label_.peer_address)) {
      const std::string wrong = MisdirectedMessage(stream_.native_handle(), req[http::field::host]);
      if (!wrong.empty()) {
        shared_.metrics.tls_misdirected.Inc();
        return SendError(http::status::misdirected_request, wrong);
      }
    }
  }
  // One policy snapshot for the whole request: a SIGHUP mid-call cannot give it two answers.
  const auto policy = shared_.policies.MayServe() ? shared_.policies.Get() : nullptr;
  const RouterState state{.methods = ctx_->methods,
                          .routes = routes_,
                          .reject_wire = ctx_->reject_wire,
                          .policy = policy.get(),
                          .can_transcode = ctx_->transcoder != nullptr,
                          .draining = shared_.draining.load(std::memory_order_relaxed),
                          // Only a serving rule reads the time (for its sunset).
                          .now = policy ? shared_.clock() : SystemTime()};
  const RouteRequestFacts facts{
      .line = {req.method(), req.method_string(), verdict.path, req.version()},
      .content_type = req[http::field::content_type],
      .body_complete = body_complete,
      .upgrade = req.count(http::field::upgrade) > 0,
      .tls = kTls};
  Decision d = Decide(facts, state);
  if (d.close) keep_alive = false;

  Response& res = d.response;
  switch (d.action) {
    case Action::kTranscode: return Transcode(d.route, d.rule, keep_alive);
    case Action::kReject:
      CountRejection(d.route);
      if (d.wire)
        return SendWire((*d.wire)[keep_alive ? 1 : 0], http::status::upgrade_required, keep_alive);
      break;
    case Action::kUnsupportedMedia:
      shared_.metrics.unsupported_media.Inc(d.media);
      RecordCaller(d.route, "unsupported_media_type");
      break;
    case Action::kMetrics:
    case Action::kLegacyCallers:
    case Action::kLegacyCallersText:
      res = *RenderOperatorPage(d.action, shared_, req.version());
      break;
    case Action::kResetLegacyCallers:
      shared_.legacy_callers.Reset();
      spdlog::info("conn={} peer={} legacy-caller report reset", label_.id, label_.peer);
      break;
    case Action::kAnswer: break;
  }
  Finalize(res, keep_alive, req.method() == http::verb::head);
  Send(std::move(res), keep_alive);
}

template <class Stream>
void Http1Session<Stream>::CountRejection(const Route& route) {
  const auto& req = parser_->get();
  shared_.metrics.CountRejection(route.method_index, HttpMethodFromName(req.method_string()));
  RecordCaller(route, "reject");
}

template <class Stream>
void Http1Session<Stream>::RecordCaller(const Route& route, std::string_view policy) {
  const auto& req = parser_->get();
  h2gate::RecordCaller(shared_, label_, route,
                       {.x_forwarded_for = req["X-Forwarded-For"],
                        .user_agent = req[http::field::user_agent],
                        .http_method = req.method_string(),
                        .version = req.version()},
                       policy);
}

template <class Stream>
void Http1Session<Stream>::Transcode(const Route& route, const PolicyRule& rule, bool keep_alive) {
  const auto& req = parser_->get();
  const MethodInfo& method = ctx_->methods.methods()[route.method_index];
  RecordCaller(route, PolicyName(rule.policy));

  Metadata metadata;
  for (std::string_view name : kForwardedHeaders) {
    const auto it = req.find(name);
    if (it != req.end()) metadata.emplace_back(name, it->value());
  }
  // --transcode-timeout is also the most a caller may ask for: a client-chosen grpc-timeout can
  // shorten the call, never hold the gateway longer.
  Duration timeout = ctx_->options.transcode_timeout;
  if (const auto it = req.find("grpc-timeout"); it != req.end()) {
    if (const auto t = ParseGrpcTimeout(it->value())) timeout = std::min(*t, timeout);
  }
  in_flight_ = shared_.calls.TryEnter();
  if (!in_flight_) {  // past the drain's last call: gRPC is shutting down
    return SendError(http::status::service_unavailable,
                     "draining: this instance is shutting down; send the call again on a new "
                     "connection");
  }
  // The call has its own deadline; the connection's next one starts with the answer.
  ClearDeadline();
  // The reply is delivered on this connection's executor (its strand with several I/O threads).
  DeprecationNotice notice{method.path, rule.deprecated, rule.sunset, rule.link};
  cancel_ = ctx_->transcoder->Call(
      method.path, req.body(), metadata, timeout, stream_.get_executor(),
      [self = this->shared_from_this(), route, policy = rule.policy, notice,
       keep_alive](TranscodeResult result) mutable {
        self->FinishTranscode(route, policy, notice, std::move(result), keep_alive);
      });
  if (cancel_) WatchForHangUp();
}

template <class Stream>
void Http1Session<Stream>::WatchForHangUp() {
  // Nothing is read while the call runs; readiness says whether the client hung up (end of
  // stream or reset: cancel the call) or sent its next request (leave it in the socket).
  Socket().async_wait(
      net::socket_base::wait_read, [self = this->shared_from_this()](boost::system::error_code ec) {
        if (ec || !self->cancel_) return;  // the answer came first
        char byte;
        const ssize_t n = ::recv(self->Socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
        if (n > 0) return;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
          return self->WatchForHangUp();
        }
        SPDLOG_DEBUG("conn={} peer={} hung up: JSON call cancelled", self->label_.id,
                     self->label_.peer);
        std::exchange(self->cancel_, {})();
      });
}

template <class Stream>
void Http1Session<Stream>::FinishTranscode(const Route& route, Http1Policy policy,
                                           const DeprecationNotice& notice, TranscodeResult result,
                                           bool keep_alive) {
  const auto& req = parser_->get();
  if (cancel_) {
    cancel_ = {};
    boost::system::error_code ignored;
    Socket().cancel(ignored);  // ends WatchForHangUp's wait
  }
  shared_.metrics.CountTranscoded(route.method_index, policy == Http1Policy::kWarn,
                                  result.grpc_code);
  Response res = TranscodedAnswer(result.http_status, std::move(result.body), req.version());
  if (policy == Http1Policy::kWarn) AddDeprecationHeaders(res, notice);
  if (shared_.draining.load(std::memory_order_relaxed)) keep_alive = false;
  Finalize(res, keep_alive, false);
  Send(std::move(res), keep_alive);
}

template <class Stream>
void Http1Session<Stream>::SendError(http::status status, std::string_view message) {
  const unsigned version = parser_ && parser_->get().version() == 10 ? 10 : 11;
  const bool too_large = status == http::status::request_header_fields_too_large ||
                         status == http::status::payload_too_large;
  const auto code = too_large ? grpc::StatusCode::RESOURCE_EXHAUSTED
                    : status == http::status::service_unavailable
                        ? grpc::StatusCode::UNAVAILABLE
                        : grpc::StatusCode::INVALID_ARGUMENT;
  Response res = JsonError(status, code, message, version);
  Finalize(res, false, false);
  Send(std::move(res), false);
}

template <class Stream>
void Http1Session<Stream>::RefusePlaintext() {
  shared_.metrics.plaintext_refused.Inc(PlaintextRefusal::kHttp1);
  const auto& req = parser_->get();
  Response res = JsonError(
      http::status::upgrade_required, grpc::StatusCode::FAILED_PRECONDITION,
      fmt::format("this port requires TLS: call https://{:.200}{:.200} (TLS 1.2 or newer; gRPC "
                  "clients: TLS with ALPN h2)",
                  req[http::field::host], req.target()),
      req.version() == 10 ? 10 : 11);
  res.set(http::field::upgrade, "TLS/1.2, HTTP/1.1");
  res.set(http::field::connection, "Upgrade, close");
  Finalize(res, false, req.method() == http::verb::head);
  res.set(http::field::connection, "Upgrade, close");
  Send(std::move(res), false);
}

template <class Stream>
void Http1Session<Stream>::Send(Response response, bool keep_alive) {
  shared_.metrics.CountResponse(response.result_int());
  response_ = std::move(response);
  SetDeadline(ctx_->options.header_timeout, Limit::kWriteTimeout);
  http::async_write(stream_, response_,
                    [self = this->shared_from_this(), keep_alive](
                        beast::error_code ec, std::size_t) { self->OnWrite(ec, keep_alive); });
}

template <class Stream>
void Http1Session<Stream>::SendWire(std::string_view wire, http::status status, bool keep_alive) {
  shared_.metrics.CountResponse(static_cast<unsigned>(status));
  SetDeadline(ctx_->options.header_timeout, Limit::kWriteTimeout);
  net::async_write(stream_, net::buffer(wire.data(), wire.size()),
                   [self = this->shared_from_this(), keep_alive](
                       beast::error_code ec, std::size_t) { self->OnWrite(ec, keep_alive); });
}

template <class Stream>
void Http1Session<Stream>::OnWrite(beast::error_code ec, bool keep_alive) {
  in_flight_.reset();  // a JSON call's answer is out
  if (ec) return;      // the client went away, or the deadline closed the socket
  response_ = {};
  if (!keep_alive) return Close();
  if (buffer_.size() > 0) return ReadHeader();  // a pipelined request is already here
  buffer_.shrink_to_fit();                      // an idle keep-alive connection keeps no buffer
  WaitForRequest();
}

template <class Stream>
void Http1Session<Stream>::Close() {
  if constexpr (kTls) {
    // close_notify first (RFC 8446 6.1), so the client knows the answer was not cut short; the
    // linger deadline bounds a client that never answers it.
    SetDeadline(kLingerTime, std::nullopt);
    return stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {
      if (self->timed_out_) return;
      self->CloseTcp();
    });
  }
  CloseTcp();
}

template <class Stream>
void Http1Session<Stream>::CloseTcp() {
  beast::error_code ec;
  // Half-close: the client reads the answer, then EOF. Closing outright with unread request
  // bytes in our receive buffer would send an RST that can destroy the answer in flight.
  Socket().shutdown(net::ip::tcp::socket::shutdown_send, ec);
  if (ec) return Socket().close(ec);
  buffer_.clear();
  SetDeadline(kLingerTime, std::nullopt);
  Linger(0);
}

template <class Stream>
void Http1Session<Stream>::Linger(std::size_t discarded) {
  stream_.async_read_some(buffer_.prepare(kReadChunk), [self = this->shared_from_this(), discarded](
                                                           beast::error_code ec, std::size_t n) {
    if (ec || discarded + n > kLingerBytes) return self->Socket().close(ec);
    self->Linger(discarded + n);
  });
}

template <class Stream>
void Http1Session<Stream>::SetDeadline(Duration timeout, std::optional<Limit> limit) {
  deadline_ = std::chrono::steady_clock::now() + timeout;
  deadline_limit_ = limit;
  // A timer set to fire no later than the new deadline is left alone: OnTimer waits the rest.
  if (timer_armed_ && timer_.expiry() <= deadline_) return;
  ArmTimer();
}

template <class Stream>
void Http1Session<Stream>::ClearDeadline() {
  deadline_ = std::chrono::steady_clock::time_point::max();
}

template <class Stream>
void Http1Session<Stream>::ArmTimer() {
  timer_armed_ = true;
  timer_.expires_at(deadline_);  // a wait for a later time ends with operation_aborted
  // A weak reference: the timer alone does not keep a finished connection alive.
  timer_.async_wait([weak = this->weak_from_this()](beast::error_code ec) {
    if (ec == net::error::operation_aborted) return;  // re-armed, or the session is gone
    if (const auto self = weak.lock()) self->OnTimer(ec);
  });
}

template <class Stream>
void Http1Session<Stream>::OnTimer(beast::error_code ec) {
  timer_armed_ = false;
  if (ec || !Socket().is_open() || deadline_ == std::chrono::steady_clock::time_point::max()) {
    return;
  }
  if (std::chrono::steady_clock::now() < deadline_) return ArmTimer();
  timed_out_ = true;
  if (deadline_limit_) {
    shared_.metrics.limits.Inc(*deadline_limit_);
    SPDLOG_DEBUG("conn={} peer={} closed at the {} deadline", label_.id, label_.peer,
                 LimitName(*deadline_limit_));
  }
  // Closing cancels the pending read or write; its handler sees timed_out_ and returns.
  Socket().close(ec);
}

template class Http1Session<boost::asio::ip::tcp::socket>;
template class Http1Session<TlsStream>;

}  // namespace h2gate
