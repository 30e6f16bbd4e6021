// Graceful shutdown: in process through the library, and through the real binary and SIGTERM.
#include <signal.h>

#include <gtest/gtest.h>

#include <atomic>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "support/fixture.h"
#include "support/h2_frames.h"
#include "support/net.h"
#include "support/process.h"
#include "support/test_certs.h"
#include "support/tls_client.h"

namespace h2gate::testing {
namespace {

using namespace std::chrono_literals;

class Drain : public GatewayTest {
 protected:
  void SetUp() override {
    Options o = TestOptions();
    o.shutdown_delay = 700ms;
    o.drain_timeout = 5s;
    StartGateway(o);
  }
};

TEST_F(Drain, InFlightStreamFinishesReadinessFlipsNewConnectionsRefused) {
  auto stub = NewStub();
  auto health = grpc::health::v1::Health::NewStub(NewChannel());
  grpc::health::v1::HealthCheckRequest hreq;
  grpc::health::v1::HealthCheckResponse hresp;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(health->Check(&ctx, hreq, &hresp).ok());  // connect before the drain
  }

  // A stream that stays in flight for 1.5 s: past the shutdown delay, inside the drain timeout.
  grpc::ClientContext stream_ctx;
  stream_ctx.set_deadline(std::chrono::system_clock::now() + 10s);
  echo::v1::StreamRequest req;
  req.set_message("drain");
  req.set_count(2);
  req.set_hold_ms(1500);
  auto reader = stub->ServerStream(&stream_ctx, req);
  echo::v1::EchoResponse resp;
  ASSERT_TRUE(reader->Read(&resp));

  // And a unary call that is in flight for 1.5 s as well.
  std::thread unary([&stub] {
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 10s);
    echo::v1::EchoRequest req;
    req.set_message("held");
    req.set_delay_ms(1500);
    echo::v1::EchoResponse resp;
    const auto status = stub->Echo(&ctx, req, &resp);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(resp.message(), "held");
  });
  std::this_thread::sleep_for(50ms);

  gateway_->Shutdown();
  std::this_thread::sleep_for(200ms);
  // During the shutdown delay: still serving, but not ready.
  EXPECT_EQ(StatusOf(Http("GET", "/readyz")), 503);
  EXPECT_EQ(StatusOf(Http("GET", "/healthz")), 200);
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(health->Check(&ctx, hreq, &hresp).ok());
    EXPECT_EQ(hresp.status(), grpc::health::v1::HealthCheckResponse::NOT_SERVING);
  }
  std::this_thread::sleep_for(900ms);  // past the delay: the listener is closed
  RawClient late(port_);
  EXPECT_FALSE(late.connected()) << "new connections are refused once draining";

  ASSERT_TRUE(reader->Read(&resp));
  EXPECT_FALSE(reader->Read(&resp));
  const auto status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_code() << " " << status.error_message();
  unary.join();
  gateway_->Wait();
}

// A guarded client is told of the drain before gRPC shuts down: GOAWAY(NO_ERROR, last stream
// 2^31-1) and a PING. A call it opens before it has read them (its HEADERS crossed the GOAWAY)
// reaches gRPC before the shutdown, so it is served, not reset with CANCEL. `Client`: RawClient
// or TlsRawClient, connected.
template <typename Client>
void CallCrossingTheNoticeIsServed(Client& c, Gateway& gateway) {
  ASSERT_TRUE(c.Send(kPreface));  // no request: after the first-request wait it goes to gRPC
  const std::string settings("\x04\x00\x00\x00\x00\x00", 6);  // SETTINGS, no ACK, stream 0
  ASSERT_NE(c.ReadUntil(settings, 3s).find(settings), std::string::npos) << "gRPC's SETTINGS";
  ASSERT_TRUE(c.Send(Frame(4, 0x1, 0)));  // its ACK

  gateway.Shutdown();
  const std::string notice = c.ReadUntil("h2gdrain", 5s);
  ASSERT_NE(notice.find("h2gdrain"), std::string::npos) << "no drain notice";
  EXPECT_NE(notice.find(Frame(7, 0, 0, U32(0x7fffffffu) + U32(0) + "h2gate: draining")),
            std::string::npos)
      << "GOAWAY(2^31-1, NO_ERROR)";
  EXPECT_NE(notice.find(Frame(6, 0, 0, "h2gdrain")), std::string::npos) << "the PING";

  // The call, then the PING ACK that says the GOAWAY was read.
  const std::string message = std::string("\x0a\x07", 2) + "drained";
  const std::string body =
      std::string(1, '\0') + U32(static_cast<std::uint32_t>(message.size())) + message;
  ASSERT_TRUE(c.Send(Frame(1, 0x4, 1, EchoCallHeaders()) + Frame(0, 0x1, 1, body) +
                     Frame(6, 0x1, 0, "h2gdrain")));
  bool closed = false;
  const std::string rest = c.ReadUntilClose(10s, &closed);
  EXPECT_TRUE(closed);
  bool answered = false, ended = false, reset = false;
  for (const auto& f : ParseFrames(rest)) {
    if (f.stream != 1) continue;
    if (f.type == 0 && f.payload.find("drained") != std::string::npos) answered = true;
    if (f.type == 1 && (f.flags & 0x1)) ended = true;  // trailers
    if (f.type == 3) reset = true;
  }
  EXPECT_TRUE(answered) << "the call's answer";
  EXPECT_TRUE(ended) << "its trailers";
  EXPECT_FALSE(reset) << "RST_STREAM: the call reached gRPC after its shutdown";
  gateway.Wait();
}

TEST_F(Drain, GuardedClientIsToldFirstAndACallThatCrossedTheNoticeIsServed) {
  RawClient c(port_);
  ASSERT_TRUE(c.connected());
  CallCrossingTheNoticeIsServed(c, *gateway_);
}

// An idle keep-alive HTTP/1.1 connection stays open through the shutdown delay (a balancer may
// still send it calls) and is closed when the listener stops, before gRPC shuts down: its
// client's next call goes to a new connection instead of meeting a 503.
TEST_F(Drain, IdleKeepAliveConnectionIsClosedWhenTheListenerStops) {
  RawClient c(port_);
  ASSERT_TRUE(c.connected());
  ASSERT_TRUE(c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n"));
  const std::string answer = c.ReadUntil("\r\n\r\n", 3s);
  ASSERT_EQ(StatusOf(answer), 200) << answer;
  ASSERT_EQ(answer.find("Connection: close"), std::string::npos) << "kept alive";
  c.ReadUntil("\"}", 1s);  // the body

  gateway_->Shutdown();
  EXPECT_FALSE(c.WaitClosed(300ms)) << "closed during the shutdown delay";
  EXPECT_TRUE(c.WaitClosed(3s)) << "still open after the listener stopped";
  gateway_->Wait();
}

class DrainTls : public GatewayTest {
 protected:
  void SetUp() override {
    certs_ = MakeTestCerts();
    ASSERT_FALSE(certs_.server_cert.empty());
    Options o = TestOptions();
    o.shutdown_delay = 700ms;
    o.drain_timeout = 5s;
    o.tls_cert = certs_.server_cert;
    o.tls_key = certs_.server_key;
    StartGateway(o);
  }
  void TearDown() override { RemoveTestCerts(certs_); }
  TestCerts certs_;
};

TEST_F(DrainTls, GuardedClientIsToldFirstAndACallThatCrossedTheNoticeIsServed) {
  TlsRawClient c(port_, {"h2"}, certs_.ca_cert);
  ASSERT_TRUE(c.connected()) << c.error();
  CallCrossingTheNoticeIsServed(c, *gateway_);
}

// The binary under load, SIGTERM after SIGTERM, a fresh process each time: every one obeyed.
// Destroying a running Gateway with every kind of connection open: a keep-alive HTTP/1.1 one, a
// silent one still sniffing, one in the middle of a JSON call, and a guarded HTTP/2 one. Sessions
// count themselves out of the gateway's metrics as they go, so the state they point into must
// outlive the I/O context (the sanitizer builds check that no freed memory is touched).
TEST(GatewayLifetime, DestroyedWithConnectionsOfEveryKindOpen) {
  demo::EchoService service;
  Options o = TestOptions();
  o.http1_policy = Http1Policy::kAllow;
  o.defer_accept = false;  // the silent connection is the gateway's from the handshake on
  o.drain_timeout = 3s;
  auto gateway = std::make_unique<Gateway>(o);
  gateway->RegisterService(&service);
  std::string error;
  ASSERT_TRUE(gateway->Start(&error)) << error;
  const int port = gateway->port();

  RawClient keep_alive(port);
  keep_alive.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  EXPECT_EQ(StatusOf(keep_alive.ReadUntil("}\n", 5s)), 200);
  RawClient silent(port);
  RawClient json(port);
  const std::string body = "{\"message\":\"late\",\"delayMs\":500}";
  json.Send(
      "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
      "Content-Length: " +
      std::to_string(body.size()) + "\r\n\r\n" + body);
  auto channel =
      grpc::CreateChannel("127.0.0.1:" + std::to_string(port), grpc::InsecureChannelCredentials());
  ASSERT_TRUE(channel->WaitForConnected(std::chrono::system_clock::now() + 5s));
  std::this_thread::sleep_for(100ms);  // the JSON call is in flight

  gateway.reset();
  // The JSON call in flight was answered before the gateway went.
  const std::string answer = json.ReadUntilClose(2s);
  EXPECT_EQ(StatusOf(answer), 200) << answer;
  EXPECT_TRUE(keep_alive.WaitClosed(2s));
  EXPECT_TRUE(silent.WaitClosed(2s));
}

// Options filled in code are not checked by the flags' parser: a bad address is a clear error.
TEST(GatewayStart, AnAddressThatIsNotAnIpLiteralFailsWithAReason) {
  Options o = TestOptions();
  o.listen = HostPort{"nowhere.example", 0};
  Gateway gateway(o);
  std::string error;
  EXPECT_FALSE(gateway.Start(&error));
  EXPECT_EQ(error.rfind("cannot listen on (not an IP address) nowhere.example:0", 0), 0u) << error;
}

TEST(BinarySignals, SigtermUnderLoadAlwaysExitsCleanly) {
  constexpr int kRounds = 15;
  for (int round = 0; round < kRounds; ++round) {
    Child child({BinaryDir() + "/server/h2gate", "--listen=127.0.0.1:0", "--drain-timeout=5s",
                 "--log-level=info"});
    const int port = ListeningPort(child);
    ASSERT_GT(port, 0) << child.output();
    const std::string address = "127.0.0.1:" + std::to_string(port);

    std::atomic<bool> stop{false};
    std::atomic<int> ok{0};
    std::vector<std::thread> load;
    for (int t = 0; t < 4; ++t) {
      load.emplace_back([&] {
        auto stub = echo::v1::Echo::NewStub(
            grpc::CreateChannel(address, grpc::InsecureChannelCredentials()));
        for (int i = 0; i < 5000 && !stop; ++i) {  // bounded; stopped after the exit below
          grpc::ClientContext ctx;
          ctx.set_deadline(std::chrono::system_clock::now() + 2s);
          echo::v1::EchoRequest req;
          echo::v1::EchoResponse resp;
          if (stub->Echo(&ctx, req, &resp).ok()) ok++;
        }
      });
    }
    for (int i = 0; i < 200 && ok < 50; ++i) std::this_thread::sleep_for(10ms);
    ASSERT_GE(ok, 50) << "load did not start; round " << round;
    ASSERT_EQ(kill(child.pid(), SIGTERM), 0);
    bool timed_out = false;
    const int code = child.Wait(15s, &timed_out);
    stop = true;
    for (auto& t : load) t.join();
    ASSERT_FALSE(timed_out) << "round " << round << " ignored SIGTERM:\n" << child.output();
    ASSERT_EQ(code, 0) << "round " << round << ":\n" << child.output();
    EXPECT_NE(child.output().find("SIGTERM received"), std::string::npos);
    EXPECT_NE(child.output().find("drained; exiting"), std::string::npos);
  }
}

TEST(BinaryFlags, HelpAndBadValues) {
  const auto help = RunProcess({BinaryDir() + "/server/h2gate", "--help"}, 10s);
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--listen"), std::string::npos);
  EXPECT_NE(help.output.find("H2GATE_LISTEN"), std::string::npos);
  const auto bad = RunProcess({BinaryDir() + "/server/h2gate", "--listen=0.0.0.0:99999"}, 10s);
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("invalid --listen=\"0.0.0.0:99999\""), std::string::npos) << bad.output;
  const auto bad_env =
      RunProcess({"env", "H2GATE_SNIFF_TIMEOUT=soon", BinaryDir() + "/server/h2gate"}, 10s);
  EXPECT_EQ(bad_env.exit_code, 2);
  EXPECT_NE(bad_env.output.find("invalid H2GATE_SNIFF_TIMEOUT=\"soon\""), std::string::npos);
}

TEST(BinaryFlags, PortInUseFailsStartup) {
  Child first({BinaryDir() + "/server/h2gate", "--listen=127.0.0.1:0"});
  const std::string port = std::to_string(ListeningPort(first));
  ASSERT_NE(port, "0") << first.output();
  const auto second =
      RunProcess({BinaryDir() + "/server/h2gate", "--listen=127.0.0.1:" + port}, 10s);
  EXPECT_EQ(second.exit_code, 1);
  EXPECT_NE(second.output.find("cannot bind 127.0.0.1:" + port), std::string::npos)
      << second.output;
  kill(first.pid(), SIGTERM);
  EXPECT_EQ(first.Wait(10s), 0);
}

}  // namespace
}  // namespace h2gate::testing
