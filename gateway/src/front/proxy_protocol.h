// The PROXY protocol header (versions 1 and 2, haproxy's proxy-protocol.txt) that L4 load
// balancers put in front of a connection's first byte to say who the caller is. Pure and
// bounded: it reads the bytes given, never more than kMaxProxyHeader of them.
#pragma once

#include <cstddef>
#include <optional>
#include <string_view>

#include <boost/asio/ip/tcp.hpp>

namespace h2gate {

// A v1 line is at most 107 bytes. A v2 header may carry up to 64 KiB of TLVs; cloud balancers
// send tens of bytes (an endpoint id, a CRC), so more than this is refused as too large.
inline constexpr std::size_t kMaxProxyHeader = 1024;

enum class ProxyResult {
  kDone,       // a whole header: see ProxyHeader
  kNeedMore,   // a header's beginning, not yet whole
  kNotProxy,   // the bytes do not start with a PROXY header
  kMalformed,  // a header's signature, then something the specification does not allow
  kTooLarge,   // a v2 header longer than kMaxProxyHeader
};
std::string_view ProxyResultName(ProxyResult r);

struct ProxyHeader {
  std::size_t length = 0;  // bytes the header takes; the connection's own bytes follow
  int version = 0;         // 1 or 2
  // The caller: a TCP over IPv4 or IPv6 header's source. Empty for a v1 UNKNOWN, a v2 LOCAL
  // (the balancer's own health check) and v2 addresses that are not IP; the connection's own
  // peer then stands.
  std::optional<boost::asio::ip::tcp::endpoint> source;
};

// `bytes`: what the connection sent so far, from its first byte.
ProxyResult ParseProxyHeader(std::string_view bytes, ProxyHeader* header);

}  // namespace h2gate
