#include "front/tls_guard.h"

#include <boost/asio/write.hpp>

#include "front/h2_guard.h"

namespace h2gate {
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
// As the plaintext guard: an ended or cut connection is closed this long after at the latest.
constexpr auto kLinger = std::chrono::seconds(1);
// Once gRPC has closed its end, a client gets this long to read what gRPC wrote before it did.
constexpr auto kFlush = std::chrono::seconds(10);
}  // namespace

void StartTlsGuarded(std::unique_ptr<TlsStream> stream, Shared& shared, ConnectionLabel label,
                     std::string_view bytes) {
  const auto executor = stream->get_executor();
  net::local::stream_protocol::socket grpc(executor);
  if (!OpenGrpcPair(executor, shared, label, &grpc)) return;  // the stream closes
  std::make_shared<TlsGuard>(std::move(stream), std::move(grpc), shared, std::move(label))
      ->Start(bytes);
}

TlsGuard::TlsGuard(std::unique_ptr<TlsStream> client, net::local::stream_protocol::socket grpc,
                   Shared& shared, ConnectionLabel label)
    : client_(std::move(client)),
      grpc_(std::move(grpc)),
      linger_(grpc_.get_executor()),
      shared_(shared),
      label_(std::move(label)),
      policer_(shared.context->http2_limits) {
  shared_.metrics.http2_guarded.Add(1);
}

TlsGuard::~TlsGuard() {
  shared_.kept.Remove(label_.id);
  shared_.metrics.http2_guarded.Add(-1);
}

void TlsGuard::Start(std::string_view bytes) {
  shared_.kept.Add(label_.id, shared_from_this());
  ReadGrpc();
  if (bytes.empty()) return ReadClient();
  first_.assign(bytes);
  FromClient(first_);
}

void TlsGuard::ReadClient() {
  client_->async_read_some(
      net::buffer(up_), [self = shared_from_this()](boost::system::error_code ec, std::size_t n) {
        if (self->closed_) return;
        if (ec) return self->ClientEnded();
        self->FromClient(std::string_view(self->up_.data(), n));
      });
}

void TlsGuard::FromClient(std::string_view bytes) {
  // Cut, or gRPC is gone: read and dropped, as closing on unread bytes would reset the
  // connection before the client has read the last frames.
  if (grpc_done_) return ReadClient();
  if (const auto abuse = policer_.ClientBytes(from_client_, bytes, Clock::now(),
                                              [this](const h2::Frame& f) { notice_.See(f); })) {
    Cut(*abuse);
    return ReadClient();
  }
  net::async_write(grpc_, net::buffer(bytes),
                   [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                     if (self->closed_) return;
                     self->first_ = std::string();
                     // gRPC closed its end: what it wrote before still goes to the client
                     // (ReadGrpc), within kFlush.
                     if (ec && !self->grpc_done_) {
                       self->grpc_done_ = true;
                       self->linger_.expires_after(kFlush);
                       self->Linger();
                     }
                     self->ReadClient();
                   });
}

void TlsGuard::ReadGrpc() {
  if (reading_grpc_) return;  // a drain notice was written between two reads
  reading_grpc_ = true;
  grpc_.async_read_some(net::buffer(down_), [self = shared_from_this()](
                                                boost::system::error_code ec, std::size_t n) {
    self->reading_grpc_ = false;
    if (self->closed_ || self->cut_) return;
    if (ec) {  // EOF, or a reset after its last byte: the same
      // After the drain notice being written.
      if (self->writing_down_) {
        self->grpc_ended_held_ = true;
        return;
      }
      return self->GrpcEnded();
    }
    const std::string_view bytes(self->down_.data(), n);
    // What the client has been sent ends between frames: known before these bytes are read.
    self->sent_at_boundary_ = self->from_server_.AtBoundary();
    if (const auto abuse = self->policer_.ServerBytes(self->from_server_, bytes, Clock::now())) {
      return self->Cut(*abuse);  // these bytes are not passed on
    }
    // A drain notice is being written: these bytes follow it.
    if (self->writing_down_) {
      self->held_.assign(bytes);
      return;
    }
    // A notice still due goes out at the first frame boundary of what the client is sent.
    std::string notice;
    if (self->notice_.due() && self->sent_at_boundary_) notice = self->notice_.Take();
    self->WriteDown(std::move(notice), bytes);
  });
}

void TlsGuard::WriteDown(std::string notice, std::string_view bytes) {
  writing_down_ = true;
  notice_bytes_ = std::move(notice);
  const std::array<net::const_buffer, 2> buffers{net::buffer(notice_bytes_), net::buffer(bytes)};
  net::async_write(*client_, buffers,
                   [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                     self->writing_down_ = false;
                     self->notice_bytes_ = std::string();
                     self->sent_at_boundary_ = self->from_server_.AtBoundary();
                     if (self->closed_) return;
                     if (self->cut_) return self->SendGoaway();
                     if (ec) return self->CloseAll();  // the client is gone
                     if (!self->held_.empty()) {
                       self->held_writing_ = std::exchange(self->held_, std::string());
                       return self->WriteDown({}, self->held_writing_);
                     }
                     self->held_writing_ = std::string();
                     if (self->grpc_ended_held_) return self->GrpcEnded();
                     self->ReadGrpc();
                   });
}

void TlsGuard::Drain() {
  notice_.Request();
  net::post(grpc_.get_executor(), [self = shared_from_this()] { self->SendNotice(); });
}

void TlsGuard::SendNotice() {
  notice_.Owe();
  if (closed_ || cut_ || grpc_done_) return notice_.Settle(false);
  // Between frames, nothing being written: now. Else with gRPC's next bytes (ReadGrpc).
  if (!writing_down_ && from_server_.AtBoundary()) WriteDown(notice_.Take(), {});
}

void TlsGuard::ClientEnded() {
  client_done_ = true;
  boost::system::error_code ignored;
  grpc_.shutdown(net::socket_base::shutdown_send, ignored);  // gRPC ends the transport on EOF
  // Once cut, the linger timer closes: the GOAWAY may still be on its way out.
  if (grpc_done_ && !cut_) return CloseAll();
}

void TlsGuard::GrpcEnded() {
  // Everything gRPC wrote has been passed on (a read follows only a finished write).
  grpc_done_ = true;
  if (client_done_) return CloseAll();
  // No close_notify: gRPC's GOAWAY already said where the connection ends, and a TLS shutdown
  // cannot run beside the read in flight.
  boost::system::error_code ignored;
  client_->next_layer().shutdown(net::socket_base::shutdown_send, ignored);
  linger_started_ = Clock::now();
  linger_.expires_after(kLinger);
  Linger();
}

void TlsGuard::Cut(Http2Abuse abuse) {
  cut_ = true;
  grpc_done_ = true;
  CountCut(shared_, label_, abuse, policer_, "HTTP/2 connection over TLS");
  boost::system::error_code ignored;
  grpc_.close(ignored);  // gRPC's end sees EOF and cancels every call of the connection at once
  linger_.expires_after(kLinger);
  Linger();
  goaway_ = h2::Goaway(policer_.last_client_stream(), h2::ErrorCode::kEnhanceYourCalm,
                       std::string("h2gate: ") + std::string(Http2AbuseName(abuse)));
  if (!writing_down_) SendGoaway();  // else once the write in flight is done
}

void TlsGuard::SendGoaway() {
  boost::system::error_code ignored;
  // Only between frames: gRPC's last chunk may have ended inside one.
  if (!sent_at_boundary_) {
    client_->next_layer().shutdown(net::socket_base::shutdown_send, ignored);
    return;
  }
  writing_down_ = true;
  net::async_write(*client_, net::buffer(goaway_),
                   [self = shared_from_this()](boost::system::error_code, std::size_t) {
                     self->writing_down_ = false;
                     boost::system::error_code ignored;
                     self->client_->next_layer().shutdown(net::socket_base::shutdown_send, ignored);
                   });
}

void TlsGuard::Linger() {
  linger_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;
    // A slow client still has bytes to read (the last call's trailers): closing now could turn
    // into a reset that drops them. It gets up to kFlush from the first linger.
    if (!self->closed_ && !self->cut_ &&
        UnsentBytes(self->client_->next_layer().native_handle()) > 0 &&
        Clock::now() - self->linger_started_ < kFlush) {
      self->linger_.expires_after(std::chrono::milliseconds(100));
      return self->Linger();
    }
    self->CloseAll();
  });
}

void TlsGuard::CloseAll() {
  if (closed_) return;
  closed_ = true;
  notice_.Settle(false);
  boost::system::error_code ignored;
  linger_.cancel();
  client_->next_layer().close(ignored);
  grpc_.close(ignored);
}

}  // namespace h2gate
