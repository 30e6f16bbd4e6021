// What the gateway answers an HTTP/1.x request: pure functions from request facts to response,
// no sockets, so every answer is testable on its own.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <string_view>

#include <grpcpp/support/status_code_enum.h>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

#include "route/grpc_path.h"

namespace h2gate {

using Response = boost::beast::http::response<boost::beast::http::string_body>;

enum class RouteKind {
  kGrpc,
  kHealthz,
  kReadyz,
  kMetrics,
  kLegacyCallers,       // GET /debug/legacy-callers
  kLegacyCallersReset,  // DELETE /debug/legacy-callers
  kNotFound,
  kMethodNotAllowed
};

// Which routes a listener serves.
struct RouteOptions {
  bool grpc = true;                // 426 on gRPC paths (off on the admin port: 404 there)
  bool operator_endpoints = true;  // /metrics and /debug/legacy-callers
};

struct Route {
  RouteKind kind = RouteKind::kNotFound;
  GrpcPath grpc;          // for kGrpc
  int method_index = -1;  // for kGrpc: index in the MethodTable, -1 if not registered
};

Route RouteRequest(boost::beast::http::verb verb, std::string_view target,
                   const MethodTable& methods, const RouteOptions& options);

// Facts about the request that shape the answer.
struct RequestFacts {
  boost::beast::http::verb verb = boost::beast::http::verb::get;
  std::string_view method_name;  // as sent, for messages
  std::string_view target;
  unsigned version = 11;  // 10, 11, or 20 for HTTP/2
};

// 426 with Upgrade: h2c and a google.rpc.Status-shaped JSON body telling the caller how to call
// the method. For an unregistered path the body lists the registered services. Over TLS, h2c
// (cleartext HTTP/2, RFC 9113 3.1) is not the way: Upgrade says HTTP/2.0 (RFC 9110's registered
// token) and the body says to negotiate ALPN h2 on a new connection, the only way to HTTP/2 there.
Response UpgradeRequired(const RequestFacts& req, const Route& route, const MethodTable& methods,
                         bool tls = false);

// 415 for a non-gRPC request over HTTP/2 on a gRPC path (gRPC's PROTOCOL-HTTP2.md: a server
// answers an unsupported content-type with 415): the caller is on HTTP/2 already, so the answer
// names the content-type a gRPC client sends instead of a protocol to upgrade to.
Response GrpcContentTypeRequired(const RequestFacts& req, const Route& route,
                                 const MethodTable& methods, std::string_view content_type);

// "1.0", "1.1", "2"
std::string HttpVersionText(unsigned version);

// A google.rpc.Status JSON body (json.h's StatusJson) with the given HTTP status.
Response JsonError(boost::beast::http::status status, grpc::StatusCode code,
                   std::string_view message, unsigned version);

// 404 / 405 / healthz / readyz / reset answers for `route`. `ready` is false while draining.
// The router's other kinds (gRPC paths, metrics, the report) are not answered here.
Response Answer(const RequestFacts& req, const Route& route, bool ready);

// 200 with a body rendered elsewhere (metrics, reports).
Response Rendered(std::string body, std::string_view content_type, unsigned version);

inline constexpr std::string_view kMetricsContentType = "text/plain; version=0.0.4; charset=utf-8";

// What a warn-policy answer tells the caller, in headers: Deprecation (RFC 9745), Sunset
// (RFC 8594), Link to the migration guide, and a Warning-style hint.
struct DeprecationNotice {
  std::string_view path;                                            // "/pkg.Service/Method"
  std::optional<std::chrono::system_clock::time_point> deprecated;  // none: no Deprecation
  std::optional<std::chrono::system_clock::time_point> sunset;
  std::string link;
};
void AddDeprecationHeaders(Response& res, const DeprecationNotice& notice);

// The answer to a transcoded call: the JSON reply (200) or a google.rpc.Status body.
Response TranscodedAnswer(unsigned http_status, std::string body, unsigned version);

// The whole 426, as written on the wire, for a POST over HTTP/1.1 to the registered `path`.
std::string SerializedPostRejection(std::string_view path, const MethodTable& methods,
                                    bool keep_alive);

// Sets Connection (and Content-Length) for keep-alive or close; 426 keeps its "Upgrade" token.
void Finalize(Response& res, bool keep_alive, bool head_request);

}  // namespace h2gate
