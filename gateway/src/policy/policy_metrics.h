// The migration policy in force, as metrics: which rule each registered method's legacy callers
// get now, and when warn turns into reject. Alerts compare them with the calls still arriving
// (deploy/monitoring/).
#pragma once

#include <string>

#include "policy/policy.h"
#include "route/grpc_path.h"

namespace h2gate {

// Appends h2gate_http1_policy{grpc_service,grpc_method,policy} (1 for the policy in force at
// `now`) and h2gate_http1_policy_sunset_timestamp_seconds for each method whose rule has a
// sunset, past or not.
void RenderPolicyMetrics(const MethodTable& methods, const PolicySet& set, SystemTime now,
                         std::string& out);

}  // namespace h2gate
