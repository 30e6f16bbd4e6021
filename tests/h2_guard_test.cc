// The HTTP/2 guard's relay on its own: a real client socket on 127.0.0.1 on one side, and on the
// other the socket pair end gRPC would own, written and closed by the test so that the order of
// events the guard sees is fixed.
#include "front/h2_guard.h"

#include <poll.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "support/h2_frames.h"

namespace h2gate::testing {
namespace {

namespace net = boost::asio;
using namespace std::chrono_literals;

// Waits until `fd` holds at least `want` unread bytes (bounded).
bool WaitForBytes(int fd, int want, std::chrono::milliseconds timeout) {
  const auto until = std::chrono::steady_clock::now() + timeout;
  int have = 0;
  while (::ioctl(fd, FIONREAD, &have) == 0 && have < want) {
    if (std::chrono::steady_clock::now() > until) return false;
    std::this_thread::sleep_for(5ms);
  }
  return have >= want;
}

// Reads `fd` until EOF, an error, or `timeout`.
std::string ReadToEnd(int fd, std::chrono::milliseconds timeout) {
  std::string out;
  const auto until = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  while (std::chrono::steady_clock::now() < until) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// gRPC ends a connection (a drain, a connection age) right after its last call's trailers, and the
// client may still be sending (a WINDOW_UPDATE, a PING ack). Whatever gRPC wrote before it closed
// must reach the client all the same; this once lost a draining call's trailers.
TEST(H2GuardRelay, WhatGrpcWroteBeforeClosingReachesTheClientWhileTheClientSends) {
  // Declared before the I/O context: a guard still queued in it when it goes counts itself out
  // of `shared`.
  Shared shared(16);
  shared.context = std::make_shared<Context>(Options{});
  net::io_context io;

  net::ip::tcp::acceptor acceptor(io, {net::ip::make_address("127.0.0.1"), 0});
  const int client = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(client, 0);
  // Small buffers on the client's path: most of what gRPC writes stays in the socket pair, behind
  // a client that has not read yet.
  const int small = 4096;
  ::setsockopt(client, SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(acceptor.local_endpoint().port());
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::connect(client, reinterpret_cast<sockaddr*>(&to), sizeof to), 0);
  net::ip::tcp::socket accepted = acceptor.accept();
  accepted.set_option(net::socket_base::send_buffer_size(small));
  accepted.non_blocking(true);

  int pair[2];
  ASSERT_EQ(::socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, pair), 0);
  net::local::stream_protocol::socket guard_end(io);
  guard_end.assign(net::local::stream_protocol(), pair[0]);
  const int grpc_end = pair[1];
  const int blocking = 0;
  ::ioctl(grpc_end, FIONBIO, &blocking);

  auto guard = std::make_shared<H2Guard>(std::move(accepted), std::move(guard_end), shared,
                                         ConnectionLabel{1, "127.0.0.1:1", "127.0.0.1", {}});
  guard->Start({});
  guard.reset();  // the guard owns itself through its pending waits
  std::thread loop([&io] { io.run_for(15s); });
  // A failed ASSERT returns early: stop the loop and join it rather than terminate.
  struct Join {
    net::io_context& io;
    std::thread& t;
    ~Join() {
      io.stop();
      if (t.joinable()) t.join();
    }
  } join{io, loop};

  ASSERT_EQ(::send(client, kPreface.data(), kPreface.size(), 0),
            static_cast<ssize_t>(kPreface.size()));
  ASSERT_TRUE(WaitForBytes(grpc_end, static_cast<int>(kPreface.size()), 2s));

  // gRPC's side: SETTINGS, 160 KiB of DATA, then close with the client's preface unread.
  std::string wrote = Frame(4, 0, 0);
  const std::string payload(16384, 'x');
  for (int i = 0; i < 10; ++i) wrote += Frame(0, i == 9 ? 1 : 0, 1, payload);
  std::size_t off = 0;
  while (off < wrote.size()) {
    const ssize_t n = ::send(grpc_end, wrote.data() + off, wrote.size() - off, MSG_NOSIGNAL);
    ASSERT_GT(n, 0);
    off += static_cast<std::size_t>(n);
  }
  ::close(grpc_end);

  // The client sends a PING while most of gRPC's bytes are still on their way.
  const std::string ping = Frame(6, 0, 0, std::string(8, '\0'));
  ASSERT_EQ(::send(client, ping.data(), ping.size(), 0), static_cast<ssize_t>(ping.size()));
  std::this_thread::sleep_for(100ms);

  const std::string got = ReadToEnd(client, 5s);
  EXPECT_EQ(got.size(), wrote.size());
  EXPECT_TRUE(got == wrote) << "the client got other bytes than gRPC wrote";
  ::close(client);
  loop.join();  // returns once the guard has closed both ends
  EXPECT_EQ(shared.metrics.http2_guarded.Value(), 0) << "the guard is gone once both ends are";
}

}  // namespace
}  // namespace h2gate::testing
