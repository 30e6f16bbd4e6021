#include "front/h2_guard.h"

#include <linux/sockios.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>

namespace h2gate {
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {

// One read takes what a busy gRPC connection has buffered; shared by every guard on the thread,
// so an idle connection holds no buffer of its own.
constexpr std::size_t kChunk = 65536;
// An abusive client gets this long to read its GOAWAY before the connection is closed.
constexpr auto kLinger = std::chrono::seconds(1);
// Once gRPC has closed its end, a client gets this long to read what gRPC wrote before it did.
constexpr auto kFlush = std::chrono::seconds(10);

ssize_t Recv(int fd, char* data, std::size_t size) {
  ssize_t n;
  do n = ::recv(fd, data, size, 0);
  while (n < 0 && errno == EINTR);
  return n;
}

ssize_t Send(int fd, const char* data, std::size_t size) {
  ssize_t n;
  do n = ::send(fd, data, size, MSG_NOSIGNAL);
  while (n < 0 && errno == EINTR);
  return n;
}

bool WouldBlock() { return errno == EAGAIN || errno == EWOULDBLOCK; }

constexpr std::uint64_t kDrainPing = 0x683267647261696e;  // "h2gdrain"

}  // namespace

void DrainNotice::Owe() {
  if (state_ != State::kNone) {  // told twice: counted once
    shared_.drain_notices_pending.fetch_sub(1);
    return;
  }
  state_ = State::kDue;
}

std::string DrainNotice::Take() {
  state_ = State::kSent;
  shared_.metrics.drain_notices.Inc(DrainNoticeResult::kSent);
  return h2::Goaway(0x7fffffffu, h2::ErrorCode::kNoError, "h2gate: draining") +
         h2::Ping(kDrainPing);
}

void DrainNotice::See(const h2::Frame& f) {
  if (state_ == State::kSent && f.type == h2::kPing && (f.flags & h2::kFlagAck) != 0 &&
      f.ping_data == kDrainPing) {
    Settle(true);
  }
}

void DrainNotice::Settle(bool acked) {
  if (state_ != State::kDue && state_ != State::kSent) return;
  state_ = State::kDone;
  shared_.metrics.drain_notices.Inc(acked ? DrainNoticeResult::kAcked : DrainNoticeResult::kClosed);
  shared_.drain_notices_pending.fetch_sub(1);
}

int UnsentBytes(int fd) {
  int n = 0;
  return ::ioctl(fd, SIOCOUTQ, &n) == 0 ? n : 0;
}

bool OpenGrpcPair(const net::any_io_executor& executor, Shared& shared,
                  const ConnectionLabel& label, net::local::stream_protocol::socket* ours) {
  int pair[2];
  boost::system::error_code ec;
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair) == 0) {
    *ours = net::local::stream_protocol::socket(executor);
    ours->assign(net::local::stream_protocol(), pair[0], ec);
    if (ec) {
      ::close(pair[0]);
      ::close(pair[1]);
    }
  } else {
    ec.assign(errno, boost::system::system_category());
  }
  if (ec) {
    shared.metrics.handoff_failures.Inc();
    std::uint64_t suppressed = 0;
    if (shared.error_log.Allow(&suppressed)) {
      spdlog::error(
          "conn={} peer={} closed: no socket pair for the HTTP/2 guard: {} ({} similar "
          "suppressed)",
          label.id, label.peer, ec.message(), suppressed);
    }
    return false;
  }
  shared.context->handoff->Handoff(pair[1], {});  // gRPC owns that end from here
  shared.metrics.handoffs.Inc();
  return true;
}

bool StartGuarded(int client_fd, std::string_view bytes_read, const net::ip::tcp& protocol,
                  const net::any_io_executor& executor, Shared& shared,
                  const ConnectionLabel& label) {
  boost::system::error_code ec;
  net::ip::tcp::socket client(executor);
  client.assign(protocol, client_fd, ec);
  if (ec) {
    ::close(client_fd);
    shared.metrics.handoff_failures.Inc();
    return false;
  }
  net::local::stream_protocol::socket grpc(executor);
  if (!OpenGrpcPair(executor, shared, label, &grpc)) return false;  // the client closes
  auto guard = std::make_shared<H2Guard>(std::move(client), std::move(grpc), shared, label);
  guard->Start(bytes_read);
  return true;
}

H2Guard::H2Guard(net::ip::tcp::socket client, net::local::stream_protocol::socket grpc,
                 Shared& shared, ConnectionLabel label)
    : client_(std::move(client)),
      grpc_(std::move(grpc)),
      shared_(shared),
      label_(std::move(label)),
      policer_(shared.context->http2_limits) {
  shared_.metrics.http2_guarded.Add(1);
}

H2Guard::~H2Guard() {
  shared_.kept.Remove(label_.id);
  shared_.metrics.http2_guarded.Add(-1);
}

int H2Guard::SourceFd(const Direction& d) {
  return d.from_client ? client_.native_handle() : grpc_.native_handle();
}
int H2Guard::DestinationFd(const Direction& d) {
  return d.from_client ? grpc_.native_handle() : client_.native_handle();
}

void H2Guard::Start(std::string_view bytes_read) {
  shared_.kept.Add(label_.id, shared_from_this());
  if (!bytes_read.empty()) {
    if (!Inspect(up_, bytes_read)) return;
    Forward(up_, bytes_read);
  } else {
    WaitReadable(up_);
  }
  WaitReadable(down_);
}

// Runs `then(*this)` once the client's socket (or gRPC's end) is ready; not once cut.
template <typename Then>
void H2Guard::WaitOn(bool client_side, net::socket_base::wait_type what, Then then) {
  auto handler = [self = shared_from_this(), then](boost::system::error_code ec) {
    if (ec || self->cut_) return;
    then(*self);
  };
  if (client_side) {
    client_.async_wait(what, std::move(handler));
  } else {
    grpc_.async_wait(what, std::move(handler));
  }
}

void H2Guard::WaitReadable(Direction& d) {
  if (d.reading) return;  // a notice written between two reads must not arm a second wait
  d.reading = true;
  WaitOn(d.from_client, net::socket_base::wait_read, [&d](H2Guard& g) {
    d.reading = false;
    g.OnReadable(d);
  });
}

void H2Guard::OnReadable(Direction& d) {
  // A drain notice did not go out whole: the rest goes first (OnWritable reads on after it).
  if (!d.pending.empty()) return;
  thread_local char chunk[kChunk];
  const ssize_t n = Recv(SourceFd(d), chunk, sizeof chunk);
  if (n < 0 && WouldBlock()) return WaitReadable(d);
  // gRPC's end reads ECONNRESET, after the last byte gRPC wrote, when gRPC closed it with
  // client bytes unread (a WINDOW_UPDATE in flight): an end like EOF, not a broken client.
  if (n < 0 && !d.from_client) return EndOf(d);
  if (n <= 0) return n == 0 ? EndOf(d) : CloseAll();
  const std::string_view bytes(chunk, static_cast<std::size_t>(n));
  if (d.dropping) return WaitReadable(d);
  // A drain notice still due goes out at the first frame boundary of what the client is sent.
  const bool notice = !d.from_client && notice_.due() && d.reader.AtBoundary();
  if (!Inspect(d, bytes)) return;
  if (notice) return Forward(d, notice_.Take() + std::string(bytes));
  Forward(d, bytes);
}

bool H2Guard::Inspect(Direction& d, std::string_view bytes) {
  const auto now = Clock::now();
  const std::optional<Http2Abuse> abuse =
      d.from_client ? policer_.ClientBytes(d.reader, bytes, now,
                                           [this](const h2::Frame& f) { notice_.See(f); })
                    : policer_.ServerBytes(d.reader, bytes, now);
  if (!abuse) return true;
  Cut(*abuse);
  return false;
}

void H2Guard::Forward(Direction& d, std::string_view bytes) {
  const ssize_t n = Send(DestinationFd(d), bytes.data(), bytes.size());
  if (n < 0 && !WouldBlock()) return d.from_client ? GrpcGone() : CloseAll();
  const std::size_t sent = n < 0 ? 0 : static_cast<std::size_t>(n);
  if (sent == bytes.size()) return WaitReadable(d);
  // The destination is full: hold the rest and read no more from the source until it drains,
  // so a slow reader on either side costs at most one chunk here.
  d.pending.assign(bytes.substr(sent));
  WaitOn(!d.from_client, net::socket_base::wait_write, [&d](H2Guard& g) { g.OnWritable(d); });
}

void H2Guard::OnWritable(Direction& d) {
  std::string rest = std::move(d.pending);
  d.pending = std::string();  // gives the chunk's memory back once it is through
  Forward(d, rest);
}

void H2Guard::EndOf(Direction& d) {
  // Half-close the other side: gRPC ends the transport on EOF, a client reads the last frames.
  ::shutdown(DestinationFd(d), SHUT_WR);
  d.done = true;
  if (up_.done && down_.done) return CloseAll();
  // gRPC ended the connection (GOAWAY, drain, age): the client gets a moment to close its side.
  if (!d.from_client) Linger(kLinger);
}

void H2Guard::GrpcGone() {
  // gRPC closed its end (a drain, a connection age) while the client was still sending. What gRPC
  // wrote before, the last call's trailers among it, may still be queued in the socket pair:
  // closing now would lose it. The client's bytes are read and dropped (closing on unread bytes
  // would reset the connection), gRPC's are passed on until its end reads empty, then EndOf.
  up_.dropping = true;
  WaitReadable(up_);
  if (!linger_) Linger(kFlush);
}

void CountCut(Shared& shared, const ConnectionLabel& label, Http2Abuse abuse,
              const H2Policer& policer, std::string_view what) {
  shared.metrics.http2_abuse.Inc(abuse);
  shared.trim_requested.store(true, std::memory_order_relaxed);
  std::uint64_t suppressed = 0;
  if (shared.rejection_log.Allow(&suppressed)) {
    spdlog::warn(
        "conn={} peer={} {} cut: {} ({} streams open, last stream {}); GOAWAY "
        "ENHANCE_YOUR_CALM ({} similar suppressed)",
        label.id, label.peer, what, Http2AbuseName(abuse), policer.open_streams(),
        policer.last_client_stream(), suppressed);
  }
}

void H2Guard::Cut(Http2Abuse abuse) {
  cut_ = true;
  CountCut(shared_, label_, abuse, policer_, "HTTP/2 connection");
  // gRPC's end sees EOF and cancels every call of the connection at once.
  boost::system::error_code ignored;
  grpc_.close(ignored);
  // The GOAWAY goes out only where it cannot land inside a frame the server was sending.
  if (down_.pending.empty() && down_.reader.AtBoundary()) {
    const std::string goaway =
        h2::Goaway(policer_.last_client_stream(), h2::ErrorCode::kEnhanceYourCalm,
                   std::string("h2gate: ") + std::string(Http2AbuseName(abuse)));
    (void)Send(client_.native_handle(), goaway.data(), goaway.size());
  }
  ::shutdown(client_.native_handle(), SHUT_WR);
  // Read and drop what the client still sends for a moment, so that closing with unread bytes
  // does not turn into a reset that destroys the GOAWAY before the client reads it.
  Linger(kLinger, /*patient=*/false);  // an abusive client gets no more time for reading
  Discard();
}

void H2Guard::Discard() {
  client_.async_wait(net::socket_base::wait_read,
                     [self = shared_from_this()](boost::system::error_code ec) {
                       if (ec) return;
                       thread_local char sink[kChunk];
                       ssize_t n = 0;
                       for (int i = 0; i < 16; ++i) {  // bounded: a fast sender yields the thread
                         n = Recv(self->client_.native_handle(), sink, sizeof sink);
                         if (n <= 0) break;
                       }
                       if (n > 0) return self->Discard();
                       if (n < 0 && WouldBlock()) return self->Discard();
                       self->CloseAll();
                     });
}

void H2Guard::Linger(Clock::duration first, bool patient) {
  if (linger_) linger_->cancel();
  linger_ = std::make_unique<net::steady_timer>(client_.get_executor(), first);
  WaitLinger(patient ? Clock::now() : Clock::now() - kFlush);
}

void H2Guard::WaitLinger(Clock::time_point started) {
  linger_->async_wait([self = shared_from_this(), started](boost::system::error_code ec) {
    if (ec) return;
    // A slow client still has bytes to read (the last call's trailers): closing now could turn
    // into a reset that drops them. It gets up to kFlush from the first linger.
    if (UnsentBytes(self->client_.native_handle()) > 0 && Clock::now() - started < kFlush) {
      self->linger_->expires_after(std::chrono::milliseconds(100));
      return self->WaitLinger(started);
    }
    self->CloseAll();
  });
}

void H2Guard::Drain() {
  notice_.Request();
  net::post(client_.get_executor(), [self = shared_from_this()] { self->SendNotice(); });
}

void H2Guard::SendNotice() {
  notice_.Owe();
  if (cut_ || down_.done || up_.dropping || !client_.is_open()) return notice_.Settle(false);
  // Between frames, nothing held back: now. Else before gRPC's next bytes (OnReadable).
  if (down_.pending.empty() && down_.reader.AtBoundary()) Forward(down_, notice_.Take());
}

void H2Guard::CloseAll() {
  notice_.Settle(false);
  boost::system::error_code ignored;
  if (linger_) linger_->cancel();
  client_.close(ignored);
  grpc_.close(ignored);
}

}  // namespace h2gate
