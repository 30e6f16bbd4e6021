#include "http1/http1_rules.h"

namespace h2gate {
namespace http = boost::beast::http;

namespace {

bool IEquals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    if ((a[i] | 0x20) != (b[i] | 0x20)) return false;  // letters only: the schemes compared
  }
  return true;
}

// uri-host [ ":" port ] (RFC 9110 §7.2, RFC 3986 §3.2.2): registered-name characters,
// percent-encodings, and bracketed IPv6 literals. Empty is allowed (RFC 9112 §3.2).
bool ValidHost(std::string_view host) {
  for (const char c : host) {
    const bool alnum = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
    if (alnum) continue;
    switch (c) {
      case '-':
      case '.':
      case '_':
      case '~':
      case '%':
      case '!':
      case '$':
      case '&':
      case '\'':
      case '(':
      case ')':
      case '*':
      case '+':
      case ',':
      case ';':
      case '=':
      case ':':
      case '[':
      case ']': continue;
      default: return false;
    }
  }
  return true;
}

}  // namespace

RequestHead HeadOf(const http::request<http::string_body>& req) {
  const auto host = req.find(http::field::host);
  return {req.method(), req.version(), req.target(),
          host == req.end() ? 0 : static_cast<int>(req.count(http::field::host)),
          host == req.end() ? std::string_view() : std::string_view(host->value())};
}

RequestVerdict CheckRequest(const RequestHead& head) {
  RequestVerdict v;
  // RFC 9112 §3.2: 400 for more than one Host line, for an invalid one, and for none in 1.1.
  if (head.host_fields > 1) {
    v.why = "more than one Host header field (RFC 9112 section 3.2)";
    return v;
  }
  if (head.host_fields == 0 && head.version >= 11) {
    v.why = "an HTTP/1.1 request needs a Host header field (RFC 9112 section 3.2)";
    return v;
  }
  if (!ValidHost(head.host)) {
    v.why = "the Host header field is not a valid host[:port] (RFC 9110 section 7.2)";
    return v;
  }
  const std::string_view t = head.target;
  if (t.starts_with('/')) {  // origin-form (§3.2.1)
    v.ok = true;
    v.path = t;
    return v;
  }
  if (t == "*") {  // asterisk-form (§3.2.4): OPTIONS only
    if (head.verb != http::verb::options) {
      v.why = "the request-target * is only for OPTIONS (RFC 9112 section 3.2.4)";
      return v;
    }
    v.ok = true;
    v.path = t;
    return v;
  }
  // absolute-form (§3.2.2), which a server MUST accept: scheme "://" authority path [? query].
  const auto scheme_end = t.find("://");
  if (scheme_end != std::string_view::npos) {
    const std::string_view scheme = t.substr(0, scheme_end);
    if (IEquals(scheme, "http") || IEquals(scheme, "https")) {
      const std::string_view rest = t.substr(scheme_end + 3);
      const auto path_start = rest.find_first_of("/?");
      const std::string_view authority = rest.substr(0, path_start);
      if (!authority.empty() && ValidHost(authority)) {
        v.ok = true;
        // An empty path is "/" (RFC 9112 §3.3); routing needs no query there.
        v.path = path_start == std::string_view::npos || rest[path_start] == '?'
                     ? std::string_view("/")
                     : rest.substr(path_start);
        return v;
      }
    }
  }
  // authority-form (§3.2.3) is for CONNECT, which a gateway does not proxy; anything else is
  // not a request-target at all.
  v.why = head.verb == http::verb::connect
              ? "CONNECT is not served here (h2gate is not a forward proxy)"
              : "the request-target is not in origin, absolute or asterisk form (RFC 9112 "
                "section 3.2)";
  return v;
}

}  // namespace h2gate
