// A bounded soak of the real binary: mixed load for a while, then checks that nothing leaked and
// every counter agrees with what was sent. Run through scripts/soak.sh.
//
//   soak H2GATE_BINARY [SECONDS]
#include <grpcpp/grpcpp.h>
#include <signal.h>

#include <atomic>
#include <cstdio>
#include <thread>

#include "echo/v1/echo.grpc.pb.h"
#include "support/fixture.h"
#include "support/h2_frames.h"
#include "support/net.h"
#include "support/process.h"

using namespace std::chrono_literals;
using h2gate::testing::Child;
using h2gate::testing::MetricValue;
using h2gate::testing::RawClient;
using h2gate::testing::StatusOf;
using Clock = std::chrono::steady_clock;

namespace {

struct Tally {
  std::atomic<std::uint64_t> unary_ok{0}, stream_ok{0}, churn_ok{0}, rejected{0}, silent_closed{0},
      half_closed{0}, reset_bursts_cut{0}, errors{0};
};

std::string Fetch(int port, const std::string& path) {
  RawClient c(port);
  c.Send("GET " + path + " HTTP/1.1\r\nHost: soak\r\nConnection: close\r\n\r\n");
  const std::string r = c.ReadUntilClose(10s);
  const auto body = r.find("\r\n\r\n");
  return body == std::string::npos ? "" : r.substr(body + 4);
}

std::unique_ptr<echo::v1::Echo::Stub> Stub(const std::string& address) {
  grpc::ChannelArguments args;
  args.SetInt("grpc.use_local_subchannel_pool", 1);
  return echo::v1::Echo::NewStub(
      grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args));
}

bool Unary(echo::v1::Echo::Stub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  echo::v1::EchoRequest req;
  req.set_message("soak");
  req.set_payload(std::string(512, 's'));
  echo::v1::EchoResponse resp;
  return stub.Echo(&ctx, req, &resp).ok() && resp.payload() == req.payload();
}

bool Streams(echo::v1::Echo::Stub& stub) {
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  echo::v1::StreamRequest req;
  req.set_count(10);
  auto reader = stub.ServerStream(&ctx, req);
  echo::v1::EchoResponse resp;
  int n = 0;
  while (reader->Read(&resp)) ++n;
  if (!reader->Finish().ok() || n != 10) return false;
  grpc::ClientContext bctx;
  bctx.set_deadline(std::chrono::system_clock::now() + 5s);
  auto bidi = stub.BidiStream(&bctx);
  for (int i = 0; i < 5; ++i) {
    echo::v1::EchoRequest m;
    m.set_message(std::to_string(i));
    if (!bidi->Write(m) || !bidi->Read(&resp) || resp.message() != m.message()) return false;
  }
  bidi->WritesDone();
  return bidi->Finish().ok();
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: soak H2GATE_BINARY [SECONDS]\n");
    return 2;
  }
  const int seconds = argc > 2 ? std::atoi(argv[2]) : 120;
  Child server({argv[1], "--listen=127.0.0.1:0", "--sniff-timeout=1s", "--idle-timeout=2s",
                "--header-timeout=2s", "--drain-timeout=5s", "--rejection-log-interval=1h"});
  const int port = h2gate::testing::ListeningPort(server);
  if (port == 0) {
    std::fprintf(stderr, "soak: the server did not start:\n%s", server.output().c_str());
    return 1;
  }
  const std::string address = "127.0.0.1:" + std::to_string(port);

  // Open files are compared with the idle server's; memory with the warmed-up one's.
  const double idle_fds = MetricValue(Fetch(port, "/metrics"), "process_open_fds");
  Tally tally;
  std::atomic<bool> stop{false};
  const auto deadline = Clock::now() + std::chrono::seconds(seconds) + 5s;  // 5 s warm-up
  auto running = [&] { return !stop && Clock::now() < deadline; };
  std::vector<std::thread> workers;
  workers.emplace_back([&] {  // gRPC unary on one long-lived connection
    auto stub = Stub(address);
    while (running()) (Unary(*stub) ? tally.unary_ok : tally.errors)++;
  });
  workers.emplace_back([&] {  // server streaming and bidi on another
    auto stub = Stub(address);
    while (running()) (Streams(*stub) ? tally.stream_ok : tally.errors)++;
  });
  workers.emplace_back([&] {  // connection churn: a new gRPC connection for every call
    while (running()) {
      auto stub = Stub(address);
      (Unary(*stub) ? tally.churn_ok : tally.errors)++;
    }
  });
  workers.emplace_back([&] {  // legacy callers: 426s on keep-alive connections of 100 requests
    while (running()) {
      RawClient c(port);
      for (int i = 0; i < 100 && running(); ++i) {
        c.Send(
            "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: soak\r\nUser-Agent: soak\r\n"
            "Content-Length: 2\r\n\r\n{}");
        (StatusOf(c.ReadUntil("}]}\n", 5s)) == 426 ? tally.rejected : tally.errors)++;
      }
    }
  });
  workers.emplace_back([&] {  // silent and half-closed connections, in batches
    while (running()) {
      std::vector<std::unique_ptr<RawClient>> batch;
      for (int i = 0; i < 50; ++i) batch.push_back(std::make_unique<RawClient>(port));
      std::vector<std::unique_ptr<RawClient>> half;
      for (int i = 0; i < 10; ++i) {
        half.push_back(std::make_unique<RawClient>(port));
        half.back()->Send("GET /healthz HTTP/1.1\r\nHo");
        half.back()->ShutdownWrite();
      }
      // The kernel hands a silent connection over after about 1 s (TCP_DEFER_ACCEPT); the sniff
      // timeout (1 s) runs from then.
      for (auto& c : batch) (c->WaitClosed(5s) ? tally.silent_closed : tally.errors)++;
      for (auto& c : half) (c->WaitClosed(3s) ? tally.half_closed : tally.errors)++;
    }
  });

  workers.emplace_back([&] {  // rapid reset: a burst of 20,000 HEADERS + RST_STREAM pairs a second
    const std::string burst = h2gate::testing::kPreface + h2gate::testing::RapidReset(20000);
    while (running()) {
      RawClient c(port);
      c.Send(burst);
      bool closed = false;
      const std::string back = c.ReadUntilClose(5s, &closed);
      (closed && h2gate::testing::GoawayCode(back) == 11 ? tally.reset_bursts_cut : tally.errors)++;
      std::this_thread::sleep_for(1s);
    }
  });

  // Baseline after the warm-up: allocators and gRPC's pools have grown to their working size.
  std::this_thread::sleep_for(5s);
  std::string metrics = Fetch(port, "/metrics");
  const double base_rss = MetricValue(metrics, "process_resident_memory_bytes");
  double peak_rss = base_rss;
  while (running()) {
    std::this_thread::sleep_for(1s);
    server.WaitForOutput("\x01", 0ms);  // keep the server's log pipe drained
    peak_rss =
        std::max(peak_rss, MetricValue(Fetch(port, "/metrics"), "process_resident_memory_bytes"));
  }
  stop = true;
  for (auto& t : workers) t.join();

  // Let the gateway's own deadlines close whatever the clients left, then look.
  std::this_thread::sleep_for(4s);
  metrics = Fetch(port, "/metrics");
  const double fds = MetricValue(metrics, "process_open_fds");
  const double rss = MetricValue(metrics, "process_resident_memory_bytes");
  const double rejected = MetricValue(
      metrics,
      "h2gate_http1_rejections_total{grpc_service=\"echo.v1.Echo\",grpc_method=\"Echo\","
      "http_method=\"POST\",registered=\"true\",http_version=\"1.x\"}");
  const double unary_handled =
      MetricValue(metrics,
                  "grpc_server_handled_total{grpc_type=\"unary\",grpc_service=\"echo.v1.Echo\","
                  "grpc_method=\"Echo\",grpc_code=\"OK\",http_version=\"1.x\"}");
  const double open = MetricValue(metrics, "h2gate_connections_open");
  const double reset_cut = MetricValue(metrics, "h2gate_http2_abuse_total{kind=\"rapid_reset\"}");

  kill(server.pid(), SIGTERM);
  const int exit_code = server.Wait(20s);

  struct Check {
    const char* what;
    bool ok;
    std::string detail;
  };
  const double rss_margin = std::max(8.0 * 1024 * 1024, base_rss * 0.10);
  const std::vector<Check> checks = {
      {"no unexpected errors", tally.errors == 0, std::to_string(tally.errors.load()) + " errors"},
      {"open fds back to the idle baseline", fds <= idle_fds + 2,
       std::to_string(int(idle_fds)) + " idle, " + std::to_string(int(fds)) + " after"},
      {"resident memory back within margin", rss <= base_rss + rss_margin,
       std::to_string(int(base_rss / 1024)) + " KiB -> " + std::to_string(int(rss / 1024)) +
           " KiB (peak " + std::to_string(int(peak_rss / 1024)) + " KiB)"},
      {"426 counter equals 426s received", rejected == double(tally.rejected),
       std::to_string(int64_t(rejected)) + " vs " + std::to_string(tally.rejected.load())},
      {"unary OK counter equals successful unary calls",
       unary_handled == double(tally.unary_ok + tally.churn_ok),
       std::to_string(int64_t(unary_handled)) + " vs " +
           std::to_string(tally.unary_ok + tally.churn_ok)},
      {"no connection left open but /metrics'", open == 1, std::to_string(int(open))},
      {"every rapid-reset burst cut and counted",
       reset_cut == double(tally.reset_bursts_cut) && tally.reset_bursts_cut > 0,
       std::to_string(int64_t(reset_cut)) + " vs " + std::to_string(tally.reset_bursts_cut.load())},
      {"SIGTERM exit code 0", exit_code == 0, std::to_string(exit_code)},
  };
  std::printf("soak: %d s of load on %s\n", seconds, address.c_str());
  std::printf(
      "  unary ok %llu, stream rounds ok %llu, churned connections ok %llu, 426s %llu,\n"
      "  silent connections closed %llu, half-closed closed %llu, reset bursts cut %llu\n",
      (unsigned long long)tally.unary_ok, (unsigned long long)tally.stream_ok,
      (unsigned long long)tally.churn_ok, (unsigned long long)tally.rejected,
      (unsigned long long)tally.silent_closed, (unsigned long long)tally.half_closed,
      (unsigned long long)tally.reset_bursts_cut);
  int failed = 0;
  for (const auto& c : checks) {
    std::printf("  %-48s %s  (%s)\n", c.what, c.ok ? "ok  " : "FAIL", c.detail.c_str());
    failed += c.ok ? 0 : 1;
  }
  std::printf("%zu passed, %d failed\n", checks.size() - failed, failed);
  return failed == 0 ? 0 : 1;
}
