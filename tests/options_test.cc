#include <gtest/gtest.h>

#include "policy/policy.h"

#include <map>

#include "h2gate/gateway.h"

namespace h2gate {
namespace {

ParsedOptions Parse(std::vector<std::string_view> args,
                    std::map<std::string, std::string> env = {}) {
  return ParseOptions(args, [&env](const char* name) -> const char* {
    const auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  });
}

TEST(Options, DefaultsListenOn8080) {
  const auto p = Parse({});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.options.listen, (HostPort{"0.0.0.0", 8080}));
  EXPECT_EQ(p.options.sniff_timeout, std::chrono::seconds(5));
  EXPECT_TRUE(p.options.defer_accept);
}

TEST(Options, FlagsInBothForms) {
  const auto p = Parse({"--listen=127.0.0.1:0", "--sniff-timeout", "250ms", "--io-threads=2",
                        "--metrics=false", "--drain-timeout=1m", "--defer-accept=false"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.options.listen, (HostPort{"127.0.0.1", 0}));
  EXPECT_EQ(p.options.sniff_timeout, std::chrono::milliseconds(250));
  EXPECT_EQ(p.options.io_threads, 2);
  EXPECT_FALSE(p.options.metrics);
  EXPECT_EQ(p.options.drain_timeout, std::chrono::minutes(1));
  EXPECT_FALSE(p.options.defer_accept);
}

TEST(Options, EnvironmentAppliesAndFlagsWin) {
  const auto p = Parse({"--idle-timeout=3s"}, {{"H2GATE_LISTEN", "[::1]:9000"},
                                               {"H2GATE_IDLE_TIMEOUT", "9s"},
                                               {"H2GATE_MAX_CONNECTIONS", "5"}});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.options.listen, (HostPort{"::1", 9000}));
  EXPECT_EQ(p.options.idle_timeout, std::chrono::seconds(3));
  EXPECT_EQ(p.options.max_connections, 5);
}

// Values arrive typed, parsed once here: the gateway never re-reads a string.
TEST(Options, TypedValuesAndTheirDefaultsInHelp) {
  const auto p = Parse({"--admin-listen=[::1]:9090", "--direct-listen=127.0.0.1:0",
                        "--http1-policy=warn", "--http1-sunset=2027-03-01T00:00:00Z",
                        "--http1-deprecated=2026-12-01T01:30:00+01:00"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.options.admin_listen, (HostPort{"::1", 9090}));
  EXPECT_EQ(p.options.direct_listen, (HostPort{"127.0.0.1", 0}));
  EXPECT_EQ(p.options.http1_policy, Http1Policy::kWarn);
  EXPECT_EQ(p.options.http1_sunset, ParseRfc3339("2027-03-01T00:00:00Z"));
  EXPECT_EQ(p.options.http1_deprecated, ParseRfc3339("2026-12-01T00:30:00Z"));
  EXPECT_EQ(p.options.admin_listen->ToString(), "[::1]:9090");
  // Empty turns an optional setting off again, also over the environment.
  const auto off = Parse({"--admin-listen="}, {{"H2GATE_ADMIN_LISTEN", "127.0.0.1:1"}});
  ASSERT_EQ(off.error, "");
  EXPECT_FALSE(off.options.admin_listen);

  const std::string usage = Usage();
  EXPECT_NE(usage.find("--listen  [H2GATE_LISTEN]  default \"0.0.0.0:8080\""), std::string::npos);
  EXPECT_NE(usage.find("--http1-policy  [H2GATE_HTTP1_POLICY]  default \"reject\""),
            std::string::npos);
  EXPECT_NE(usage.find("--http1-sunset  [H2GATE_HTTP1_SUNSET]  default \"\""), std::string::npos);
}

TEST(Options, ErrorsNameTheFlagAndValue) {
  EXPECT_EQ(Parse({"--listen=nowhere"}).error,
            "invalid --listen=\"nowhere\": not HOST:PORT (like 0.0.0.0:8080 or [::1]:0)");
  EXPECT_EQ(Parse({"--sniff-timeout=5"}).error,
            "invalid --sniff-timeout=\"5\": not a duration (like 250ms, 5s, 2m, 1h)");
  EXPECT_EQ(Parse({"--io-threads=0"}).error,
            "invalid --io-threads=\"0\": must be between 1 and 64");
  EXPECT_EQ(Parse({"--bogus=1"}).error, "unknown flag --bogus (see --help)");
  EXPECT_EQ(Parse({"--listen"}).error, "flag --listen needs a value");
  EXPECT_EQ(Parse({"listen"}).error,
            "unexpected argument \"listen\" (flags look like --name=value)");
  EXPECT_EQ(Parse({}, {{"H2GATE_LOG_LEVEL", "loud"}}).error,
            "invalid H2GATE_LOG_LEVEL=\"loud\": not one of trace, debug, info, warn, error, "
            "critical, off");
}

TEST(Options, RejectsBadAddressesAndNumbers) {
  for (std::string_view bad :
       {"--listen=1.2.3.4", "--listen=:80", "--listen=1.2.3.4:65536", "--listen=::1:80",
        "--listen=host.example:80", "--max-connections=-1", "--max-connections=1x",
        "--max-header-bytes=10", "--sniff-timeout=-1s", "--sniff-timeout=5d", "--metrics=maybe"}) {
    EXPECT_NE(Parse({bad}).error, "") << bad;
  }
  for (std::string_view good : {"--listen=localhost:0", "--listen=[::]:8080",
                                "--direct-listen=", "--sniff-timeout=0", "--idle-timeout=1h"}) {
    EXPECT_EQ(Parse({good}).error, "") << good;
  }
}

TEST(Options, MemoryLimitAndHttp2Guard) {
  const auto defaults = Parse({});
  EXPECT_EQ(defaults.options.memory_limit, -1) << "auto";
  EXPECT_EQ(defaults.options.http2_guard_exempt, "none");
  const struct {
    const char* value;
    std::int64_t bytes;
  } sizes[] = {{"auto", -1},           {"0", 0},
               {"1048576", 1 << 20},   {"512Ki", 512 << 10},
               {"200Mi", 200LL << 20}, {"2Gi", 2LL << 30}};
  for (const auto& s : sizes) {
    const auto p = Parse({}, {{"H2GATE_MEMORY_LIMIT", s.value}});
    ASSERT_EQ(p.error, "") << s.value;
    EXPECT_EQ(p.options.memory_limit, s.bytes) << s.value;
  }
  for (const char* bad : {"200MB", "-1", "Mi", "1.5Gi", "2000000Gi"}) {
    const std::string flag = std::string("--memory-limit=") + bad;
    const auto q = Parse({flag});
    EXPECT_NE(q.error.find("--memory-limit"), std::string::npos) << bad << ": " << q.error;
  }
  const auto p =
      Parse({"--http2-guard-exempt=127.0.0.1/32,10.0.0.0/8", "--http2-max-concurrent-streams=100",
             "--http2-reset-burst=50", "--http2-reset-rate=20"});
  ASSERT_EQ(p.error, "");
  EXPECT_EQ(p.options.http2_guard_exempt, "127.0.0.1/32,10.0.0.0/8");
  EXPECT_EQ(p.options.http2_max_concurrent_streams, 100);
  EXPECT_EQ(p.options.http2_reset_burst, 50);
  EXPECT_EQ(p.options.http2_reset_rate, 20);
  const auto bad = Parse({"--http2-guard-exempt=10.0.0.0/40"});
  EXPECT_NE(bad.error.find("--http2-guard-exempt"), std::string::npos) << bad.error;
  EXPECT_NE(bad.error.find("prefix length"), std::string::npos) << bad.error;
  EXPECT_NE(Parse({"--http2-reset-burst=0"}).error, "");
}

TEST(Options, HelpListsEveryFlagWithItsVariableAndDefault) {
  EXPECT_TRUE(Parse({"--help"}).help);
  const std::string usage = Usage();
  for (std::string_view want :
       {"--listen", "H2GATE_LISTEN", "\"0.0.0.0:8080\"", "--sniff-timeout", "\"5s\"",
        "--max-connections", "--drain-timeout", "H2GATE_SHUTDOWN_DELAY", "--log-level"}) {
    EXPECT_NE(usage.find(want), std::string::npos) << want;
  }
}

}  // namespace
}  // namespace h2gate
