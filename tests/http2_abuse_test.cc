// HTTP/2 abuse on the gRPC path: every flood is cut with GOAWAY(ENHANCE_YOUR_CALM) and counted
// before gRPC builds the calls it asks for, memory stays bounded, and a gRPC client on another
// connection sees no error. The bursts are the ones of CVE-2023-44487 ("rapid reset") and of
// the 2024 CONTINUATION and control-frame floods, built frame by frame.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdio>
#include <fstream>
#include <functional>
#include <regex>
#include <thread>

#include "support/fixture.h"
#include "support/h2_frames.h"
#include "support/net.h"
#include "support/test_certs.h"
#include "support/tls_client.h"

namespace h2gate::testing {
namespace {

using namespace std::chrono_literals;

constexpr std::int64_t kMiB = 1 << 20;

std::string Flood(std::string_view kind, int n) {
  std::string out;
  if (kind == "empty_frames") out += Frame(1, 0x4, 1, EchoCallHeaders());
  if (kind == "header_block") out += Frame(1, 0, 1, EchoCallHeaders());  // no END_HEADERS
  for (int i = 0; i < n; ++i) {
    if (kind == "ping") out += Frame(6, 0, 0, U32(0) + U32(static_cast<std::uint32_t>(i)));
    if (kind == "settings") out += Frame(4, 0, 0, std::string("\0\3", 2) + U32(100));
    if (kind == "priority")
      out += Frame(2, 0, static_cast<std::uint32_t>(2 * i + 1), U32(0) + "\x10");
    if (kind == "empty_frames") out += Frame(0, 0, 1);
    if (kind == "header_block") out += Frame(9, 0, 1, Literal("x-pad", std::string(100, 'a')));
  }
  return out;
}

// Reads frames for up to 5 s until the server ends `stream` with END_STREAM.
bool StreamEnds(RawClient& c, std::uint32_t stream) {
  std::string bytes;
  const auto until = std::chrono::steady_clock::now() + 5s;
  while (std::chrono::steady_clock::now() < until) {
    bytes += c.ReadAtLeast(1, 100ms);
    std::size_t i = 0;
    while (i + 9 <= bytes.size()) {
      const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + i);
      const std::size_t length = (p[0] << 16) | (p[1] << 8) | p[2];
      const std::uint32_t id = (p[5] << 24) | (p[6] << 16) | (p[7] << 8) | p[8];
      if (id == stream && (p[3] == 0 || p[3] == 1) && (p[4] & 0x1)) return true;
      i += 9 + length;
    }
  }
  return false;
}

std::int64_t Rss(pid_t pid) {
  std::ifstream statm("/proc/" + std::to_string(pid) + "/statm");
  std::int64_t size = 0, resident = 0;
  statm >> size >> resident;
  return resident * 4096;
}

// Samples the resident size every 2 ms while alive; peak() is the largest seen.
class RssSampler {
 public:
  explicit RssSampler(pid_t pid)
      : thread_([this, pid] {
          while (!stop_) {
            peak_ = std::max<std::int64_t>(peak_, Rss(pid));
            std::this_thread::sleep_for(2ms);
          }
        }) {}
  ~RssSampler() { Stop(); }
  std::int64_t Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
    return peak_;
  }

 private:
  std::atomic<bool> stop_{false};
  std::atomic<std::int64_t> peak_{0};
  std::thread thread_;
};

// Unary Echo calls on a connection of their own until stopped (at most 20,000, 30 s).
class BystanderClient {
 public:
  explicit BystanderClient(std::unique_ptr<echo::v1::Echo::Stub> stub)
      : stub_(std::move(stub)), thread_([this] {
          const auto until = std::chrono::steady_clock::now() + 30s;
          for (int i = 0; i < 20000 && !stop_ && std::chrono::steady_clock::now() < until; ++i) {
            grpc::ClientContext ctx;
            ctx.set_deadline(std::chrono::system_clock::now() + 5s);
            echo::v1::EchoRequest req;
            req.set_message("bystander");
            echo::v1::EchoResponse resp;
            const auto status = stub_->Echo(&ctx, req, &resp);
            (status.ok() && resp.message() == "bystander" ? ok_ : failed_)++;
          }
        }) {}
  ~BystanderClient() { Stop(); }
  void Stop() {
    stop_ = true;
    if (thread_.joinable()) thread_.join();
  }
  int ok() const { return ok_; }
  int failed() const { return failed_; }
  void WaitForCalls(int n) {
    for (int i = 0; i < 500 && ok_ < n; ++i) std::this_thread::sleep_for(10ms);
  }

 private:
  std::unique_ptr<echo::v1::Echo::Stub> stub_;
  std::atomic<bool> stop_{false};
  std::atomic<int> ok_{0}, failed_{0};
  std::thread thread_;
};

// Memory figures mean little under the sanitizers (shadow memory, ASan's quarantine of freed
// blocks): there the bounds are not checked, everything else is.
#ifdef H2GATE_SANITIZED
constexpr bool kCheckMemory = false;
#else
constexpr bool kCheckMemory = true;
#endif

// Attacks a real h2gate process, so that its resident size is the gateway's alone.
class Http2Abuse : public ::testing::Test {
 protected:
  void SetUp() override { Start({}); }
  void Start(std::vector<std::string> flags) {
    std::vector<std::string> argv = {BinaryDir() + "/server/h2gate", "--listen=127.0.0.1:0"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    child_ = std::make_unique<Child>(argv);
    port_ = ListeningPort(*child_);
    ASSERT_GT(port_, 0) << child_->output();
  }
  pid_t pid() const { return child_->pid(); }
  std::unique_ptr<echo::v1::Echo::Stub> NewStub() const {
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    std::shared_ptr<grpc::ChannelCredentials> credentials = grpc::InsecureChannelCredentials();
    if (!tls_alpn_.empty()) {  // the bystander calls over TLS as well
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = ReadFile(certs_.ca_cert);
      credentials = grpc::SslCredentials(ssl);
      args.SetString(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, "localhost");
    }
    return echo::v1::Echo::NewStub(
        grpc::CreateCustomChannel("127.0.0.1:" + std::to_string(port_), credentials, args));
  }
  std::string Metrics() {
    RawClient c(port_);
    c.Send("GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    return BodyOf(c.ReadUntilClose(5s));
  }

  std::unique_ptr<Child> child_;
  int port_ = 0;
  // Over TLS (Http2AbuseTls): the ALPN protocols the attacker offers, and the certificates.
  std::vector<std::string> tls_alpn_;
  TestCerts certs_;

  struct Outcome {
    int goaway_code = -1;
    bool closed = false;
  };

  // Sends the preface and `attack` on a new connection; reads what comes back until close.
  Outcome Attack(const std::string& attack) {
    if (!tls_alpn_.empty()) {
      TlsRawClient c(port_, tls_alpn_, certs_.ca_cert);
      EXPECT_TRUE(c.connected()) << c.error();
      c.Send(kPreface + attack);
      Outcome o;
      const std::string back = c.ReadUntilClose(5s, &o.closed);
      o.goaway_code = GoawayCode(back);
      return o;
    }
    RawClient c(port_);
    EXPECT_TRUE(c.connected());
    c.Send(kPreface + attack);
    Outcome o;
    const std::string back = c.ReadUntilClose(5s, &o.closed);
    o.goaway_code = GoawayCode(back);
    return o;
  }

  // Runs `attacks` connections at once with a bystander gRPC client; checks the outcome, the
  // counter of `kind`, the memory while it lasts and after.
  void ExpectCut(std::string_view kind, const std::string& attack, int connections) {
    BystanderClient bystander(NewStub());
    bystander.WaitForCalls(50);
    const std::int64_t baseline = Rss(pid());
    const double before = Count(kind);
    {
      RssSampler sampler(pid());
      std::vector<std::thread> attackers;
      std::atomic<int> cut{0};
      for (int i = 0; i < connections; ++i) {
        attackers.emplace_back([&] {
          const Outcome o = Attack(attack);
          if (o.closed && o.goaway_code == 11) ++cut;  // ENHANCE_YOUR_CALM
        });
      }
      for (auto& t : attackers) t.join();
      const std::int64_t peak = sampler.Stop();
      EXPECT_EQ(cut, connections) << kind;
      std::printf("[figures] %s x%d: baseline %lld KiB, peak +%lld KiB\n",
                  std::string(kind).c_str(), connections, static_cast<long long>(baseline >> 10),
                  static_cast<long long>((peak - baseline) >> 10));
      if (kCheckMemory) {
        EXPECT_LE(peak - baseline, connections * 16 * kMiB)
            << kind << ": peak " << peak / kMiB << " MiB, baseline " << baseline / kMiB;
      }
    }
    EXPECT_EQ(Count(kind) - before, connections) << kind;
    if (kCheckMemory) {
      std::int64_t after = Rss(pid());
      for (int i = 0; i < 60 && after > baseline + 4 * kMiB; ++i) {  // gRPC frees calls lazily
        std::this_thread::sleep_for(50ms);
        after = Rss(pid());
      }
      EXPECT_LE(after - baseline, 4 * kMiB) << kind << ": " << after / kMiB << " MiB after";
      std::printf("[figures] %s x%d: after +%lld KiB\n", std::string(kind).c_str(), connections,
                  static_cast<long long>((after - baseline) >> 10));
    }
    const int ok_before = bystander.ok();
    bystander.WaitForCalls(ok_before + 20);
    bystander.Stop();
    EXPECT_EQ(bystander.failed(), 0) << kind;
    EXPECT_GT(bystander.ok(), ok_before) << kind << ": the bystander kept calling";
  }

  // 150 HEADERS + RST_STREAM pairs, then a unary call on the same connection: served.
  void ExpectResetsWithinBudgetServed() {
    RawClient c(port_);
    ASSERT_TRUE(c.connected());
    c.Send(kPreface + RapidReset(150));
    EXPECT_FALSE(c.WaitClosed(500ms));
    EXPECT_EQ(Count("rapid_reset"), 0);
    // The connection still carries a call: a whole unary Echo with an empty message.
    const std::string empty_message("\0\0\0\0\0", 5);
    c.Send(Frame(1, 0x4, 301, EchoCallHeaders()) + Frame(0, 0x1, 301, empty_message));
    EXPECT_TRUE(StreamEnds(c, 301));
  }

  // 2,000 streams opened and never finished.
  static std::string UnfinishedStreams() {
    std::string attack;
    const std::string headers = EchoCallHeaders();
    for (int i = 0; i < 2000; ++i)
      attack += Frame(1, 0x4, static_cast<std::uint32_t>(2 * i + 1), headers);
    return attack;
  }

  double Count(std::string_view kind) {
    return MetricValue(Metrics(), "h2gate_http2_abuse_total{kind=\"" + std::string(kind) + "\"}");
  }
};

TEST_F(Http2Abuse, RapidResetBurstIsCutAndBounded) {
  ExpectCut("rapid_reset", RapidReset(20000), 1);
}

TEST_F(Http2Abuse, TenRapidResetBurstsAtOnce) { ExpectCut("rapid_reset", RapidReset(20000), 10); }

TEST_F(Http2Abuse, PingFlood) { ExpectCut("ping", Flood("ping", 100000), 1); }
TEST_F(Http2Abuse, SettingsFlood) { ExpectCut("settings", Flood("settings", 100000), 1); }
TEST_F(Http2Abuse, PriorityFlood) { ExpectCut("priority", Flood("priority", 100000), 1); }
TEST_F(Http2Abuse, EmptyDataFlood) { ExpectCut("empty_frames", Flood("empty_frames", 100000), 1); }
TEST_F(Http2Abuse, ContinuationFlood) {
  ExpectCut("header_block", Flood("header_block", 100000), 1);
}

// Streams opened and never finished: gRPC keeps each call until the connection ends, so a client
// that ignores SETTINGS_MAX_CONCURRENT_STREAMS is cut at twice the limit.
TEST_F(Http2Abuse, StreamsBeyondTheLimitAreCut) { ExpectCut("streams", UnfinishedStreams(), 1); }

// Resets within the budget are what real clients do (cancellations, deadlines): not cut.
TEST_F(Http2Abuse, ResetsWithinTheBudgetAreServed) { ExpectResetsWithinBudgetServed(); }

// The same floods on connections the gateway serves itself (--http2-route-per-request=all, as
// for an ingress): the same policer cuts them, and the bystander's calls are relayed in process.
class Http2AbuseKept : public Http2Abuse {
 protected:
  void SetUp() override { Start({"--http2-route-per-request=all"}); }
};

TEST_F(Http2AbuseKept, RapidResetBurstIsCutAndBounded) {
  ExpectCut("rapid_reset", RapidReset(20000), 1);
}
TEST_F(Http2AbuseKept, TenRapidResetBurstsAtOnce) {
  ExpectCut("rapid_reset", RapidReset(20000), 10);
}
TEST_F(Http2AbuseKept, PingFlood) { ExpectCut("ping", Flood("ping", 100000), 1); }
TEST_F(Http2AbuseKept, SettingsFlood) { ExpectCut("settings", Flood("settings", 100000), 1); }
TEST_F(Http2AbuseKept, PriorityFlood) { ExpectCut("priority", Flood("priority", 100000), 1); }
TEST_F(Http2AbuseKept, EmptyDataFlood) {
  ExpectCut("empty_frames", Flood("empty_frames", 100000), 1);
}
TEST_F(Http2AbuseKept, ContinuationFlood) {
  ExpectCut("header_block", Flood("header_block", 100000), 1);
}
TEST_F(Http2AbuseKept, StreamsBeyondTheLimitAreCut) {
  ExpectCut("streams", UnfinishedStreams(), 1);
}
TEST_F(Http2AbuseKept, ResetsWithinTheBudgetAreServed) {
  ExpectResetsWithinBudgetServed();
  EXPECT_EQ(
      MetricValue(Metrics(), "h2gate_http2_kept_connections_total{reason=\"route_per_request\"}"),
      1);  // the client's connection; Metrics() reads over HTTP/1.1
}

// The same floods over TLS. A gRPC client's ALPN offer (h2 alone): the gateway terminates TLS
// and the guard relays to gRPC; h2 with http/1.1 (browsers, curl): the gateway's own session.
class Http2AbuseTls : public Http2Abuse {
 protected:
  void SetUp() override { StartTls({"h2"}); }
  void TearDown() override { RemoveTestCerts(certs_); }
  void StartTls(std::vector<std::string> alpn) {
    certs_ = MakeTestCerts();
    ASSERT_FALSE(certs_.server_cert.empty());
    tls_alpn_ = std::move(alpn);
    Start({"--tls-cert=" + certs_.server_cert, "--tls-key=" + certs_.server_key});
  }
};

TEST_F(Http2AbuseTls, RapidResetBurstIsCutAndBounded) {
  ExpectCut("rapid_reset", RapidReset(20000), 1);
  EXPECT_GE(MetricValue(Metrics(), "h2gate_tls_connections_total{route=\"guarded\"}"), 2);
}
TEST_F(Http2AbuseTls, TenRapidResetBurstsAtOnce) {
  ExpectCut("rapid_reset", RapidReset(20000), 10);
}
TEST_F(Http2AbuseTls, PingFlood) { ExpectCut("ping", Flood("ping", 100000), 1); }
TEST_F(Http2AbuseTls, ContinuationFlood) {
  ExpectCut("header_block", Flood("header_block", 100000), 1);
}
TEST_F(Http2AbuseTls, StreamsBeyondTheLimitAreCut) { ExpectCut("streams", UnfinishedStreams(), 1); }

class Http2AbuseTlsKept : public Http2AbuseTls {
 protected:
  void SetUp() override { StartTls({"h2", "http/1.1"}); }
};

TEST_F(Http2AbuseTlsKept, RapidResetBurstIsCutAndBounded) {
  ExpectCut("rapid_reset", RapidReset(20000), 1);
  EXPECT_EQ(MetricValue(Metrics(), "h2gate_http2_kept_connections_total{reason=\"alpn\"}"), 1);
}
TEST_F(Http2AbuseTlsKept, TenRapidResetBurstsAtOnce) {
  ExpectCut("rapid_reset", RapidReset(20000), 10);
}
TEST_F(Http2AbuseTlsKept, PingFlood) { ExpectCut("ping", Flood("ping", 100000), 1); }
TEST_F(Http2AbuseTlsKept, StreamsBeyondTheLimitAreCut) {
  ExpectCut("streams", UnfinishedStreams(), 1);
}

// A gRPC channel's connection passes through the guard, unless its source is exempt.
TEST_F(Http2Abuse, ExemptSourcesAreHandedOverUntouched) {
  for (const char* exempt : {"none", "10.0.0.0/8", "127.0.0.1/32"}) {
    child_.reset();
    Start({std::string("--http2-guard-exempt=") + exempt});
    BystanderClient client(NewStub());
    client.WaitForCalls(5);
    const double guarded = MetricValue(Metrics(), "h2gate_http2_guarded_connections");
    client.Stop();
    EXPECT_EQ(client.failed(), 0) << exempt;
    EXPECT_GE(client.ok(), 5) << exempt;
    EXPECT_EQ(guarded, std::string(exempt) == "127.0.0.1/32" ? 0 : 1) << exempt;
  }
}

// The control: without the guard the same burst reaches gRPC, which holds hundreds of MB and
// counts nothing. If this ever stops failing, gRPC bounds the burst itself.
TEST_F(Http2Abuse, WithoutTheGuardTheBurstReachesGrpc) {
  if (!kCheckMemory) GTEST_SKIP() << "memory figures are not comparable under sanitizers";
  child_.reset();
  Start({"--http2-guard-exempt=all"});
  const std::int64_t baseline = Rss(pid());
  RssSampler sampler(pid());
  const Outcome o = Attack(RapidReset(20000));
  const std::int64_t peak = sampler.Stop();
  EXPECT_NE(o.goaway_code, 11);
  EXPECT_GT(peak - baseline, 64 * kMiB);
  std::printf("[figures] unguarded rapid_reset x1: baseline %lld KiB, peak +%lld KiB\n",
              static_cast<long long>(baseline >> 10),
              static_cast<long long>((peak - baseline) >> 10));
  EXPECT_EQ(Count("rapid_reset"), 0);
}

// The process-wide memory limit. Over it, new connections on the main port are refused and
// counted while the admin port still answers; back under it, they are accepted again.
class MemoryLimit : public Http2Abuse {
 protected:
  void SetUp() override {}
  void StartWith(std::vector<std::string> flags) {
    flags.push_back("--admin-listen=127.0.0.1:0");
    Start(std::move(flags));
    std::smatch m;
    const std::string out = child_->output();
    ASSERT_TRUE(std::regex_search(out, m, std::regex("admin on 127\\.0\\.0\\.1:(\\d+)"))) << out;
    admin_port_ = std::stoi(m[1].str());
  }
  std::string AdminMetrics() {
    RawClient c(admin_port_);
    c.Send("GET /metrics HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    return BodyOf(c.ReadUntilClose(5s));
  }
  // Polls the admin port until h2gate_memory_degraded is `value`, for up to `timeout`.
  bool WaitDegraded(int value, std::chrono::milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (MetricValue(AdminMetrics(), "h2gate_memory_degraded") == value) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  }
  int admin_port_ = 0;
};

TEST_F(MemoryLimit, OverTheLimitNewConnectionsAreRefusedAndCounted) {
  StartWith({"--memory-limit=1Mi"});  // below any real process: over from the first check
  ASSERT_TRUE(WaitDegraded(1, 2s));
  RawClient c(port_);
  c.Send("GET /healthz HTTP/1.1\r\nHost: t\r\n\r\n");
  bool closed = false;
  EXPECT_EQ(c.ReadUntilClose(2s, &closed), "");
  EXPECT_TRUE(closed);
  const std::string m = AdminMetrics();
  EXPECT_GE(MetricValue(m, "h2gate_limit_hits_total{limit=\"memory\"}"), 1);
  EXPECT_EQ(MetricValue(m, "h2gate_memory_limit_bytes"), 1 << 20);
  EXPECT_GE(MetricValue(m, "h2gate_memory_trims_total"), 1) << "freed heap is returned first";
}

// Without the guard a burst drives gRPC far over the limit: the gateway degrades instead of
// growing into the OOM killer, trims what gRPC frees, and recovers by itself.
TEST_F(MemoryLimit, DegradesUnderABurstAndRecovers) {
  if (!kCheckMemory) GTEST_SKIP() << "memory figures are not comparable under sanitizers";
  StartWith({"--http2-guard-exempt=all", "--memory-limit=64Mi"});
  ASSERT_TRUE(WaitDegraded(0, 2s));
  std::thread attacker([&] { Attack(RapidReset(20000)); });
  const bool degraded = WaitDegraded(1, 5s);
  attacker.join();
  EXPECT_TRUE(degraded);
  EXPECT_TRUE(WaitDegraded(0, 10s)) << "back under the limit once gRPC freed the calls";
  EXPECT_LE(Rss(pid()), 64 * kMiB);
  BystanderClient after(NewStub());
  after.WaitForCalls(5);
  after.Stop();
  EXPECT_EQ(after.failed(), 0);
  EXPECT_GE(after.ok(), 5);
}

}  // namespace
}  // namespace h2gate::testing
