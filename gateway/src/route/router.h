// What the gateway does with a request, decided in one pure function from the request's facts
// and a snapshot of the state that shapes the answer. Every transport (the HTTP/1 session now,
// the gateway's own HTTP/2 sessions next) executes the decision; unit tests and the fuzzer call
// the same function, so what they check is what the sessions do.
#pragma once

#include <array>
#include <span>
#include <string>
#include <string_view>

#include "http1/http1_response.h"
#include "policy/policy.h"
#include "route/grpc_path.h"
#include "route/media.h"

namespace h2gate {

// The facts of one request that the decision reads. Views into the request; `path` is the
// origin-form path and query that the RFC 9112 rules (http1_rules.h) returned.
struct RouteRequestFacts {
  RequestFacts line;              // method, path, version
  std::string_view content_type;  // as sent; empty when absent
  bool body_complete = true;      // false when the body was over --max-body-bytes
  bool upgrade = false;           // the request asked to switch protocols
  bool tls = false;               // it came over TLS the gateway terminated
};

// The state a decision may read. `policy` is the one snapshot this request sees (nullptr when
// every rule is reject), so a reload mid-request cannot give it two answers.
struct RouterState {
  const MethodTable& methods;
  RouteOptions routes;
  // The 426 for a POST over HTTP/1.1 to each registered method: [method_index][keep_alive].
  std::span<const std::array<std::string, 2>> reject_wire;
  const PolicySet* policy = nullptr;
  bool can_transcode = false;  // the in-process transcoder is up
  bool draining = false;
  SystemTime now;
};

enum class Action {
  kAnswer,              // send `response`
  kReject,              // a 426: count it; send `wire` if set (keep-alive chooses), else `response`
  kTranscode,           // serve the call as JSON under `rule`
  kUnsupportedMedia,    // a 415 for `media`: count it; send `response`
  kMetrics,             // render /metrics
  kLegacyCallers,       // render the legacy-caller report as JSON
  kLegacyCallersText,   // ... as text
  kResetLegacyCallers,  // reset the report, then send `response`
};

struct Decision {
  Action action = Action::kAnswer;
  Route route;
  Response response;  // for kAnswer, kReject without wire, kUnsupportedMedia, kResetLegacyCallers
  const std::array<std::string, 2>* wire = nullptr;
  PolicyRule rule;                     // for kTranscode
  MediaKind media = MediaKind::kJson;  // for kUnsupportedMedia
  bool close = false;                  // the connection closes after the answer
};

Decision Decide(const RouteRequestFacts& request, const RouterState& state);

}  // namespace h2gate
