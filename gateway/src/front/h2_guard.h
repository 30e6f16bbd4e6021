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

// Tells a guarded client, before gRPC shuts down, to open no more streams on its connection:
// GOAWAY(2^31-1, NO_ERROR) and a PING. gRPC 1.51 sends the same pair itself once it shuts down,
// but a stream the client opens before it reads that GOAWAY reaches a server that no longer
// starts calls, and is reset with CANCEL: not REFUSED_STREAM, so no client retries it, and a
// rolling update fails unary calls. The client's PING ACK says it has read the GOAWAY, and every
// stream it opened before is already on its way to gRPC. Used on the connection's executor,
// apart from Request().
class DrainNotice {
 public:
  explicit DrainNotice(Shared& shared) : shared_(shared) {}
  ~DrainNotice() { Settle(false); }
  DrainNotice(const DrainNotice&) = delete;
  DrainNotice& operator=(const DrainNotice&) = delete;
  // On the drain's thread: pending from now, so the drain waits for it; then Owe() on the
  // executor.
  void Request() { shared_.drain_notices_pending.fetch_add(1); }
  void Owe();
  bool due() const { return state_ == State::kDue; }
  // The frames to send, at a frame boundary of what the client is sent; due() is false after.
  std::string Take();
  // A frame from the client: the PING ACK settles the notice.
  void See(const h2::Frame& f);
  // The connection ended: a notice not yet acknowledged is settled as closed.
  void Settle(bool acked);

 private:
  enum class State { kNone, kDue, kSent, kDone };
  Shared& shared_;
  State state_ = State::kNone;
};

class H2Guard : public Drainable, public std::enable_shared_from_this<H2Guard> {
 public:
  H2Guard(boost::asio::ip::tcp::socket client, boost::asio::local::stream_protocol::socket grpc,
          Shared& shared, ConnectionLabel label);
  ~H2Guard() override;
  // `bytes_read`: what the sniffing phase already took from the client, preface first.
  void Start(std::string_view bytes_read);
  // Sends the client the DrainNotice (any thread).
  void Drain() override;

 private:
  struct Direction {
    bool from_client;
    h2::FrameReader reader;
    std::string pending;    // bytes the destination did not take yet; empty while flowing
    bool done = false;      // the source ended and everything it sent was passed on
    bool dropping = false;  // the destination is gone: what the source sends is read and dropped
    bool reading = false;   // a wait for the source to be readable is armed
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
  void SendNotice();

  boost::asio::ip::tcp::socket client_;
  boost::asio::local::stream_protocol::socket grpc_;
  Shared& shared_;
  ConnectionLabel label_;
  H2Policer policer_;
  Direction up_{true, h2::FrameReader(h2::kClientPreface.size()), {}};
  Direction down_{false, h2::FrameReader(), {}};
  // Closes the connection a moment after gRPC's end or the client's welcome ended.
  std::unique_ptr<boost::asio::steady_timer> linger_;
  DrainNotice notice_{shared_};
  bool cut_ = false;
};

}  // namespace h2gate
