// HTTP/1.x callers through the real listener: the 426, the operational endpoints, limits, and
// what never reaches gRPC.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "support/fixture.h"
#include "support/net.h"
#include "support/process.h"

namespace h2gate::testing {
namespace {

using namespace std::chrono_literals;

constexpr char kRejectedEchoPost[] =
    "h2gate_http1_rejections_total{grpc_service=\"echo.v1.Echo\",grpc_method=\"Echo\","
    "http_method=\"POST\",registered=\"true\",http_version=\"1.x\"}";

class Http1E2E : public GatewayTest {};

TEST_F(Http1E2E, CurlPostingJsonGetsExactly426) {
  const auto r = RunProcess({"curl", "-sS", "-i", "--http1.1", "--max-time", "10", "-X", "POST",
                             "-H", "Content-Type: application/json", "-d", "{\"message\":\"hi\"}",
                             "http://" + Address() + "/echo.v1.Echo/Echo"},
                            15s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string& out = r.output;
  EXPECT_EQ(out.rfind("HTTP/1.1 426 Upgrade Required\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\nUpgrade: h2c\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nConnection: Upgrade\r\n"), std::string::npos) << out;
  EXPECT_NE(out.find("\r\nContent-Type: application/json\r\n"), std::string::npos) << out;
  const std::string body = BodyOf(out);
  EXPECT_EQ(body.rfind("{\"code\":9,\"message\":\"/echo.v1.Echo/Echo is a gRPC method and cannot "
                       "be called over HTTP/1.1. Call it with a gRPC client (HTTP/2, plaintext "
                       "h2c with prior knowledge)",
                       0),
            0u)
      << body;
  EXPECT_NE(body.find("\"details\":[{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\","
                      "\"reason\":\"GRPC_REQUIRES_HTTP2\",\"domain\":\"h2gate\",\"metadata\":{"
                      "\"grpc_service\":\"echo.v1.Echo\",\"grpc_method\":\"Echo\",\"registered\":"
                      "\"true\",\"http_method\":\"POST\",\"protocol\":\"h2c\"}}]}"),
            std::string::npos)
      << body;
  EXPECT_EQ(MetricValue(Metrics(), kRejectedEchoPost), 1);
}

TEST_F(Http1E2E, RejectionCounterRisesByExactlyTheNumberOf426s) {
  const double before = MetricValue(Metrics(), kRejectedEchoPost);
  ASSERT_EQ(before, 0);
  // 30 on one keep-alive connection, 10 on fresh ones, 5 to an unregistered method.
  RawClient keep(port_);
  for (int i = 0; i < 30; ++i) {
    keep.Send("POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}");
    ASSERT_EQ(StatusOf(keep.ReadUntil("}]}\n", 5s)), 426) << i;
  }
  for (int i = 0; i < 10; ++i) ASSERT_EQ(StatusOf(Http("POST", "/echo.v1.Echo/Echo", "{}")), 426);
  for (int i = 0; i < 5; ++i) ASSERT_EQ(StatusOf(Http("POST", "/shop.v1.Cart/Add", "{}")), 426);
  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, kRejectedEchoPost), 40);
  EXPECT_EQ(MetricValue(m,
                        "h2gate_http1_rejections_total{grpc_service=\"unknown\","
                        "grpc_method=\"unknown\",http_method=\"POST\",registered=\"false\",http_"
                        "version=\"1.x\"}"),
            5);
  EXPECT_EQ(MetricValue(m, "h2gate_connections_total{protocol=\"http2\"}"), 0);
}

TEST_F(Http1E2E, OperationalEndpoints) {
  auto healthz = Http("GET", "/healthz");
  EXPECT_EQ(StatusOf(healthz), 200);
  EXPECT_EQ(BodyOf(healthz), "{\"status\":\"alive\"}\n");
  EXPECT_EQ(StatusOf(Http("GET", "/readyz")), 200);
  auto missing = Http("GET", "/v1/users");
  EXPECT_EQ(StatusOf(missing), 404);
  EXPECT_NE(missing.find("Content-Type: application/json"), std::string::npos);
  EXPECT_NE(BodyOf(missing).find("\"code\":5"), std::string::npos);
  EXPECT_EQ(StatusOf(Http("DELETE", "/healthz")), 405);
  auto metrics = Http("GET", "/metrics");
  EXPECT_EQ(StatusOf(metrics), 200);
  EXPECT_NE(metrics.find("Content-Type: text/plain; version=0.0.4"), std::string::npos);
  EXPECT_EQ(MetricValue(BodyOf(metrics), "h2gate_ready"), 1);
}

TEST_F(Http1E2E, MetricsPassPromtool) {
  // Exercise most series first so promtool sees them populated.
  Http("POST", "/echo.v1.Echo/Echo", "{}");
  Http("GET", "/nope");
  RawClient tls(port_);
  tls.Send(std::string("\x16\x03\x01\x00\x05hello", 10));
  tls.WaitClosed(2s);
  const std::string path = ::testing::TempDir() + "metrics.txt";
  std::ofstream(path) << Metrics();
  const auto r = RunProcess({"sh", "-c", "promtool check metrics < " + path}, 30s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "") << "promtool lint findings";
}

TEST_F(Http1E2E, PipelinedRequestsAnsweredInOrderOnOneConnection) {
  RawClient c(port_);
  c.Send(
      "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}"
      "GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"
      "GET /echo.v1.Echo/ServerStream HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
  bool closed = false;
  const std::string all = c.ReadUntilClose(5s, &closed);
  EXPECT_TRUE(closed);
  const auto first = all.find("HTTP/1.1 426");
  const auto second = all.find("HTTP/1.1 200");
  const auto third = all.find("HTTP/1.1 426", first + 1);
  ASSERT_NE(first, std::string::npos) << all;
  ASSERT_NE(second, std::string::npos) << all;
  ASSERT_NE(third, std::string::npos) << all;
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
}

TEST_F(Http1E2E, Http10GetsTheSameAnswerAndIsClosed) {
  RawClient c(port_);
  c.Send("POST /echo.v1.Echo/Echo HTTP/1.0\r\nContent-Length: 2\r\n\r\n{}");
  bool closed = false;
  const std::string r = c.ReadUntilClose(5s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(r.rfind("HTTP/1.0 426 Upgrade Required\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("Upgrade: h2c"), std::string::npos);
  EXPECT_NE(r.find("over HTTP/1.0"), std::string::npos);
}

// An h2c upgrade request followed at once by HTTP/2 bytes: answered 426 and closed; the HTTP/2
// bytes are never handed to gRPC.
TEST_F(Http1E2E, UpgradeH2cIsRefusedAndNothingAfterItReachesGrpc) {
  RawClient c(port_);
  c.Send(std::string(
             "GET /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nConnection: Upgrade, HTTP2-Settings\r\n"
             "Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQCAAAAAAIAAAAA\r\n\r\n"
             "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
         std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9));
  bool closed = false;
  const std::string r = c.ReadUntilClose(5s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(StatusOf(r), 426) << r;
  EXPECT_NE(r.find("Connection: Upgrade, close"), std::string::npos) << r;
  EXPECT_EQ(r.find("HTTP/1.1 101"), std::string::npos);
  EXPECT_EQ(r.find("\nHTTP/1.1 "), std::string::npos) << "exactly one response";
  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, "h2gate_grpc_handoffs_total"), 0);
}

// RFC 9112's request rules through the real session, one row each: the status the rule requires
// and whether the connection closes. tests/http1_rules_test.cc has the pure function's rows.
TEST_F(Http1E2E, Rfc9112RequestRules) {
  const struct {
    const char* rule;
    const char* request;
    int status;
    bool closes;
  } rows[] = {
      {"3.2: HTTP/1.1 without Host",
       "POST /echo.v1.Echo/Echo HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", 400, true},
      {"3.2: two Host lines",
       "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: a\r\nHost: b\r\nContent-Length: 2\r\n\r\n{}", 400,
       true},
      {"3.2: an invalid Host", "GET /healthz HTTP/1.1\r\nHost: a/b\r\n\r\n", 400, true},
      {"3.2: HTTP/1.0 without Host is served", "GET /healthz HTTP/1.0\r\n\r\n", 200, true},
      {"3.2.2: absolute-form is accepted: the method's 426",
       "POST http://gw.example/echo.v1.Echo/Echo HTTP/1.1\r\nHost: gw.example\r\n"
       "Content-Length: 2\r\nConnection: close\r\n\r\n{}",
       426, true},
      {"3.2.2: absolute-form to an endpoint",
       "GET http://gw.example:8080/readyz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", 200,
       true},
      {"3.2.3: authority-form outside CONNECT", "GET gw:443 HTTP/1.1\r\nHost: gw\r\n\r\n", 400,
       true},
      {"3.2.4: * outside OPTIONS", "GET * HTTP/1.1\r\nHost: gw\r\n\r\n", 400, true},
      {"2.2: whitespace before the first field", "GET /healthz HTTP/1.1\r\n Host: gw\r\n\r\n", 400,
       true},
      {"2.2: a bare CR", "GET /healthz HTTP/1.1\rHost: gw\r\n\r\n", 400, true},
      {"5.1: whitespace between field name and colon", "GET /healthz HTTP/1.1\r\nHost : gw\r\n\r\n",
       400, true},
      {"6.3: Content-Length that is not a number",
       "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: gw\r\nContent-Length: x\r\n\r\n", 400, true},
      {"6.1: Transfer-Encoding and Content-Length",
       "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: gw\r\nContent-Length: 2\r\n"
       "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
       400, true},
      {"6.1: chunked not last",
       "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: gw\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
       400, true},
  };
  for (const auto& row : rows) {
    RawClient c(port_);
    ASSERT_TRUE(c.connected());
    c.Send(row.request);
    bool closed = false;
    const std::string r = c.ReadUntilClose(3s, &closed);
    EXPECT_EQ(StatusOf(r), row.status) << row.rule << "\n" << r;
    EXPECT_EQ(closed, row.closes) << row.rule;
    if (row.status == 400) {
      EXPECT_NE(r.find("application/json"), std::string::npos) << row.rule << ": a JSON error";
    }
    if (row.status == 426) {
      EXPECT_NE(r.find("echo.v1.Echo/Echo"), std::string::npos) << row.rule << ": names the method";
    }
  }
}

TEST_F(Http1E2E, OversizedHeaderGets431) {
  RawClient c(port_);
  c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\nX-Big: " + std::string(20000, 'a') + "\r\n\r\n");
  bool closed = false;
  const std::string r = c.ReadUntilClose(5s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(StatusOf(r), 431) << r.substr(0, 200);
  EXPECT_NE(BodyOf(r).find("--max-header-bytes"), std::string::npos);
  EXPECT_EQ(MetricValue(Metrics(), "h2gate_limit_hits_total{limit=\"header_size\"}"), 1);
}

TEST_F(Http1E2E, MalformedRequestGets400) {
  RawClient c(port_);
  c.Send("GET / HTTP/1.1\r\nBad Header\r\n\r\n");
  bool closed = false;
  const std::string r = c.ReadUntilClose(5s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(StatusOf(r), 400) << r;
  EXPECT_NE(BodyOf(r).find("\"code\":3"), std::string::npos);
}

TEST_F(Http1E2E, DeclaredHugeBodyIsAnsweredNotRead) {
  RawClient c(port_);
  c.Send("POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nContent-Length: 1073741824\r\n\r\n" +
         std::string(1000, 'x'));
  bool closed = false;
  const std::string r = c.ReadUntilClose(5s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(StatusOf(r), 426);
  EXPECT_NE(r.find("Connection: Upgrade, close"), std::string::npos) << r;
  EXPECT_EQ(MetricValue(Metrics(), "h2gate_limit_hits_total{limit=\"body_size\"}"), 1);
}

TEST_F(Http1E2E, TlsClientHelloIsClosedAndCounted) {
  RawClient c(port_);
  c.Send(std::string("\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03", 11) + std::string(64, 'r'));
  EXPECT_TRUE(c.WaitClosed(2s));
  EXPECT_EQ(MetricValue(Metrics(), "h2gate_connections_total{protocol=\"tls\"}"), 1);
}

TEST_F(Http1E2E, TrickledHeaderIsCutAtTheHeaderDeadline) {
  RawClient c(port_);
  c.Send("GET /healthz HTTP/1.1\r\n");
  const auto start = std::chrono::steady_clock::now();
  bool closed = false;
  for (int i = 0; i < 30 && !closed; ++i) {  // one byte every 100 ms, for at most 3 s
    closed = !c.Send("X") || c.WaitClosed(100ms);
  }
  EXPECT_TRUE(closed || c.WaitClosed(1s));
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2500ms);
  EXPECT_EQ(MetricValue(Metrics(), "h2gate_limit_hits_total{limit=\"header_timeout\"}"), 1);
}

TEST_F(Http1E2E, IdleKeepAliveIsClosedAtTheIdleDeadline) {
  RawClient c(port_);
  c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(StatusOf(c.ReadUntil("}\n", 2s)), 200);
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(c.WaitClosed(4s));
  EXPECT_GE(std::chrono::steady_clock::now() - start, 1500ms);  // idle timeout is 2 s
  EXPECT_EQ(MetricValue(Metrics(), "h2gate_limit_hits_total{limit=\"idle_timeout\"}"), 1);
}

TEST_F(AcceptedAtOnce, SilentClientIsClosedAtSniffDeadlineWhileGrpcGoesOn) {
  auto stub = NewStub();
  auto call = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    echo::v1::EchoRequest req;
    req.set_message("during");
    echo::v1::EchoResponse resp;
    return stub->Echo(&ctx, req, &resp).ok();
  };
  // The channel's first call pays for its connection; warm it so that what is counted below
  // is calls made while the silent client is pending, not a connect under a loaded machine.
  ASSERT_TRUE(call());
  std::atomic<bool> silent_open{false}, stop{false};
  std::atomic<int> ok_while_silent{0}, failed{0};
  std::thread caller([&] {
    for (int i = 0; i < 2000 && !stop; ++i) {  // bounded in count and, below, in time
      const bool started_while_silent = silent_open;
      const bool ok = call();
      if (!ok) ++failed;
      if (ok && started_while_silent && silent_open) ++ok_while_silent;
      std::this_thread::sleep_for(2ms);
    }
  });
  RawClient silent(port_);
  silent_open = true;
  const auto start = std::chrono::steady_clock::now();
  EXPECT_TRUE(silent.WaitClosed(3s));
  const auto waited = std::chrono::steady_clock::now() - start;
  silent_open = false;
  stop = true;
  caller.join();
  EXPECT_GE(waited, 400ms);  // the 500 ms sniff timeout, not sooner
  EXPECT_LT(waited, 2000ms);
  EXPECT_EQ(failed, 0);
  // At least one call began and ended inside the sniff window: the silent connection held
  // nothing that gRPC needs. How many fit depends on the machine, so no more is asserted.
  EXPECT_GE(ok_while_silent, 1);
  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, "h2gate_limit_hits_total{limit=\"sniff_timeout\"}"), 1);
  EXPECT_EQ(MetricValue(m, "h2gate_sniff_failures_total{reason=\"timeout\"}"), 1);
}

// By default the kernel holds a silent connection until the first SYN-ACK retransmission
// (1 s) and only then hands it over, so it meets the sniff deadline (500 ms here) after that.
TEST_F(Http1E2E, SilentClientWaitsInTheKernelThenMeetsTheSniffDeadline) {
  RawClient silent(port_);
  ASSERT_TRUE(silent.connected());
  const auto start = std::chrono::steady_clock::now();
  std::this_thread::sleep_for(400ms);
  std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, "h2gate_connections_open"), 1);  // the /metrics request alone
  EXPECT_EQ(MetricValue(m, "h2gate_connections_accepted_total"), 1);
  EXPECT_TRUE(silent.WaitClosed(5s));
  const auto waited = std::chrono::steady_clock::now() - start;
  EXPECT_GE(waited, 1300ms);
  EXPECT_LT(waited, 4000ms);
  m = Metrics();
  EXPECT_EQ(MetricValue(m, "h2gate_limit_hits_total{limit=\"sniff_timeout\"}"), 1);
  EXPECT_EQ(MetricValue(m, "h2gate_sniff_failures_total{reason=\"timeout\"}"), 1);
}

// A client that speaks late, but before the kernel would hand it over anyway, is served.
TEST_F(Http1E2E, LateSpeakerIsServed) {
  RawClient c(port_);
  ASSERT_TRUE(c.connected());
  std::this_thread::sleep_for(300ms);
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  EXPECT_EQ(StatusOf(c.ReadUntil("}\n", 2s)), 200);
}

class ConnectionCap : public GatewayTest {
 protected:
  void SetUp() override {
    Options o = TestOptions();
    o.max_connections = 3;
    o.sniff_timeout = std::chrono::seconds(5);
    o.defer_accept = false;  // the connections that fill the cap are silent
    StartGateway(o);
  }
};

TEST_F(ConnectionCap, ExtraConnectionsAreClosedAndCountedWhileGrpcKeepsWorking) {
  // An established gRPC connection belongs to gRPC and does not hold a slot.
  auto stub = NewStub();
  auto call = [&] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    echo::v1::EchoRequest req;
    echo::v1::EchoResponse resp;
    return stub->Echo(&ctx, req, &resp).ok();
  };
  ASSERT_TRUE(call());
  std::vector<std::unique_ptr<RawClient>> held;
  for (int i = 0; i < 3; ++i) held.push_back(std::make_unique<RawClient>(port_));
  std::this_thread::sleep_for(200ms);  // let the listener take them
  RawClient extra(port_);
  EXPECT_TRUE(extra.WaitClosed(2s));
  EXPECT_TRUE(call());
  held.clear();
  std::this_thread::sleep_for(200ms);
  EXPECT_EQ(MetricValue(Metrics(), "h2gate_limit_hits_total{limit=\"connections\"}"), 1);
}

// The cap as deployed: TCP_DEFER_ACCEPT on, an admin port. Silent connections fill the main
// port's cap; a new gRPC connection (a kubelet gRPC probe) still gets through, and the admin port
// still answers operators.
class ConnectionCapWithProbes : public GatewayTest {
 protected:
  void SetUp() override {
    Options o = TestOptions();
    o.max_connections = 3;
    o.sniff_timeout = std::chrono::seconds(10);
    o.admin_listen = HostPort{"127.0.0.1", 0};
    StartGateway(o);
  }
  // Connects `n` silent clients and waits until the kernel has handed them over (about 1 s
  // under TCP_DEFER_ACCEPT) and they hold the cap.
  std::vector<std::unique_ptr<RawClient>> FillTheCap(int n) {
    std::vector<std::unique_ptr<RawClient>> held;
    for (int i = 0; i < n; ++i) held.push_back(std::make_unique<RawClient>(port_));
    for (int i = 0; i < 100 && HeldOnTheMainPort() < n; ++i) std::this_thread::sleep_for(50ms);
    EXPECT_EQ(HeldOnTheMainPort(), n);
    return held;
  }
  std::string AdminHttp(std::string_view path) {
    RawClient c(gateway_->admin_port());
    c.Send("GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    return c.ReadUntilClose(5s);
  }
  std::string AdminMetrics() { return BodyOf(AdminHttp("/metrics")); }
  // h2gate_connections_open counts both ports: less the admin connection of this scrape.
  double HeldOnTheMainPort() { return MetricValue(AdminMetrics(), "h2gate_connections_open") - 1; }
};

TEST_F(ConnectionCapWithProbes, AdminPortAnswersWhileTheMainPortIsFull) {
  auto held = FillTheCap(3);
  RawClient extra(port_);
  extra.Send("GET /readyz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_TRUE(extra.WaitClosed(3s)) << "the main port is full";
  EXPECT_EQ(StatusOf(AdminHttp("/readyz")), 200);
  const std::string metrics = AdminMetrics();
  EXPECT_EQ(MetricValue(metrics, "h2gate_limit_hits_total{limit=\"connections\"}"), 1);
}

TEST_F(ConnectionCapWithProbes, NewGrpcHealthCheckSucceedsWhileSilentConnectionsHoldTheCap) {
  auto held = FillTheCap(3);
  for (int i = 0; i < 5; ++i) {  // each on a connection of its own, like a probe
    auto health = grpc::health::v1::Health::NewStub(NewChannel());
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    grpc::health::v1::HealthCheckRequest req;
    grpc::health::v1::HealthCheckResponse resp;
    const auto status = health->Check(&ctx, req, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  }
  EXPECT_EQ(MetricValue(AdminMetrics(), "h2gate_limit_hits_total{limit=\"connections\"}"), 0);
  EXPECT_EQ(HeldOnTheMainPort(), 3) << "and still 3 held";
}

// With two I/O threads, connections are spread over both, each on its own strand: concurrent
// keep-alive 426s, sniffing and gRPC calls all come out right and every counter adds up.
class TwoIoThreads : public GatewayTest {
 protected:
  void SetUp() override {
    Options o = TestOptions();
    o.io_threads = 2;
    StartGateway(o);
  }
};

TEST_F(TwoIoThreads, ConcurrentConnectionsAreServedAndCounted) {
  constexpr int kClients = 6;
  constexpr int kRequests = 100;
  std::atomic<int> answered{0};
  std::atomic<int> grpc_ok{0};
  std::vector<std::thread> clients;
  for (int i = 0; i < kClients; ++i) {
    clients.emplace_back([&] {
      RawClient c(port_);
      for (int r = 0; r < kRequests; ++r) {
        if (!c.Send("POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}")) {
          return;
        }
        if (StatusOf(c.ReadUntil("}}]}", 5s)) == 426) ++answered;
      }
    });
    clients.emplace_back([&] {
      auto stub = NewStub();
      for (int r = 0; r < 20; ++r) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 5s);
        echo::v1::EchoRequest req;
        echo::v1::EchoResponse resp;
        if (stub->Echo(&ctx, req, &resp).ok()) ++grpc_ok;
      }
    });
  }
  for (auto& t : clients) t.join();
  EXPECT_EQ(answered.load(), kClients * kRequests);
  EXPECT_EQ(grpc_ok.load(), kClients * 20);
  EXPECT_EQ(MetricValue(Metrics(), kRejectedEchoPost), kClients * kRequests);
}

}  // namespace
}  // namespace h2gate::testing
