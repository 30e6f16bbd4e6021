// An HTTP/1.x connection: reads requests with Beast under header, body and idle deadlines, and
// writes the answers http1_response.h builds. Pipelined requests are answered in order.
//
// The deadlines share one timer that is re-armed lazily: a keep-alive request moves the deadline
// by storing a time, and the timer, when it fires before that time, waits again for the rest.
// Arming a timer per read and write (as beast::tcp_stream does) cost a timer-queue update and a
// cancelled handler on every request, and a timerfd_settime call every few dozen.
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <optional>
#include <type_traits>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/stream_traits.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>

#include "front/connection.h"
#include "http1/http1_response.h"
#include "tls/tls_stream.h"

namespace h2gate {

namespace beast = boost::beast;

// `Stream` is what carries the bytes: a TCP socket, or (for TLS) a stream layered over one, as in
// Boost.Beast's advanced server-flex example. Reads, writes and the parse go through the stream;
// deadlines, hang-up watching and closing act on the TCP socket beneath it. The definitions live
// in http1_session.cc, instantiated there for each stream the gateway serves.
template <class Stream>
class Http1Session : public Drainable, public std::enable_shared_from_this<Http1Session<Stream>> {
 public:
  // `buffer` holds the bytes the sniffer already read: the start of the first request.
  // `admin`: the admin listener's session, which serves operator endpoints and no 426.
  Http1Session(Stream stream, beast::flat_buffer buffer, Shared& shared, ConnectionSlot slot,
               ConnectionLabel label, bool admin = false);
  ~Http1Session() override;
  void Start();
  // The listener has stopped: an idle keep-alive connection is closed now, as Go's
  // http.Server.Shutdown does, so that its client's next call opens a connection to another
  // replica instead of meeting a gRPC server that has shut down (a 503). Clients check an idle
  // connection before reusing it. A busy one answers with Connection: close. Any thread.
  void Drain() override;

 private:
  void WaitForRequest();
  void ReadHeader();
  void OnHeader(beast::error_code ec);
  void OnBody(beast::error_code ec);
  void ReadBody();
  // `body_complete` is false when the body was left unread (over the cap).
  void Respond(bool keep_alive, bool body_complete);
  // A 426 on a gRPC path: counted in metrics and the legacy-caller report.
  void CountRejection(const Route& route);
  void Transcode(const Route& route, const PolicyRule& rule, bool keep_alive);
  void FinishTranscode(const Route& route, Http1Policy policy, const DeprecationNotice& notice,
                       TranscodeResult result, bool keep_alive);
  // Counts the caller in the legacy-caller report; logs it when the report says so.
  void RecordCaller(const Route& route, std::string_view policy);
  void SendError(beast::http::status status, std::string_view message);
  // --tls-required on plaintext: 426 with Upgrade: TLS/1.2, HTTP/1.1 (RFC 2817), then closed.
  void RefusePlaintext();
  void Send(Response response, bool keep_alive);
  // Writes bytes serialised ahead of time; `wire` must outlive the write (it lives in Shared).
  void SendWire(std::string_view wire, beast::http::status status, bool keep_alive);
  void OnWrite(beast::error_code ec, bool keep_alive);
  void Close();
  void CloseTcp();  // half-close, then read what the client still sends until it closes
  void Linger(std::size_t discarded);
  // The connection is closed at `timeout` from now unless the deadline moves again; `limit` is
  // what that counts as (none while lingering).
  void SetDeadline(Duration timeout, std::optional<Limit> limit);
  void ClearDeadline();
  void WatchForHangUp();
  void ArmTimer();
  void OnTimer(beast::error_code ec);

  boost::asio::ip::tcp::socket& Socket() { return beast::get_lowest_layer(stream_); }
  static constexpr bool kTls = !std::is_same_v<Stream, boost::asio::ip::tcp::socket>;

  Stream stream_;
  boost::asio::steady_timer timer_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
  std::optional<Limit> deadline_limit_;
  bool timer_armed_ = false;
  bool timed_out_ = false;  // the deadline or the drain closed the socket; handlers only return
  bool idle_ = false;       // waiting for the next request's first byte
  beast::flat_buffer buffer_;
  std::optional<beast::http::request_parser<beast::http::string_body>> parser_;
  Response response_;
  Shared& shared_;
  const std::shared_ptr<const Context> ctx_;
  ConnectionSlot slot_;
  std::function<void()> cancel_;  // of the JSON call in flight, if any
  // Counts this connection in Shared::calls while a JSON call or its answer is in flight.
  std::optional<CallGate::Ticket> in_flight_;
  ConnectionLabel label_;
  const RouteOptions routes_;
};

// The plaintext session: HTTP/1.x straight over TCP.
using PlainHttp1Session = Http1Session<boost::asio::ip::tcp::socket>;
extern template class Http1Session<boost::asio::ip::tcp::socket>;
// Over TLS the gateway terminated (front/tls_session.h).
using TlsHttp1Session = Http1Session<TlsStream>;
extern template class Http1Session<TlsStream>;

}  // namespace h2gate
