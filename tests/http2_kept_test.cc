// HTTP/2 connections the gateway serves itself: a connection whose first request is not gRPC,
// and every connection from an --http2-route-per-request source. Non-gRPC requests get the
// answers their HTTP/1.1 twins get (a 415 on gRPC paths), gRPC calls on the same connection reach
// the embedded server in process, with real clients: nghttp2, curl, gRPC C++ and grpcio.
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <grpcpp/support/server_interceptor.h>
#include <gtest/gtest.h>

#include <thread>

#include "support/fixture.h"
#include "support/h2_connection.h"
#include "support/h2_frames.h"
#include "support/net.h"
#include "support/process.h"

namespace h2gate::testing {
namespace {

using namespace std::chrono_literals;
using echo::v1::EchoRequest;
using echo::v1::EchoResponse;

const std::string kJson = "{\"message\":\"hi\"}";

std::string EchoMessage(const std::string& text) {
  EchoRequest req;
  req.set_message(text);
  return GrpcFrame(req.SerializeAsString());
}

std::string ReplyText(const H2Response& r) {
  const auto messages = GrpcMessages(r.body);
  EchoResponse resp;
  if (messages.size() != 1 || !resp.ParseFromString(messages[0])) return "<no reply>";
  return resp.message();
}

H2Request JsonPost(std::string path = "/echo.v1.Echo/Echo") {
  return {.method = "POST",
          .path = std::move(path),
          .headers = {{"content-type", "application/json"}},
          .body = kJson};
}

H2Request Get(std::string path) { return {.method = "GET", .path = std::move(path)}; }

std::string Rejections415(std::string_view method = "Echo") {
  return "h2gate_http1_rejections_total{grpc_service=\"echo.v1.Echo\",grpc_method=\"" +
         std::string(method) + "\",http_method=\"POST\",registered=\"true\",http_version=\"2\"}";
}

class Kept : public GatewayTest {};

// An ingress's pooled connection: gRPC calls and JSON callers interleaved on one connection,
// each answered as it should be.
TEST_F(Kept, JsonAndGrpcInterleavedOnOneConnection) {
  H2Connection c(port_);
  ASSERT_TRUE(c.connected());
  const std::int32_t first = c.Submit(JsonPost());  // first request not gRPC: the gateway keeps it
  std::vector<std::int32_t> grpc, json;
  for (int i = 0; i < 20; ++i) {
    grpc.push_back(c.Submit({.path = "/echo.v1.Echo/Echo",
                             .headers = GrpcHeaders(),
                             .body = EchoMessage("call " + std::to_string(i))}));
    json.push_back(c.Submit(JsonPost()));
  }
  const std::int32_t health = c.Submit(Get("/healthz"));
  const std::int32_t missing = c.Submit(Get("/no/such/page"));
  ASSERT_TRUE(c.Run(10s));
  json.push_back(first);
  for (const std::int32_t id : json) {
    const H2Response& r = c.response(id);
    EXPECT_EQ(r.status, 415) << r.body;
    EXPECT_EQ(r.Header("content-type"), "application/json");
    EXPECT_EQ(r.Header("accept-post"), "application/grpc");
    const auto body = ParseJson(r.body);
    EXPECT_EQ(body.fields().at("code").number_value(), 9);
    EXPECT_NE(
        body.fields().at("message").string_value().find("/echo.v1.Echo/Echo is a gRPC method"),
        std::string::npos)
        << r.body;
  }
  for (int i = 0; i < 20; ++i) {
    const H2Response& r = c.response(grpc[i]);
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.Header("content-type"), "application/grpc");
    EXPECT_EQ(r.Trailer("grpc-status"), "0") << r.Trailer("grpc-message");
    EXPECT_EQ(ReplyText(r), "call " + std::to_string(i));
  }
  EXPECT_EQ(c.response(health).status, 200);
  EXPECT_EQ(c.response(health).body, "{\"status\":\"alive\"}\n");
  EXPECT_EQ(c.response(missing).status, 404);
  EXPECT_EQ(c.response(missing).Header("content-type"), "application/json");

  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, Rejections415()), 21) << m;
  EXPECT_EQ(MetricValue(m, "h2gate_http2_kept_connections_total{reason=\"first_request\"}"), 1);
  EXPECT_EQ(MetricValue(m, "h2gate_http2_kept_streams_total{kind=\"grpc\"}"), 20);
  EXPECT_EQ(MetricValue(m, "h2gate_http2_kept_streams_total{kind=\"http\"}"), 23);
  EXPECT_EQ(MetricValue(m,
                        "grpc_server_handled_total{grpc_type=\"unary\",grpc_service=\"echo.v1."
                        "Echo\",grpc_method=\"Echo\",grpc_code=\"OK\"}"),
            20);
  EXPECT_EQ(MetricValue(m, "h2gate_grpc_handoffs_total"), 0);
}

TEST_F(Kept, CurlWithPriorKnowledgeGetsThe415AndTheOperatorPages) {
  const std::string base = "http://" + Address();
  const auto r =
      RunProcess({"curl", "-sS", "-i", "--http2-prior-knowledge", "--max-time", "10", "-X", "POST",
                  "-H", "content-type: application/json", "-d", kJson, base + "/echo.v1.Echo/Echo"},
                 15s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output.rfind("HTTP/2 415", 0), 0u) << r.output;
  EXPECT_NE(r.output.find("\r\naccept-post: application/grpc\r\n"), std::string::npos) << r.output;
  const std::string body = BodyOf(r.output);
  EXPECT_EQ(body.rfind("{\"code\":9,\"message\":\"/echo.v1.Echo/Echo is a gRPC method: over HTTP/2 "
                       "it takes Content-Type application/grpc from a gRPC client (got "
                       "Content-Type application/json)",
                       0),
            0u)
      << body;
  EXPECT_NE(body.find("\"reason\":\"GRPC_REQUIRES_GRPC_CONTENT_TYPE\""), std::string::npos);

  for (const auto& [path, status, needle] : std::vector<std::tuple<std::string, int, std::string>>{
           {"/healthz", 200, "{\"status\":\"alive\"}"},
           {"/readyz", 200, "{\"status\":\"ready\"}"},
           {"/metrics", 200, "h2gate_http2_kept_connections_total{reason=\"first_request\"}"},
           {"/debug/legacy-callers", 200, "\"http_version\":\"2\""},
           {"/nope", 404, "\"code\":5"}}) {
    const auto page = RunProcess(
        {"curl", "-sS", "-i", "--http2-prior-knowledge", "--max-time", "10", base + path}, 15s);
    ASSERT_EQ(page.exit_code, 0) << page.output;
    EXPECT_EQ(page.output.rfind("HTTP/2 " + std::to_string(status), 0), 0u) << path << page.output;
    EXPECT_NE(page.output.find(needle), std::string::npos) << path << page.output;
  }
  EXPECT_EQ(MetricValue(Metrics(), Rejections415()), 1);
}

class KeptWarn : public GatewayTest {
 protected:
  void SetUp() override {
    Options o = TestOptions();
    o.http1_policy = Http1Policy::kWarn;
    o.migration_link = "https://example.com/migrate";
    StartGateway(o);
  }
};

// Under warn a JSON call over HTTP/2 is served exactly as over HTTP/1.1: the same body and
// deprecation headers, counted with http_version="2".
TEST_F(KeptWarn, JsonOverHttp2IsTranscodedLikeHttp1) {
  H2Connection c(port_);
  const std::int32_t id = c.Submit(JsonPost());
  const std::int32_t bad = c.Submit({.path = "/echo.v1.Echo/Echo",
                                     .headers = {{"content-type", "application/x-protobuf"}},
                                     .body = "\x0a\x02hi"});
  ASSERT_TRUE(c.Run(10s));
  const H2Response& r = c.response(id);
  EXPECT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(ParseJson(r.body).fields().at("message").string_value(), "hi");
  const std::string http1 = Http("POST", "/echo.v1.Echo/Echo", kJson);
  ASSERT_EQ(StatusOf(http1), 200) << http1;
  EXPECT_EQ(r.body, BodyOf(http1));
  EXPECT_NE(r.Header("warning"), "");
  EXPECT_NE(http1.find("Warning: " + r.Header("warning")), std::string::npos) << http1;
  EXPECT_NE(r.Header("link"), "");
  EXPECT_EQ(c.response(bad).status, 415);
  EXPECT_EQ(c.response(bad).Header("accept-post"), "application/json");
  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m,
                        "h2gate_http1_transcoded_total{grpc_service=\"echo.v1.Echo\",grpc_method="
                        "\"Echo\",policy=\"warn\",grpc_code=\"OK\",http_version=\"2\"}"),
            1)
      << m;
  EXPECT_EQ(MetricValue(m,
                        "h2gate_http1_transcoded_total{grpc_service=\"echo.v1.Echo\",grpc_method="
                        "\"Echo\",policy=\"warn\",grpc_code=\"OK\",http_version=\"1.x\"}"),
            1);
  EXPECT_EQ(MetricValue(m, "h2gate_http1_unsupported_media_type_total{content_type=\"proto\"}"), 1);
}

// gRPC clients on connections the gateway keeps (--http2-route-per-request=all): every kind of
// call, deadlines, cancellation, large messages, flow control.
class KeptGrpc : public GatewayTest {
 protected:
  void SetUp() override {
    Options o = TestOptions();
    o.http2_route_per_request = "all";
    StartGateway(o);
  }
  std::unique_ptr<grpc::ClientContext> Ctx(std::chrono::milliseconds timeout = 10s) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
    return ctx;
  }
  double Handled(std::string_view type, std::string_view method, std::string_view code) {
    return MetricValue(Metrics(), "grpc_server_handled_total{grpc_type=\"" + std::string(type) +
                                      "\",grpc_service=\"echo.v1.Echo\",grpc_method=\"" +
                                      std::string(method) + "\",grpc_code=\"" + std::string(code) +
                                      "\"}");
  }
};

TEST_F(KeptGrpc, EveryKindOfCall) {
  auto stub = NewStub();
  EchoRequest req;
  req.set_message("unary");
  // 3 MiB: many DATA frames and window updates. Under ThreadSanitizer a message that size runs
  // past the deadline (every copy of it is checked byte by byte): 256 KiB there.
#ifdef H2GATE_SANITIZED
  constexpr std::size_t kPayload = 256 << 10;
#else
  constexpr std::size_t kPayload = 3 << 20;
#endif
  req.set_payload(std::string(kPayload, 'p'));
  EchoResponse resp;
  auto status = stub->Echo(Ctx().get(), req, &resp);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(resp.message(), "unary");
  EXPECT_EQ(resp.payload().size(), kPayload);

  echo::v1::StreamRequest sreq;
  sreq.set_message("s");
  sreq.set_count(50);
  auto ctx = Ctx();
  auto reader = stub->ServerStream(ctx.get(), sreq);
  int got = 0;
  while (reader->Read(&resp)) ++got;
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(got, 50);

  auto cctx = Ctx();
  auto writer = stub->ClientStream(cctx.get(), &resp);
  for (int i = 0; i < 5; ++i) {
    req.set_message(std::to_string(i));
    req.clear_payload();
    ASSERT_TRUE(writer->Write(req));
  }
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(resp.message(), "0,1,2,3,4");

  auto bctx = Ctx();
  auto bidi = stub->BidiStream(bctx.get());
  for (int i = 0; i < 3; ++i) {
    req.set_message("b" + std::to_string(i));
    ASSERT_TRUE(bidi->Write(req));
    ASSERT_TRUE(bidi->Read(&resp));
    EXPECT_EQ(resp.message(), "b" + std::to_string(i));
  }
  bidi->WritesDone();
  EXPECT_TRUE(bidi->Finish().ok());

  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, "h2gate_http2_kept_connections_total{reason=\"route_per_request\"}"), 1);
  EXPECT_EQ(MetricValue(m, "h2gate_http2_kept_streams_total{kind=\"grpc\"}"), 4);
  EXPECT_EQ(MetricValue(m, "h2gate_grpc_handoffs_total"), 0);
}

TEST_F(KeptGrpc, DeadlinesStatusesAndUnknownMethods) {
  auto stub = NewStub();
  EchoRequest req;
  req.set_message("slow");
  req.set_delay_ms(2000);
  EchoResponse resp;
  const auto start = std::chrono::steady_clock::now();
  auto status = stub->Echo(Ctx(300ms).get(), req, &resp);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_LT(std::chrono::steady_clock::now() - start, 1500ms);  // grpc-timeout reached the server

  echo::v1::StreamRequest bad;
  bad.set_count(1000000);  // over the service's limit: INVALID_ARGUMENT with its message
  auto ctx = Ctx();
  auto reader = stub->ServerStream(ctx.get(), bad);
  while (reader->Read(&resp)) {
  }
  status = reader->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("count is at most"), std::string::npos);

  grpc::GenericStub generic(NewChannel());
  grpc::ClientContext gctx;
  gctx.set_deadline(std::chrono::system_clock::now() + 5s);
  grpc::Slice empty(std::string(""));
  grpc::ByteBuffer in(&empty, 1), out;
  std::mutex mu;
  std::condition_variable cv;
  bool done = false;
  grpc::Status unknown;
  generic.UnaryCall(&gctx, "/echo.v1.Echo/Nope", grpc::StubOptions(), &in, &out,
                    [&](grpc::Status s) {
                      std::lock_guard lock(mu);
                      unknown = s;
                      done = true;
                      cv.notify_all();
                    });
  std::unique_lock lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, 5s, [&] { return done; }));
  EXPECT_EQ(unknown.error_code(), grpc::StatusCode::UNIMPLEMENTED);
}

// Copies each "x-" field a call arrives with into the response's headers and trailers, so the
// client sees what the server saw.
class MetadataMirror : public grpc::experimental::Interceptor {
 public:
  void Intercept(grpc::experimental::InterceptorBatchMethods* methods) override {
    using grpc::experimental::InterceptionHookPoints;
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::POST_RECV_INITIAL_METADATA)) {
      for (const auto& [k, v] : *methods->GetRecvInitialMetadata()) {
        const std::string key(k.data(), k.size());
        if (key.starts_with("x-")) seen_.emplace_back(key, std::string(v.data(), v.size()));
      }
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_INITIAL_METADATA)) {
      for (const auto& [k, v] : seen_) methods->GetSendInitialMetadata()->emplace("echo-" + k, v);
    }
    if (methods->QueryInterceptionHookPoint(InterceptionHookPoints::PRE_SEND_STATUS)) {
      for (const auto& [k, v] : seen_) methods->GetSendTrailingMetadata()->emplace("trail-" + k, v);
    }
    methods->Proceed();
  }

 private:
  std::vector<std::pair<std::string, std::string>> seen_;
};

class MetadataMirrorFactory : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo*) override {
    return new MetadataMirror;
  }
};

class KeptGrpcMetadata : public KeptGrpc {
 protected:
  void SetUp() override {
    Options o = TestOptions();
    o.http2_route_per_request = "all";
    gateway_ = std::make_unique<Gateway>(o);
    gateway_->RegisterService(&service_);
    gateway_->AddInterceptorFactory(std::make_unique<MetadataMirrorFactory>());
    std::string error;
    ASSERT_TRUE(gateway_->Start(&error)) << error;
    port_ = gateway_->port();
  }
};

// Metadata both ways, text and binary ("-bin": base64 on the wire, raw bytes to the service).
TEST_F(KeptGrpcMetadata, TextAndBinaryMetadataBothWays) {
  auto stub = NewStub();
  const std::string raw("\0\x01\xfe\xff binary", 11);
  auto ctx = Ctx();
  ctx->AddMetadata("x-text", "plain value");
  ctx->AddMetadata("x-raw-bin", raw);
  EchoRequest req;
  req.set_message("md");
  EchoResponse resp;
  ASSERT_TRUE(stub->Echo(ctx.get(), req, &resp).ok());
  const auto find = [](const std::multimap<grpc::string_ref, grpc::string_ref>& m,
                       std::string_view key) {
    const auto it = m.find(grpc::string_ref(key.data(), key.size()));
    return it == m.end() ? std::string("<absent>")
                         : std::string(it->second.data(), it->second.size());
  };
  EXPECT_EQ(find(ctx->GetServerInitialMetadata(), "echo-x-text"), "plain value");
  EXPECT_EQ(find(ctx->GetServerInitialMetadata(), "echo-x-raw-bin"), raw);
  EXPECT_EQ(find(ctx->GetServerTrailingMetadata(), "trail-x-text"), "plain value");
  EXPECT_EQ(find(ctx->GetServerTrailingMetadata(), "trail-x-raw-bin"), raw);
  EXPECT_EQ(MetricValue(Metrics(), "h2gate_http2_kept_streams_total{kind=\"grpc\"}"), 1);
}

// The client cancels (RST_STREAM): the server's handler ends as cancelled.
TEST_F(KeptGrpc, ClientCancellationReachesTheServer) {
  auto stub = NewStub();
  echo::v1::StreamRequest sreq;
  sreq.set_message("held");
  sreq.set_count(1);
  sreq.set_hold_ms(60000);
  auto ctx = Ctx(30s);
  auto reader = stub->ServerStream(ctx.get(), sreq);
  EchoResponse resp;
  ASSERT_TRUE(reader->Read(&resp));
  ctx->TryCancel();
  while (reader->Read(&resp)) {
  }
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
  for (int i = 0; i < 100 && Handled("server_stream", "ServerStream", "Canceled") < 1; ++i) {
    std::this_thread::sleep_for(20ms);
  }
  EXPECT_EQ(Handled("server_stream", "ServerStream", "Canceled"), 1);
}

// A client that does not read holds the server back: the stream's messages wait in gRPC's flow
// control, not in the gateway. The client sends no WINDOW_UPDATE: the gateway may send 64 KiB,
// queue 256 KiB more, and then stops reading the call.
TEST_F(KeptGrpc, SlowReaderHoldsTheServerBack) {
  RawClient c(port_);
  echo::v1::StreamRequest sreq;
  sreq.set_message(std::string(1000, 'm'));
  sreq.set_count(100000);
  c.Send(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + Frame(4, 0, 0) +
         Frame(1, 0x4, 1,
               Literal(":method", "POST") + Literal(":scheme", "http") +
                   Literal(":path", "/echo.v1.Echo/ServerStream") + Literal(":authority", "t") +
                   Literal("content-type", "application/grpc") + Literal("te", "trailers")) +
         Frame(0, 0x1, 1, GrpcFrame(sreq.SerializeAsString())));
  const auto sent = [&] {
    return MetricValue(Metrics(),
                       "grpc_server_msg_sent_total{grpc_type=\"server_stream\",grpc_service="
                       "\"echo.v1.Echo\",grpc_method=\"ServerStream\"}");
  };
  // The count settles once every window and queue is full (slower under the sanitizers).
  double before = -1, now = sent();
  for (int i = 0; i < 30 && (now == 0 || now != before); ++i) {
    std::this_thread::sleep_for(300ms);
    before = std::exchange(now, sent());
  }
  EXPECT_GT(now, 0);
  EXPECT_EQ(now, before) << "the server kept sending while the client read nothing";
  EXPECT_LT(now, 1000) << "messages of 1 KB sent while the client read nothing";
}

TEST_F(KeptGrpc, PythonGrpcio) {
  const auto r = RunProcess({"/usr/bin/python3", SourceDir() + "/tests/python/echo_client.py",
                             BinaryDir() + "/tests/python", Address()},
                            30s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("echo ok: hello from python"), std::string::npos) << r.output;
  EXPECT_EQ(MetricValue(Metrics(), "h2gate_http2_kept_streams_total{kind=\"grpc\"}"), 1);
}

// A drain sends GOAWAY on kept connections; a call in flight finishes.
TEST_F(KeptGrpc, DrainSendsGoawayAndLetsCallsFinish) {
  H2Connection c(port_);
  echo::v1::StreamRequest sreq;
  sreq.set_message("d");
  sreq.set_count(5);
  sreq.set_interval_ms(200);
  const std::int32_t id = c.Submit({.path = "/echo.v1.Echo/ServerStream",
                                    .headers = GrpcHeaders(),
                                    .body = GrpcFrame(sreq.SerializeAsString())});
  c.RunFor(250ms);
  std::thread drain([this] { gateway_->Shutdown(); });
  ASSERT_TRUE(c.Run(10s));
  const H2Response& r = c.response(id);
  EXPECT_EQ(r.Trailer("grpc-status"), "0") << r.Trailer("grpc-message");
  EXPECT_EQ(GrpcMessages(r.body).size(), 5u);
  c.RunFor(500ms);
  EXPECT_TRUE(c.goaway());
  EXPECT_EQ(c.goaway_code(), 0u);
  EXPECT_EQ(c.goaway_last_stream(), id);
  drain.join();
  gateway_->Wait();
}

// Hostile HTTP/2 on a kept connection: each counted, the connection cut or the stream answered.
TEST_F(Kept, OversizeHeaderListIsAnswered431) {
  H2Connection c(port_);
  const std::int32_t json = c.Submit(
      {.method = "GET", .path = "/healthz", .headers = {{"x-big", std::string(20000, 'a')}}});
  const std::int32_t grpc = c.Submit({.path = "/echo.v1.Echo/Echo",
                                      .headers = GrpcHeaders({{"x-big", std::string(20000, 'a')}}),
                                      .body = EchoMessage("x")});
  const std::int32_t fine = c.Submit(Get("/healthz"));
  ASSERT_TRUE(c.Run(10s));
  EXPECT_EQ(c.response(json).status, 431);
  EXPECT_EQ(c.response(grpc).Trailer("grpc-status").empty()
                ? c.response(grpc).Header("grpc-status")
                : c.response(grpc).Trailer("grpc-status"),
            "8");  // RESOURCE_EXHAUSTED
  EXPECT_EQ(c.response(fine).status, 200);
  EXPECT_EQ(MetricValue(Metrics(), "h2gate_limit_hits_total{limit=\"header_size\"}"), 2);
}

// A client that never opens its window: the answer waits, then the connection is cut after
// --idle-timeout (2 s in tests), counted; the gateway is not held.
TEST_F(Kept, WindowThatNeverOpensIsCut) {
  RawClient c(port_);
  // SETTINGS_INITIAL_WINDOW_SIZE = 0, then GET /metrics (a body the gateway cannot send).
  c.Send(std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") +
         Frame(4, 0, 0, std::string("\0\4", 2) + U32(0)) +
         Frame(1, 0x5, 1,
               Literal(":method", "GET") + Literal(":scheme", "http") +
                   Literal(":path", "/metrics") + Literal(":authority", "t")));
  bool closed = false;
  const std::string back = c.ReadUntilClose(8s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(GoawayCode(back), 3);  // FLOW_CONTROL_ERROR
  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, "h2gate_http2_kept_closes_total{reason=\"write_timeout\"}"), 1) << m;
  EXPECT_EQ(MetricValue(m, "h2gate_limit_hits_total{limit=\"write_timeout\"}"), 1);
}

}  // namespace
}  // namespace h2gate::testing
