#include "route/router.h"

#include <fmt/format.h>

namespace h2gate {
namespace http = boost::beast::http;
namespace {

// The rule a served method's call gets, or nullptr when its HTTP/1.x callers get the 426.
const PolicyRule* ServedRule(const Route& route, const RouterState& state) {
  if (route.method_index < 0 || !state.can_transcode || state.policy == nullptr) return nullptr;
  const MethodInfo& method = state.methods.methods()[route.method_index];
  if (method.type != RpcType::kUnary) return nullptr;  // streaming: always the 426
  const PolicyRule& rule = state.policy->Resolve(method.service, method.path);
  return Effective(rule, state.now) == Http1Policy::kReject ? nullptr : &rule;
}

Decision UnsupportedMedia(const RouteRequestFacts& request, const Route& route, MediaKind media,
                          std::string_view path) {
  Decision d;
  d.action = Action::kUnsupportedMedia;
  d.route = route;
  d.media = media;
  const std::string_view hint =
      media == MediaKind::kGrpc || media == MediaKind::kGrpcWeb || media == MediaKind::kProto
          ? "; binary protobuf needs a gRPC client over HTTP/2 on this same port"
          : "";
  d.response = JsonError(
      http::status::unsupported_media_type, grpc::StatusCode::INVALID_ARGUMENT,
      fmt::format("{} is served over HTTP/{} as JSON only: send Content-Type: application/json "
                  "(got {:.100}){}",
                  path, HttpVersionText(request.line.version), request.content_type, hint),
      request.line.version);
  d.response.set(http::field::accept_post, "application/json");
  return d;
}

}  // namespace

Decision Decide(const RouteRequestFacts& request, const RouterState& state) {
  const RequestFacts& line = request.line;
  Decision d;
  d.route = RouteRequest(line.verb, line.target, state.methods, state.routes);
  // An upgrade request is never honoured (RFC 9113 deprecates h2c upgrade; it smuggles HTTP/2
  // past HTTP/1 inspection): it gets the same answer, and the connection closes after it. A
  // draining instance closes every connection it answers on.
  d.close = request.upgrade || state.draining;

  switch (d.route.kind) {
    case RouteKind::kGrpc: {
      const PolicyRule* rule = line.verb == http::verb::post ? ServedRule(d.route, state) : nullptr;
      if (rule != nullptr) {
        const std::string_view path = state.methods.methods()[d.route.method_index].path;
        if (!request.body_complete) {
          d.close = true;
          d.response =
              JsonError(http::status::payload_too_large, grpc::StatusCode::RESOURCE_EXHAUSTED,
                        "request body larger than the limit (--max-body-bytes)", line.version);
          return d;
        }
        const MediaKind media = MediaKindOf(request.content_type);
        if (media != MediaKind::kJson) {
          Decision unsupported = UnsupportedMedia(request, d.route, media, path);
          unsupported.close = d.close;
          return unsupported;
        }
        d.action = Action::kTranscode;
        d.rule = *rule;
        return d;
      }
      d.action = Action::kReject;
      if (line.version >= 20) {  // the caller already speaks HTTP/2: it needs gRPC's framing
        d.response = GrpcContentTypeRequired(line, d.route, state.methods, request.content_type);
        return d;
      }
      // The common legacy call, POST over HTTP/1.1 to a registered method, has its answer
      // serialised once at start-up.
      if (d.route.method_index >= 0 && line.verb == http::verb::post && line.version == 11 &&
          !request.tls &&
          static_cast<std::size_t>(d.route.method_index) < state.reject_wire.size()) {
        d.wire = &state.reject_wire[d.route.method_index];
      } else {
        d.response = UpgradeRequired(line, d.route, state.methods, request.tls);
      }
      return d;
    }
    case RouteKind::kMetrics: d.action = Action::kMetrics; return d;
    case RouteKind::kLegacyCallers:
      d.action = line.target.find("format=text") != std::string_view::npos
                     ? Action::kLegacyCallersText
                     : Action::kLegacyCallers;
      return d;
    case RouteKind::kLegacyCallersReset:
      d.action = Action::kResetLegacyCallers;
      d.response = Answer(line, d.route, true);
      return d;
    case RouteKind::kHealthz:
    case RouteKind::kReadyz:
    case RouteKind::kNotFound:
    case RouteKind::kMethodNotAllowed:
      d.response = Answer(line, d.route, !state.draining);
      return d;
  }
  d.response = Answer(line, d.route, !state.draining);
  return d;
}

}  // namespace h2gate
