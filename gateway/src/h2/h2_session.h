// An HTTP/2 connection the gateway serves itself, on libnghttp2: every request is routed on its
// own. A gRPC call (content-type application/grpc) goes to the embedded server through the
// in-process call layer, frames relayed both ways with flow control; anything else gets the
// answer its HTTP/1.x twin gets (http1/http1_response.h), adapted to HTTP/2: a 415 instead of the
// 426 on gRPC paths, JSON transcoding under a warn or allow policy, the operator endpoints.
//
// Which connections are kept is the sniffer's choice (front/sniff_session.cc): those whose first
// request is not gRPC, and every one from --http2-route-per-request sources (an ingress that
// multiplexes all its callers over h2c). The guard's policer (front/h2_policer.h) reads every
// frame header the client sends, as on handed-off connections, and nghttp2's own limits stand
// behind it.
#pragma once

#include <nghttp2/nghttp2.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/steady_timer.hpp>

#include "call/inprocess_call.h"
#include "front/connection.h"
#include "front/h2_frames.h"
#include "front/h2_policer.h"
#include "route/router.h"
#include "tls/tls_stream.h"

namespace h2gate {

// Serves `socket` (non-blocking) as a kept HTTP/2 connection; `bytes` were read from it already,
// the client preface first.
void KeepHttp2(boost::asio::ip::tcp::socket socket, std::string_view bytes, Shared& shared,
               ConnectionSlot slot, ConnectionLabel label, KeptReason reason);
// The same over TLS the gateway terminated, once ALPN chose h2 (front/tls_session.h); `bytes`
// were read from the stream already.
void KeepHttp2(std::unique_ptr<TlsStream> stream, std::string_view bytes, Shared& shared,
               ConnectionSlot slot, ConnectionLabel label, KeptReason reason);

class H2Session : public Drainable, public std::enable_shared_from_this<H2Session> {
 public:
  H2Session(boost::asio::ip::tcp::socket socket, Shared& shared, ConnectionSlot slot,
            ConnectionLabel label);
  H2Session(std::unique_ptr<TlsStream> stream, Shared& shared, ConnectionSlot slot,
            ConnectionLabel label);
  ~H2Session() override;
  H2Session(const H2Session&) = delete;
  H2Session& operator=(const H2Session&) = delete;

  // False if nghttp2 could not make a session (the connection is then closed).
  bool Start(std::string_view bytes_read);
  void Drain() override;

  struct Stream;

 private:
  using Clock = std::chrono::steady_clock;

  // Connection (h2_session.cc).
  static int OnBeginHeaders(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const std::uint8_t* name,
                      std::size_t namelen, const std::uint8_t* value, std::size_t valuelen,
                      std::uint8_t flags, void* user);
  static int OnFrameRecv(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int OnFrameSend(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static int OnDataChunk(nghttp2_session*, std::uint8_t flags, std::int32_t id,
                         const std::uint8_t* data, std::size_t len, void* user);
  static int OnStreamClose(nghttp2_session*, std::int32_t id, std::uint32_t error_code, void* user);
  static ssize_t ReadBody(nghttp2_session*, std::int32_t id, std::uint8_t* buf, std::size_t length,
                          std::uint32_t* flags, nghttp2_data_source* source, void* user);
  void Read();
  void OnRead(boost::system::error_code ec, std::size_t n);
  bool Receive(std::string_view bytes);  // false once the connection is ending
  void Flush();
  void OnWritten(boost::system::error_code ec);
  void Cut(Http2Abuse abuse);
  void Terminate(std::uint32_t error_code, KeptClose why);
  void Close();
  void BeginDrain();
  void ArmTimer();
  void OnTimer();
  Stream* Find(std::int32_t id);
  void CancelCalls();  // every gRPC and JSON call still running on the connection

  // Requests (h2_requests.cc).
  void OnRequestHeaders(Stream& s);
  void OnRequestData(Stream& s, std::string_view data);
  void OnRequestEnd(Stream& s);
  void StartGrpcCall(Stream& s, std::optional<std::string> only_message);
  void StartUnaryCall(Stream& s, std::string message, const Metadata& metadata, Duration timeout);
  void OnUnaryDone(std::int32_t id, grpc::ClientContext& context, grpc::ByteBuffer& response,
                   const grpc::Status& status);
  void OnGrpcHeaders(std::int32_t id, Metadata headers);
  void OnGrpcMessage(std::int32_t id, std::string message);
  void OnGrpcWritten(std::int32_t id);
  void OnGrpcDone(std::int32_t id, const grpc::Status& status, Metadata trailers);
  void GrpcError(Stream& s, grpc::StatusCode code, std::string_view message);
  void AnswerHttp(Stream& s, bool body_complete);
  void TranscodeHttp(Stream& s, const Decision& d);
  void Respond(Stream& s, Response response, bool head);
  void Consume(Stream& s, std::size_t n);

  // Reads and writes go to the TLS stream when there is one, else to the socket: one read and
  // one write in flight at most, which an SSL stream allows.
  template <typename Buffer, typename Handler>
  void ReadSome(const Buffer& buffer, Handler&& handler);
  template <typename Buffer, typename Handler>
  void Write(const Buffer& buffer, Handler&& handler);
  boost::asio::ip::tcp::socket& Socket() { return tls_ ? tls_->next_layer() : socket_; }

  boost::asio::ip::tcp::socket socket_;  // unused (closed) over TLS
  std::unique_ptr<TlsStream> tls_;
  boost::asio::steady_timer timer_;
  Shared& shared_;
  const std::shared_ptr<const Context> ctx_;
  ConnectionSlot slot_;
  ConnectionLabel label_;
  nghttp2_session* session_ = nullptr;
  H2Policer policer_;
  TokenBucket refused_;                    // streams the gateway reset, against the reset budget
  std::optional<Http2Abuse> pending_cut_;  // found inside nghttp2: cut once it returns
  h2::FrameReader from_client_{h2::kClientPreface.size()};
  h2::FrameReader from_server_;
  std::unordered_map<std::int32_t, std::unique_ptr<Stream>> streams_;
  std::array<char, 16384> read_buffer_;
  std::string write_buffer_;
  bool writing_ = false;
  bool read_paused_ = false;  // a read waits for the write in flight
  bool reading_ = false;
  bool closed_ = false;
  bool cut_ = false;
  bool draining_ = false;
  bool final_goaway_ = false;
  bool registered_ = false;
  // Inside nghttp2_session_mem_recv or _mem_send, or building a batch of frames: Flush waits.
  int in_nghttp2_ = 0;
  Clock::time_point last_activity_;
  Clock::time_point write_started_;
  Clock::time_point last_data_sent_;
  Clock::time_point drain_started_;
};

}  // namespace h2gate
