// Stands between an HTTP/2 client and the embedded gRPC server: bytes pass unchanged through a
// socket pair whose other end gRPC owns, while H2Policer reads every frame header on the way.
// An abusive client is sent GOAWAY(ENHANCE_YOUR_CALM) and cut before gRPC has built the calls
// it asked for; its calls die with gRPC's end of the pair.
//
// Why a relay: gRPC 1.51 offers no hook that sees frames before it allocates a call, and its own
// limits (resource quota, max concurrent streams) do not bound a reset burst (the issue's
// figures are in README.md). The cost is two system calls per chunk each way (bench/README.md).
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/steady_timer.hpp>

#include "front/connection.h"
#include "front/h2_frames.h"
#include "front/h2_policer.h"

namespace h2gate {

// Hands `client_fd` (non-blocking, with `bytes_read` already taken from it) to gRPC behind a
// guard. Returns false (the fd closed, the failure counted) if no socket pair could be made.
bool StartGuarded(int client_fd, std::string_view bytes_read, const boost::asio::ip::tcp& protocol,
                  const boost::asio::any_io_executor& executor, Shared& shared,
                  const ConnectionLabel& label);

// Makes the socket pair a guard relays into: `*ours` is the guard's end, gRPC's plaintext
// acceptor gets the other. False (counted, logged) if there is none.
bool OpenGrpcPair(const boost::asio::any_io_executor& executor, Shared& shared,
                  const ConnectionLabel& label, boost::asio::local::stream_protocol::socket* ours);

// Bytes written to `fd` that the peer has not acknowledged yet (SIOCOUTQ); 0 if unknown.
int UnsentBytes(int fd);

// Counts a cut connection and logs it (a few lines a second at most); `what` names the
// connection in the log ("HTTP/2 connection", "kept HTTP/2 connection").
void CountCut(Shared& shared, const ConnectionLabel& label, Http2Abuse abuse,
              const H2Policer& policer, std::string_view what);

class H2Guard : public std::enable_shared_from_this<H2Guard> {
 public:
  H2Guard(boost::asio::ip::tcp::socket client, boost::asio::local::stream_protocol::socket grpc,
          Shared& shared, ConnectionLabel label);
  ~H2Guard();
  // `bytes_read`: what the sniffing phase already took from the client, preface first.
  void Start(std::string_view bytes_read);

 private:
  struct Direction {
    bool from_client;
    h2::FrameReader reader;
    std::string pending;    // bytes the destination did not take yet; empty while flowing
    bool done = false;      // the source ended and everything it sent was passed on
    bool dropping = false;  // the destination is gone: what the source sends is read and dropped
  };

  int SourceFd(const Direction& d);
  int DestinationFd(const Direction& d);
  template <typename Then>
  void WaitOn(bool client_side, boost::asio::socket_base::wait_type what, Then then);
  void WaitReadable(Direction& d);
  void OnReadable(Direction& d);
  // Passes `bytes` on; false if the policer cut the connection.
  bool Inspect(Direction& d, std::string_view bytes);
  void Forward(Direction& d, std::string_view bytes);
  void OnWritable(Direction& d);
  void EndOf(Direction& d);
  void GrpcGone();
  void Cut(Http2Abuse abuse);
  void Discard();
  // Closes after `first`; `patient`: later while the client has not read everything (up to
  // kFlush in all).
  void Linger(std::chrono::steady_clock::duration first, bool patient = true);
  void WaitLinger(std::chrono::steady_clock::time_point started);
  void CloseAll();

  boost::asio::ip::tcp::socket client_;
  boost::asio::local::stream_protocol::socket grpc_;
  Shared& shared_;
  ConnectionLabel label_;
  H2Policer policer_;
  Direction up_{true, h2::FrameReader(h2::kClientPreface.size()), {}};
  Direction down_{false, h2::FrameReader(), {}};
  // Closes the connection a moment after gRPC's end or the client's welcome ended.
  std::unique_ptr<boost::asio::steady_timer> linger_;
  bool cut_ = false;
};

}  // namespace h2gate
