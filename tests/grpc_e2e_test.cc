// gRPC clients of several kinds through the front listener: each must reach the embedded server
// as if it were listening itself.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "support/fixture.h"
#include "support/h2_client.h"
#include "support/process.h"

namespace h2gate::testing {
namespace {

using echo::v1::EchoRequest;
using echo::v1::EchoResponse;

std::unique_ptr<grpc::ClientContext> Context() {
  auto ctx = std::make_unique<grpc::ClientContext>();
  ctx->set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  return ctx;
}

class GrpcE2E : public GatewayTest {};

TEST_F(GrpcE2E, UnaryEchoesMessageAndPayload) {
  auto stub = NewStub();
  EchoRequest req;
  req.set_message("hello");
  req.set_payload(std::string(1024, '\x7f'));
  EchoResponse resp;
  const auto status = stub->Echo(Context().get(), req, &resp);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(resp.message(), "hello");
  EXPECT_EQ(resp.payload(), req.payload());
  EXPECT_GE(MetricValue(Metrics(), "h2gate_grpc_handoffs_total"), 1);
}

TEST_F(GrpcE2E, ServerStreaming) {
  auto stub = NewStub();
  echo::v1::StreamRequest req;
  req.set_message("tick");
  req.set_count(5);
  req.set_interval_ms(10);
  auto ctx = Context();
  auto reader = stub->ServerStream(ctx.get(), req);
  EchoResponse resp;
  int n = 0;
  while (reader->Read(&resp)) {
    EXPECT_EQ(resp.message(), "tick");
    ++n;
  }
  EXPECT_TRUE(reader->Finish().ok());
  EXPECT_EQ(n, 5);
}

TEST_F(GrpcE2E, ClientStreaming) {
  auto stub = NewStub();
  EchoResponse resp;
  auto ctx = Context();
  auto writer = stub->ClientStream(ctx.get(), &resp);
  for (const char* m : {"a", "b", "c"}) {
    EchoRequest req;
    req.set_message(m);
    req.set_payload(m);
    ASSERT_TRUE(writer->Write(req));
  }
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(resp.message(), "a,b,c");
  EXPECT_EQ(resp.payload(), "abc");
}

TEST_F(GrpcE2E, BidiStreaming) {
  auto stub = NewStub();
  auto ctx = Context();
  auto stream = stub->BidiStream(ctx.get());
  for (int i = 0; i < 3; ++i) {
    EchoRequest req;
    req.set_message("m" + std::to_string(i));
    ASSERT_TRUE(stream->Write(req));
    EchoResponse resp;
    ASSERT_TRUE(stream->Read(&resp));
    EXPECT_EQ(resp.message(), "m" + std::to_string(i));
  }
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(GrpcE2E, StreamLimitsAreInvalidArgument) {
  auto stub = NewStub();
  echo::v1::StreamRequest req;
  req.set_count(100001);
  auto ctx = Context();
  auto reader = stub->ServerStream(ctx.get(), req);
  EchoResponse resp;
  EXPECT_FALSE(reader->Read(&resp));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
}

TEST_F(GrpcE2E, HealthServiceServesOverallAndPerService) {
  auto health = grpc::health::v1::Health::NewStub(NewChannel());
  for (const char* service : {"", "echo.v1.Echo"}) {
    grpc::health::v1::HealthCheckRequest req;
    req.set_service(service);
    grpc::health::v1::HealthCheckResponse resp;
    ASSERT_TRUE(health->Check(Context().get(), req, &resp).ok()) << service;
    EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING) << service;
  }
}

// One Echo call from the raw HTTP/2 client, checked down to the message it echoes.
H2Result ExpectEchoFromRawClient(int port, Preface preface, const std::string& message) {
  EchoRequest req;
  req.set_message(message);
  const H2Result result = H2UnaryCall(port, "/echo.v1.Echo/Echo", req.SerializeAsString(), preface,
                                      std::chrono::seconds(5));
  EXPECT_TRUE(result.error.empty()) << result.error;
  EXPECT_EQ(result.http_status, 200);
  EXPECT_EQ(result.grpc_status, "0");
  EchoResponse resp;
  EXPECT_TRUE(resp.ParseFromString(result.message));
  EXPECT_EQ(resp.message(), message);
  return result;
}

// An HTTP/2 client that sends the 24-byte preface and then waits for the server's SETTINGS
// before sending anything else: the detector must decide on the preface alone.
TEST_F(GrpcE2E, Nghttp2ClientThatWaitsForServerSettings) {
  const H2Result result = ExpectEchoFromRawClient(port_, Preface::kAloneThenWait, "settings-first");
  EXPECT_TRUE(result.saw_server_settings_before_sending);
}

// A preface that arrives in two packets: the gateway reads the first (too short to decide), waits
// for the rest, and hands gRPC the socket together with the bytes it has already read.
TEST_F(GrpcE2E, PrefaceInTwoPacketsReachesGrpcWithTheBytesAlreadyRead) {
  ExpectEchoFromRawClient(port_, Preface::kSplitAfterTenBytes, "split-preface");
}

// gRPC length-prefixed message: flag byte, 4-byte big-endian length, bytes.
std::string Frame(const std::string& message) {
  std::string out(5, '\0');
  const auto n = static_cast<uint32_t>(message.size());
  out[1] = static_cast<char>(n >> 24);
  out[2] = static_cast<char>(n >> 16);
  out[3] = static_cast<char>(n >> 8);
  out[4] = static_cast<char>(n);
  return out + message;
}

TEST_F(GrpcE2E, CurlWithHttp2PriorKnowledgeReachesGrpc) {
  EchoRequest req;
  req.set_message("via-curl");
  const std::string in = ::testing::TempDir() + "curl_grpc_in.bin";
  const std::string out = ::testing::TempDir() + "curl_grpc_out.bin";
  std::ofstream(in, std::ios::binary) << Frame(req.SerializeAsString());
  const auto r =
      RunProcess({"curl", "-sS", "--http2-prior-knowledge", "--max-time", "10", "-X", "POST", "-H",
                  "content-type: application/grpc", "-H", "te: trailers", "--data-binary", "@" + in,
                  "-o", out, "-D", "-", "http://" + Address() + "/echo.v1.Echo/Echo"},
                 std::chrono::seconds(15));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("HTTP/2 200"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("grpc-status: 0"), std::string::npos) << r.output;
  std::ifstream f(out, std::ios::binary);
  const std::string body((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  ASSERT_GE(body.size(), 5u);
  EchoResponse resp;
  ASSERT_TRUE(resp.ParseFromString(body.substr(5)));
  EXPECT_EQ(resp.message(), "via-curl");
}

TEST_F(GrpcE2E, PythonGrpcioUnary) {
  const auto r = RunProcess({"/usr/bin/python3", SourceDir() + "/tests/python/echo_client.py",
                             BinaryDir() + "/tests/python", Address()},
                            std::chrono::seconds(30));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("echo ok: hello from python"), std::string::npos) << r.output;
}

// --grpc-max-connection-age: long-lived connections are closed with GOAWAY and the client moves
// to a new one (a new hand-off) without a failed call.
class ConnectionAge : public GatewayTest {
 protected:
  void SetUp() override {
    Options o = TestOptions();
    o.grpc_max_connection_age = std::chrono::milliseconds(300);
    o.grpc_max_connection_age_grace = std::chrono::seconds(2);
    StartGateway(o);
  }
};

TEST_F(ConnectionAge, ConnectionsAreRecycledWithoutFailedCalls) {
  auto stub = NewStub();
  int failed = 0;
  for (int i = 0; i < 100; ++i) {  // about 2 s of calls
    EchoRequest req;
    req.set_message("age");
    EchoResponse resp;
    if (!stub->Echo(Context().get(), req, &resp).ok()) ++failed;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_EQ(failed, 0);
  EXPECT_GE(MetricValue(Metrics(), "h2gate_grpc_handoffs_total"), 3);
}

}  // namespace
}  // namespace h2gate::testing
