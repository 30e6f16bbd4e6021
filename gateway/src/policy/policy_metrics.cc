#include "policy/policy_metrics.h"

#include <iterator>

#include <fmt/format.h>

#include "obs/metrics.h"

namespace h2gate {
namespace {
void AppendMethodLabels(std::string& out, const MethodInfo& m) {
  out += "{grpc_service=\"";
  AppendLabelValue(out, m.service);
  out += "\",grpc_method=\"";
  AppendLabelValue(out, m.method);
  out += '"';
}
}  // namespace

void RenderPolicyMetrics(const MethodTable& methods, const PolicySet& set, SystemTime now,
                         std::string& out) {
  AppendHeader(out, "h2gate_http1_policy", "gauge",
               "What legacy (HTTP/1.x JSON, HTTP/2 non-gRPC) callers of each method get now: 1 "
               "for the policy in force (reject, warn, allow).");
  for (const MethodInfo& m : methods.methods()) {
    out += "h2gate_http1_policy";
    AppendMethodLabels(out, m);
    fmt::format_to(std::back_inserter(out), ",policy=\"{}\"}} 1\n",
                   PolicyName(Effective(set.Resolve(m.service, m.path), now)));
  }
  AppendHeader(out, "h2gate_http1_policy_sunset_timestamp_seconds", "gauge",
               "Unix time at which each method's warn rule turns into reject; methods without a "
               "sunset have no series.");
  for (const MethodInfo& m : methods.methods()) {
    const PolicyRule& rule = set.Resolve(m.service, m.path);
    if (!rule.sunset) continue;
    out += "h2gate_http1_policy_sunset_timestamp_seconds";
    AppendMethodLabels(out, m);
    fmt::format_to(
        std::back_inserter(out), "}} {}\n",
        std::chrono::duration_cast<std::chrono::seconds>(rule.sunset->time_since_epoch()).count());
  }
}

}  // namespace h2gate
