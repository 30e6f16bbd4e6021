#include "policy/policy.h"

#include <charconv>
#include <ctime>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "route/grpc_path.h"

namespace h2gate {
namespace {

bool ParseInt(std::string_view s, int& out) {
  const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size() && !s.empty();
}

// Splits on runs of spaces and tabs.
std::vector<std::string_view> Words(std::string_view line) {
  std::vector<std::string_view> words;
  std::size_t i = 0;
  while (i < line.size()) {
    while (i < line.size() && (line[i] == ' ' || line[i] == '\t')) ++i;
    const std::size_t start = i;
    while (i < line.size() && line[i] != ' ' && line[i] != '\t') ++i;
    if (i > start) words.push_back(line.substr(start, i - start));
  }
  return words;
}

}  // namespace

std::string_view PolicyName(Http1Policy policy) {
  switch (policy) {
    case Http1Policy::kReject: return "reject";
    case Http1Policy::kWarn: return "warn";
    case Http1Policy::kAllow: return "allow";
  }
  return "reject";
}

std::optional<Http1Policy> ParsePolicyName(std::string_view name) {
  if (name == "reject") return Http1Policy::kReject;
  if (name == "warn") return Http1Policy::kWarn;
  if (name == "allow") return Http1Policy::kAllow;
  return std::nullopt;
}

Http1Policy Effective(const PolicyRule& rule, SystemTime now) {
  if (rule.policy == Http1Policy::kWarn && rule.sunset && now >= *rule.sunset) {
    return Http1Policy::kReject;
  }
  return rule.policy;
}

const PolicyRule& PolicySet::Resolve(std::string_view service, std::string_view path) const {
  if (const auto it = methods.find(path); it != methods.end()) return it->second;
  if (const auto it = services.find(service); it != services.end()) return it->second;
  return fallback;
}

std::optional<SystemTime> ParseRfc3339(std::string_view t) {
  // YYYY-MM-DDTHH:MM:SS[.frac](Z|+hh:mm|-hh:mm)
  if (t.size() < 20 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't') ||
      t[13] != ':' || t[16] != ':') {
    return std::nullopt;
  }
  int year, month, day, hour, minute, second;
  if (!ParseInt(t.substr(0, 4), year) || !ParseInt(t.substr(5, 2), month) ||
      !ParseInt(t.substr(8, 2), day) || !ParseInt(t.substr(11, 2), hour) ||
      !ParseInt(t.substr(14, 2), minute) || !ParseInt(t.substr(17, 2), second)) {
    return std::nullopt;
  }
  if (month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) {
    return std::nullopt;
  }
  std::size_t i = 19;
  if (i < t.size() && t[i] == '.') {
    ++i;
    while (i < t.size() && t[i] >= '0' && t[i] <= '9') ++i;  // sub-second precision dropped
  }
  int offset_minutes = 0;
  const std::string_view zone = t.substr(i);
  if (zone == "Z" || zone == "z") {
  } else if (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') && zone[3] == ':') {
    int oh, om;
    if (!ParseInt(zone.substr(1, 2), oh) || !ParseInt(zone.substr(4, 2), om)) return std::nullopt;
    offset_minutes = (oh * 60 + om) * (zone[0] == '-' ? -1 : 1);
  } else {
    return std::nullopt;
  }
  const std::chrono::year_month_day ymd{std::chrono::year(year), std::chrono::month(month),
                                        std::chrono::day(day)};
  if (!ymd.ok()) return std::nullopt;
  return std::chrono::sys_days(ymd) + std::chrono::hours(hour) + std::chrono::minutes(minute) +
         std::chrono::seconds(second) - std::chrono::minutes(offset_minutes);
}

std::string FormatRfc3339(SystemTime t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}Z", fmt::gmtime(seconds));
}

std::string HttpDate(SystemTime t) {
  const std::time_t seconds = std::chrono::system_clock::to_time_t(t);
  return fmt::format("{:%a, %d %b %Y %H:%M:%S} GMT", fmt::gmtime(seconds));
}

std::optional<PolicySet> ParsePolicyFile(std::string_view text, const PolicyRule& defaults,
                                         std::string* error) {
  PolicySet set;
  set.fallback = defaults;
  int number = 0;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    std::string_view line = text.substr(0, end);
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
    ++number;
    line = line.substr(0, line.find('#'));
    const auto words = Words(line);
    if (words.empty()) continue;
    auto fail = [&](std::string why) {
      *error = fmt::format("line {}: {}", number, why);
      return std::nullopt;
    };
    if (words.size() < 2) {
      return fail("expected SELECTOR POLICY [deprecated=TIME] [sunset=TIME] [link=URL]");
    }
    PolicyRule rule;
    const auto policy = ParsePolicyName(words[1]);
    if (!policy) return fail(fmt::format("unknown policy {:?} (reject, warn or allow)", words[1]));
    rule.policy = *policy;
    rule.link = defaults.link;
    rule.deprecated = defaults.deprecated;
    bool dated = false;
    for (std::size_t i = 2; i < words.size(); ++i) {
      const std::string_view w = words[i];
      if (w.starts_with("sunset=")) {
        rule.sunset = ParseRfc3339(w.substr(7));
        if (!rule.sunset)
          return fail(fmt::format("sunset {:?} is not an RFC 3339 time", w.substr(7)));
      } else if (w.starts_with("deprecated=")) {
        rule.deprecated = ParseRfc3339(w.substr(11));
        dated = true;
        if (!rule.deprecated)
          return fail(fmt::format("deprecated {:?} is not an RFC 3339 time", w.substr(11)));
      } else if (w.starts_with("link=")) {
        rule.link = w.substr(5);
        if (!rule.link.starts_with("https://") && !rule.link.starts_with("http://")) {
          return fail(fmt::format("link {:?} is not an http(s) URL", rule.link));
        }
      } else {
        return fail(fmt::format("unknown option {:?} (deprecated=, sunset= or link=)", w));
      }
    }
    if (rule.sunset && rule.policy != Http1Policy::kWarn) {
      return fail("sunset= only applies to warn");
    }
    if (dated && rule.policy != Http1Policy::kWarn) return fail("deprecated= only applies to warn");
    if (rule.deprecated && rule.sunset && *rule.deprecated > *rule.sunset) {
      return fail("deprecated= is after sunset=: a call stops working only after it is deprecated");
    }
    const std::string_view selector = words[0];
    if (selector == "*") {
      set.fallback = rule;
    } else if (selector.starts_with('/')) {
      if (!ParseGrpcPath(selector)) {
        return fail(fmt::format("{:?} is not a method path like /pkg.Service/Method", selector));
      }
      if (!set.methods.emplace(std::string(selector), rule).second) {
        return fail(fmt::format("{} has a rule already", selector));
      }
    } else {
      if (!ParseGrpcPath(fmt::format("/{}/M", selector))) {
        return fail(fmt::format("{:?} is not a service name like pkg.Service", selector));
      }
      if (!set.services.emplace(std::string(selector), rule).second) {
        return fail(fmt::format("{} has a rule already", selector));
      }
    }
  }
  return set;
}

}  // namespace h2gate
