// Hostile and broken clients: each gets a clear answer or a counted close, and gRPC on other
// connections never notices.
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <gtest/gtest.h>

#include <atomic>
#include <random>
#include <thread>

#include "support/fixture.h"
#include "support/net.h"

namespace h2gate::testing {
namespace {

using namespace std::chrono_literals;

class Hostile : public GatewayTest {
 protected:
  // Sends `request` on a new connection; returns everything read until the gateway closes.
  std::string Exchange(const std::string& request, bool* closed = nullptr) {
    RawClient c(port_);
    EXPECT_TRUE(c.connected());
    c.Send(request);
    bool was_closed = false;
    std::string out = c.ReadUntilClose(5s, &was_closed);
    if (closed) *closed = was_closed;
    return out;
  }
};

// Request smuggling shapes: never answered as if the body boundary were clear; 400 and close.
TEST_F(Hostile, SmugglingShapesGet400AndClose) {
  const char* shapes[] = {
      // Content-Length and Transfer-Encoding together (RFC 9112 6.1: reject or close).
      "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nContent-Length: 4\r\n"
      "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
      // Two different Content-Lengths.
      "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\nContent-Length: 5\r\n"
      "\r\n{}",
      // A non-numeric Content-Length.
      "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2x\r\n\r\n{}",
      // Transfer-Encoding that does not end in chunked.
      "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
      // Whitespace before the colon.
      "GET /healthz HTTP/1.1\r\nHost : t\r\n\r\n",
      // A malformed chunk size.
      "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
  };
  for (const char* shape : shapes) {
    bool closed = false;
    const std::string r = Exchange(shape, &closed);
    EXPECT_EQ(StatusOf(r), 400) << shape << "\n---\n" << r;
    EXPECT_TRUE(closed) << shape;
    EXPECT_NE(r.find("Connection: close"), std::string::npos) << shape;
    EXPECT_EQ(r.find("\nHTTP/1.1 "), std::string::npos) << "one answer only: " << shape;
  }
}

// Obsolete line folding is unfolded into a space, as RFC 9112 5.2 allows a server that forwards
// nothing; the request is answered normally and the connection stays usable.
TEST_F(Hostile, ObsoleteLineFoldingIsUnfolded) {
  RawClient c(port_);
  c.Send(
      "GET /healthz HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n folded\r\n\r\n"
      "GET /readyz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  const std::string r = c.ReadUntilClose(5s);
  EXPECT_EQ(StatusOf(r), 200) << r;
  EXPECT_NE(r.find("{\"status\":\"ready\"}"), std::string::npos) << r;
}

TEST_F(Hostile, Http09AndUnknownMethods) {
  // HTTP/0.9 has no version: 400.
  EXPECT_EQ(StatusOf(Exchange("GET /\r\n\r\n")), 400);
  // An unknown method on a gRPC path is still a legacy caller: 426, counted as OTHER.
  const std::string r = Exchange(
      "BREW /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\n"
      "Connection: close\r\n\r\n");
  EXPECT_EQ(StatusOf(r), 426) << r;
  EXPECT_EQ(
      MetricValue(
          Metrics(),
          "h2gate_http1_rejections_total{grpc_service=\"echo.v1.Echo\","
          "grpc_method=\"Echo\",http_method=\"OTHER\",registered=\"true\",http_version=\"1.x\"}"),
      1);
  // Elsewhere, an unknown method is a 404 like any unknown resource.
  EXPECT_EQ(StatusOf(Exchange("BREW /coffee HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")),
            404);
}

// Odd bytes in the request-target. Beast's request-line parser takes every byte from 0x21 to
// 0xff except 0x7f (obs-text included) and stops with "bad target" on anything else, which the
// session answers 400 (INVALID_ARGUMENT) and closes. A target of bytes above 0x7f is a valid
// origin-form path to CheckRequest, is not a gRPC path (ParseGrpcPath wants protobuf
// identifiers), and routes nowhere: 404 (NOT_FOUND), echoing each such byte as a \u00XX escape.
TEST_F(Hostile, OddTargetBytesGetTheirOwnStatus) {
  struct Row {
    const char* what;
    std::string target;
    int status;
    std::string body_part;  // must appear in the JSON body
  };
  const Row rows[] = {
      {"NUL", std::string("/a\0b", 4), 400,
       "{\"code\":3,\"message\":\"malformed HTTP/1.x request: bad target\""},
      {"a control byte", "/a\x01", 400,
       "{\"code\":3,\"message\":\"malformed HTTP/1.x request: bad target\""},
      {"DEL", "/a\x7f", 400, "{\"code\":3,\"message\":\"malformed HTTP/1.x request: bad target\""},
      {"UTF-8 above 0x7f", "/caf\xc3\xa9", 404,
       "{\"code\":5,\"message\":\"no resource at /caf\\u00c3\\u00a9. "},
      // Shaped like a registered method but not protobuf identifiers: not gRPC, so no 426.
      {"UTF-8 in a gRPC-shaped path", "/echo.v1.Echo/Ech\xc3\xa9", 404,
       "{\"code\":5,\"message\":\"no resource at /echo.v1.Echo/Ech\\u00c3\\u00a9. "},
  };
  for (const Row& row : rows) {
    bool closed = false;
    const std::string r = Exchange(
        "GET " + row.target + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n", &closed);
    EXPECT_EQ(StatusOf(r), row.status) << row.what << "\n---\n" << r;
    const std::string body = BodyOf(r);
    EXPECT_NE(body.find(row.body_part), std::string::npos) << row.what << "\n---\n" << body;
    EXPECT_TRUE(closed) << row.what;
    // The echo of the target stays valid ASCII JSON.
    for (unsigned char c : body) EXPECT_LT(c, 0x80) << row.what;
  }
}

TEST_F(Hostile, PipelinedRequestsAfterA426AreAllAnswered) {
  std::string burst;
  for (int i = 0; i < 50; ++i) {
    burst += "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}";
  }
  burst += "GET /healthz HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
  bool closed = false;
  const std::string r = Exchange(burst, &closed);
  EXPECT_TRUE(closed);
  std::size_t answers = 0;
  for (std::size_t pos = 0; (pos = r.find("HTTP/1.1 426 ", pos)) != std::string::npos; ++pos) {
    ++answers;
  }
  EXPECT_EQ(answers, 50u);
  EXPECT_NE(r.find("HTTP/1.1 200 OK"), std::string::npos);
}

// Connections that end or stall while the protocol is still unknown: closed and counted.
// A client that pipelines requests but never reads the answers: once the socket buffers are full
// the gateway's write waits, and the write deadline (--header-timeout) closes the connection.
TEST_F(Hostile, ClientThatNeverReadsIsCutAtTheWriteDeadline) {
  RawClient c(port_);
  const int small = 4096;
  setsockopt(c.fd(), SOL_SOCKET, SO_RCVBUF, &small, sizeof small);
  const timeval send_wait{0, 200'000};  // a blocked send returns after 200 ms
  setsockopt(c.fd(), SOL_SOCKET, SO_SNDTIMEO, &send_wait, sizeof send_wait);
  std::string burst;
  for (int i = 0; i < 100; ++i) {
    burst += "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}";
  }
  const auto start = std::chrono::steady_clock::now();
  int bursts = 0;
  while (bursts < 2000 && c.Send(burst)) ++bursts;  // until the gateway stops reading
  EXPECT_LT(bursts, 2000);
  EXPECT_TRUE(c.WaitClosed(5s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 8s);
  EXPECT_EQ(MetricValue(Metrics(), "h2gate_limit_hits_total{limit=\"write_timeout\"}"), 1);
}

TEST_F(Hostile, BrokenSniffsAreCountedByReason) {
  {
    RawClient empty(port_);  // connect and close without a byte
  }
  {
    RawClient partial(port_);
    partial.Send("PRI * HTTP/2.0\r\n");  // a partial preface, then EOF
    partial.ShutdownWrite();
    EXPECT_TRUE(partial.WaitClosed(2s));
  }
  {
    RawClient reset(port_);
    reset.Send("PRI * HT");
    std::this_thread::sleep_for(50ms);
    reset.Reset();  // RST mid-sniff
  }
  {
    RawClient stalled(port_);
    stalled.Send("PRI * HTTP/2.0\r\n\r\n");  // a partial preface, then silence
    const auto start = std::chrono::steady_clock::now();
    EXPECT_TRUE(stalled.WaitClosed(3s));
    EXPECT_GE(std::chrono::steady_clock::now() - start, 300ms);  // the 500 ms sniff deadline
  }
  {
    RawClient noise(port_);
    std::mt19937 rng(42);
    std::string bytes(64, '\0');
    for (auto& b : bytes) b = static_cast<char>(0x80 | (rng() & 0x7f));
    noise.Send(bytes);
    EXPECT_TRUE(noise.WaitClosed(2s));
  }
  std::this_thread::sleep_for(100ms);
  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, "h2gate_sniff_failures_total{reason=\"closed\"}") +
                MetricValue(m, "h2gate_sniff_failures_total{reason=\"error\"}"),
            3)
      << m;
  EXPECT_EQ(MetricValue(m, "h2gate_sniff_failures_total{reason=\"timeout\"}"), 1);
  EXPECT_EQ(MetricValue(m, "h2gate_connections_total{protocol=\"unknown\"}"), 1);
  EXPECT_EQ(MetricValue(m, "h2gate_grpc_handoffs_total"), 0);
  EXPECT_EQ(MetricValue(m, "h2gate_connections_open"), 1);  // the /metrics request itself
}

// 5,000 connections that never send a byte all close at the sniff deadline, while a gRPC client
// on its own connection keeps working without a single error.
TEST_F(AcceptedAtOnce, FiveThousandSilentConnectionsWhileGrpcGoesOn) {
  // Both ends of 5,000 connections live in this process.
  ASSERT_GE(RaiseOpenFileLimit(12000), 12000) << "the hard limit on open files is too low";

  auto stub = NewStub();
  {
    // Warm the channel: its first call pays for the connection, which is not what is counted.
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    echo::v1::EchoRequest req;
    echo::v1::EchoResponse resp;
    ASSERT_TRUE(stub->Echo(&ctx, req, &resp).ok());
  }
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::thread caller([&] {
    for (int i = 0; i < 5000 && !stop; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      echo::v1::EchoRequest req;
      echo::v1::EchoResponse resp;
      (stub->Echo(&ctx, req, &resp).ok() ? ok : failed)++;
      std::this_thread::sleep_for(1ms);
    }
  });

  std::vector<std::unique_ptr<RawClient>> silent;
  for (int i = 0; i < 5000; ++i) {
    silent.push_back(std::make_unique<RawClient>(port_));
    ASSERT_TRUE(silent.back()->connected()) << i;
  }
  // Every one is closed by the gateway within the sniff timeout (500 ms) plus slack.
  int closed = 0;
  for (auto& c : silent) closed += c->WaitClosed(5s) ? 1 : 0;
  stop = true;
  caller.join();
  EXPECT_EQ(closed, 5000);
  EXPECT_EQ(failed, 0);
  EXPECT_GE(ok, 1);  // calls went on during the flood; how many depends on the machine
  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, "h2gate_limit_hits_total{limit=\"sniff_timeout\"}"), 5000);
}

}  // namespace
}  // namespace h2gate::testing
