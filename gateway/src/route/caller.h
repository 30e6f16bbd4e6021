// Who made a call on a gRPC path that is not gRPC: counted in the legacy-caller report and
// logged (bounded), the same way for every transport.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "front/connection.h"
#include "http1/http1_response.h"
#include "route/router.h"

namespace h2gate {

struct CallerFacts {
  std::string_view x_forwarded_for;  // as sent; empty when absent
  std::string_view user_agent;
  std::string_view http_method;
  unsigned version = 11;  // 10, 11 or 20
};

// The caller to report: the peer, or the first X-Forwarded-For hop when the operator trusts the
// proxy in front to set it (--trust-forwarded-for). Only a well-formed IP address is taken.
std::string ClientOf(const Context& ctx, const ConnectionLabel& label,
                     std::string_view x_forwarded_for);

// Counts the caller in the legacy-caller report under `policy` ("reject", "warn", "allow",
// "unsupported_media_type"); logs it when the report says so, a few lines a second at most.
void RecordCaller(Shared& shared, const ConnectionLabel& label, const Route& route,
                  const CallerFacts& facts, std::string_view policy);

// The operator endpoints' bodies (metrics, the report as JSON or text), rendered now; nullopt for
// the router's other actions.
std::optional<Response> RenderOperatorPage(Action action, const Shared& shared, unsigned version);

}  // namespace h2gate
