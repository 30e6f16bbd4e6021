// The HTTP/2 guard (front/h2_guard.h) for gRPC over TLS: the gateway has run the handshake, and
// relays the plaintext frames, read by the same policer, to gRPC's plaintext acceptor through a
// socket pair. gRPC's own TLS acceptor cannot be guarded (it reads the socket itself), so only
// --http2-guard-exempt sources reach it untouched.
//
// What gRPC sees differs from its own TLS: the call's peer is a plaintext one, with no TLS auth
// context (README: TLS). The gateway checked the client certificate under --tls-client-auth.
#pragma once

#include <array>
#include <memory>
#include <string>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "front/connection.h"
#include "front/h2_frames.h"
#include "front/h2_guard.h"
#include "front/h2_policer.h"
#include "tls/tls_stream.h"

namespace h2gate {

// Relays `stream` (its handshake done) to gRPC behind the guard; closes it if that cannot be set
// up.
void StartTlsGuarded(std::unique_ptr<TlsStream> stream, Shared& shared, ConnectionLabel label,
                     std::string_view bytes);

class TlsGuard : public Drainable, public std::enable_shared_from_this<TlsGuard> {
 public:
  TlsGuard(std::unique_ptr<TlsStream> client, boost::asio::local::stream_protocol::socket grpc,
           Shared& shared, ConnectionLabel label);
  ~TlsGuard() override;
  void Start(std::string_view bytes);
  // Sends the client the DrainNotice (any thread).
  void Drain() override;

 private:
  void ReadClient();
  void FromClient(std::string_view bytes);  // inspects and forwards, then reads again
  void ReadGrpc();
  // Writes `notice` (may be empty), then `bytes`, to the client; then reads gRPC again.
  void WriteDown(std::string notice, std::string_view bytes);
  void SendNotice();
  void ClientEnded();
  void GrpcEnded();
  void Cut(Http2Abuse abuse);
  void SendGoaway();
  void Linger();
  void CloseAll();

  std::unique_ptr<TlsStream> client_;
  boost::asio::local::stream_protocol::socket grpc_;
  boost::asio::steady_timer linger_;
  Shared& shared_;
  ConnectionLabel label_;
  H2Policer policer_;
  h2::FrameReader from_client_{h2::kClientPreface.size()};
  h2::FrameReader from_server_;
  // One TLS record each way; written on before the next read, so a slow side holds the other.
  std::array<char, 16384> up_;
  std::array<char, 16384> down_;
  std::string goaway_;        // once cut
  std::string first_;         // the bytes read before the relay started, until written
  std::string notice_bytes_;  // a drain notice being written
  std::string held_;          // gRPC's bytes read while a drain notice was written, until written
  std::string held_writing_;
  bool grpc_ended_held_ = false;  // gRPC's end ended while a drain notice was written
  DrainNotice notice_{shared_};
  bool reading_grpc_ = false;
  bool writing_down_ = false;
  bool sent_at_boundary_ = true;
  std::chrono::steady_clock::time_point linger_started_ =
      std::chrono::steady_clock::now();  // what the client was sent ends between frames
  bool client_done_ = false;
  bool grpc_done_ = false;
  bool closed_ = false;
  bool cut_ = false;
};

}  // namespace h2gate
