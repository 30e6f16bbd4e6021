// A real Prometheus server scrapes a running gateway; the rejection count read back through
// Prometheus' query API equals the number of 426s sent.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <thread>

#include "support/fixture.h"
#include "support/process.h"

namespace h2gate::testing {
namespace {

using namespace std::chrono_literals;

// A loopback port free right now, for a server that cannot report a port-0 binding. Another
// process may take it before Prometheus does; the test then fails to start it, and says so.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// The first sample value of an instant query, or -1.
double Query(int prometheus_port, const std::string& promql) {
  const auto r =
      RunProcess({"curl", "-sS", "--max-time", "5", "-G",
                  "http://127.0.0.1:" + std::to_string(prometheus_port) + "/api/v1/query",
                  "--data-urlencode", "query=" + promql},
                 10s);
  if (r.exit_code != 0) return -1;
  google::protobuf::Struct json;
  if (!google::protobuf::util::JsonStringToMessage(r.output, &json).ok()) return -1;
  const auto& data = json.fields().at("data").struct_value().fields();
  const auto& result = data.at("result").list_value();
  if (result.values_size() == 0) return -1;
  const auto& value = result.values(0).struct_value().fields().at("value").list_value();
  return std::stod(value.values(1).string_value());
}

class PrometheusScrape : public GatewayTest {};

TEST_F(PrometheusScrape, RejectionCountReadBackThroughPrometheus) {
  const std::string dir = ::testing::TempDir() + "prometheus-" + std::to_string(getpid());
  std::filesystem::create_directories(dir + "/data");
  std::ofstream(dir + "/prometheus.yml") << "global:\n"
                                            "  scrape_interval: 1s\n"
                                            "scrape_configs:\n"
                                            "  - job_name: h2gate\n"
                                            "    static_configs:\n"
                                            "      - targets: ['"
                                         << Address() << "']\n";
  const int port = FreePort();
  Child prometheus({"prometheus", "--config.file=" + dir + "/prometheus.yml",
                    "--storage.tsdb.path=" + dir + "/data",
                    "--web.listen-address=127.0.0.1:" + std::to_string(port)});
  ASSERT_TRUE(prometheus.WaitForOutput("Server is ready to receive web requests", 60s))
      << prometheus.output();

  constexpr int kRejections = 37;
  for (int i = 0; i < kRejections; ++i) {
    ASSERT_EQ(StatusOf(Http("POST", "/echo.v1.Echo/Echo", "{\"message\":\"legacy\"}")), 426);
  }
  const std::string promql =
      "h2gate_http1_rejections_total{job=\"h2gate\",grpc_service=\"echo.v1.Echo\","
      "grpc_method=\"Echo\",http_method=\"POST\",registered=\"true\",http_version=\"1.x\"}";
  double seen = -1;
  for (int i = 0; i < 60 && seen != kRejections; ++i) {  // scrapes every second; 30 s at most
    std::this_thread::sleep_for(500ms);
    seen = Query(port, promql);
  }
  EXPECT_EQ(seen, kRejections) << prometheus.output();
  EXPECT_EQ(Query(port, "up{job=\"h2gate\"}"), 1);
  kill(prometheus.pid(), SIGTERM);
  prometheus.Wait(20s);
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace h2gate::testing
