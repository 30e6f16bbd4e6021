#include "route/caller.h"

#include <fmt/format.h>

namespace h2gate {

std::string ClientOf(const Context& ctx, const ConnectionLabel& label, std::string_view xff) {
  if (ctx.options.trust_forwarded_for) {
    xff = xff.substr(0, xff.find(','));
    while (!xff.empty() && xff.front() == ' ') xff.remove_prefix(1);
    while (!xff.empty() && xff.back() == ' ') xff.remove_suffix(1);
    boost::system::error_code ec;
    const auto address = boost::asio::ip::make_address(xff.substr(0, 64), ec);
    if (!ec) return address.to_string();
  }
  return label.peer_ip;
}

void RecordCaller(Shared& shared, const ConnectionLabel& label, const Route& route,
                  const CallerFacts& facts, std::string_view policy) {
  const Context& ctx = *shared.context;
  const bool registered = route.method_index >= 0;
  const std::string client = ClientOf(ctx, label, facts.x_forwarded_for);
  const std::string path =
      registered ? std::string() : fmt::format("/{}/{}", route.grpc.service, route.grpc.method);
  const std::string_view method_path =
      registered ? std::string_view(ctx.methods.methods()[route.method_index].path)
                 : std::string_view(path);
  const std::string version = HttpVersionText(facts.version);
  // Logged once per caller per interval, and never more than a few lines a second in all.
  std::uint64_t suppressed = 0;
  if (!shared.legacy_callers.Record(
          client, facts.user_agent, method_path, registered, shared.clock(),
          std::chrono::duration_cast<std::chrono::seconds>(ctx.options.rejection_log_interval),
          policy, version, label.tls_subject) ||
      !shared.rejection_log.Allow(&suppressed)) {
    return;
  }
  const std::string id = std::to_string(label.id);
  const std::string dropped = std::to_string(suppressed);
  const bool rejected = policy == "reject";
  const bool h2 = facts.version >= 20;
  std::string_view what = rejected ? (h2 ? "HTTP/2 call on a gRPC path without gRPC's "
                                           "content-type answered 415"
                                         : "HTTP/1.x call on a gRPC path answered 426")
                                   : "JSON call on a gRPC path served by transcoding";
  LogEvent(spdlog::level::info, what,
           {{"event", rejected ? "http1_rejection" : "http1_transcoded"},
            {"conn", id},
            {"peer", label.peer},
            {"client", client},
            {"http_version", version},
            {"http_method", facts.http_method.substr(0, 16)},
            {"path", method_path},
            {"registered", registered ? "true" : "false"},
            {"user_agent", facts.user_agent.substr(0, LegacyCallers::kMaxFieldBytes)},
            {"policy", policy},
            {"tls_subject", label.tls_subject},
            {"suppressed", dropped}});
}

std::optional<Response> RenderOperatorPage(Action action, const Shared& shared, unsigned version) {
  const std::size_t top = shared.context->options.legacy_callers_capacity;
  switch (action) {
    case Action::kMetrics: return Rendered(RenderMetrics(shared), kMetricsContentType, version);
    case Action::kLegacyCallers:
      return Rendered(shared.legacy_callers.RenderJson(top), "application/json", version);
    case Action::kLegacyCallersText:
      return Rendered(shared.legacy_callers.RenderText(top), "text/plain; charset=utf-8", version);
    default: return std::nullopt;
  }
}

}  // namespace h2gate
