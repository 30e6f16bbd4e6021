#include "h2/h2_session.h"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/write.hpp>

#include "front/h2_guard.h"
#include "h2/h2_stream.h"

namespace h2gate {
namespace net = boost::asio;

namespace {

// Bytes nghttp2 may serialise per write; it produces no more DATA than the client's window.
constexpr std::size_t kWriteChunk = 65536;
// The flow-control windows the gateway grants: a stream's, and the connection's.
constexpr std::int32_t kStreamWindow = 256 * 1024;
constexpr std::int32_t kConnectionWindow = 1024 * 1024;
// After the shutdown notice (a GOAWAY naming the highest stream id) the final GOAWAY follows
// once requests already on the way have had time to arrive (RFC 9113 6.8).
constexpr auto kDrainNoticeTime = std::chrono::milliseconds(200);
// A cut connection is closed this long after its GOAWAY at the latest.
constexpr auto kLinger = std::chrono::seconds(1);

struct CallbacksDeleter {
  void operator()(nghttp2_session_callbacks* p) const { nghttp2_session_callbacks_del(p); }
};
struct OptionDeleter {
  void operator()(nghttp2_option* p) const { nghttp2_option_del(p); }
};

}  // namespace

void KeepHttp2(net::ip::tcp::socket socket, std::string_view bytes, Shared& shared,
               ConnectionSlot slot, ConnectionLabel label, KeptReason reason) {
  shared.metrics.http2_kept.Inc(reason);
  SPDLOG_DEBUG("conn={} peer={} HTTP/2 kept by the gateway ({})", label.id, label.peer,
               reason == KeptReason::kRoutePerRequest ? "--http2-route-per-request"
                                                      : "first request not gRPC");
  const auto executor = socket.get_executor();
  auto session =
      std::make_shared<H2Session>(std::move(socket), shared, std::move(slot), std::move(label));
  // Everything about the connection runs on its strand, the first step too. The sniffer's
  // buffer goes away with this call.
  net::dispatch(executor, [session, copy = std::string(bytes)] { session->Start(copy); });
}

void KeepHttp2(std::unique_ptr<TlsStream> stream, std::string_view bytes, Shared& shared,
               ConnectionSlot slot, ConnectionLabel label, KeptReason reason) {
  shared.metrics.http2_kept.Inc(reason);
  SPDLOG_DEBUG("conn={} peer={} HTTP/2 over TLS served by the gateway", label.id, label.peer);
  const auto executor = stream->get_executor();
  auto session =
      std::make_shared<H2Session>(std::move(stream), shared, std::move(slot), std::move(label));
  net::dispatch(executor, [session, copy = std::string(bytes)] { session->Start(copy); });
}

H2Session::H2Session(std::unique_ptr<TlsStream> stream, Shared& shared, ConnectionSlot slot,
                     ConnectionLabel label)
    : H2Session(net::ip::tcp::socket(stream->get_executor()), shared, std::move(slot),
                std::move(label)) {
  tls_ = std::move(stream);
}

template <typename Buffer, typename Handler>
void H2Session::ReadSome(const Buffer& buffer, Handler&& handler) {
  if (tls_) {
    tls_->async_read_some(buffer, std::forward<Handler>(handler));
  } else {
    socket_.async_read_some(buffer, std::forward<Handler>(handler));
  }
}

template <typename Buffer, typename Handler>
void H2Session::Write(const Buffer& buffer, Handler&& handler) {
  if (tls_) {
    net::async_write(*tls_, buffer, std::forward<Handler>(handler));
  } else {
    net::async_write(socket_, buffer, std::forward<Handler>(handler));
  }
}

H2Session::H2Session(net::ip::tcp::socket socket, Shared& shared, ConnectionSlot slot,
                     ConnectionLabel label)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      shared_(shared),
      ctx_(shared.context),
      slot_(std::move(slot)),
      label_(std::move(label)),
      policer_(ctx_->http2_limits),
      refused_(ctx_->http2_limits.reset_burst, ctx_->http2_limits.reset_rate) {
  shared_.metrics.http2_kept_open.Add(1);
}

H2Session::~H2Session() {
  CancelCalls();
  if (session_ != nullptr) nghttp2_session_del(session_);
  if (registered_) shared_.kept.Remove(label_.id);
  shared_.metrics.CheckAlive();
  shared_.metrics.http2_kept_open.Add(-1);
}

bool H2Session::Start(std::string_view bytes_read) {
  nghttp2_session_callbacks* raw_callbacks = nullptr;
  nghttp2_option* raw_option = nullptr;
  if (nghttp2_session_callbacks_new(&raw_callbacks) != 0 || nghttp2_option_new(&raw_option) != 0) {
    Close();
    return false;
  }
  std::unique_ptr<nghttp2_session_callbacks, CallbacksDeleter> callbacks(raw_callbacks);
  std::unique_ptr<nghttp2_option, OptionDeleter> option(raw_option);
  nghttp2_session_callbacks_set_on_begin_headers_callback(callbacks.get(), OnBeginHeaders);
  nghttp2_session_callbacks_set_on_header_callback(callbacks.get(), OnHeader);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks.get(), OnFrameRecv);
  nghttp2_session_callbacks_set_on_frame_send_callback(callbacks.get(), OnFrameSend);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks.get(), OnDataChunk);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks.get(), OnStreamClose);
  // The window is returned as gRPC takes each message (Consume), so a slow server holds a fast
  // client back instead of buffering for it.
  nghttp2_option_set_no_auto_window_update(option.get(), 1);
  nghttp2_option_set_max_deflate_dynamic_table_size(option.get(), 4096);
  // nghttp2's own flood limits stand behind the policer's, which cut first and count.
  const Http2Limits& limits = ctx_->http2_limits;
  nghttp2_option_set_stream_reset_rate_limit(option.get(),
                                             static_cast<std::uint64_t>(limits.reset_burst) * 2,
                                             static_cast<std::uint64_t>(limits.reset_rate) * 2);
  if (nghttp2_session_server_new2(&session_, callbacks.get(), this, option.get()) != 0) {
    session_ = nullptr;
    Close();
    return false;
  }
  const nghttp2_settings_entry settings[] = {
      {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS,
       static_cast<std::uint32_t>(ctx_->options.http2_max_concurrent_streams)},
      {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, kStreamWindow},
      {NGHTTP2_SETTINGS_MAX_HEADER_LIST_SIZE,
       static_cast<std::uint32_t>(ctx_->options.max_header_bytes)},
      {NGHTTP2_SETTINGS_ENABLE_PUSH, 0},
  };
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, settings, std::size(settings));
  nghttp2_session_set_local_window_size(session_, NGHTTP2_FLAG_NONE, 0, kConnectionWindow);
  shared_.kept.Add(label_.id, shared_from_this());
  registered_ = true;
  last_activity_ = last_data_sent_ = Clock::now();
  ArmTimer();
  if (!bytes_read.empty() && !Receive(bytes_read)) return true;
  Flush();
  Read();
  return true;
}

void H2Session::Drain() {
  net::post(Socket().get_executor(), [self = shared_from_this()] { self->BeginDrain(); });
}

void H2Session::BeginDrain() {
  if (closed_ || draining_) return;
  draining_ = true;
  drain_started_ = Clock::now();
  nghttp2_submit_shutdown_notice(session_);
  Flush();
}

void H2Session::Read() {
  if (closed_ || reading_) return;
  if (writing_) {
    read_paused_ = true;  // resumed by OnWritten: a client that does not read cannot make us
    return;               // queue answers for it without end
  }
  reading_ = true;
  ReadSome(net::buffer(read_buffer_),
           [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
             self->OnRead(ec, n);
           });
}

void H2Session::OnRead(boost::system::error_code ec, std::size_t n) {
  reading_ = false;
  if (closed_) return;
  if (ec) return Close();  // the client left; its calls are cancelled with the streams
  last_activity_ = Clock::now();
  if (!Receive(std::string_view(read_buffer_.data(), n))) return;
  Flush();
  Read();
}

bool H2Session::Receive(std::string_view bytes) {
  if (const auto abuse = policer_.ClientBytes(from_client_, bytes, Clock::now())) {
    Cut(*abuse);
    return false;
  }
  ++in_nghttp2_;
  const ssize_t rv = nghttp2_session_mem_recv(
      session_, reinterpret_cast<const std::uint8_t*>(bytes.data()), bytes.size());
  --in_nghttp2_;
  if (rv < 0) {
    SPDLOG_DEBUG("conn={} peer={} HTTP/2 error: {}", label_.id, label_.peer,
                 nghttp2_strerror(static_cast<int>(rv)));
    if (rv == NGHTTP2_ERR_TOO_MANY_CONTINUATIONS) {
      Cut(Http2Abuse::kHeaderBlock);  // a CONTINUATION flood of small frames
    } else if (rv == NGHTTP2_ERR_FLOODED) {
      Terminate(NGHTTP2_ENHANCE_YOUR_CALM, KeptClose::kProtocolError);
    } else {
      Terminate(NGHTTP2_PROTOCOL_ERROR, KeptClose::kProtocolError);
    }
    return false;
  }
  return !closed_;
}

void H2Session::Flush() {
  // Called from nghttp2's callbacks too, where nghttp2 must not be re-entered: whoever called
  // nghttp2 flushes once it returns.
  if (writing_ || closed_ || session_ == nullptr || in_nghttp2_ > 0) return;
  write_buffer_.clear();
  const auto now = Clock::now();
  while (write_buffer_.size() < kWriteChunk) {
    const std::uint8_t* data = nullptr;
    ++in_nghttp2_;
    const ssize_t n = nghttp2_session_mem_send(session_, &data);
    --in_nghttp2_;
    if (n < 0) {
      SPDLOG_DEBUG("conn={} peer={} HTTP/2 send error: {}", label_.id, label_.peer,
                   nghttp2_strerror(static_cast<int>(n)));
      shared_.metrics.http2_kept_closes.Inc(KeptClose::kProtocolError);
      return Close();
    }
    if (n == 0) break;
    const std::string_view bytes(reinterpret_cast<const char*>(data), static_cast<std::size_t>(n));
    from_server_.Feed(bytes, [&](const h2::Frame& f) {
      policer_.FromServer(f, now);
      return true;
    });
    write_buffer_.append(bytes);
  }
  if (!cut_) {
    if (const auto abuse = policer_.TakeServerAbuse()) return Cut(*abuse);
    if (pending_cut_) return Cut(*std::exchange(pending_cut_, {}));
  }
  if (write_buffer_.empty()) {
    if (!nghttp2_session_want_read(session_) && !nghttp2_session_want_write(session_)) Close();
    return;
  }
  writing_ = true;
  write_started_ = now;
  Write(net::buffer(write_buffer_),
        [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
          self->OnWritten(ec);
        });
}

void H2Session::OnWritten(boost::system::error_code ec) {
  writing_ = false;
  if (closed_) return;
  if (ec) return Close();
  if (cut_) return Close();
  Flush();
  // A read waits while a write is in flight (Read): resume it once the writes are done.
  if (read_paused_ && !writing_) {
    read_paused_ = false;
    Read();
  }
}

void H2Session::Cut(Http2Abuse abuse) {
  if (cut_ || closed_) return;
  cut_ = true;
  CountCut(shared_, label_, abuse, policer_, "kept HTTP/2 connection");
  CancelCalls();
  const std::string debug = std::string("h2gate: ") + std::string(Http2AbuseName(abuse));
  nghttp2_submit_goaway(
      session_, NGHTTP2_FLAG_NONE, nghttp2_session_get_last_proc_stream_id(session_),
      NGHTTP2_ENHANCE_YOUR_CALM, reinterpret_cast<const std::uint8_t*>(debug.data()), debug.size());
  // The GOAWAY is the last thing written; a client that reads nothing is closed by the timer.
  drain_started_ = Clock::now();
  if (!writing_) Flush();
  if (!writing_) Close();
}

void H2Session::Terminate(std::uint32_t error_code, KeptClose why) {
  if (closed_) return;
  shared_.metrics.http2_kept_closes.Inc(why);
  cut_ = true;  // nothing more is read; the GOAWAY goes out, then the connection closes
  drain_started_ = Clock::now();
  nghttp2_session_terminate_session(session_, error_code);
  if (!writing_) Flush();
  if (!writing_) Close();
}

void H2Session::Close() {
  if (closed_) return;
  closed_ = true;
  CancelCalls();
  boost::system::error_code ignored;
  timer_.cancel();
  // Half-close first, so the client reads the last frames and then EOF, not a reset. Over TLS
  // no close_notify is waited for: the GOAWAY already said where the connection ends.
  Socket().shutdown(net::ip::tcp::socket::shutdown_send, ignored);
  Socket().close(ignored);
}

void H2Session::CancelCalls() {
  for (auto& [id, s] : streams_) {
    if (s->call) s->call->Cancel();
    if (s->cancel) std::exchange(s->cancel, {})();
  }
}

H2Session::Stream* H2Session::Find(std::int32_t id) {
  const auto it = streams_.find(id);
  return it == streams_.end() ? nullptr : it->second.get();
}

void H2Session::ArmTimer() {
  const Options& o = ctx_->options;
  const auto tick = std::clamp<Duration>(std::min(o.idle_timeout, o.header_timeout) / 4,
                                         Duration(50), Duration(1000));
  timer_.expires_after(tick);
  timer_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (ec) return;
    if (const auto self = weak.lock()) self->OnTimer();
  });
}

void H2Session::OnTimer() {
  if (closed_) return;
  const Options& o = ctx_->options;
  const auto now = Clock::now();
  if (cut_) {
    if (now - drain_started_ >= kLinger) Close();
    if (!closed_) ArmTimer();
    return;
  }
  if (writing_ && now - write_started_ >= o.header_timeout) {
    shared_.metrics.limits.Inc(Limit::kWriteTimeout);
    shared_.metrics.http2_kept_closes.Inc(KeptClose::kWriteTimeout);
    SPDLOG_DEBUG("conn={} peer={} closed: the client took no bytes in time", label_.id,
                 label_.peer);
    return Close();
  }
  bool stalled = false;
  std::vector<std::int32_t> slow;
  for (auto& [id, s] : streams_) {
    stalled = stalled || s->pending() > 0;
    // A request body that does not arrive in time, as over HTTP/1.x.
    if (!s->grpc && !s->request_ended && !s->responded && now - s->started >= o.header_timeout) {
      slow.push_back(id);
    }
  }
  for (const std::int32_t id : slow) {  // answering may close streams: look each up again
    if (Stream* s = Find(id)) {
      shared_.metrics.limits.Inc(Limit::kHeaderTimeout);
      Respond(*s,
              JsonError(boost::beast::http::status::request_timeout,
                        grpc::StatusCode::DEADLINE_EXCEEDED,
                        "request body not received in time (--header-timeout)", 20),
              false);
    }
  }
  // Answers waiting for a window the client never opens.
  if (stalled && now - last_data_sent_ >= o.idle_timeout) {
    shared_.metrics.limits.Inc(Limit::kWriteTimeout);
    return Terminate(NGHTTP2_FLOW_CONTROL_ERROR, KeptClose::kWriteTimeout);
  }
  if (streams_.empty() && !draining_ && now - last_activity_ >= o.idle_timeout) {
    shared_.metrics.limits.Inc(Limit::kIdleTimeout);
    shared_.metrics.http2_kept_closes.Inc(KeptClose::kIdle);
    BeginDrain();
    final_goaway_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
  }
  if (draining_ && !final_goaway_ && now - drain_started_ >= kDrainNoticeTime) {
    final_goaway_ = true;
    nghttp2_submit_goaway(session_, NGHTTP2_FLAG_NONE,
                          nghttp2_session_get_last_proc_stream_id(session_), NGHTTP2_NO_ERROR,
                          nullptr, 0);
  }
  Flush();
  if (!closed_) ArmTimer();
}

int H2Session::OnBeginHeaders(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<H2Session*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto stream = std::make_unique<Stream>(frame->hd.stream_id);
  nghttp2_session_set_stream_user_data(session, frame->hd.stream_id, stream.get());
  self->streams_[frame->hd.stream_id] = std::move(stream);
  return 0;
}

int H2Session::OnHeader(nghttp2_session* session, const nghttp2_frame* frame,
                        const std::uint8_t* name, std::size_t namelen, const std::uint8_t* value,
                        std::size_t valuelen, std::uint8_t, void* user) {
  auto* self = static_cast<H2Session*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS || frame->headers.cat != NGHTTP2_HCAT_REQUEST) return 0;
  auto* s =
      static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (s == nullptr || s->headers_too_large) return 0;
  // RFC 9113 6.5.2's accounting: name, value and 32 bytes per field.
  s->header_bytes += namelen + valuelen + 32;
  if (s->header_bytes > self->ctx_->options.max_header_bytes) {
    s->headers_too_large = true;
    s->metadata.clear();
    return 0;
  }
  const std::string_view n(reinterpret_cast<const char*>(name), namelen);
  std::string v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":method") {
    s->method = std::move(v);
  } else if (n == ":path") {
    s->path = std::move(v);
  } else if (n == ":authority" || n == "host") {
    // Compared with the SNI over TLS (421); :authority wins over a Host field.
    if (n == ":authority" || s->authority.empty()) s->authority = std::move(v);
  } else if (n.starts_with(':')) {
    // :scheme: not needed to route or to call gRPC in process
  } else if (n == "content-type") {
    s->content_type = std::move(v);
  } else if (n == "user-agent") {
    s->user_agent = std::move(v);
  } else if (n == "grpc-timeout") {
    s->grpc_timeout = std::move(v);
  } else if (n == "grpc-encoding") {
    s->grpc_encoding = std::move(v);
  } else {
    if (n == "x-forwarded-for") s->forwarded_for = v;
    s->metadata.emplace_back(std::string(n), std::move(v));
  }
  return 0;
}

int H2Session::OnFrameRecv(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<H2Session*>(user);
  if (frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) return 0;
  auto* s =
      static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (s == nullptr) return 0;
  if (frame->hd.type == NGHTTP2_HEADERS && frame->headers.cat == NGHTTP2_HCAT_REQUEST) {
    self->OnRequestHeaders(*s);
  }
  if ((frame->hd.flags & NGHTTP2_FLAG_END_STREAM) != 0 && !s->request_ended) {
    s->request_ended = true;
    self->OnRequestEnd(*s);
  }
  return 0;
}

int H2Session::OnFrameSend(nghttp2_session* session, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<H2Session*>(user);
  if (frame->hd.type == NGHTTP2_GOAWAY && frame->goaway.error_code != NGHTTP2_NO_ERROR &&
      !self->cut_) {
    // nghttp2 ended the connection for a protocol error of the client's.
    self->shared_.metrics.http2_kept_closes.Inc(KeptClose::kProtocolError);
    SPDLOG_DEBUG("conn={} peer={} GOAWAY {} sent", self->label_.id, self->label_.peer,
                 nghttp2_http2_strerror(frame->goaway.error_code));
    return 0;
  }
  if (frame->hd.type == NGHTTP2_RST_STREAM && frame->rst_stream.error_code != NGHTTP2_NO_ERROR) {
    // nghttp2 refused a malformed request (RFC 9113 8.1.1: no :authority nor host, a
    // connection-specific field, a bad pseudo-header) or a stream over the limit. Cheap each,
    // but a client that goes on faster than the reset budget is cut as one ignoring the limit.
    self->shared_.metrics.http2_kept_streams.Inc(KeptStream::kReset);
    if (!self->refused_.Take(Clock::now())) self->pending_cut_ = Http2Abuse::kStreams;
    return 0;
  }
  if ((frame->hd.type != NGHTTP2_HEADERS && frame->hd.type != NGHTTP2_DATA) ||
      (frame->hd.flags & NGHTTP2_FLAG_END_STREAM) == 0) {
    return 0;
  }
  // The answer is complete while the client still sends: RFC 9113 8.1 lets the server say
  // it needs no more with RST_STREAM(NO_ERROR).
  auto* s =
      static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, frame->hd.stream_id));
  if (s != nullptr && !s->request_ended) {
    nghttp2_submit_rst_stream(session, NGHTTP2_FLAG_NONE, frame->hd.stream_id, NGHTTP2_NO_ERROR);
  }
  return 0;
}

int H2Session::OnDataChunk(nghttp2_session* session, std::uint8_t, std::int32_t id,
                           const std::uint8_t* data, std::size_t len, void* user) {
  auto* self = static_cast<H2Session*>(user);
  auto* s = static_cast<Stream*>(nghttp2_session_get_stream_user_data(session, id));
  if (s == nullptr) {
    nghttp2_session_consume_connection(session, len);
    return 0;
  }
  self->OnRequestData(*s, std::string_view(reinterpret_cast<const char*>(data), len));
  return 0;
}

int H2Session::OnStreamClose(nghttp2_session*, std::int32_t id, std::uint32_t, void* user) {
  auto* self = static_cast<H2Session*>(user);
  const auto it = self->streams_.find(id);
  if (it == self->streams_.end()) return 0;
  Stream& s = *it->second;
  // A reset from the client, or the end of a finished exchange: a call still running is
  // cancelled (RST_STREAM becomes TryCancel), as is a JSON call.
  if (s.call && !s.done) s.call->Cancel();
  if (s.cancel) std::exchange(s.cancel, {})();
  self->streams_.erase(it);
  self->last_activity_ = Clock::now();
  return 0;
}

ssize_t H2Session::ReadBody(nghttp2_session* session, std::int32_t id, std::uint8_t* buf,
                            std::size_t length, std::uint32_t* flags, nghttp2_data_source* source,
                            void* user) {
  auto* self = static_cast<H2Session*>(user);
  auto* s = static_cast<Stream*>(source->ptr);
  const std::size_t n = std::min(length, s->pending());
  std::memcpy(buf, s->out.data() + s->out_offset, n);
  s->out_offset += n;
  if (s->out_offset == s->out.size()) {
    s->out.clear();
    s->out_offset = 0;
  }
  if (n > 0) self->last_data_sent_ = Clock::now();
  if (s->grpc && s->read_paused && s->pending() < kStreamWindow) {
    s->read_paused = false;
    if (s->call) s->call->ReadNext();
  }
  if (s->pending() == 0 && s->ended) {
    *flags |= NGHTTP2_DATA_FLAG_EOF;
    if (s->grpc) {
      *flags |= NGHTTP2_DATA_FLAG_NO_END_STREAM;
      std::vector<nghttp2_nv> nva;
      for (auto& [k, v] : s->trailers) {
        nva.push_back({reinterpret_cast<std::uint8_t*>(k.data()),
                       reinterpret_cast<std::uint8_t*>(v.data()), k.size(), v.size(),
                       NGHTTP2_NV_FLAG_NONE});
      }
      nghttp2_submit_trailer(session, id, nva.data(), nva.size());
    }
    return static_cast<ssize_t>(n);
  }
  if (n == 0) return NGHTTP2_ERR_DEFERRED;
  return static_cast<ssize_t>(n);
}

}  // namespace h2gate
