#include "front/sniff_session.h"

#include <fcntl.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>

#include "front/h2_guard.h"
#include "front/tls_session.h"
#include "h2/first_request.h"
#include "h2/h2_session.h"
#include "http1/http1_session.h"

namespace h2gate {
namespace net = boost::asio;
using Clock = std::chrono::steady_clock;

namespace {
// One look takes what the client sent with its first packets; a gRPC client's preface, SETTINGS
// and first HEADERS fit easily.
constexpr std::size_t kSniffReadSize = 4096;

SniffOutcome OutcomeOf(Protocol p) {
  switch (p) {
    case Protocol::kHttp2: return SniffOutcome::kHttp2;
    case Protocol::kHttp1: return SniffOutcome::kHttp1;
    case Protocol::kTls: return SniffOutcome::kTls;
    case Protocol::kUnknown:
    case Protocol::kNeedMore: break;
  }
  return SniffOutcome::kUnknown;
}

// Reads (or with MSG_PEEK, looks) without blocking: > 0 bytes, 0 at end of stream, -1 with
// errno set.
ssize_t ReadSome(int fd, char* data, std::size_t size, int flags = 0) {
  ssize_t n;
  do {
    n = ::recv(fd, data, size, flags);
  } while (n < 0 && errno == EINTR);
  return n;
}

bool WouldBlock(int error) { return error == EAGAIN || error == EWOULDBLOCK; }

void CountDecided(Shared& shared, Protocol protocol, Clock::time_point started) {
  shared.metrics.ObserveSniff(OutcomeOf(protocol), Clock::now() - started);
  shared.metrics.CountProtocol(ProtocolName(protocol));
}

// The client closed or the connection failed before its protocol was known.
void CountEnded(Shared& shared, const ConnectionLabel& label, Clock::time_point started, int error,
                std::size_t bytes) {
  const bool closed = error == 0 || error == ECONNRESET;
  shared.metrics.sniff_failures.Inc(closed ? SniffFailure::kClosed : SniffFailure::kError);
  shared.metrics.ObserveSniff(closed ? SniffOutcome::kClosed : SniffOutcome::kError,
                              Clock::now() - started);
  SPDLOG_DEBUG("conn={} peer={} closed while sniffing after {} bytes: {}", label.id, label.peer,
               bytes, error == 0 ? "end of stream" : std::strerror(error));
}

// Bytes of TLS records the sniffer reads while a ClientHello arrives: the message's limit, and
// room for the record headers of a client that cuts it into small records.
constexpr std::size_t kMaxHelloBytes = 2 * kMaxClientHello;

// Why a ClientHello that did not parse is closed.
TlsHello HelloFailure(ClientHelloResult r) {
  switch (r) {
    case ClientHelloResult::kNotTls: return TlsHello::kNotTls;
    case ClientHelloResult::kTooLarge:
    case ClientHelloResult::kNeedMore: return TlsHello::kTooLarge;  // over kMaxHelloBytes
    case ClientHelloResult::kMalformed:
    case ClientHelloResult::kDone: break;
  }
  return TlsHello::kMalformed;
}

void RejectHello(Shared& shared, const ConnectionLabel& label, ClientHelloResult r) {
  shared.metrics.tls_client_hellos.Inc(HelloFailure(r));
  SPDLOG_DEBUG("conn={} peer={} closed: TLS ClientHello {}", label.id, label.peer,
               ClientHelloResultName(r));
}

// TLS and unknown first bytes: the caller closes the connection; the log says why.
void LogRejected(Shared& shared, const ConnectionLabel& label, Protocol protocol) {
  if (protocol == Protocol::kTls) shared.metrics.tls_refused.Inc(TlsRefusal::kNotConfigured);
  std::uint64_t suppressed = 0;
  if (!shared.rejection_log.Allow(&suppressed)) return;
  if (protocol == Protocol::kTls) {
    spdlog::warn(
        "conn={} peer={} closed: TLS ClientHello, and TLS is not configured (--tls-cert, "
        "--tls-key); connect without TLS or configure it ({} similar suppressed)",
        label.id, label.peer, suppressed);
  } else {
    spdlog::warn(
        "conn={} peer={} closed: first bytes are neither HTTP/2 nor HTTP/1.x ({} similar "
        "suppressed)",
        label.id, label.peer, suppressed);
  }
}

// Passes an HTTP/2 connection (`fd`, non-blocking) and the bytes read from it to gRPC: behind
// the guard, or untouched if the source is exempt (--http2-guard-exempt).
void HandOff(Shared& shared, ConnectionSlot& slot, const ConnectionLabel& label, int fd,
             std::string_view bytes, const net::ip::tcp& protocol,
             const net::any_io_executor& executor) {
  slot.Release();
  if (!shared.context->guard_exempt.Contains(label.peer_address)) {
    StartGuarded(fd, bytes, protocol, executor, shared, label);
    return;
  }
  HandOffCounted(*shared.context->handoff, shared, label, fd, bytes);
}

// Plaintext HTTP/2 under --tls-required: the server's SETTINGS and a GOAWAY that says why, then
// closed. What the client sent is read first, so the close sends no reset ahead of the GOAWAY.
void RefusePlaintextHttp2(int fd, Shared& shared, const ConnectionLabel& label) {
  shared.metrics.plaintext_refused.Inc(PlaintextRefusal::kHttp2);
  static const std::string kAnswer =
      std::string("\0\0\0\4\0\0\0\0\0", 9) +  // an empty SETTINGS frame
      h2::Goaway(0, h2::ErrorCode::kInadequateSecurity,
                 "h2gate: TLS is required on this port: connect with TLS, ALPN h2");
  AnswerAndClose(fd, kAnswer);
  std::uint64_t suppressed = 0;
  if (shared.rejection_log.Allow(&suppressed)) {
    spdlog::warn(
        "conn={} peer={} plaintext HTTP/2 refused: --tls-required; GOAWAY INADEQUATE_SECURITY "
        "({} similar suppressed)",
        label.id, label.peer, suppressed);
  }
}

// Gives `fd` to `socket`; closes it and returns false if the event loop cannot take it.
bool Adopt(int fd, const net::ip::tcp& protocol, net::ip::tcp::socket& socket) {
  boost::system::error_code ec;
  socket.assign(protocol, fd, ec);
  if (ec) ::close(fd);
  return !ec;
}

// Where an HTTP/2 connection goes, from the bytes it has sent so far.
// kWait: no request yet; `waited` says the first-request wait is over (then it is gRPC's).
// kRefuse: plaintext under --tls-required.
enum class Http2Route { kHandOff, kKeep, kNeedMore, kWait, kRefuse };
Http2Route RouteHttp2(const Shared& shared, const ConnectionLabel& label, std::string_view bytes,
                      KeptReason* why, bool waited = false) {
  if (shared.context->options.tls_required) return Http2Route::kRefuse;
  if (shared.context->route_per_request.Contains(label.peer_address)) {
    *why = KeptReason::kRoutePerRequest;
    return Http2Route::kKeep;
  }
  switch (ClassifyFirstRequest(bytes)) {
    case FirstRequest::kNeedMore: return Http2Route::kNeedMore;
    case FirstRequest::kNone:  // a gRPC stack waiting for the server's SETTINGS, or a request
                               // still on its way
      return waited || shared.context->options.http2_first_request_wait.count() == 0
                 ? Http2Route::kHandOff
                 : Http2Route::kWait;
    case FirstRequest::kGrpc: return Http2Route::kHandOff;
    case FirstRequest::kOther: break;
  }
  *why = KeptReason::kFirstRequest;
  return Http2Route::kKeep;
}

}  // namespace

void AnswerAndClose(int fd, std::string_view answer) {
  char sink[4096];
  for (int i = 0; i < 32 && ::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
  }
  (void)::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
}

void HandOffCounted(HandoffTarget& target, Shared& shared, const ConnectionLabel& label, int fd,
                    std::string_view bytes) {
  if (target.Handoff(fd, bytes)) {
    shared.metrics.handoffs.Inc();
    SPDLOG_DEBUG("conn={} peer={} handed to gRPC with {} bytes read", label.id, label.peer,
                 bytes.size());
  } else {
    shared.metrics.handoff_failures.Inc();
  }
}

void StartConnection(int fd, const net::ip::tcp& protocol, const net::any_io_executor& executor,
                     Shared& shared, ConnectionSlot slot, ConnectionLabel label,
                     Clock::time_point started) {
  char bytes[kSniffReadSize];
  // Peeked, not read: an HTTP/2 connection reaches gRPC with its bytes still in the socket, so
  // a gRPC poller thread reads them and runs the call where it read it. Bytes handed over with
  // the fd are parsed on our thread instead, and the call then crosses to gRPC's threads: twice
  // the wake-ups per connection (bench/README.md).
  ssize_t n = ReadSome(fd, bytes, sizeof bytes, MSG_PEEK);
  KeptReason why{};
  if (n > 0) {
    const std::string_view peeked(bytes, static_cast<std::size_t>(n));
    const Protocol detected = Detect(peeked);
    ClientHelloInfo hello;
    if (detected == Protocol::kTls && shared.context->tls &&
        ParseClientHello(peeked, &hello) == ClientHelloResult::kDone) {
      // Whole and still in the socket: gRPC, or the gateway's handshake, reads it from there.
      CountDecided(shared, Protocol::kTls, started);
      shared.metrics.tls_client_hellos.Inc(TlsHello::kOk);
      return StartTls(fd, {}, hello, protocol, executor, shared, std::move(slot), std::move(label));
    }
    if (detected == Protocol::kHttp2) {
      const Http2Route route = RouteHttp2(shared, label, peeked, &why);
      if (route == Http2Route::kRefuse) {
        CountDecided(shared, Protocol::kHttp2, started);
        return RefusePlaintextHttp2(fd, shared, label);
      }
      if (route == Http2Route::kHandOff) {
        CountDecided(shared, Protocol::kHttp2, started);
        return HandOff(shared, slot, label, fd, {}, protocol, executor);
      }
      if (route == Http2Route::kWait) {  // look again later, the bytes left in the socket
        net::ip::tcp::socket socket(executor);
        if (!Adopt(fd, protocol, socket)) return;
        std::make_shared<SniffSession>(std::move(socket), std::string_view(), shared,
                                       std::move(slot), std::move(label), started)
            ->WaitForFirstRequest();
        return;
      }
    }
  }
  if (n > 0) n = ReadSome(fd, bytes, sizeof bytes);  // anything else is ours: take the bytes
  std::string_view data;
  if (n > 0) {
    data = std::string_view(bytes, static_cast<std::size_t>(n));
    const Protocol p = Detect(data);
    // Bytes read already: no waiting for a request that has not come (it is gRPC's).
    const Http2Route route = p == Protocol::kHttp2
                                 ? RouteHttp2(shared, label, data, &why, /*waited=*/true)
                                 : Http2Route::kNeedMore;
    if (p == Protocol::kHttp2 && route != Http2Route::kNeedMore) {
      CountDecided(shared, p, started);
      if (route == Http2Route::kRefuse) return RefusePlaintextHttp2(fd, shared, label);
      if (route == Http2Route::kHandOff) {
        return HandOff(shared, slot, label, fd, data, protocol, executor);
      }
      net::ip::tcp::socket socket(executor);
      if (!Adopt(fd, protocol, socket)) return;
      if (!slot.held()) {  // over --max-connections: hand-offs take no slot, kept ones do
        shared.metrics.limits.Inc(Limit::kConnections);
        return;  // the socket closes
      }
      return KeepHttp2(std::move(socket), data, shared, std::move(slot), std::move(label), why);
    }
    if (p == Protocol::kTls && shared.context->tls) {
      ClientHelloInfo hello;
      const ClientHelloResult r = ParseClientHello(data, &hello);
      if (r != ClientHelloResult::kNeedMore) CountDecided(shared, p, started);
      if (r == ClientHelloResult::kDone) {
        shared.metrics.tls_client_hellos.Inc(TlsHello::kOk);
        return StartTls(fd, data, hello, protocol, executor, shared, std::move(slot),
                        std::move(label));
      }
      if (r != ClientHelloResult::kNeedMore) {
        RejectHello(shared, label, r);
        ::close(fd);
        return;
      }
    } else if (p == Protocol::kTls || p == Protocol::kUnknown) {
      CountDecided(shared, p, started);
      LogRejected(shared, label, p);
      ::close(fd);
      return;
    }
  } else if (n == 0 || !WouldBlock(errno)) {
    CountEnded(shared, label, started, n == 0 ? 0 : errno, 0);
    ::close(fd);
    return;
  }
  // HTTP/1.x, too few bytes to tell, or none yet: the event loop takes the connection over.
  net::ip::tcp::socket socket(executor);
  boost::system::error_code ec;
  socket.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    CountEnded(shared, label, started, ec.value(), data.size());
    return;
  }
  std::make_shared<SniffSession>(std::move(socket), data, shared, std::move(slot), std::move(label),
                                 started)
      ->Start();
}

SniffSession::SniffSession(net::ip::tcp::socket socket, std::string_view bytes, Shared& shared,
                           ConnectionSlot slot, ConnectionLabel label, Clock::time_point started)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      shared_(shared),
      slot_(std::move(slot)),
      label_(std::move(label)),
      started_(started) {
  if (!bytes.empty()) {
    buffer_.commit(
        net::buffer_copy(buffer_.prepare(bytes.size()), net::buffer(bytes.data(), bytes.size())));
  }
}

void SniffSession::Start() {
  // Everything about this connection happens on its strand, including the first step.
  net::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->Begin(); });
}

void SniffSession::Begin() {
  if (buffer_.size() > 0) {
    const Protocol p = Decide();
    if (p != Protocol::kNeedMore) {
      CountDecided(shared_, p, started_);
      return Dispatch(p);
    }
  }
  timer_.expires_at(started_ + shared_.context->options.sniff_timeout);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (ec) return;  // cancelled: the protocol was decided
    self->timed_out_ = true;
    boost::system::error_code ignored;
    self->socket_.close(ignored);
  });
  WaitReadable();
}

void SniffSession::WaitReadable() {
  // Waiting for readiness instead of reading keeps idle connections buffer-free; bytes are read
  // (not peeked) once available, so a partial preface does not wake us up again and again.
  socket_.async_wait(
      net::socket_base::wait_read,
      [self = shared_from_this()](boost::system::error_code ec) { self->OnReadable(ec); });
}

void SniffSession::OnReadable(boost::system::error_code ec) {
  const bool tls_hello = shared_.context->tls && Bytes().starts_with('\x16');
  if (timed_out_) {
    if (tls_hello) shared_.metrics.tls_client_hellos.Inc(TlsHello::kTimeout);
    shared_.metrics.sniff_failures.Inc(SniffFailure::kTimeout);
    shared_.metrics.ObserveSniff(SniffOutcome::kTimeout, Clock::now() - started_);
    shared_.metrics.limits.Inc(Limit::kSniffTimeout);
    SPDLOG_DEBUG("conn={} peer={} closed: no protocol within the sniff timeout", label_.id,
                 label_.peer);
    return;
  }
  ssize_t n = -1;
  int error = ec.value();
  if (!ec) {
    const auto space = buffer_.prepare(kSniffReadSize);
    n = ReadSome(socket_.native_handle(), static_cast<char*>(space.data()), space.size());
    if (n < 0 && WouldBlock(errno)) return WaitReadable();  // a spurious wake-up
    if (n < 0) error = errno;
  }
  if (n <= 0) {  // end of stream (error 0), or an error
    timer_.cancel();
    if (tls_hello) shared_.metrics.tls_client_hellos.Inc(TlsHello::kClosed);
    return CountEnded(shared_, label_, started_, error, buffer_.size());
  }
  buffer_.commit(static_cast<std::size_t>(n));
  const Protocol protocol = Decide();
  if (protocol == Protocol::kNeedMore) return WaitReadable();
  timer_.cancel();
  CountDecided(shared_, protocol, started_);
  Dispatch(protocol);
}

void SniffSession::WaitForFirstRequest() {
  timer_.expires_after(shared_.context->options.http2_first_request_wait);
  timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
    if (!ec) self->LookAgain();
  });
}

void SniffSession::LookAgain() {
  // Peeked again, not read: a connection that goes to gRPC still has every byte in the socket.
  char bytes[kFirstRequestLookLimit];
  const ssize_t n = ReadSome(socket_.native_handle(), bytes, sizeof bytes, MSG_PEEK);
  if (n <= 0) {
    const int error = n == 0 ? 0 : errno;
    if (n < 0 && WouldBlock(error)) return HandToGrpc();  // cannot happen: bytes were there
    return CountEnded(shared_, label_, started_, error, 0);
  }
  const std::string_view peeked(bytes, static_cast<std::size_t>(n));
  const Http2Route route = RouteHttp2(shared_, label_, peeked, &why_, /*waited=*/true);
  if (route == Http2Route::kHandOff) {
    CountDecided(shared_, Protocol::kHttp2, started_);
    return HandToGrpc();
  }
  // The request is there, or part of it: read from here on, like any connection being sniffed.
  const auto space = buffer_.prepare(static_cast<std::size_t>(n));
  const ssize_t got = ReadSome(socket_.native_handle(), static_cast<char*>(space.data()),
                               static_cast<std::size_t>(n));
  if (got <= 0) return CountEnded(shared_, label_, started_, got == 0 ? 0 : errno, 0);
  buffer_.commit(static_cast<std::size_t>(got));
  Begin();
}

Protocol SniffSession::Decide() {
  const std::string_view bytes = Bytes();
  const Protocol p = Detect(bytes);
  if (p == Protocol::kTls && shared_.context->tls) {
    ClientHelloInfo hello;
    const ClientHelloResult r = ParseClientHello(bytes, &hello);
    if (r == ClientHelloResult::kNeedMore && bytes.size() <= kMaxHelloBytes) {
      return Protocol::kNeedMore;
    }
    if (r == ClientHelloResult::kDone) {
      shared_.metrics.tls_client_hellos.Inc(TlsHello::kOk);
      hello_ = std::move(hello);
    } else {
      RejectHello(shared_, label_, r);
    }
    return p;
  }
  if (p != Protocol::kHttp2) return p;
  // HTTP/2: where it goes waits for its first request (or for the sign that none is coming).
  // Bytes read already: the wait for a first request happens here, as more arrive, under the
  // sniff deadline; a connection that sends no request is then gRPC's.
  const Http2Route route = RouteHttp2(shared_, label_, bytes, &why_, /*waited=*/true);
  if (route == Http2Route::kNeedMore) return Protocol::kNeedMore;
  keep_ = route == Http2Route::kKeep;
  refuse_ = route == Http2Route::kRefuse;
  return p;
}

void SniffSession::Dispatch(Protocol protocol) {
  switch (protocol) {
    case Protocol::kHttp2: {
      if (refuse_) {
        const int fd = ReleaseFd();
        if (fd >= 0) RefusePlaintextHttp2(fd, shared_, label_);
        return;
      }
      if (!keep_) return HandToGrpc();
      if (!slot_.held()) {  // over --max-connections: hand-offs take no slot, kept ones do
        shared_.metrics.limits.Inc(Limit::kConnections);
        return;
      }
      return KeepHttp2(std::move(socket_), Bytes(), shared_, std::move(slot_), std::move(label_),
                       why_);
    }
    case Protocol::kHttp1:
      std::make_shared<PlainHttp1Session>(std::move(socket_), std::move(buffer_), shared_,
                                          std::move(slot_), std::move(label_))
          ->Start();
      return;
    case Protocol::kTls:
      if (shared_.context->tls) {
        if (!hello_) return;  // counted by Decide(): the socket closes
        boost::system::error_code ignored;
        const auto tcp = socket_.local_endpoint(ignored).protocol();
        const auto executor = socket_.get_executor();
        const int fd = ReleaseFd();
        if (fd < 0) return;
        return StartTls(fd, Bytes(), *hello_, tcp, executor, shared_, std::move(slot_),
                        std::move(label_));
      }
      return LogRejected(shared_, label_, protocol);
    case Protocol::kUnknown:
    case Protocol::kNeedMore: return LogRejected(shared_, label_, protocol);
  }
}

int SniffSession::ReleaseFd() {
  boost::system::error_code ec;
  const int fd = socket_.release(ec);
  if (ec) {
    shared_.metrics.handoff_failures.Inc();
    spdlog::error("conn={} peer={} hand-off failed: {}", label_.id, label_.peer, ec.message());
    return -1;
  }
  // gRPC's event engine expects a non-blocking fd; a blocking one would stall its poller.
  const int flags = ::fcntl(fd, F_GETFL, 0);
  if (flags < 0 || ((flags & O_NONBLOCK) == 0 && ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)) {
    shared_.metrics.handoff_failures.Inc();
    spdlog::error("conn={} peer={} hand-off failed: fcntl O_NONBLOCK", label_.id, label_.peer);
    ::close(fd);
    return -1;
  }
  return fd;
}

void SniffSession::HandToGrpc() {
  boost::system::error_code ignored;
  const auto protocol = socket_.local_endpoint(ignored).protocol();
  const auto executor = socket_.get_executor();
  const int fd = ReleaseFd();
  if (fd < 0) return;
  HandOff(shared_, slot_, label_, fd, Bytes(), protocol, executor);
}

}  // namespace h2gate
