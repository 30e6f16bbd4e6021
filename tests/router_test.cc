// The router's decision for each kind of request, on each listener, under each policy state:
// the same function the HTTP/1 session executes and the fuzzer drives.
#include <gtest/gtest.h>

#include "route/router.h"

namespace h2gate {
namespace {

namespace http = boost::beast::http;
using namespace std::chrono_literals;

const MethodTable& Methods() {
  static const MethodTable m(
      {{"echo.v1.Echo", "Echo", "/echo.v1.Echo/Echo", RpcType::kUnary},
       {"echo.v1.Echo", "BidiStream", "/echo.v1.Echo/BidiStream", RpcType::kBidiStream}});
  return m;
}

const std::vector<std::array<std::string, 2>>& Wire() {
  static const std::vector<std::array<std::string, 2>> w = {{"close-426", "keep-426"},
                                                            {"close-426-b", "keep-426-b"}};
  return w;
}

PolicySet Warn(std::optional<SystemTime> sunset = std::nullopt) {
  PolicySet set;
  set.fallback.policy = Http1Policy::kWarn;
  set.fallback.sunset = sunset;
  return set;
}

struct Case {
  http::verb verb = http::verb::post;
  std::string_view target = "/echo.v1.Echo/Echo";
  unsigned version = 11;
  std::string_view content_type = "application/json";
  bool body_complete = true;
  bool upgrade = false;
  bool admin = false;
  const PolicySet* policy = nullptr;
  bool can_transcode = true;
  bool draining = false;
};

Decision DecideCase(const Case& c) {
  const RouterState state{.methods = Methods(),
                          .routes = {.grpc = !c.admin, .operator_endpoints = true},
                          .reject_wire = Wire(),
                          .policy = c.policy,
                          .can_transcode = c.can_transcode,
                          .draining = c.draining,
                          .now = SystemTime(1000h)};
  const RouteRequestFacts facts{.line = {c.verb, http::to_string(c.verb), c.target, c.version},
                                .content_type = c.content_type,
                                .body_complete = c.body_complete,
                                .upgrade = c.upgrade};
  return Decide(facts, state);
}

TEST(Router, GrpcPathsUnderEachPolicy) {
  const PolicySet warn = Warn(), past = Warn(SystemTime(999h));

  Decision d = DecideCase({});  // every rule reject: the cached 426
  EXPECT_EQ(d.action, Action::kReject);
  EXPECT_EQ(d.wire, &Wire()[0]);
  EXPECT_FALSE(d.close);

  d = DecideCase({.policy = &warn});
  EXPECT_EQ(d.action, Action::kTranscode);
  EXPECT_EQ(d.rule.policy, Http1Policy::kWarn);
  EXPECT_EQ(d.route.method_index, 0);

  // Past its sunset warn is reject; so is a server whose transcoder is not up.
  EXPECT_EQ(DecideCase({.policy = &past}).action, Action::kReject);
  EXPECT_EQ(DecideCase({.policy = &warn, .can_transcode = false}).action, Action::kReject);
  // Streaming methods and non-POST calls are never served as JSON.
  EXPECT_EQ(DecideCase({.target = "/echo.v1.Echo/BidiStream", .policy = &warn}).action,
            Action::kReject);
  EXPECT_EQ(DecideCase({.verb = http::verb::get, .policy = &warn}).action, Action::kReject);

  // Only POST over HTTP/1.1 has a cached answer; others are built, with the caller's version.
  d = DecideCase({.version = 10});
  EXPECT_EQ(d.action, Action::kReject);
  EXPECT_EQ(d.wire, nullptr);
  EXPECT_EQ(d.response.result(), http::status::upgrade_required);
  EXPECT_EQ(d.response.version(), 10u);
  EXPECT_EQ(d.response[http::field::upgrade], "h2c");

  // An unregistered method-shaped path: a 426 naming what is registered, never cached.
  d = DecideCase({.target = "/shop.v1.Cart/Add"});
  EXPECT_EQ(d.action, Action::kReject);
  EXPECT_EQ(d.wire, nullptr);
  EXPECT_EQ(d.route.method_index, -1);
  EXPECT_NE(d.response.body().find("Registered services: echo.v1.Echo"), std::string::npos);

  // The admin listener serves no gRPC paths.
  d = DecideCase({.admin = true, .policy = &warn});
  EXPECT_EQ(d.action, Action::kAnswer);
  EXPECT_EQ(d.response.result(), http::status::not_found);
}

TEST(Router, OnlyJsonBodiesAreTranscoded) {
  const PolicySet warn = Warn();
  Decision d = DecideCase({.content_type = "application/grpc-web+proto", .policy = &warn});
  EXPECT_EQ(d.action, Action::kUnsupportedMedia);
  EXPECT_EQ(d.media, MediaKind::kGrpcWeb);
  EXPECT_EQ(d.response.result(), http::status::unsupported_media_type);
  EXPECT_EQ(d.response[http::field::accept_post], "application/json");
  EXPECT_NE(d.response.body().find("application/grpc-web+proto"), std::string::npos);
  EXPECT_NE(d.response.body().find("gRPC client over HTTP/2"), std::string::npos);

  // A body over the cap is answered 413 and the connection closes: its rest is never read.
  d = DecideCase({.body_complete = false, .policy = &warn});
  EXPECT_EQ(d.action, Action::kAnswer);
  EXPECT_EQ(d.response.result(), http::status::payload_too_large);
  EXPECT_TRUE(d.close);
  // Under reject the body does not matter: the 426.
  EXPECT_EQ(DecideCase({.content_type = "application/proto"}).action, Action::kReject);
}

TEST(Router, MediaKinds) {
  const std::pair<std::string_view, MediaKind> rows[] = {
      {"", MediaKind::kJson},
      {"application/json", MediaKind::kJson},
      {" application/JSON ; charset=utf-8", MediaKind::kJson},
      {"application/jsonx", MediaKind::kOther},
      {"application/json-patch+json", MediaKind::kOther},
      {"application/proto", MediaKind::kProto},
      {"application/x-protobuf", MediaKind::kProto},
      {"application/grpc", MediaKind::kGrpc},
      {"application/grpc+proto", MediaKind::kGrpc},
      {"application/grpc-web", MediaKind::kGrpcWeb},
      {"application/grpc-web-text+proto", MediaKind::kGrpcWeb},
      {"application/connect+proto", MediaKind::kConnect},
      {"text/plain", MediaKind::kOther},
      {";", MediaKind::kJson},
  };
  for (const auto& [type, kind] : rows) {
    EXPECT_EQ(MediaKindOf(type), kind) << type;
  }
  EXPECT_EQ(MediaKindName(MediaKind::kGrpcWeb), "grpc_web");
}

TEST(Router, OperatorEndpointsAndDrain) {
  EXPECT_EQ(DecideCase({.verb = http::verb::get, .target = "/metrics"}).action, Action::kMetrics);
  EXPECT_EQ(DecideCase({.verb = http::verb::head, .target = "/debug/legacy-callers"}).action,
            Action::kLegacyCallers);
  EXPECT_EQ(
      DecideCase({.verb = http::verb::get, .target = "/debug/legacy-callers?format=text"}).action,
      Action::kLegacyCallersText);
  Decision d = DecideCase({.verb = http::verb::delete_, .target = "/debug/legacy-callers"});
  EXPECT_EQ(d.action, Action::kResetLegacyCallers);
  EXPECT_EQ(d.response.result(), http::status::ok);
  d = DecideCase({.verb = http::verb::post, .target = "/metrics"});
  EXPECT_EQ(d.action, Action::kAnswer);
  EXPECT_EQ(d.response.result(), http::status::method_not_allowed);

  // Draining: /readyz says so, and every answer closes its connection.
  d = DecideCase({.verb = http::verb::get, .target = "/readyz", .draining = true});
  EXPECT_EQ(d.response.result(), http::status::service_unavailable);
  EXPECT_TRUE(d.close);
  d = DecideCase({.verb = http::verb::get, .target = "/healthz", .draining = true});
  EXPECT_EQ(d.response.result(), http::status::ok);
  EXPECT_TRUE(d.close);
  EXPECT_FALSE(DecideCase({.verb = http::verb::get, .target = "/readyz"}).close);
  // An upgrade request gets the same answer, then the connection closes.
  d = DecideCase({.upgrade = true});
  EXPECT_EQ(d.action, Action::kReject);
  EXPECT_TRUE(d.close);
}

}  // namespace
}  // namespace h2gate
