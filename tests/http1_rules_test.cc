// RFC 9112 §2–§7 and RFC 9110's request rules a server must enforce, one row each. Rules the
// parser (Boost.Beast) already enforces are rows of the end-to-end table in http1_e2e_test.cc.
#include "http1/http1_rules.h"

#include <gtest/gtest.h>

namespace h2gate {
namespace {

using boost::beast::http::verb;

struct Row {
  const char* rule;
  RequestHead head;
  bool ok;
  std::string_view path;  // for ok
};

TEST(RequestRules, Table) {
  const Row rows[] = {
      {"3.2: HTTP/1.1 with one Host",
       {verb::post, 11, "/echo.v1.Echo/Echo", 1, "gw"},
       true,
       "/echo.v1.Echo/Echo"},
      {"3.2: HTTP/1.1 without Host is 400",
       {verb::post, 11, "/echo.v1.Echo/Echo", 0, ""},
       false,
       ""},
      {"3.2: HTTP/1.0 without Host is fine", {verb::get, 10, "/healthz", 0, ""}, true, "/healthz"},
      {"3.2: two Host lines are 400", {verb::get, 11, "/healthz", 2, "a"}, false, ""},
      {"3.2: two Host lines are 400 in 1.0 too", {verb::get, 10, "/healthz", 2, "a"}, false, ""},
      {"3.2: an empty Host is valid", {verb::get, 11, "/healthz", 1, ""}, true, "/healthz"},
      {"7.2 (9110): host:port",
       {verb::get, 11, "/healthz", 1, "gw.example:8080"},
       true,
       "/healthz"},
      {"7.2 (9110): IPv6 literal", {verb::get, 11, "/healthz", 1, "[::1]:8080"}, true, "/healthz"},
      {"7.2 (9110): a Host with a space is 400", {verb::get, 11, "/healthz", 1, "a b"}, false, ""},
      {"7.2 (9110): a Host with a path is 400", {verb::get, 11, "/healthz", 1, "a/b"}, false, ""},
      {"7.2 (9110): a Host with userinfo is 400", {verb::get, 11, "/healthz", 1, "u@a"}, false, ""},
      {"3.2.1: origin-form keeps its query",
       {verb::get, 11, "/debug/legacy-callers?format=text", 1, "gw"},
       true,
       "/debug/legacy-callers?format=text"},
      {"3.2.2: absolute-form MUST be accepted",
       {verb::post, 11, "http://gw.example/echo.v1.Echo/Echo", 1, "gw.example"},
       true,
       "/echo.v1.Echo/Echo"},
      {"3.2.2: absolute-form, Host ignored",
       {verb::post, 11, "HTTPS://gw:443/echo.v1.Echo/Echo", 1, "other"},
       true,
       "/echo.v1.Echo/Echo"},
      {"3.2.2: absolute-form still needs Host in 1.1",
       {verb::post, 11, "http://gw/echo.v1.Echo/Echo", 0, ""},
       false,
       ""},
      {"3.3: absolute-form with an empty path is /",
       {verb::get, 11, "http://gw", 1, "gw"},
       true,
       "/"},
      {"3.3: ... and with a query alone", {verb::get, 11, "http://gw?x=1", 1, "gw"}, true, "/"},
      {"3.2.2: absolute-form without authority is 400",
       {verb::get, 11, "http:///healthz", 1, "gw"},
       false,
       ""},
      {"3.2.2: an unknown scheme is 400", {verb::get, 11, "ftp://gw/healthz", 1, "gw"}, false, ""},
      {"3.2.4: OPTIONS *", {verb::options, 11, "*", 1, "gw"}, true, "*"},
      {"3.2.4: * with another method is 400", {verb::get, 11, "*", 1, "gw"}, false, ""},
      {"3.2.3: authority-form is for CONNECT, not served",
       {verb::connect, 11, "gw:443", 1, "gw"},
       false,
       ""},
      {"3.2.3: authority-form with GET is 400", {verb::get, 11, "gw:443", 1, "gw"}, false, ""},
      {"3.2: a relative target is 400", {verb::get, 11, "healthz", 1, "gw"}, false, ""},
  };
  for (const Row& r : rows) {
    const RequestVerdict v = CheckRequest(r.head);
    EXPECT_EQ(v.ok, r.ok) << r.rule;
    if (r.ok) {
      EXPECT_EQ(v.path, r.path) << r.rule;
    } else {
      EXPECT_FALSE(v.why.empty()) << r.rule;
    }
  }
}

}  // namespace
}  // namespace h2gate
