#include "http1/http1_response.h"
#include "call/json.h"

#include <google/protobuf/struct.pb.h>
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

namespace h2gate {
namespace {
namespace http = boost::beast::http;

MethodTable Methods() {
  return MethodTable(
      {{"echo.v1.Echo", "Echo", "/echo.v1.Echo/Echo", RpcType::kUnary},
       {"echo.v1.Echo", "BidiStream", "/echo.v1.Echo/BidiStream", RpcType::kBidiStream}});
}

google::protobuf::Struct ParseJson(const std::string& body) {
  google::protobuf::Struct s;
  const auto status = google::protobuf::util::JsonStringToMessage(body, &s);
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << body;
  return s;
}

TEST(GrpcPath, Shapes) {
  EXPECT_TRUE(ParseGrpcPath("/echo.v1.Echo/Echo"));
  EXPECT_TRUE(ParseGrpcPath("/Svc/M"));
  EXPECT_TRUE(ParseGrpcPath("/a.b_c.D/_m1?x=1"));
  for (std::string_view bad : {"/", "/healthz", "/a/b/c", "/a./b", "/.a/b", "/1a/b", "/a/1b", "/a/",
                               "//b", "/a b/c", "echo.v1.Echo/Echo", "/a/b%20"}) {
    EXPECT_FALSE(ParseGrpcPath(bad)) << bad;
  }
  const auto p = ParseGrpcPath("/echo.v1.Echo/Echo?debug=1");
  ASSERT_TRUE(p);
  EXPECT_EQ(p->service, "echo.v1.Echo");
  EXPECT_EQ(p->method, "Echo");
}

TEST(Route, Kinds) {
  const auto m = Methods();
  EXPECT_EQ(RouteRequest(http::verb::post, "/echo.v1.Echo/Echo", m, {}).method_index, 0);
  EXPECT_EQ(RouteRequest(http::verb::get, "/echo.v1.Echo/Nope", m, {}).kind, RouteKind::kGrpc);
  EXPECT_EQ(RouteRequest(http::verb::get, "/echo.v1.Echo/Nope", m, {}).method_index, -1);
  EXPECT_EQ(RouteRequest(http::verb::get, "/healthz", m, {}).kind, RouteKind::kHealthz);
  EXPECT_EQ(RouteRequest(http::verb::head, "/readyz?x", m, {}).kind, RouteKind::kReadyz);
  EXPECT_EQ(RouteRequest(http::verb::get, "/metrics", m, {}).kind, RouteKind::kMetrics);
  EXPECT_EQ(RouteRequest(http::verb::get, "/metrics", m, {.operator_endpoints = false}).kind,
            RouteKind::kNotFound);
  EXPECT_EQ(RouteRequest(http::verb::post, "/healthz", m, {}).kind, RouteKind::kMethodNotAllowed);
  EXPECT_EQ(RouteRequest(http::verb::get, "/", m, {}).kind, RouteKind::kNotFound);
  EXPECT_EQ(RouteRequest(http::verb::get, "/debug/legacy-callers?format=text", m, {}).kind,
            RouteKind::kLegacyCallers);
  EXPECT_EQ(RouteRequest(http::verb::delete_, "/debug/legacy-callers", m, {}).kind,
            RouteKind::kLegacyCallersReset);
  EXPECT_EQ(RouteRequest(http::verb::post, "/debug/legacy-callers", m, {}).kind,
            RouteKind::kMethodNotAllowed);
  EXPECT_EQ(
      RouteRequest(http::verb::get, "/debug/legacy-callers", m, {.operator_endpoints = false}).kind,
      RouteKind::kNotFound);
  // The admin port answers no 426: gRPC paths are just not found there.
  EXPECT_EQ(RouteRequest(http::verb::post, "/echo.v1.Echo/Echo", m, {.grpc = false}).kind,
            RouteKind::kNotFound);
  // REST-looking paths are not gRPC methods; registered ones are, whatever their style.
  for (std::string_view rest : {"/v1/users", "/api/health", "/api.example/users", "/Svc/M"}) {
    EXPECT_EQ(RouteRequest(http::verb::get, rest, m, {}).kind, RouteKind::kNotFound) << rest;
  }
  MethodTable odd({{"Svc", "m", "/Svc/m", RpcType::kUnary}});
  EXPECT_EQ(RouteRequest(http::verb::post, "/Svc/m", odd, {}).method_index, 0);
}

TEST(UpgradeRequired, RegisteredMethod) {
  const auto m = Methods();
  const Route route = RouteRequest(http::verb::post, "/echo.v1.Echo/Echo", m, {});
  Response res = UpgradeRequired({http::verb::post, "POST", "/echo.v1.Echo/Echo", 11}, route, m);
  Finalize(res, true, false);
  EXPECT_EQ(res.result_int(), 426);
  EXPECT_EQ(res[http::field::upgrade], "h2c");
  EXPECT_EQ(res[http::field::connection], "Upgrade");
  EXPECT_EQ(res[http::field::content_type], "application/json");
  EXPECT_EQ(res[http::field::content_length], std::to_string(res.body().size()));

  const auto json = ParseJson(res.body());
  EXPECT_EQ(json.fields().at("code").number_value(), 9);  // FAILED_PRECONDITION
  const std::string& message = json.fields().at("message").string_value();
  EXPECT_NE(message.find("/echo.v1.Echo/Echo is a gRPC method"), std::string::npos);
  EXPECT_NE(message.find("HTTP/1.1"), std::string::npos);
  EXPECT_NE(message.find("h2c with prior knowledge"), std::string::npos);
  const auto& detail = json.fields().at("details").list_value().values(0).struct_value();
  EXPECT_EQ(detail.fields().at("@type").string_value(), "type.googleapis.com/google.rpc.ErrorInfo");
  const auto& meta = detail.fields().at("metadata").struct_value().fields();
  EXPECT_EQ(meta.at("grpc_service").string_value(), "echo.v1.Echo");
  EXPECT_EQ(meta.at("grpc_method").string_value(), "Echo");
  EXPECT_EQ(meta.at("registered").string_value(), "true");
}

TEST(UpgradeRequired, UnregisteredMethodIsToldApartAndListsServices) {
  const auto m = Methods();
  const Route route = RouteRequest(http::verb::get, "/shop.Cart/Add", m, {});
  Response res = UpgradeRequired({http::verb::get, "GET", "/shop.Cart/Add", 10}, route, m);
  Finalize(res, false, false);
  EXPECT_EQ(res.result_int(), 426);
  EXPECT_EQ(res[http::field::connection], "Upgrade");  // HTTP/1.0 closes by default
  const auto json = ParseJson(res.body());
  EXPECT_EQ(json.fields().at("code").number_value(), 12);  // UNIMPLEMENTED
  const std::string& message = json.fields().at("message").string_value();
  EXPECT_NE(message.find("no service here registers it"), std::string::npos);
  EXPECT_NE(message.find("HTTP/1.0"), std::string::npos);
  EXPECT_NE(message.find("Registered services: echo.v1.Echo"), std::string::npos);
  const auto& meta = json.fields()
                         .at("details")
                         .list_value()
                         .values(0)
                         .struct_value()
                         .fields()
                         .at("metadata")
                         .struct_value()
                         .fields();
  EXPECT_EQ(meta.at("registered").string_value(), "false");
}

TEST(Finalize, ConnectionHeader) {
  Response r11 = JsonError(http::status::not_found, grpc::StatusCode::NOT_FOUND, "x", 11);
  Finalize(r11, true, false);
  EXPECT_EQ(r11.count(http::field::connection), 0u);
  Finalize(r11, false, false);
  EXPECT_EQ(r11[http::field::connection], "close");
  Response r10 = JsonError(http::status::not_found, grpc::StatusCode::NOT_FOUND, "x", 10);
  Finalize(r10, true, false);
  EXPECT_EQ(r10[http::field::connection], "keep-alive");
  const Route grpc = RouteRequest(http::verb::post, "/a.B/C", Methods(), {});
  Response up = UpgradeRequired({http::verb::post, "POST", "/a.B/C", 11}, grpc, Methods());
  Finalize(up, false, false);
  EXPECT_EQ(up[http::field::connection], "Upgrade, close");
}

TEST(Finalize, HeadKeepsLengthDropsBody) {
  Response res = Answer({http::verb::head, "HEAD", "/healthz", 11},
                        RouteRequest(http::verb::head, "/healthz", Methods(), {}), true);
  const auto size = res.body().size();
  Finalize(res, true, true);
  EXPECT_EQ(res.body(), "");
  EXPECT_EQ(res[http::field::content_length], std::to_string(size));
}

TEST(Answer, ReadyzFollowsDraining) {
  const auto m = Methods();
  const Route ready = RouteRequest(http::verb::get, "/readyz", m, {});
  EXPECT_EQ(Answer({http::verb::get, "GET", "/readyz", 11}, ready, true).result_int(), 200);
  const auto draining = Answer({http::verb::get, "GET", "/readyz", 11}, ready, false);
  EXPECT_EQ(draining.result_int(), 503);
  EXPECT_EQ(ParseJson(draining.body()).fields().at("code").number_value(), 14);
}

TEST(Answer, NotFoundEchoesHostileTargetsSafely) {
  std::string target = "/\"\\\n\x01\xff";
  target += std::string(1000, 'a');
  const auto res = Answer({http::verb::get, "GET", target, 11},
                          RouteRequest(http::verb::get, target, Methods(), {}), true);
  EXPECT_EQ(res.result_int(), 404);
  EXPECT_LT(res.body().size(), 600u);  // the echoed target is clipped
  const auto json = ParseJson(res.body());
  EXPECT_EQ(json.fields().at("code").number_value(), 5);
}

TEST(Json, Escapes) {
  std::string out;
  AppendJsonString(out, std::string("a\"b\\c\nd\te\x01\x7f\xc3\xa9", 13));
  EXPECT_EQ(out, "\"a\\\"b\\\\c\\nd\\te\\u0001\\u007f\\u00c3\\u00a9\"");
}

}  // namespace
}  // namespace h2gate
