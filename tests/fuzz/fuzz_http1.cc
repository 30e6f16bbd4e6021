// Arbitrary bytes through the HTTP/1.x path the sessions use: Beast's parser with the gateway's
// limits, the RFC 9112 rules, then the router's decision under each listener, policy and drain
// state, and the answer's serialisation. The invariants are the ones the sessions rely on.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "http1/http1_response.h"
#include "http1/http1_rules.h"
#include "route/router.h"

namespace http = boost::beast::http;
namespace {

void Check(bool ok) {
  if (!ok) std::abort();
}

// Every answer the router builds is escaped ASCII with a Content-Length that matches.
void CheckAnswer(h2gate::Response res, bool keep_alive, bool head) {
  const std::size_t body_size = res.body().size();
  h2gate::Finalize(res, keep_alive, head);
  for (unsigned char c : res.body()) Check(c < 0x80 && (c >= 0x20 || c == '\n'));
  Check(res[http::field::content_length] == std::to_string(body_size));
  std::ostringstream wire;
  wire << res;
  Check(!wire.str().empty());
}

struct Policies {
  h2gate::PolicySet served;  // warn for Echo, allow for the rest
  h2gate::PolicySet sunset;  // warn, already past its sunset
  Policies() {
    served.fallback.policy = h2gate::Http1Policy::kAllow;
    served.services["echo.v1.Echo"].policy = h2gate::Http1Policy::kWarn;
    sunset.fallback.policy = h2gate::Http1Policy::kWarn;
    sunset.fallback.sunset = std::chrono::system_clock::time_point();
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const h2gate::MethodTable methods(
      {{"echo.v1.Echo", "Echo", "/echo.v1.Echo/Echo", h2gate::RpcType::kUnary},
       {"echo.v1.Echo", "BidiStream", "/echo.v1.Echo/BidiStream", h2gate::RpcType::kBidiStream}});
  static const std::vector<std::array<std::string, 2>> wire = [] {
    std::vector<std::array<std::string, 2>> w;
    for (const auto& m : methods.methods()) {
      w.push_back({h2gate::SerializedPostRejection(m.path, methods, false),
                   h2gate::SerializedPostRejection(m.path, methods, true)});
    }
    return w;
  }();
  static const Policies policies;

  http::request_parser<http::string_body> parser;
  parser.header_limit(16384);
  parser.body_limit(65536);
  parser.eager(true);
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(data, size), ec);
  if (ec || !parser.is_header_done()) return 0;

  const auto& req = parser.get();
  const h2gate::RequestVerdict verdict = h2gate::CheckRequest(h2gate::HeadOf(req));
  if (!verdict.ok) {
    Check(!verdict.why.empty());  // a 400 always says why
    return 0;
  }
  // The path routed by is always a suffix of the target (or "/" or "*"): never made up.
  Check(verdict.path == "/" || req.target().find(verdict.path) != std::string_view::npos);

  const h2gate::RouteRequestFacts facts{
      .line = {req.method(), req.method_string(), verdict.path, req.version()},
      .content_type = req[http::field::content_type],
      .body_complete = parser.is_done() && size % 3 != 0,
      .upgrade = req.count(http::field::upgrade) > 0};
  const bool head = req.method() == http::verb::head;
  for (const bool admin : {false, true}) {
    for (const h2gate::PolicySet* policy :
         {static_cast<const h2gate::PolicySet*>(nullptr), &policies.served, &policies.sunset}) {
      const bool draining = size % 2 == 0;
      const h2gate::RouterState state{.methods = methods,
                                      .routes = {.grpc = !admin, .operator_endpoints = true},
                                      .reject_wire = wire,
                                      .policy = policy,
                                      .can_transcode = true,
                                      .draining = draining,
                                      .now = std::chrono::system_clock::now()};
      const h2gate::Decision d = h2gate::Decide(facts, state);
      Check(!draining || d.close);
      Check(!facts.upgrade || d.close);
      switch (d.action) {
        case h2gate::Action::kTranscode:
          // Only a complete JSON POST to a registered unary method under a serving rule.
          Check(!admin && policy == &policies.served && facts.body_complete);
          Check(req.method() == http::verb::post && d.route.method_index == 0);
          Check(h2gate::MediaKindOf(facts.content_type) == h2gate::MediaKind::kJson);
          Check(d.rule.policy != h2gate::Http1Policy::kReject);
          break;
        case h2gate::Action::kReject:
          Check(!admin && d.route.kind == h2gate::RouteKind::kGrpc);
          if (d.wire) {
            Check((*d.wire)[0].starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
            Check(req.version() == 11 && req.method() == http::verb::post);
          } else {
            Check(d.response.result() == http::status::upgrade_required);
            CheckAnswer(d.response, !d.close, head);
          }
          break;
        case h2gate::Action::kUnsupportedMedia:
          Check(d.response.result() == http::status::unsupported_media_type);
          Check(d.response[http::field::accept_post] == "application/json");
          Check(d.media != h2gate::MediaKind::kJson);
          CheckAnswer(d.response, !d.close, head);
          break;
        case h2gate::Action::kMetrics:
        case h2gate::Action::kLegacyCallers:
        case h2gate::Action::kLegacyCallersText:
          Check(req.method() == http::verb::get || head);
          break;
        case h2gate::Action::kResetLegacyCallers:
          Check(req.method() == http::verb::delete_);
          CheckAnswer(d.response, !d.close, head);
          break;
        case h2gate::Action::kAnswer:
          Check(d.response.result() != http::status::ok ||
                d.route.kind != h2gate::RouteKind::kGrpc);
          CheckAnswer(d.response, !d.close, head);
          break;
      }
    }
  }
  return 0;
}
