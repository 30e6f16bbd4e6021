#include "front/detect.h"

#include <algorithm>

namespace h2gate {
namespace {

// RFC 9110 token characters, the alphabet of an HTTP method.
bool IsTokenChar(unsigned char c) {
  if (c >= '0' && c <= '9') return true;
  if ((c | 0x20) >= 'a' && (c | 0x20) <= 'z') return true;
  switch (c) {
    case '!':
    case '#':
    case '$':
    case '%':
    case '&':
    case '\'':
    case '*':
    case '+':
    case '-':
    case '.':
    case '^':
    case '_':
    case '`':
    case '|':
    case '~': return true;
    default: return false;
  }
}

Protocol DetectHttp1(std::string_view bytes) {
  const std::size_t limit = std::min(bytes.size(), kMaxMethodLength + 1);
  for (std::size_t i = 0; i < limit; ++i) {
    const auto c = static_cast<unsigned char>(bytes[i]);
    if (c == ' ') return i > 0 ? Protocol::kHttp1 : Protocol::kUnknown;
    if (!IsTokenChar(c)) return Protocol::kUnknown;
  }
  return bytes.size() > kMaxMethodLength ? Protocol::kUnknown : Protocol::kNeedMore;
}

}  // namespace

Protocol Detect(std::string_view bytes) {
  if (bytes.empty()) return Protocol::kNeedMore;

  const std::size_t n = std::min(bytes.size(), kHttp2Preface.size());
  if (bytes.substr(0, n) == kHttp2Preface.substr(0, n)) {
    // "PRI * HTTP/" is also a valid HTTP/1 request line start; only the full preface decides.
    return n == kHttp2Preface.size() ? Protocol::kHttp2 : Protocol::kNeedMore;
  }

  // TLS record: content type 22 (handshake), then major version 3 (SSL 3.0 .. TLS 1.3).
  if (bytes[0] == '\x16') {
    if (bytes.size() == 1) return Protocol::kNeedMore;
    return bytes[1] == '\x03' ? Protocol::kTls : Protocol::kUnknown;
  }

  return DetectHttp1(bytes);
}

std::string_view ProtocolName(Protocol protocol) {
  switch (protocol) {
    case Protocol::kNeedMore: return "need_more";
    case Protocol::kHttp2: return "http2";
    case Protocol::kHttp1: return "http1";
    case Protocol::kTls: return "tls";
    case Protocol::kUnknown: return "unknown";
  }
  return "unknown";
}

}  // namespace h2gate
