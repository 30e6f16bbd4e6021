// Migration mode: per-method policies, JSON transcoding, sunsets, and reloads.
#include <signal.h>

#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <thread>

#include "policy/policy.h"
#include "support/fixture.h"
#include "support/net.h"
#include "support/process.h"

namespace h2gate::testing {
namespace {

using namespace std::chrono_literals;

std::string PostAs(int port, std::string_view path, std::string_view content_type,
                   std::string_view body, std::string_view extra_headers = "") {
  RawClient c(port);
  const std::string type =
      content_type.empty() ? "" : "Content-Type: " + std::string(content_type) + "\r\n";
  c.Send("POST " + std::string(path) + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n" + type +
         "Content-Length: " + std::to_string(body.size()) + "\r\n" + std::string(extra_headers) +
         "\r\n" + std::string(body));
  return c.ReadUntilClose(10s);
}

std::string Post(int port, std::string_view path, std::string_view body,
                 std::string_view extra_headers = "") {
  return PostAs(port, path, "application/json", body, extra_headers);
}

std::string Header(const std::string& response, std::string_view name) {
  const std::string needle = "\r\n" + std::string(name) + ": ";
  const auto at = response.find(needle);
  if (at == std::string::npos) return "";
  const auto start = at + needle.size();
  return response.substr(start, response.find("\r\n", start) - start);
}

// Policy file parsing, without a server.
TEST(PolicyFile, RulesAndErrorsWithLineNumbers) {
  PolicyRule defaults;
  std::string error;
  const auto set = ParsePolicyFile(
      "# migration plan\n"
      "*                   warn   sunset=2027-03-01T00:00:00Z\n"
      "shop.v1.Cart        allow  link=https://wiki.example/grpc\n"
      "/echo.v1.Echo/Echo  reject   # callers moved\n",
      defaults, &error);
  ASSERT_TRUE(set) << error;
  EXPECT_EQ(set->fallback.policy, Http1Policy::kWarn);
  EXPECT_EQ(set->Resolve("shop.v1.Cart", "/shop.v1.Cart/Add").policy, Http1Policy::kAllow);
  EXPECT_EQ(set->Resolve("shop.v1.Cart", "/shop.v1.Cart/Add").link, "https://wiki.example/grpc");
  EXPECT_EQ(set->Resolve("echo.v1.Echo", "/echo.v1.Echo/Echo").policy, Http1Policy::kReject);
  EXPECT_EQ(set->Resolve("echo.v1.Echo", "/echo.v1.Echo/Other").policy, Http1Policy::kWarn);

  // A rule takes the flags' deprecation date unless it names its own.
  defaults.deprecated = ParseRfc3339("2026-06-01T00:00:00Z");
  const auto dated = ParsePolicyFile(
      "a.B warn\n"
      "c.D warn deprecated=2026-09-01T00:00:00Z\n",
      defaults, &error);
  ASSERT_TRUE(dated) << error;
  EXPECT_EQ(dated->Resolve("a.B", "/a.B/M").deprecated, defaults.deprecated);
  EXPECT_EQ(dated->Resolve("c.D", "/c.D/M").deprecated, ParseRfc3339("2026-09-01T00:00:00Z"));
  defaults.deprecated.reset();

  const std::pair<const char*, const char*> bad[] = {
      {"* sometimes\n", "line 1: unknown policy \"sometimes\" (reject, warn or allow)"},
      {"\n\nfoo.Bar warn sunset=tomorrow\n", "line 3: sunset \"tomorrow\" is not an RFC 3339 time"},
      {"foo.Bar allow sunset=2027-01-01T00:00:00Z\n", "line 1: sunset= only applies to warn"},
      {"/echo.v1.Echo/Echo\n",
       "line 1: expected SELECTOR POLICY [deprecated=TIME] [sunset=TIME] [link=URL]"},
      {"foo.Bar warn deprecated=soon\n", "line 1: deprecated \"soon\" is not an RFC 3339 time"},
      {"foo.Bar allow deprecated=2027-01-01T00:00:00Z\n",
       "line 1: deprecated= only applies to warn"},
      {"foo.Bar warn deprecated=2028-01-01T00:00:00Z sunset=2027-01-01T00:00:00Z\n",
       "line 1: deprecated= is after sunset=: a call stops working only after it is deprecated"},
      {"/foo.Bar reject\n", "line 1: \"/foo.Bar\" is not a method path like /pkg.Service/Method"},
      {"foo.Bar warn colour=blue\n",
       "line 1: unknown option \"colour=blue\" (deprecated=, sunset= or link=)"},
      {"foo.Bar warn\nfoo.Bar allow\n", "line 2: foo.Bar has a rule already"},
      {"foo.Bar warn link=ftp://x\n", "line 1: link \"ftp://x\" is not an http(s) URL"},
  };
  for (const auto& [text, want] : bad) {
    error.clear();
    EXPECT_FALSE(ParsePolicyFile(text, defaults, &error)) << text;
    EXPECT_EQ(error, want) << text;
  }
}

TEST(PolicyFile, TimesAndSunsets) {
  const auto t = ParseRfc3339("2027-03-01T00:00:00Z");
  ASSERT_TRUE(t);
  EXPECT_EQ(HttpDate(*t), "Mon, 01 Mar 2027 00:00:00 GMT");
  EXPECT_EQ(ParseRfc3339("2027-03-01T01:30:00.250+01:30"), t);
  EXPECT_FALSE(ParseRfc3339("2027-02-30T00:00:00Z"));
  EXPECT_FALSE(ParseRfc3339("2027-03-01 00:00:00"));
  PolicyRule warn{.policy = Http1Policy::kWarn, .sunset = t};
  EXPECT_EQ(Effective(warn, *t - 1s), Http1Policy::kWarn);
  EXPECT_EQ(Effective(warn, *t), Http1Policy::kReject);
}

class Migration : public GatewayTest {
 protected:
  void SetUp() override {
    policy_file_ = ::testing::TempDir() + "policy-" + std::to_string(getpid()) + ".conf";
    std::ofstream(policy_file_) << "echo.v1.Echo warn deprecated=2029-01-15T00:00:00Z "
                                   "sunset=2030-01-01T00:00:00Z "
                                   "link=https://docs.example/migrate-to-grpc\n"
                                   "/grpc.health.v1.Health/Check allow\n";
    Options o = TestOptions();
    o.http1_policy_file = policy_file_;
    gateway_ = std::make_unique<Gateway>(o);
    gateway_->RegisterService(&service_);
    gateway_->SetClock([this] { return std::chrono::system_clock::time_point(now_.load()); });
    std::string error;
    ASSERT_TRUE(gateway_->Start(&error)) << error;
    port_ = gateway_->port();
  }
  void TearDown() override { std::remove(policy_file_.c_str()); }

  std::string policy_file_;
  std::atomic<std::chrono::system_clock::duration> now_{
      ParseRfc3339("2029-06-01T00:00:00Z")->time_since_epoch()};
};

TEST_F(Migration, PolicyAndSunsetAreMetricsThatFollowTheClock) {
  const std::string echo = "{grpc_service=\"echo.v1.Echo\",grpc_method=\"Echo\"";
  std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, "h2gate_http1_policy" + echo + ",policy=\"warn\"}"), 1);
  EXPECT_EQ(MetricValue(m, "h2gate_http1_policy_sunset_timestamp_seconds" + echo + "}"),
            1893456000);  // 2030-01-01T00:00:00Z
  const std::string check = "{grpc_service=\"grpc.health.v1.Health\",grpc_method=\"Check\"";
  EXPECT_EQ(MetricValue(m, "h2gate_http1_policy" + check + ",policy=\"allow\"}"), 1);
  EXPECT_EQ(MetricValue(m, "h2gate_http1_policy_sunset_timestamp_seconds" + check + "}"), -1);
  now_ = ParseRfc3339("2030-01-01T00:00:00Z")->time_since_epoch();
  m = Metrics();
  EXPECT_EQ(MetricValue(m, "h2gate_http1_policy" + echo + ",policy=\"reject\"}"), 1);
  EXPECT_EQ(MetricValue(m, "h2gate_http1_policy" + echo + ",policy=\"warn\"}"), -1);
}

TEST_F(Migration, JsonAndGrpcGiveTheSameAnswer) {
  echo::v1::EchoRequest req;
  req.set_message("same");
  req.set_payload("\x01\x02\xff");
  echo::v1::EchoResponse grpc_reply;
  grpc::ClientContext ctx;
  ASSERT_TRUE(NewStub()->Echo(&ctx, req, &grpc_reply).ok());

  const std::string r =
      Post(port_, "/echo.v1.Echo/Echo", "{\"message\":\"same\",\"payload\":\"AQL/\"}");
  ASSERT_EQ(StatusOf(r), 200) << r;
  EXPECT_EQ(Header(r, "Content-Type"), "application/json");
  echo::v1::EchoResponse json_reply;
  ASSERT_TRUE(google::protobuf::util::JsonStringToMessage(BodyOf(r), &json_reply).ok()) << r;
  EXPECT_EQ(json_reply.SerializeAsString(), grpc_reply.SerializeAsString());
}

TEST_F(Migration, WarnCarriesDeprecationSunsetLinkAndWarning) {
  const std::string r = Post(port_, "/echo.v1.Echo/Echo", "{\"message\":\"w\"}");
  ASSERT_EQ(StatusOf(r), 200) << r;
  EXPECT_EQ(Header(r, "Sunset"), "Tue, 01 Jan 2030 00:00:00 GMT");
  EXPECT_EQ(Header(r, "Deprecation"), "@1863129600");  // the rule's deprecated= date
  EXPECT_EQ(Header(r, "Link"),
            "<https://docs.example/migrate-to-grpc>; rel=\"deprecation\"; type=\"text/html\"");
  EXPECT_NE(Header(r, "Warning")
                .find("299 h2gate \"JSON for /echo.v1.Echo/Echo stops "
                      "working at Tue, 01 Jan 2030 00:00:00 GMT"),
            std::string::npos)
      << r;
  // allow: served, and silent about it.
  const std::string h = Post(port_, "/grpc.health.v1.Health/Check", "{}");
  ASSERT_EQ(StatusOf(h), 200) << h;
  EXPECT_EQ(ParseJson(BodyOf(h)).fields().at("status").string_value(), "SERVING");
  EXPECT_EQ(Header(h, "Deprecation"), "");
  EXPECT_EQ(Header(h, "Warning"), "");

  const std::string m = Metrics();
  EXPECT_EQ(
      MetricValue(m,
                  "h2gate_http1_transcoded_total{grpc_service=\"echo.v1.Echo\","
                  "grpc_method=\"Echo\",policy=\"warn\",grpc_code=\"OK\",http_version=\"1.x\"}"),
      1);
  EXPECT_EQ(
      MetricValue(m,
                  "h2gate_http1_transcoded_total{grpc_service=\"grpc.health.v1.Health\","
                  "grpc_method=\"Check\",policy=\"allow\",grpc_code=\"OK\",http_version=\"1.x\"}"),
      1);
  const auto callers = ParseJson(BodyOf(Http("GET", "/debug/legacy-callers")));
  const auto& list = callers.fields().at("callers").list_value();
  ASSERT_EQ(list.values_size(), 2);
  for (const auto& c : list.values()) {
    const auto& f = c.struct_value().fields();
    EXPECT_EQ(f.at("policy").string_value(),
              f.at("method").string_value() == "/echo.v1.Echo/Echo" ? "warn" : "allow");
  }
}

// RFC 9745: Deprecation is the date the resource was deprecated, not when these rules were
// read, so a restart, a reload or another pod of the same rollout says the same date.
TEST_F(Migration, DeprecationDateStaysTheConfiguredOneAcrossReloads) {
  const std::string before = Post(port_, "/echo.v1.Echo/Echo", "{}");
  ASSERT_EQ(StatusOf(before), 200) << before;
  now_ = ParseRfc3339("2029-08-01T00:00:00Z")->time_since_epoch();
  std::string error;
  ASSERT_TRUE(gateway_->ReloadPolicy(&error)) << error;
  const std::string after = Post(port_, "/echo.v1.Echo/Echo", "{}");
  ASSERT_EQ(StatusOf(after), 200) << after;
  EXPECT_EQ(Header(before, "Deprecation"), "@1863129600");
  EXPECT_EQ(Header(after, "Deprecation"), "@1863129600");

  // A warn rule with no date says it is deprecated in Warning, and sends no made-up date.
  std::ofstream(policy_file_) << "echo.v1.Echo warn\n";
  ASSERT_TRUE(gateway_->ReloadPolicy(&error)) << error;
  const std::string undated = Post(port_, "/echo.v1.Echo/Echo", "{}");
  ASSERT_EQ(StatusOf(undated), 200) << undated;
  EXPECT_EQ(Header(undated, "Deprecation"), "");
  EXPECT_NE(Header(undated, "Warning").find("/echo.v1.Echo/Echo is deprecated"), std::string::npos)
      << undated;
}

// Only JSON is transcoded. A binary protobuf, gRPC-Web or Connect call gets a 415 that says what
// is accepted, counted by what was sent, never a JSON parse error about bytes that are not JSON.
TEST_F(Migration, OtherBodiesGet415WithAcceptPost) {
  struct Row {
    std::string_view content_type;
    int status;
    std::string_view counted;  // the metric's content_type label, or empty
  };
  const Row rows[] = {
      {"application/json", 200, ""},
      {"application/json; charset=utf-8", 200, ""},
      {"Application/JSON", 200, ""},
      {"", 200, ""},  // legacy callers that send no Content-Type are served as before
      {"application/proto", 415, "proto"},
      {"application/x-protobuf", 415, "proto"},
      {"application/grpc-web+proto", 415, "grpc_web"},
      {"application/grpc", 415, "grpc"},
      {"application/connect+json", 415, "connect"},
      {"application/x-www-form-urlencoded", 415, "other"},
      {"text/plain", 415, "other"},
  };
  for (const Row& row : rows) {
    const std::string r = PostAs(port_, "/echo.v1.Echo/Echo", row.content_type, "{}");
    ASSERT_EQ(StatusOf(r), row.status) << row.content_type << "\n" << r;
    if (row.status != 415) continue;
    EXPECT_EQ(Header(r, "Accept-Post"), "application/json") << r;
    EXPECT_EQ(Header(r, "Content-Type"), "application/json") << r;
    const auto body = ParseJson(BodyOf(r));
    EXPECT_EQ(body.fields().at("code").number_value(), 3) << r;
    const std::string message = body.fields().at("message").string_value();
    EXPECT_NE(message.find("/echo.v1.Echo/Echo is served over HTTP/1.1 as JSON only"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find(std::string(row.content_type)), std::string::npos) << message;
    EXPECT_EQ(message.find("not a valid"), std::string::npos) << message;
  }
  const std::string m = Metrics();
  const std::pair<std::string_view, int> counted[] = {
      {"proto", 2}, {"grpc_web", 1}, {"grpc", 1}, {"connect", 1}, {"other", 2}};
  for (const auto& [label, n] : counted) {
    EXPECT_EQ(MetricValue(m, "h2gate_http1_unsupported_media_type_total{content_type=\"" +
                                 std::string(label) + "\"}"),
              n)
        << label;
  }
  // The sender is in the legacy-caller report, with what it got last.
  const auto callers = ParseJson(BodyOf(Http("GET", "/debug/legacy-callers")));
  const auto& list = callers.fields().at("callers").list_value();
  ASSERT_EQ(list.values_size(), 1);
  EXPECT_EQ(list.values(0).struct_value().fields().at("policy").string_value(),
            "unsupported_media_type");
  EXPECT_EQ(list.values(0).struct_value().fields().at("count").number_value(), 11);
  // A method under reject still gets the 426, whatever the body: it is not served over HTTP/1.x.
  std::ofstream(policy_file_) << "* reject\n";
  std::string error;
  ASSERT_TRUE(gateway_->ReloadPolicy(&error)) << error;
  EXPECT_EQ(StatusOf(PostAs(port_, "/echo.v1.Echo/Echo", "application/proto", "x")), 426);
}

TEST_F(Migration, SunsetPassingTurnsWarnIntoRejectWithoutRestart) {
  ASSERT_EQ(StatusOf(Post(port_, "/echo.v1.Echo/Echo", "{}")), 200);
  now_ = ParseRfc3339("2030-01-01T00:00:00Z")->time_since_epoch();
  const std::string r = Post(port_, "/echo.v1.Echo/Echo", "{}");
  EXPECT_EQ(StatusOf(r), 426) << r;
  EXPECT_EQ(Header(r, "Upgrade"), "h2c");
  // allow has no sunset.
  EXPECT_EQ(StatusOf(Post(port_, "/grpc.health.v1.Health/Check", "{}")), 200);
}

TEST_F(Migration, StreamingMethodsAndNonPostAlwaysGet426) {
  EXPECT_EQ(StatusOf(Post(port_, "/echo.v1.Echo/ServerStream", "{\"count\":1}")), 426);
  EXPECT_EQ(StatusOf(Post(port_, "/echo.v1.Echo/BidiStream", "{}")), 426);
  EXPECT_EQ(StatusOf(Http("GET", "/echo.v1.Echo/Echo")), 426);
}

TEST_F(Migration, BadBodiesAre400NamingTheProblem) {
  const std::pair<std::string, std::string> cases[] = {
      {"{\"message\":", "request body is not a valid echo.v1.EchoRequest in JSON"},
      {"{\"message\":42}", "message"},
      {"{\"colour\":\"blue\"}", "colour"},
      {"[1,2]", "echo.v1.EchoRequest"},
  };
  for (const auto& [body, want] : cases) {
    const std::string r = Post(port_, "/echo.v1.Echo/Echo", body);
    EXPECT_EQ(StatusOf(r), 400) << body << "\n" << r;
    const auto json = ParseJson(BodyOf(r));
    EXPECT_EQ(json.fields().at("code").number_value(), 3) << body;
    EXPECT_NE(json.fields().at("message").string_value().find(want), std::string::npos)
        << body << " -> " << json.fields().at("message").string_value();
  }
  EXPECT_EQ(MetricValue(Metrics(),
                        "h2gate_http1_transcoded_total{grpc_service=\"echo.v1.Echo\","
                        "grpc_method=\"Echo\",policy=\"warn\",grpc_code=\"InvalidArgument\",http_"
                        "version=\"1.x\"}"),
            4);
}

TEST_F(Migration, OversizedBodyIsNotTranscoded) {
  const std::string big = "{\"message\":\"" + std::string(100000, 'x') + "\"}";
  bool closed = false;
  RawClient c(port_);
  c.Send("POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nContent-Length: " +
         std::to_string(big.size()) + "\r\n\r\n" + big);
  const std::string r = c.ReadUntilClose(5s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(StatusOf(r), 413) << r.substr(0, 300);
  EXPECT_NE(BodyOf(r).find("--max-body-bytes"), std::string::npos);
}

TEST_F(Migration, DeadlineFromGrpcTimeoutHeader) {
  const auto start = std::chrono::steady_clock::now();
  const std::string r =
      Post(port_, "/echo.v1.Echo/Echo", "{\"delayMs\":3000}", "grpc-timeout: 200m\r\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(StatusOf(r), 504) << r;
  EXPECT_EQ(ParseJson(BodyOf(r)).fields().at("code").number_value(), 4);  // DEADLINE_EXCEEDED
}

// --transcode-timeout caps what a caller may ask for: a grpc-timeout of 11,000 years is cut down.
TEST(MigrationCaps, GrpcTimeoutIsCappedAtTheTranscodeTimeout) {
  Child child({BinaryDir() + "/server/h2gate", "--listen=127.0.0.1:0", "--http1-policy=allow",
               "--transcode-timeout=300ms"});
  const int port = ListeningPort(child);
  ASSERT_GT(port, 0) << child.output();
  const auto start = std::chrono::steady_clock::now();
  const std::string r =
      Post(port, "/echo.v1.Echo/Echo", "{\"delayMs\":3000}", "grpc-timeout: 99999999H\r\n");
  EXPECT_LT(std::chrono::steady_clock::now() - start, 2s);
  EXPECT_EQ(StatusOf(r), 504) << r;
}

// A caller that hangs up cancels its call on the server at once, instead of leaving it to run
// to its deadline.
TEST_F(Migration, ClientThatHangsUpCancelsItsCall) {
  const std::string canceled =
      "grpc_server_handled_total{grpc_type=\"unary\",grpc_service=\"echo.v1.Echo\","
      "grpc_method=\"Echo\",grpc_code=\"Canceled\"}";
  const double before = std::max(0.0, MetricValue(Metrics(), canceled));
  {
    RawClient c(port_);
    const std::string body = "{\"delayMs\":5000}";
    c.Send(
        "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nContent-Type: application/json\r\n"
        "Content-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
    std::this_thread::sleep_for(300ms);
  }  // closed
  double now = before;
  for (int i = 0; i < 100 && now == before; ++i) {
    std::this_thread::sleep_for(20ms);
    now = std::max(0.0, MetricValue(Metrics(), canceled));
  }
  EXPECT_EQ(now - before, 1) << "cancelled within 2 s, not after the 5 s delay";
}

// A JSON call in flight at SIGTERM is answered before the process exits (a rolling update).
TEST(MigrationBinary, JsonCallInFlightAtSigtermGetsIts200) {
  Child child({BinaryDir() + "/server/h2gate", "--listen=127.0.0.1:0", "--http1-policy=allow",
               "--drain-timeout=5s"});
  const int port = ListeningPort(child);
  ASSERT_GT(port, 0) << child.output();
  std::string r;
  std::thread caller(
      [&] { r = Post(port, "/echo.v1.Echo/Echo", "{\"message\":\"rolling\",\"delayMs\":1500}"); });
  std::this_thread::sleep_for(500ms);
  kill(child.pid(), SIGTERM);
  caller.join();
  EXPECT_EQ(StatusOf(r), 200) << r << "\n" << child.output();
  EXPECT_NE(BodyOf(r).find("rolling"), std::string::npos) << r;
  EXPECT_NE(r.find("Connection: close"), std::string::npos) << "answers while draining close";
  EXPECT_EQ(child.Wait(10s), 0);
}

TEST_F(Migration, ConcurrentJsonAndGrpcLoad) {
  std::atomic<int> json_ok{0}, grpc_ok{0}, failed{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 3; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < 150; ++i) {
        const std::string msg = "t" + std::to_string(t) + "-" + std::to_string(i);
        const std::string r = Post(port_, "/echo.v1.Echo/Echo", "{\"message\":\"" + msg + "\"}");
        (StatusOf(r) == 200 && BodyOf(r).find(msg) != std::string::npos ? json_ok : failed)++;
      }
    });
    threads.emplace_back([&] {
      auto stub = NewStub();
      for (int i = 0; i < 150; ++i) {
        grpc::ClientContext ctx;
        ctx.set_deadline(std::chrono::system_clock::now() + 5s);
        echo::v1::EchoRequest req;
        req.set_message("g");
        echo::v1::EchoResponse resp;
        (stub->Echo(&ctx, req, &resp).ok() ? grpc_ok : failed)++;
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(failed, 0);
  EXPECT_EQ(json_ok, 450);
  EXPECT_EQ(grpc_ok, 450);
}

// SIGHUP re-reads the policy file; connections stay up, and a broken file changes nothing.
TEST(MigrationBinary, SighupReloadsPolicyWithoutDroppingConnections) {
  const std::string file = ::testing::TempDir() + "reload-" + std::to_string(getpid()) + ".conf";
  std::ofstream(file) << "* reject\n";
  Child child(
      {BinaryDir() + "/server/h2gate", "--listen=127.0.0.1:0", "--http1-policy-file=" + file});
  const int port = ListeningPort(child);
  ASSERT_GT(port, 0) << child.output();

  RawClient keep(port);  // one keep-alive connection across both reloads
  auto call = [&keep] {
    keep.Send("POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nContent-Length: 2\r\n\r\n{}");
    return StatusOf(keep.ReadUntil("}\n", 5s));
  };
  EXPECT_EQ(call(), 426);
  std::ofstream(file) << "echo.v1.Echo allow\n";
  kill(child.pid(), SIGHUP);
  ASSERT_TRUE(child.WaitForOutput("SIGHUP: policy reloaded", 5s)) << child.output();
  EXPECT_EQ(call(), 200);
  std::ofstream(file) << "echo.v1.Echo perhaps\n";
  kill(child.pid(), SIGHUP);
  ASSERT_TRUE(child.WaitForOutput("policy not reloaded", 5s)) << child.output();
  EXPECT_NE(child.output().find("line 1: unknown policy \"perhaps\""), std::string::npos);
  EXPECT_EQ(call(), 200) << "the previous rules stay";
  kill(child.pid(), SIGTERM);
  EXPECT_EQ(child.Wait(10s), 0);
  std::remove(file.c_str());
}

TEST(MigrationBinary, BadPolicyFileStopsStartupWithLineAndReason) {
  const std::string file = ::testing::TempDir() + "bad-" + std::to_string(getpid()) + ".conf";
  std::ofstream(file) << "# ok\n\necho.v1.Echo warn sunset=soon\n";
  const auto r = RunProcess(
      {BinaryDir() + "/server/h2gate", "--listen=127.0.0.1:0", "--http1-policy-file=" + file}, 10s);
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--http1-policy-file=" + file +
                          " line 3: sunset \"soon\" is not an RFC 3339 time"),
            std::string::npos)
      << r.output;
  std::remove(file.c_str());
}

}  // namespace
}  // namespace h2gate::testing
