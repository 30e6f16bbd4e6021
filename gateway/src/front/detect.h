// Protocol detection from a connection's first bytes. Pure: no sockets, no clocks.
#pragma once

#include <cstddef>
#include <string_view>

namespace h2gate {

enum class Protocol {
  kNeedMore,  // every byte so far is consistent with more than one answer
  kHttp2,     // the full HTTP/2 client connection preface (RFC 9113 section 3.4)
  kHttp1,     // an HTTP/1.x request line is starting: a method token followed by a space
  kTls,       // a TLS handshake record: a TLS client on the plaintext port
  kUnknown,   // none of the above
};

// The HTTP/2 client preface; a connection is HTTP/2 only when all 24 bytes match.
inline constexpr std::string_view kHttp2Preface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

// Longest method token accepted before the first space; longer is not HTTP/1 we will serve.
inline constexpr std::size_t kMaxMethodLength = 20;

// Decides the protocol from the bytes received so far. Feeding a prefix of the same stream never
// contradicts the answer for the whole: kNeedMore becomes one of the others, never the reverse.
Protocol Detect(std::string_view bytes);

// Lower-case name used in metrics and logs ("http2", "http1", "tls", "unknown", "need_more").
std::string_view ProtocolName(Protocol protocol);

}  // namespace h2gate
