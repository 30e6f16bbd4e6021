#include "fixture.h"

#include <google/protobuf/util/json_util.h>
#include <grpcpp/create_channel.h>

#include <regex>

#include "net.h"

namespace h2gate::testing {

Options TestOptions() {
  Options o;
  o.listen = HostPort{"127.0.0.1", 0};
  o.sniff_timeout = std::chrono::milliseconds(500);
  o.header_timeout = std::chrono::milliseconds(1000);
  o.idle_timeout = std::chrono::milliseconds(2000);
  o.drain_timeout = std::chrono::seconds(5);
  o.log_level = "warn";
  return o;
}

void GatewayTest::StartGateway(Options options) {
  gateway_ = std::make_unique<Gateway>(std::move(options));
  gateway_->RegisterService(&service_);
  std::string error;
  ASSERT_TRUE(gateway_->Start(&error)) << error;
  port_ = gateway_->port();
  ASSERT_GT(port_, 0);
}

std::shared_ptr<grpc::Channel> GatewayTest::NewChannel() const {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);  // never share a connection between tests
  return grpc::CreateCustomChannel(Address(), grpc::InsecureChannelCredentials(), args);
}

std::unique_ptr<echo::v1::Echo::Stub> GatewayTest::NewStub() const {
  return echo::v1::Echo::NewStub(NewChannel());
}

std::string GatewayTest::Http(std::string_view method, std::string_view path,
                              std::string_view body) {
  RawClient client(port_);
  EXPECT_TRUE(client.connected());
  std::string request = std::string(method) + " " + std::string(path) +
                        " HTTP/1.1\r\nHost: test\r\nConnection: close\r\n";
  if (!body.empty()) {
    request +=
        "Content-Type: application/json\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
  }
  request += "\r\n";
  request += body;
  client.Send(request);
  return client.ReadUntilClose(std::chrono::seconds(5));
}

std::string GatewayTest::Metrics() { return BodyOf(Http("GET", "/metrics")); }

double MetricValue(const std::string& text, std::string_view series) {
  std::size_t pos = 0;
  while ((pos = text.find(series, pos)) != std::string::npos) {
    const bool line_start = pos == 0 || text[pos - 1] == '\n';
    const std::size_t after = pos + series.size();
    if (line_start && after < text.size() && text[after] == ' ') {
      return std::stod(text.substr(after + 1, text.find('\n', after) - after - 1));
    }
    pos = after;
  }
  return -1;
}

int ListeningPort(Child& child) {
  if (!child.WaitForOutput(" listening on ", std::chrono::seconds(10))) return 0;
  std::smatch m;
  const std::string out = child.output();
  if (!std::regex_search(out, m, std::regex("listening on 127\\.0\\.0\\.1:(\\d+)"))) return 0;
  return std::stoi(m[1].str());
}

google::protobuf::Struct ParseJson(const std::string& body) {
  google::protobuf::Struct s;
  EXPECT_TRUE(google::protobuf::util::JsonStringToMessage(body, &s).ok()) << body;
  return s;
}

int StatusOf(const std::string& response) {
  // "HTTP/1.1 200 OK", or curl's "HTTP/2 200 " for HTTP/2.
  if (response.size() < 10 || response.compare(0, 5, "HTTP/") != 0) return 0;
  const auto space = response.find(' ');
  return space == std::string::npos ? 0 : std::atoi(response.c_str() + space + 1);
}

std::string BodyOf(const std::string& response) {
  const auto end = response.find("\r\n\r\n");
  return end == std::string::npos ? "" : response.substr(end + 4);
}

}  // namespace h2gate::testing
