// Arbitrary bytes through the HTTP/1.x path the sessions use: Beast's parser with the gateway's
// limits, then routing, the answer, and its serialisation. Every answer must be valid JSON-ish
// ASCII with a Content-Length that matches.
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <cstdint>
#include <cstdlib>
#include <sstream>

#include "http1_response.h"
#include "http1_rules.h"

namespace http = boost::beast::http;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const h2gate::MethodTable methods(
      {{"echo.v1.Echo", "Echo", "/echo.v1.Echo/Echo", h2gate::RpcType::kUnary},
       {"echo.v1.Echo", "BidiStream", "/echo.v1.Echo/BidiStream", h2gate::RpcType::kBidiStream}});

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
    if (verdict.why.empty()) std::abort();  // a 400 always says why
    return 0;
  }
  // The path routed by is always a suffix of the target (or "/" or "*"): never made up.
  if (verdict.path != "/" && req.target().find(verdict.path) == std::string_view::npos) {
    std::abort();
  }
  const h2gate::RequestFacts facts{req.method(), req.method_string(), verdict.path, req.version()};
  for (const bool admin : {false, true}) {
    const h2gate::Route route = h2gate::RouteRequest(req.method(), verdict.path, methods,
                                                     {.grpc = !admin, .operator_endpoints = true});
    h2gate::Response res = route.kind == h2gate::RouteKind::kGrpc
                               ? h2gate::UpgradeRequired(facts, route, methods)
                               : h2gate::Answer(facts, route, size % 2 == 0);
    const std::size_t body_size = res.body().size();
    h2gate::Finalize(res, req.keep_alive(), req.method() == http::verb::head);
    for (unsigned char c : res.body()) {
      if (c >= 0x80 || (c < 0x20 && c != '\n')) std::abort();  // bodies are escaped ASCII
    }
    if (res[http::field::content_length] != std::to_string(body_size)) std::abort();
    std::ostringstream wire;
    wire << res;
    if (wire.str().empty()) std::abort();
  }
  return 0;
}
