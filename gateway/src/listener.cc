#include "listener.h"

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/strand.hpp>

#include "http1_session.h"
#include "sniff_session.h"

namespace h2gate {
namespace net = boost::asio;
using net::ip::tcp;

Listener::Listener(net::io_context& io, Shared& shared, bool admin)
    : io_(io), acceptor_(io), backoff_(io), shared_(shared), admin_(admin) {}

bool Listener::Bind(const HostPort& address, std::string* error) {
  boost::system::error_code ec;
  const tcp::endpoint endpoint(net::ip::make_address(address.host), address.port);
  auto fail = [&](std::string_view what) {
    *error = fmt::format("cannot {} {}:{}: {}", what, address.host, address.port, ec.message());
    return false;
  };
  acceptor_.open(endpoint.protocol(), ec);
  if (ec) return fail("open a socket for");
  acceptor_.set_option(net::socket_base::reuse_address(true), ec);
  if (ec) return fail("configure");
  acceptor_.bind(endpoint, ec);
  if (ec) return fail("bind");
  acceptor_.listen(net::socket_base::max_listen_connections, ec);
  if (ec) return fail("listen on");
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
  // Each connection gets its own strand, so sessions are safe with any number of I/O threads.
  // With one I/O thread every handler runs on it already: a strand would only add cost.
  const net::any_io_executor executor = shared_.options.io_threads > 1
                                            ? net::any_io_executor(net::make_strand(io_))
                                            : net::any_io_executor(io_.get_executor());
  acceptor_.async_accept(executor, [this](boost::system::error_code ec, tcp::socket socket) {
    OnAccept(ec, std::move(socket));
  });
}

void Listener::OnAccept(boost::system::error_code ec, tcp::socket socket) {
  if (ec == net::error::operation_aborted || !acceptor_.is_open()) return;  // stopped
  if (ec) {
    // EMFILE and friends: the pending connection stays queued; retry shortly rather than spin.
    std::uint64_t suppressed = 0;
    if (shared_.error_log.Allow(&suppressed)) {
      spdlog::error("accept failed: {} ({} similar suppressed)", ec.message(), suppressed);
    }
    backoff_.expires_after(std::chrono::milliseconds(50));
    backoff_.async_wait([this](boost::system::error_code ec) {
      if (!ec) Accept();
    });
    return;
  }
  shared_.metrics.connections_accepted.Inc();
  ConnectionLabel label;
  label.id = shared_.next_connection_id.fetch_add(1, std::memory_order_relaxed);
  boost::system::error_code peer_ec;
  const auto peer = socket.remote_endpoint(peer_ec);
  if (!peer_ec) {
    label.peer_ip = peer.address().to_string();
    label.peer = peer.address().is_v6() ? fmt::format("[{}]:{}", label.peer_ip, peer.port())
                                        : fmt::format("{}:{}", label.peer_ip, peer.port());
  }
  if (shared_.metrics.connections_open.Value() >= shared_.options.max_connections) {
    shared_.metrics.limits.Inc(Limit::kConnections);
    std::uint64_t suppressed = 0;
    if (shared_.error_log.Allow(&suppressed)) {
      spdlog::warn(
          "conn={} peer={} closed: {} connections open (--max-connections) ({} similar "
          "suppressed)",
          label.id, label.peer, shared_.options.max_connections, suppressed);
    }
    boost::system::error_code ignored;
    socket.close(ignored);
  } else if (admin_) {
    // The admin port speaks HTTP/1.x only: no sniffing, no gRPC.
    std::make_shared<Http1Session>(beast::tcp_stream(std::move(socket)), beast::flat_buffer(),
                                   shared_, ConnectionSlot(shared_.metrics), std::move(label),
                                   /*admin=*/true)
        ->Start();
  } else {
    std::make_shared<SniffSession>(std::move(socket), shared_, ConnectionSlot(shared_.metrics),
                                   std::move(label))
        ->Start();
  }
  Accept();
}

}  // namespace h2gate
