#include "sniff_session.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>

#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>

#include "http1_session.h"

namespace h2gate {
namespace net = boost::asio;

namespace {
// One read takes what the client sent with its first packets; a gRPC client's preface, SETTINGS
// and first HEADERS fit easily, and all of it is passed on.
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

}  // namespace

std::chrono::nanoseconds SniffSession::Elapsed() const {
  return std::chrono::steady_clock::now() - started_;
}

SniffSession::SniffSession(net::ip::tcp::socket socket, Shared& shared, ConnectionSlot slot,
                           ConnectionLabel label)
    : socket_(std::move(socket)),
      timer_(socket_.get_executor()),
      shared_(shared),
      slot_(std::move(slot)),
      label_(std::move(label)),
      started_(std::chrono::steady_clock::now()) {}

void SniffSession::Start() {
  // Everything about this connection happens on its strand, including the first step.
  net::dispatch(socket_.get_executor(), [self = shared_from_this()] { self->Begin(); });
}

void SniffSession::Begin() {
  boost::system::error_code ec;
  // Reads below are attempted only after readiness; non-blocking makes a spurious wake-up return
  // would_block instead of stalling an I/O thread.
  socket_.non_blocking(true, ec);
  timer_.expires_after(shared_.options.sniff_timeout);
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
  if (timed_out_) {
    shared_.metrics.sniff_failures.Inc(SniffFailure::kTimeout);
    shared_.metrics.ObserveSniff(SniffOutcome::kTimeout, Elapsed());
    shared_.metrics.limits.Inc(Limit::kSniffTimeout);
    SPDLOG_DEBUG("conn={} peer={} closed: no protocol within the sniff timeout", label_.id,
                 label_.peer);
    return;
  }
  std::size_t n = 0;
  if (!ec) {
    n = socket_.read_some(buffer_.prepare(kSniffReadSize), ec);
    buffer_.commit(n);
  }
  if (ec == net::error::would_block) return WaitReadable();
  if (ec) {
    const bool closed = ec == net::error::eof || ec == net::error::connection_reset;
    shared_.metrics.sniff_failures.Inc(closed ? SniffFailure::kClosed : SniffFailure::kError);
    shared_.metrics.ObserveSniff(closed ? SniffOutcome::kClosed : SniffOutcome::kError, Elapsed());
    SPDLOG_DEBUG("conn={} peer={} closed while sniffing after {} bytes: {}", label_.id, label_.peer,
                 buffer_.size(), ec.message());
    timer_.cancel();
    return;
  }
  const auto data = buffer_.cdata();
  const Protocol protocol =
      Detect(std::string_view(static_cast<const char*>(data.data()), data.size()));
  if (protocol == Protocol::kNeedMore) return WaitReadable();
  timer_.cancel();
  shared_.metrics.ObserveSniff(OutcomeOf(protocol), Elapsed());
  shared_.metrics.CountProtocol(ProtocolName(protocol));
  Dispatch(protocol);
}

void SniffSession::Dispatch(Protocol protocol) {
  std::uint64_t suppressed = 0;
  switch (protocol) {
    case Protocol::kHttp2: return HandToGrpc();
    case Protocol::kHttp1:
      std::make_shared<Http1Session>(beast::tcp_stream(std::move(socket_)), std::move(buffer_),
                                     shared_, std::move(slot_), std::move(label_))
          ->Start();
      return;
    case Protocol::kTls:
      if (shared_.rejection_log.Allow(&suppressed)) {
        spdlog::warn(
            "conn={} peer={} closed: TLS ClientHello on a plaintext port; h2gate serves h2c, so "
            "terminate TLS in front of it or connect without TLS ({} similar suppressed)",
            label_.id, label_.peer, suppressed);
      }
      return;
    case Protocol::kUnknown:
    case Protocol::kNeedMore:
      if (shared_.rejection_log.Allow(&suppressed)) {
        spdlog::warn(
            "conn={} peer={} closed: first bytes are neither HTTP/2 nor HTTP/1.x ({} similar "
            "suppressed)",
            label_.id, label_.peer, suppressed);
      }
      return;
  }
}

void SniffSession::HandToGrpc() {
  boost::system::error_code ec;
  socket_.set_option(net::ip::tcp::no_delay(true), ec);
  const int fd = socket_.release(ec);
  if (ec) {
    shared_.metrics.handoff_failures.Inc();
    spdlog::error("conn={} peer={} hand-off failed: {}", label_.id, label_.peer, ec.message());
    return;
  }
  // gRPC's event engine expects a non-blocking fd; a blocking one would stall its poller.
  const int flags = ::fcntl(fd, F_GETFL, 0);
  if (flags < 0 || ::fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0) {
    shared_.metrics.handoff_failures.Inc();
    spdlog::error("conn={} peer={} hand-off failed: fcntl O_NONBLOCK", label_.id, label_.peer);
    ::close(fd);
    return;
  }
  const auto data = buffer_.cdata();
  slot_.Release();
  if (shared_.handoff->Handoff(
          fd, std::string_view(static_cast<const char*>(data.data()), data.size()))) {
    shared_.metrics.handoffs.Inc();
    SPDLOG_DEBUG("conn={} peer={} handed to gRPC with {} bytes", label_.id, label_.peer,
                 data.size());
  } else {
    shared_.metrics.handoff_failures.Inc();
  }
}

}  // namespace h2gate
