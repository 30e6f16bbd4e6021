// Metrics and the legacy-caller report after real traffic, read back over HTTP like an operator.
#include <gtest/gtest.h>

#include <fstream>
#include <thread>

#include "support/fixture.h"
#include "support/net.h"
#include "support/process.h"

namespace h2gate::testing {
namespace {

using namespace std::chrono_literals;

std::size_t SeriesCount(const std::string& text) {
  std::size_t n = 0;
  std::size_t start = 0;
  while (start < text.size()) {
    const std::size_t end = text.find('\n', start);
    if (text[start] != '#') ++n;
    if (end == std::string::npos) break;
    start = end + 1;
  }
  return n;
}

// Sends `count` requests on one keep-alive connection and reads every answer.
void Pipeline(int port, int count, const std::function<std::string(int)>& request) {
  RawClient c(port);
  ASSERT_TRUE(c.connected());
  for (int i = 0; i < count; ++i) {
    ASSERT_TRUE(c.Send(request(i)));
    ASSERT_EQ(StatusOf(c.ReadUntil("}]}\n", 5s)), 426) << i;
  }
}

class MetricsE2E : public GatewayTest {};

TEST_F(MetricsE2E, GrpcServerMetricsCountCallsByMethodTypeAndCode) {
  auto stub = NewStub();
  for (int i = 0; i < 7; ++i) {
    grpc::ClientContext ctx;
    echo::v1::EchoRequest req;
    echo::v1::EchoResponse resp;
    ASSERT_TRUE(stub->Echo(&ctx, req, &resp).ok());
  }
  {
    grpc::ClientContext ctx;
    echo::v1::StreamRequest req;
    req.set_count(3);
    auto reader = stub->ServerStream(&ctx, req);
    echo::v1::EchoResponse resp;
    while (reader->Read(&resp)) {
    }
    ASSERT_TRUE(reader->Finish().ok());
  }
  {
    grpc::ClientContext ctx;
    echo::v1::StreamRequest req;
    req.set_count(1000000);  // over the limit: InvalidArgument
    auto reader = stub->ServerStream(&ctx, req);
    echo::v1::EchoResponse resp;
    reader->Read(&resp);
    ASSERT_EQ(reader->Finish().error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  }
  const std::string m = Metrics();
  const std::string unary =
      "grpc_type=\"unary\",grpc_service=\"echo.v1.Echo\",grpc_method=\"Echo\"";
  const std::string stream =
      "grpc_type=\"server_stream\",grpc_service=\"echo.v1.Echo\",grpc_method=\"ServerStream\"";
  EXPECT_EQ(MetricValue(m, "grpc_server_started_total{" + unary + "}"), 7) << m;
  EXPECT_EQ(MetricValue(m, "grpc_server_handled_total{" + unary + ",grpc_code=\"OK\"}"), 7);
  EXPECT_EQ(MetricValue(m, "grpc_server_handling_seconds_count{" + unary + "}"), 7);
  EXPECT_EQ(MetricValue(m, "grpc_server_handling_seconds_bucket{" + unary + ",le=\"+Inf\"}"), 7);
  EXPECT_EQ(MetricValue(m, "grpc_server_msg_received_total{" + unary + "}"), 7);
  EXPECT_EQ(MetricValue(m, "grpc_server_started_total{" + stream + "}"), 2);
  EXPECT_EQ(MetricValue(m, "grpc_server_handled_total{" + stream + ",grpc_code=\"OK\"}"), 1);
  EXPECT_EQ(
      MetricValue(m, "grpc_server_handled_total{" + stream + ",grpc_code=\"InvalidArgument\"}"), 1);
  EXPECT_EQ(MetricValue(m, "grpc_server_msg_sent_total{" + stream + "}"), 3);
  // Health and reflection are registered methods too.
  EXPECT_NE(m.find("grpc_service=\"grpc.health.v1.Health\",grpc_method=\"Check\""),
            std::string::npos);
  EXPECT_GT(MetricValue(m, "process_resident_memory_bytes"), 1e6);
  EXPECT_GT(MetricValue(m, "process_open_fds"), 3);
  EXPECT_NE(m.find("h2gate_build_info{version=\"0.1.0\",grpc_version=\""), std::string::npos);
}

TEST_F(MetricsE2E, TenThousandBogusPathsAddNoSeries) {
  Http("POST", "/a.b.Bogus/First", "{}");  // the first unknown rejection creates its series
  const std::size_t before = SeriesCount(Metrics());
  Pipeline(port_, 10000, [](int i) {
    return "POST /bogus.v" + std::to_string(i) + ".Svc/M" + std::to_string(i) +
           " HTTP/1.1\r\nHost: t\r\nUser-Agent: scanner-" + std::to_string(i) +
           "\r\nContent-Length: 0\r\n\r\n";
  });
  const std::string after = Metrics();
  EXPECT_EQ(SeriesCount(after), before);
  EXPECT_EQ(MetricValue(after,
                        "h2gate_http1_rejections_total{grpc_service=\"unknown\","
                        "grpc_method=\"unknown\",http_method=\"POST\",registered=\"false\",http_"
                        "version=\"1.x\"}"),
            10001);
  // The report stays within its capacity (1000 by default).
  const auto report = ParseJson(BodyOf(Http("GET", "/debug/legacy-callers")));
  EXPECT_EQ(report.fields().at("callers").list_value().values_size(), 1000);
  EXPECT_EQ(report.fields().at("total_calls").number_value(), 10001);
}

TEST_F(MetricsE2E, LegacyCallerReportNamesTheHeaviestCallers) {
  auto request = [](std::string_view agent, std::string_view path) {
    return [agent, path](int) {
      return "POST " + std::string(path) +
             " HTTP/1.1\r\nHost: t\r\nUser-Agent: " + std::string(agent) +
             "\r\nContent-Length: 2\r\n\r\n{}";
    };
  };
  Pipeline(port_, 30, request("billing-batch/2.1", "/echo.v1.Echo/Echo"));
  Pipeline(port_, 12, request("curl/7.88.1", "/echo.v1.Echo/Echo"));
  Pipeline(port_, 3, request("curl/7.88.1", "/shop.v1.Cart/Add"));
  std::thread([&] {
    Pipeline(port_, 5, request("ops-script", "/echo.v1.Echo/BidiStream"));
  }).join();

  const auto report = ParseJson(BodyOf(Http("GET", "/debug/legacy-callers")));
  EXPECT_EQ(report.fields().at("total_calls").number_value(), 50);
  const auto& callers = report.fields().at("callers").list_value();
  ASSERT_EQ(callers.values_size(), 4);
  const auto& top = callers.values(0).struct_value().fields();
  EXPECT_EQ(top.at("client").string_value(), "127.0.0.1");
  EXPECT_EQ(top.at("user_agent").string_value(), "billing-batch/2.1");
  EXPECT_EQ(top.at("method").string_value(), "/echo.v1.Echo/Echo");
  EXPECT_EQ(top.at("count").number_value(), 30);
  EXPECT_EQ(top.at("registered").bool_value(), true);
  EXPECT_EQ(top.at("policy").string_value(), "reject");
  const auto& unregistered = callers.values(3).struct_value().fields();
  EXPECT_EQ(unregistered.at("method").string_value(), "/shop.v1.Cart/Add");
  EXPECT_EQ(unregistered.at("registered").bool_value(), false);

  const std::string text = BodyOf(Http("GET", "/debug/legacy-callers?format=text"));
  EXPECT_NE(text.find("Non-gRPC calls on gRPC paths: 50"), std::string::npos) << text;
  EXPECT_NE(text.find("billing-batch/2.1"), std::string::npos);

  EXPECT_EQ(StatusOf(Http("DELETE", "/debug/legacy-callers")), 200);
  const auto empty = ParseJson(BodyOf(Http("GET", "/debug/legacy-callers")));
  EXPECT_EQ(empty.fields().at("callers").list_value().values_size(), 0);
}

class TrustedProxy : public GatewayTest {
 protected:
  void SetUp() override {
    Options o = TestOptions();
    o.trust_forwarded_for = true;
    StartGateway(o);
  }
};

TEST_F(TrustedProxy, FirstForwardedForHopIsTheCallerWhenItIsAnAddress) {
  auto with_xff = [](std::string_view xff) {
    return [xff](int) {
      return "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nX-Forwarded-For: " + std::string(xff) +
             "\r\nContent-Length: 0\r\n\r\n";
    };
  };
  Pipeline(port_, 4, with_xff("203.0.113.7, 10.0.0.1"));
  Pipeline(port_, 2, with_xff("not-an-ip, 10.0.0.1"));
  const auto callers =
      ParseJson(BodyOf(Http("GET", "/debug/legacy-callers"))).fields().at("callers").list_value();
  ASSERT_EQ(callers.values_size(), 2);
  EXPECT_EQ(callers.values(0).struct_value().fields().at("client").string_value(), "203.0.113.7");
  EXPECT_EQ(callers.values(1).struct_value().fields().at("client").string_value(), "127.0.0.1");
}

class AdminListener : public GatewayTest {
 protected:
  void SetUp() override {
    Options o = TestOptions();
    o.admin_listen = HostPort{"127.0.0.1", 0};
    o.metrics = false;
    StartGateway(o);
  }
};

TEST_F(AdminListener, OperatorEndpointsMoveToTheAdminPort) {
  ASSERT_GT(gateway_->admin_port(), 0);
  Http("POST", "/echo.v1.Echo/Echo", "{}");
  EXPECT_EQ(StatusOf(Http("GET", "/metrics")), 404);
  EXPECT_EQ(StatusOf(Http("GET", "/debug/legacy-callers")), 404);
  EXPECT_EQ(StatusOf(Http("GET", "/healthz")), 200);

  RawClient admin(gateway_->admin_port());
  admin.Send("GET /metrics HTTP/1.1\r\nHost: t\r\n\r\n");
  const std::string metrics = admin.ReadUntil("h2gate_http1_rejections_total{grpc_service", 5s);
  EXPECT_EQ(StatusOf(metrics), 200);
  // A gRPC path on the admin port is just not found: it is no place for callers.
  admin.Send(
      "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\n"
      "Content-Length: 0\r\n\r\n");
  const std::string rest = admin.ReadUntilClose(5s);
  EXPECT_NE(rest.find("HTTP/1.1 404"), std::string::npos) << rest;
}

TEST(JsonLogs, RejectionIsOneStructuredJsonLine) {
  Child child({BinaryDir() + "/server/h2gate", "--listen=127.0.0.1:0", "--log-format=json"});
  const int port = ListeningPort(child);
  ASSERT_GT(port, 0) << child.output();
  RawClient c(port);
  c.Send(
      "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nUser-Agent: legacy \"quoted\"\r\n"
      "Connection: close\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(StatusOf(c.ReadUntilClose(5s)), 426);
  ASSERT_TRUE(child.WaitForOutput("http1_rejection", 5s)) << child.output();
  kill(child.pid(), SIGTERM);
  EXPECT_EQ(child.Wait(10s), 0);

  std::istringstream lines(child.output());
  std::string line;
  int events = 0;
  while (std::getline(lines, line)) {
    const auto json = ParseJson(line);  // every line is one JSON object
    EXPECT_TRUE(json.fields().contains("time"));
    EXPECT_TRUE(json.fields().contains("level"));
    EXPECT_TRUE(json.fields().contains("msg"));
    if (json.fields().contains("event")) {
      ++events;
      const auto& f = json.fields();
      EXPECT_EQ(f.at("event").string_value(), "http1_rejection");
      EXPECT_EQ(f.at("client").string_value(), "127.0.0.1");
      EXPECT_EQ(f.at("path").string_value(), "/echo.v1.Echo/Echo");
      EXPECT_EQ(f.at("user_agent").string_value(), "legacy \"quoted\"");
      EXPECT_EQ(f.at("registered").string_value(), "true");
    }
  }
  EXPECT_EQ(events, 1);
}

}  // namespace
}  // namespace h2gate::testing
