// What HTTP/1.x callers of each gRPC method get during a migration: reject (the 426), warn
// (served by transcoding JSON, with Deprecation and Sunset headers, until the sunset passes), or
// allow (served silently). Rules come from flags and an optional policy file.
#pragma once

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>

#include "h2gate/gateway.h"

namespace h2gate {

std::string_view PolicyName(Http1Policy policy);  // "reject", "warn", "allow"
std::optional<Http1Policy> ParsePolicyName(std::string_view name);

struct PolicyRule {
  Http1Policy policy = Http1Policy::kReject;
  std::optional<SystemTime> sunset;  // warn only: from then on, behaves as reject
  std::string link;                  // migration guide, sent as Link: <...>; rel="deprecation"
  // warn only: the date the HTTP/1.x surface was (or will be) deprecated, sent as the
  // Deprecation header (RFC 9745). Configured, so every pod and every restart says the same.
  std::optional<SystemTime> deprecated;
};

// The policy a caller gets now: warn past its sunset is reject.
Http1Policy Effective(const PolicyRule& rule, SystemTime now);

// Rules by specificity: a method's, else its service's, else the default.
struct PolicySet {
  PolicyRule fallback;
  std::map<std::string, PolicyRule, std::less<>> services;  // "pkg.Service"
  std::map<std::string, PolicyRule, std::less<>> methods;   // "/pkg.Service/Method"

  const PolicyRule& Resolve(std::string_view service, std::string_view path) const;
};

// Parses a policy file (format in README.md, "Migration mode"). Lines are
//   SELECTOR POLICY [deprecated=RFC3339] [sunset=RFC3339] [link=URL]
// with SELECTOR "*", "pkg.Service" or "/pkg.Service/Method". `defaults` holds the flags' rule,
// which "*" overrides; other rules inherit its link and deprecated date. On error, `error` says
// "line N: why" and the result is empty.
std::optional<PolicySet> ParsePolicyFile(std::string_view text, const PolicyRule& defaults,
                                         std::string* error);

// "2027-03-01T00:00:00Z", with an optional fraction and a Z or +hh:mm offset.
std::optional<SystemTime> ParseRfc3339(std::string_view text);
// "2027-03-01T00:00:00Z", to the second.
std::string FormatRfc3339(SystemTime t);
// The IMF-fixdate HTTP uses: "Mon, 01 Mar 2027 00:00:00 GMT".
std::string HttpDate(SystemTime t);

// The current rules, swapped whole on reload; readers take a reference-counted snapshot.
class PolicyStore {
 public:
  explicit PolicyStore(PolicySet set) { Set(std::move(set)); }
  // False when every rule is reject: the 426 path then skips the lookup and its lock.
  bool MayServe() const { return may_serve_.load(std::memory_order_relaxed); }
  std::shared_ptr<const PolicySet> Get() const {
    std::lock_guard lock(mu_);
    return set_;
  }
  void Set(PolicySet set) {
    bool serve = set.fallback.policy != Http1Policy::kReject;
    for (const auto* rules : {&set.services, &set.methods}) {
      for (const auto& [name, rule] : *rules) serve |= rule.policy != Http1Policy::kReject;
    }
    auto next = std::make_shared<const PolicySet>(std::move(set));
    std::lock_guard lock(mu_);
    set_ = std::move(next);
    may_serve_.store(serve, std::memory_order_relaxed);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const PolicySet> set_;
  std::atomic<bool> may_serve_{false};
};

}  // namespace h2gate
