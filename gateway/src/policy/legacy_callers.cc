#include "policy/legacy_callers.h"

#include <algorithm>

#include <fmt/chrono.h>
#include <fmt/format.h>

#include "call/json.h"

namespace h2gate {
namespace {

std::string_view Clip(std::string_view s) { return s.substr(0, LegacyCallers::kMaxFieldBytes); }

std::string Rfc3339(LegacyCallers::Clock::time_point t) {
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  const std::time_t seconds = static_cast<std::time_t>(ms / 1000);
  return fmt::format("{:%Y-%m-%dT%H:%M:%S}.{:03}Z", fmt::gmtime(seconds), ms % 1000);
}

}  // namespace

std::string LegacyCallers::Key(std::string_view client, std::string_view user_agent,
                               std::string_view method) {
  std::string key;
  key.reserve(client.size() + user_agent.size() + method.size() + 2);
  key.append(client).append(1, '\0').append(user_agent).append(1, '\0').append(method);
  return key;
}

bool LegacyCallers::Record(std::string_view client, std::string_view user_agent,
                           std::string_view method, bool registered, Clock::time_point now,
                           std::chrono::seconds log_every, std::string_view policy,
                           std::string_view http_version, std::string_view tls_subject) {
  if (capacity_ == 0) return false;
  user_agent = Clip(user_agent);
  method = Clip(method);
  client = Clip(client);
  // Callers repeat: the key is built in a per-thread buffer and copied only for a new caller.
  thread_local std::string key;
  key.clear();
  key.append(client).append(1, '\0').append(user_agent).append(1, '\0').append(method);

  std::lock_guard lock(mu_);
  ++total_;
  auto it = index_.find(std::string_view(key));
  std::size_t slot;
  if (it != index_.end()) {
    slot = it->second;
    ++entries_[slot].count;
  } else {
    Entry fresh;
    fresh.client = client;
    fresh.user_agent = user_agent;
    fresh.method = method;
    fresh.registered = registered;
    fresh.count = 1;
    fresh.first_seen = now;
    if (entries_.size() < capacity_) {
      slot = entries_.size();
      entries_.push_back(std::move(fresh));
    } else {
      // Evict the lightest; the newcomer inherits its count as the possible overestimate.
      slot = static_cast<std::size_t>(
          std::min_element(entries_.begin(), entries_.end(),
                           [](const Entry& a, const Entry& b) { return a.count < b.count; }) -
          entries_.begin());
      index_.erase(Key(entries_[slot].client, entries_[slot].user_agent, entries_[slot].method));
      fresh.error = entries_[slot].count;
      fresh.count += entries_[slot].count;
      entries_[slot] = std::move(fresh);
    }
    index_.emplace(key, slot);
  }
  Entry& e = entries_[slot];
  e.last_seen = now;
  e.policy = policy;
  e.http_version = http_version;
  e.tls_subject = Clip(tls_subject);
  if (e.last_logged == Clock::time_point{} || now - e.last_logged >= log_every) {
    e.last_logged = now;
    return true;
  }
  return false;
}

LegacyCallers::Snapshot LegacyCallers::Take(std::size_t limit) const {
  Snapshot snap;
  {
    std::lock_guard lock(mu_);
    snap.top = entries_;
    snap.total = total_;
    snap.since = since_;
  }
  std::sort(snap.top.begin(), snap.top.end(), [](const Entry& a, const Entry& b) {
    return a.count != b.count ? a.count > b.count : a.last_seen > b.last_seen;
  });
  if (snap.top.size() > limit) snap.top.resize(limit);
  return snap;
}

std::vector<LegacyCallers::Entry> LegacyCallers::Top(std::size_t limit) const {
  return Take(limit).top;
}

std::uint64_t LegacyCallers::total() const {
  std::lock_guard lock(mu_);
  return total_;
}

void LegacyCallers::Reset() {
  std::lock_guard lock(mu_);
  entries_.clear();
  index_.clear();
  total_ = 0;
  since_ = Clock::now();
}

std::string LegacyCallers::RenderJson(std::size_t limit) const {
  const Snapshot snap = Take(limit);
  const auto& top = snap.top;
  std::string out =
      fmt::format("{{\"since\":\"{}\",\"total_calls\":{},\"capacity\":{},\"callers\":[",
                  Rfc3339(snap.since), snap.total, capacity_);
  for (std::size_t i = 0; i < top.size(); ++i) {
    const Entry& e = top[i];
    out += i ? ",{\"client\":" : "{\"client\":";
    AppendJsonString(out, e.client);
    out += ",\"user_agent\":";
    AppendJsonString(out, e.user_agent);
    out += ",\"method\":";
    AppendJsonString(out, e.method);
    out += fmt::format(
        ",\"registered\":{},\"policy\":\"{}\",\"http_version\":\"{}\",\"count\":{},"
        "\"count_error\":{},\"first_seen\":\"{}\",\"last_seen\":\"{}\"}}",
        e.registered, e.policy, e.http_version, e.count, e.error, Rfc3339(e.first_seen),
        Rfc3339(e.last_seen));
    if (!e.tls_subject.empty()) {
      out.pop_back();  // the closing brace
      out += ",\"tls_subject\":";
      AppendJsonString(out, e.tls_subject);
      out += '}';
    }
  }
  out += "]}\n";
  return out;
}

std::string LegacyCallers::RenderText(std::size_t limit) const {
  const Snapshot snap = Take(limit);
  const auto& top = snap.top;
  std::string out =
      fmt::format("Non-gRPC calls on gRPC paths: {} since {} (top {} of at most {})\n", snap.total,
                  Rfc3339(snap.since), top.size(), capacity_);

  out += fmt::format("{:>10} {:>8}  {:<24} {:<40} {:<4} {:<24} {}\n", "COUNT", "±ERROR", "CLIENT",
                     "METHOD", "HTTP", "LAST SEEN", "USER AGENT");
  for (const Entry& e : top) {
    // Printable ASCII only: user agents come from callers.
    std::string agent;
    for (char c : e.user_agent) agent += (c >= 0x20 && c < 0x7f) ? c : '?';
    if (!e.tls_subject.empty()) agent += " [tls: " + e.tls_subject + "]";
    out += fmt::format("{:>10} {:>8}  {:<24} {:<40} {:<4} {:<24} {}\n", e.count, e.error, e.client,
                       e.method + (e.registered ? "" : " (unregistered)"), e.http_version,
                       Rfc3339(e.last_seen), agent);
  }
  return out;
}

}  // namespace h2gate
