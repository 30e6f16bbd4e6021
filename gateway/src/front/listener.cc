#include "front/listener.h"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/strand.hpp>

#include "front/detect.h"
#include "front/proxy_protocol.h"
#include "front/proxy_session.h"
#include "front/sniff_session.h"
#include "http1/http1_session.h"

namespace h2gate {
namespace net = boost::asio;
using net::ip::tcp;

namespace {
// Connections taken per wake-up before other work gets a turn.
constexpr int kAcceptBatch = 64;

// True if the connection's first bytes, already in, are an HTTP/2 preface (peeked, not read),
// after the PROXY header a balancer put in front.
bool StartsWithHttp2(int fd, const Context& context, const net::ip::address& peer) {
  char bytes[kMaxProxyHeader + 24];
  const ssize_t n = ::recv(fd, bytes, sizeof bytes, MSG_PEEK);
  if (n <= 0) return false;
  const std::string_view first =
      AfterProxyHeader(context, peer, std::string_view(bytes, static_cast<std::size_t>(n)));
  return Detect(first) == Protocol::kHttp2;
}
}  // namespace

void ConnectionLabel::SetPeer(const tcp::endpoint& endpoint) {
  peer_address = endpoint.address();
  peer_ip = peer_address.to_string();
  peer = peer_address.is_v6() ? fmt::format("[{}]:{}", peer_ip, endpoint.port())
                              : fmt::format("{}:{}", peer_ip, endpoint.port());
}

Listener::Listener(net::io_context& io, Shared& shared, const Options& options, bool admin)
    : io_(io),
      acceptor_(io),
      backoff_(io),
      shared_(shared),
      admin_(admin),
      defer_accept_(!admin && options.defer_accept),
      strand_per_connection_(options.io_threads > 1),
      limiter_(admin ? kAdminMaxConnections : options.max_connections) {}

bool Listener::Bind(const HostPort& address, std::string* error) {
  boost::system::error_code ec;
  auto fail = [&](std::string_view what) {
    *error = fmt::format("cannot {} {}:{}: {}", what, address.host, address.port, ec.message());
    return false;
  };
  // Options filled in code skip the flags' parser: the host may be anything.
  const auto ip = net::ip::make_address(address.host, ec);
  if (ec) return fail("listen on (not an IP address)");
  const tcp::endpoint endpoint(ip, address.port);
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open a socket for");
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("configure");
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  // Accepted connections inherit TCP_NODELAY (as gRPC's own listener arranges): answers go out
  // whole at once, and a handed-off connection needs no setsockopt of its own.
  acceptor_.set_option(tcp::no_delay(true), ec);
  if (ec) return fail("configure");
  if (defer_accept_) {
    // Clients speak first in both protocols served here. Accepting only once the first bytes
    // are in means StartConnection's first look decides almost every connection at once,
    // without an epoll registration, a timer or a second wake-up. A silent client is handed
    // over anyway after the first SYN-ACK retransmission (1 s), then meets the sniff timeout.
    const int seconds = 1;
    if (::setsockopt(acceptor_.native_handle(), IPPROTO_TCP, TCP_DEFER_ACCEPT, &seconds,
                     sizeof seconds) != 0) {
      ec.assign(errno, boost::system::system_category());
      return fail("set TCP_DEFER_ACCEPT on");
    }
  }
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
  acceptor_.non_blocking(true, ec);
  if (ec) return fail("configure");
  port_ = acceptor_.local_endpoint(ec).port();
  return true;
}

void Listener::Start() { Accept(); }

void Listener::Stop() {
  boost::system::error_code ec;
  backoff_.cancel();
  acceptor_.close(ec);
}

void Listener::Accept() {
  acceptor_.async_wait(net::socket_base::wait_read,
                       [this](boost::system::error_code ec) { OnReadable(ec); });
}

void Listener::OnReadable(boost::system::error_code ec) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;  // stopped
  // accept4 straight on the listening socket: the connection comes out non-blocking and with
  // its peer address, which saves the calls asio's accept and getpeername would add.
  for (int i = 0; i < kAcceptBatch; ++i) {
    tcp::endpoint peer;
    socklen_t length = static_cast<socklen_t>(peer.capacity());
    const int fd =
        ::accept4(acceptor_.native_handle(), peer.data(), &length, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      return Backoff(errno);
    }
    peer.resize(length);
    OnAccepted(fd, peer);
  }
  Accept();
}

void Listener::Backoff(int error) {
  // EMFILE and friends: the pending connection stays queued; retry shortly rather than spin.
  std::uint64_t suppressed = 0;
  if (shared_.error_log.Allow(&suppressed)) {
    spdlog::error("accept failed: {} ({} similar suppressed)", std::strerror(error), suppressed);
  }
  backoff_.expires_after(std::chrono::milliseconds(50));
  backoff_.async_wait([this](boost::system::error_code ec) {
    if (!ec) Accept();
  });
}

void Listener::OnAccepted(int fd, const tcp::endpoint& peer) {
  shared_.metrics.connections_accepted.Inc();
  ConnectionLabel label;
  label.id = shared_.next_connection_id.fetch_add(1, std::memory_order_relaxed);
  label.SetPeer(peer);
  ConnectionSlot slot = ConnectionSlot::TryAcquire(limiter_, shared_.metrics);
  // A full cap still takes an HTTP/2 connection whose preface is already in: it is passed to
  // gRPC at once and never holds a slot, so a flood of silent or slow connections cannot lock
  // out gRPC clients and the kubelet's gRPC probes.
  if (!slot.held() && (admin_ || !StartsWithHttp2(fd, *shared_.context, peer.address()))) {
    shared_.metrics.limits.Inc(Limit::kConnections);
    std::uint64_t suppressed = 0;
    if (shared_.error_log.Allow(&suppressed)) {
      spdlog::warn(
          "conn={} peer={} closed: {} connections open on the {} port ({}) ({} similar "
          "suppressed)",
          label.id, label.peer, limiter_.max(), admin_ ? "admin" : "main",
          admin_ ? "its fixed cap" : "--max-connections", suppressed);
    }
    ::close(fd);
    return;
  }
  if (!admin_ && shared_.memory_degraded.load(std::memory_order_relaxed)) {
    shared_.metrics.limits.Inc(Limit::kMemory);
    ::close(fd);
    return;
  }
  // Each connection gets its own strand, so sessions are safe with any number of I/O threads.
  // With one I/O thread every handler runs on it already: a strand would only add cost.
  const net::any_io_executor executor = strand_per_connection_
                                            ? net::any_io_executor(net::make_strand(io_))
                                            : net::any_io_executor(io_.get_executor());
  if (!admin_ && shared_.context->proxy_mode != ProxyMode::kOff) {
    return StartProxied(fd, peer.protocol(), executor, shared_, std::move(slot), std::move(label));
  }
  if (!admin_) {
    return StartConnection(fd, peer.protocol(), executor, shared_, std::move(slot),
                           std::move(label));
  }
  // The admin port speaks HTTP/1.x only: no sniffing, no gRPC.
  tcp::socket socket(executor);
  boost::system::error_code ec;
  socket.assign(peer.protocol(), fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  std::make_shared<PlainHttp1Session>(std::move(socket), beast::flat_buffer(), shared_,
                                      std::move(slot), std::move(label),
                                      /*admin=*/true)
      ->Start();
}

}  // namespace h2gate
