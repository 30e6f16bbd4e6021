// The first phase of every connection: read until the protocol is known, then pass the socket
// and every byte read to the next owner (gRPC for HTTP/2, Http1Session for HTTP/1.x).
#pragma once

#include <memory>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "connection.h"
#include "detect.h"

namespace h2gate {

class SniffSession : public std::enable_shared_from_this<SniffSession> {
 public:
  SniffSession(boost::asio::ip::tcp::socket socket, Shared& shared, ConnectionSlot slot,
               ConnectionLabel label);
  void Start();

 private:
  void Begin();
  void WaitReadable();
  void OnReadable(boost::system::error_code ec);
  void Dispatch(Protocol protocol);
  void HandToGrpc();
  std::chrono::nanoseconds Elapsed() const;

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  // Allocated on the first readable event: a silent connection costs no buffer.
  boost::beast::flat_buffer buffer_;
  Shared& shared_;
  ConnectionSlot slot_;
  ConnectionLabel label_;
  std::chrono::steady_clock::time_point started_;
  bool timed_out_ = false;
};

}  // namespace h2gate
