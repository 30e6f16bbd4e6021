#include "http1/http1_response.h"

#include <fmt/format.h>
#include <boost/beast/http/write.hpp>

#include <sstream>

#include "call/json.h"
#include "policy/policy.h"

namespace h2gate {
namespace http = boost::beast::http;
namespace {

// Echoed request targets are cut to this, so an answer never grows with a hostile path.
constexpr std::size_t kMaxEchoedTarget = 200;

std::string_view Clip(std::string_view s) { return s.substr(0, kMaxEchoedTarget); }

Response Make(http::status status, unsigned version, std::string content_type, std::string body) {
  Response res{status, version};
  res.set(http::field::server, "h2gate");
  res.set(http::field::content_type, std::move(content_type));
  res.set(http::field::cache_control, "no-store");
  res.body() = std::move(body);
  return res;
}

std::string ServiceList(const MethodTable& methods) {
  std::string services;
  for (const auto& s : methods.Services()) {
    if (!services.empty()) services += ", ";
    services += s;
  }
  return services.empty() ? "none" : services;
}

// A google.rpc.Status body naming the method, with an ErrorInfo detail of `reason` whose last
// metadata entry is `key`: `value`.
std::string GrpcPathError(const RequestFacts& req, const Route& route, std::string_view message,
                          std::string_view reason, std::string_view key, std::string_view value) {
  const bool registered = route.method_index >= 0;
  std::string details = fmt::format(
      "{{\"@type\":\"type.googleapis.com/google.rpc.ErrorInfo\",\"reason\":\"{}\","
      "\"domain\":\"h2gate\",\"metadata\":{{\"grpc_service\":",
      reason);
  AppendJsonString(details, route.grpc.service);
  details += ",\"grpc_method\":";
  AppendJsonString(details, route.grpc.method);
  details += fmt::format(",\"registered\":\"{}\",\"http_method\":", registered ? "true" : "false");
  AppendJsonString(details, Clip(req.method_name));
  details += fmt::format(",\"{}\":\"{}\"}}}}", key, value);
  return StatusJson(
      registered ? grpc::StatusCode::FAILED_PRECONDITION : grpc::StatusCode::UNIMPLEMENTED, message,
      details);
}

}  // namespace

Route RouteRequest(http::verb verb, std::string_view target, const MethodTable& methods,
                   const RouteOptions& options) {
  Route route;
  const std::string_view path = target.substr(0, target.find('?'));
  if (const auto grpc = options.grpc ? ParseGrpcPath(path) : std::nullopt) {
    const int index = methods.Find(path);
    if (index >= 0 || LooksLikeGrpcMethod(*grpc)) {
      route.kind = RouteKind::kGrpc;
      route.grpc = *grpc;
      route.method_index = index;
      return route;
    }
  }
  const bool read = verb == http::verb::get || verb == http::verb::head;
  if (path == "/healthz")
    route.kind = RouteKind::kHealthz;
  else if (path == "/readyz")
    route.kind = RouteKind::kReadyz;
  else if (path == "/metrics" && options.operator_endpoints)
    route.kind = RouteKind::kMetrics;
  else if (path == "/debug/legacy-callers" && options.operator_endpoints) {
    route.kind =
        verb == http::verb::delete_ ? RouteKind::kLegacyCallersReset : RouteKind::kLegacyCallers;
    if (!read && verb != http::verb::delete_) route.kind = RouteKind::kMethodNotAllowed;
    return route;
  } else {
    return route;
  }
  if (!read) route.kind = RouteKind::kMethodNotAllowed;
  return route;
}

Response UpgradeRequired(const RequestFacts& req, const Route& route, const MethodTable& methods,
                         bool tls) {
  const bool registered = route.method_index >= 0;
  const std::string path = fmt::format("/{}/{}", route.grpc.service, route.grpc.method);
  const std::string_view how = tls ? "HTTP/2 over TLS, negotiated with ALPN h2"
                                   : "HTTP/2, plaintext h2c with prior knowledge";
  std::string message;
  if (registered) {
    message = fmt::format(
        "{} is a gRPC method and cannot be called over HTTP/{}.{}. Call it with a gRPC client "
        "({}) on this same host and port, e.g. grpcurl {}-d '{{...}}' HOST:PORT {}/{}",
        path, req.version / 10, req.version % 10, how, tls ? "" : "-plaintext ", route.grpc.service,
        route.grpc.method);
  } else {
    message = fmt::format(
        "{} looks like a gRPC method, but no service here registers it; gRPC also needs a gRPC "
        "client ({}), not HTTP/{}.{}. Registered services: {}",
        path, how, req.version / 10, req.version % 10, ServiceList(methods));
  }
  std::string body =
      GrpcPathError(req, route, message, "GRPC_REQUIRES_HTTP2", "protocol", tls ? "h2" : "h2c");

  Response res =
      Make(http::status::upgrade_required, req.version, "application/json", std::move(body));
  res.set(http::field::upgrade, tls ? "HTTP/2.0" : "h2c");
  return res;
}

std::string HttpVersionText(unsigned version) {
  return version >= 20 ? std::to_string(version / 10)
                       : fmt::format("{}.{}", version / 10, version % 10);
}

Response GrpcContentTypeRequired(const RequestFacts& req, const Route& route,
                                 const MethodTable& methods, std::string_view content_type) {
  const bool registered = route.method_index >= 0;
  const std::string path = fmt::format("/{}/{}", route.grpc.service, route.grpc.method);
  const std::string got = content_type.empty()
                              ? std::string("no Content-Type")
                              : fmt::format("Content-Type {}", Clip(content_type).substr(0, 100));
  std::string message;
  if (registered) {
    message = fmt::format(
        "{} is a gRPC method: over HTTP/2 it takes Content-Type application/grpc from a gRPC "
        "client (got {}), e.g. grpcurl -plaintext -d '{{...}}' HOST:PORT {}/{}",
        path, got, route.grpc.service, route.grpc.method);
  } else {
    message = fmt::format(
        "{} looks like a gRPC method, but no service here registers it; gRPC calls take "
        "Content-Type application/grpc (got {}). Registered services: {}",
        path, got, ServiceList(methods));
  }
  std::string body = GrpcPathError(req, route, message, "GRPC_REQUIRES_GRPC_CONTENT_TYPE",
                                   "content_type", "application/grpc");
  Response res =
      Make(http::status::unsupported_media_type, req.version, "application/json", std::move(body));
  res.set(http::field::accept_post, "application/grpc");
  return res;
}

Response JsonError(http::status status, grpc::StatusCode code, std::string_view message,
                   unsigned version) {
  return Make(status, version, "application/json", StatusJson(code, message));
}

Response Answer(const RequestFacts& req, const Route& route, bool ready) {
  switch (route.kind) {
    case RouteKind::kHealthz:
      return Make(http::status::ok, req.version, "application/json", "{\"status\":\"alive\"}\n");
    case RouteKind::kReadyz:
      if (ready) {
        return Make(http::status::ok, req.version, "application/json", "{\"status\":\"ready\"}\n");
      }
      return JsonError(http::status::service_unavailable, grpc::StatusCode::UNAVAILABLE,
                       "draining: this instance is shutting down", req.version);
    case RouteKind::kMethodNotAllowed: {
      const bool debug = req.target.starts_with("/debug/");
      const std::string_view allow = debug ? "GET, HEAD, DELETE" : "GET, HEAD";
      Response res =
          JsonError(http::status::method_not_allowed, grpc::StatusCode::UNIMPLEMENTED,
                    fmt::format("{} only answers {}", Clip(req.target), allow), req.version);
      res.set(http::field::allow, allow);
      return res;
    }
    case RouteKind::kLegacyCallersReset:
      return Make(http::status::ok, req.version, "application/json", "{\"status\":\"reset\"}\n");
    case RouteKind::kNotFound: break;
    // The router (route/router.cc) answers these itself and never asks for them here; they
    // are listed so that a new kind fails to compile (-Wswitch) until it is handled.
    case RouteKind::kLegacyCallers:
    case RouteKind::kGrpc:
    case RouteKind::kMetrics: break;
  }
  std::string message;
  message += "no resource at ";
  message += Clip(req.target);
  message +=
      ". This port serves gRPC over HTTP/2 (paths /package.Service/Method) and, over HTTP/1.1, "
      "GET /healthz, /readyz and /metrics";
  return JsonError(http::status::not_found, grpc::StatusCode::NOT_FOUND, message, req.version);
}

Response Rendered(std::string body, std::string_view content_type, unsigned version) {
  return Make(http::status::ok, version, std::string(content_type), std::move(body));
}

void AddDeprecationHeaders(Response& res, const DeprecationNotice& notice) {
  if (notice.deprecated) {
    const auto since =
        std::chrono::duration_cast<std::chrono::seconds>(notice.deprecated->time_since_epoch());
    res.set("Deprecation", fmt::format("@{}", since.count()));
  }
  if (notice.sunset) res.set("Sunset", HttpDate(*notice.sunset));
  if (!notice.link.empty()) {
    res.set(http::field::link,
            fmt::format("<{}>; rel=\"deprecation\"; type=\"text/html\"", notice.link));
  }
  const std::string until = notice.sunset
                                ? fmt::format("stops working at {}", HttpDate(*notice.sunset))
                                : std::string("is deprecated");
  res.set(http::field::warning,
          fmt::format("299 h2gate \"JSON for {} {}: call it with a gRPC client over "
                      "HTTP/2\"",
                      notice.path, until));
}

Response TranscodedAnswer(unsigned http_status, std::string body, unsigned version) {
  return Make(static_cast<http::status>(http_status), version, "application/json", std::move(body));
}

std::string SerializedPostRejection(std::string_view path, const MethodTable& methods,
                                    bool keep_alive) {
  const RequestFacts post{http::verb::post, "POST", path, 11};
  Response res = UpgradeRequired(post, RouteRequest(post.verb, path, methods, {}), methods);
  Finalize(res, keep_alive, false);
  std::ostringstream out;
  out << res;
  return out.str();
}

void Finalize(Response& res, bool keep_alive, bool head_request) {
  const bool upgrade = res.result() == http::status::upgrade_required;
  // HTTP/1.1 keeps connections alive unless told; HTTP/1.0 closes unless told.
  std::string connection;
  if (upgrade) connection = "Upgrade";
  if (!keep_alive && res.version() >= 11) connection += connection.empty() ? "close" : ", close";
  if (keep_alive && res.version() < 11) {
    connection += connection.empty() ? "keep-alive" : ", keep-alive";
  }
  if (connection.empty())
    res.erase(http::field::connection);
  else
    res.set(http::field::connection, connection);

  res.content_length(res.body().size());
  if (head_request) res.body().clear();  // Content-Length stays that of the GET answer
}

}  // namespace h2gate
