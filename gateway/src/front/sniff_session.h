// The first phase of every connection: read until the protocol is known, then pass the socket
// and every byte read to the next owner (gRPC for HTTP/2, Http1Session for HTTP/1.x).
#pragma once

#include <memory>
#include <optional>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>

#include "front/connection.h"
#include "front/detect.h"
#include "tls/client_hello.h"

namespace h2gate {

// Takes a freshly accepted connection (`fd`: non-blocking, owned from here on). Most clients
// send their first bytes right behind the handshake, so it looks at once: a connection those
// bytes decide is passed on without ever being registered with the event loop (an HTTP/2 one
// goes straight to gRPC, its bytes unread). Otherwise a SniffSession waits for more, under the
// sniff deadline, which runs from `started` (the accept; a PROXY header's wait counts in it).
void StartConnection(
    int fd, const boost::asio::ip::tcp& protocol, const boost::asio::any_io_executor& executor,
    Shared& shared, ConnectionSlot slot, ConnectionLabel label,
    std::chrono::steady_clock::time_point started = std::chrono::steady_clock::now());

// Refuses a connection before any session: reads what the client sent (closing on unread bytes
// would send a reset that may overtake the answer), sends `answer`, half-closes and closes `fd`.
void AnswerAndClose(int fd, std::string_view answer);

// Hands `fd` and the bytes read from it to `target`, counted in h2gate_grpc_handoffs_total or
// h2gate_grpc_handoff_failures_total; plaintext and TLS hand-offs alike.
void HandOffCounted(HandoffTarget& target, Shared& shared, const ConnectionLabel& label, int fd,
                    std::string_view bytes);

class SniffSession : public std::enable_shared_from_this<SniffSession> {
 public:
  // `bytes`: what was read before the session started (not yet enough to decide).
  SniffSession(boost::asio::ip::tcp::socket socket, std::string_view bytes, Shared& shared,
               ConnectionSlot slot, ConnectionLabel label,
               std::chrono::steady_clock::time_point started);
  void Start();
  // For an HTTP/2 connection that has sent no request yet, its bytes unread: looks again after
  // --http2-first-request-wait, then hands it to gRPC untouched or reads and sniffs on.
  void WaitForFirstRequest();

 private:
  void Begin();
  void LookAgain();
  void WaitReadable();
  void OnReadable(boost::system::error_code ec);
  // Detect(), and for HTTP/2 where the connection goes (keep_, why_); kNeedMore until known.
  Protocol Decide();
  void Dispatch(Protocol protocol);
  void HandToGrpc();
  // The socket's fd, non-blocking, out of the event loop; -1 (counted, logged) if it cannot be.
  int ReleaseFd();
  // What the sniffer has read so far.
  std::string_view Bytes() const {
    const auto data = buffer_.cdata();
    return {static_cast<const char*>(data.data()), data.size()};
  }

  boost::asio::ip::tcp::socket socket_;
  boost::asio::steady_timer timer_;
  // Allocated on the first readable event: a silent connection costs no buffer.
  boost::beast::flat_buffer buffer_;
  Shared& shared_;
  ConnectionSlot slot_;
  ConnectionLabel label_;
  std::chrono::steady_clock::time_point started_;
  bool timed_out_ = false;
  bool keep_ = false;    // an HTTP/2 connection the gateway serves itself
  bool refuse_ = false;  // plaintext HTTP/2 under --tls-required
  KeptReason why_{};
  std::optional<ClientHelloInfo> hello_;  // a TLS connection's, once whole
};

}  // namespace h2gate
