// A listener: accepts, enforces the connection cap, and starts a session per connection on its
// own strand. The front listener sniffs each connection; the admin listener serves HTTP/1.x only.
#pragma once

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "config/host_port.h"
#include "front/connection.h"

namespace h2gate {

class Listener {
 public:
  // The admin port's own cap: operators and probes reach it whatever fills the main port.
  static constexpr int kAdminMaxConnections = 64;

  // Reads what it needs of `options` now: it binds before the gateway's Context exists.
  Listener(boost::asio::io_context& io, Shared& shared, const Options& options, bool admin = false);

  // Binds and listens; returns false with a reason.
  bool Bind(const HostPort& address, std::string* error);
  int port() const { return port_; }
  int native_handle() { return acceptor_.native_handle(); }

  void Start();
  // Stops accepting and closes the listening socket; new connections are refused by the kernel.
  // Must run on the io_context.
  void Stop();

 private:
  void Accept();
  void OnReadable(boost::system::error_code ec);
  // Starts the life of one accepted connection (`fd`, non-blocking).
  void OnAccepted(int fd, const boost::asio::ip::tcp::endpoint& peer);
  void Backoff(int error);

  boost::asio::io_context& io_;
  boost::asio::ip::tcp::acceptor acceptor_;
  boost::asio::steady_timer backoff_;
  Shared& shared_;
  const bool admin_;
  const bool defer_accept_;
  const bool strand_per_connection_;
  ConnectionLimiter limiter_;
  int port_ = 0;
};

}  // namespace h2gate
