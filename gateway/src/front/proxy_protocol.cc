#include "front/proxy_protocol.h"

#include <charconv>
#include <cstdint>
#include <string>

namespace h2gate {
namespace net = boost::asio;

namespace {
constexpr std::string_view kV1Prefix = "PROXY ";
constexpr std::size_t kV1MaxLine = 107;  // "PROXY TCP6 " + two full IPv6, two ports, CRLF
constexpr std::string_view kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);
constexpr std::size_t kV2Fixed = 16;  // signature, version and command, family, length

// The bytes given are a prefix of `whole`: the header may still be on its way.
bool IsPrefixOf(std::string_view bytes, std::string_view whole) {
  return bytes.size() < whole.size() && whole.starts_with(bytes);
}

// A v1 port: decimal, 0 to 65535.
bool ParsePort(std::string_view text, std::uint16_t* port) {
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty() || value > 65535) {
    return false;
  }
  *port = static_cast<std::uint16_t>(value);
  return true;
}

// Splits off the text up to the next space.
std::string_view NextField(std::string_view& rest) {
  const std::size_t space = rest.find(' ');
  const std::string_view field = rest.substr(0, space);
  rest = space == std::string_view::npos ? std::string_view() : rest.substr(space + 1);
  return field;
}

ProxyResult ParseV1(std::string_view bytes, ProxyHeader* header) {
  const std::size_t end = bytes.substr(0, kV1MaxLine).find("\r\n");
  if (end == std::string_view::npos) {
    return bytes.size() >= kV1MaxLine ? ProxyResult::kMalformed : ProxyResult::kNeedMore;
  }
  std::string_view rest = bytes.substr(kV1Prefix.size(), end - kV1Prefix.size());
  header->length = end + 2;
  header->version = 1;
  header->source.reset();
  const std::string_view family = NextField(rest);
  if (family == "UNKNOWN") return ProxyResult::kDone;  // what follows is to be ignored
  if (family != "TCP4" && family != "TCP6") return ProxyResult::kMalformed;
  const std::string src = std::string(NextField(rest));
  const std::string dst = std::string(NextField(rest));
  const std::string_view sport = NextField(rest);
  const std::string_view dport = rest;
  boost::system::error_code ec1, ec2;
  const net::ip::address source = net::ip::make_address(src, ec1);
  const net::ip::address destination = net::ip::make_address(dst, ec2);
  std::uint16_t source_port = 0, destination_port = 0;
  if (ec1 || ec2 || source.is_v6() != (family == "TCP6") || destination.is_v6() != source.is_v6() ||
      !ParsePort(sport, &source_port) || !ParsePort(dport, &destination_port)) {
    return ProxyResult::kMalformed;
  }
  header->source = net::ip::tcp::endpoint(source, source_port);
  return ProxyResult::kDone;
}

std::uint16_t Be16(const unsigned char* p) { return static_cast<std::uint16_t>(p[0] << 8 | p[1]); }

ProxyResult ParseV2(std::string_view bytes, ProxyHeader* header) {
  if (bytes.size() < kV2Fixed) return ProxyResult::kNeedMore;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  const unsigned version = p[12] >> 4, command = p[12] & 0xF;
  const unsigned family = p[13] >> 4, transport = p[13] & 0xF;
  const std::size_t length = kV2Fixed + Be16(p + 14);
  if (version != 2 || command > 1) return ProxyResult::kMalformed;
  if (length > kMaxProxyHeader) return ProxyResult::kTooLarge;
  if (bytes.size() < length) return ProxyResult::kNeedMore;
  header->length = length;
  header->version = 2;
  header->source.reset();
  // LOCAL: the balancer speaks for itself (a health check); the address block is to be skipped.
  if (command == 0) return ProxyResult::kDone;
  const std::size_t block = length - kV2Fixed;
  const unsigned char* a = p + kV2Fixed;
  constexpr unsigned kInet = 1, kInet6 = 2, kStream = 1;
  if (family == kInet && transport == kStream) {
    if (block < 12) return ProxyResult::kMalformed;
    net::ip::address_v4::bytes_type source;
    std::copy(a, a + 4, source.begin());
    header->source = net::ip::tcp::endpoint(net::ip::address_v4(source), Be16(a + 8));
  } else if (family == kInet6 && transport == kStream) {
    if (block < 36) return ProxyResult::kMalformed;
    net::ip::address_v6::bytes_type source;
    std::copy(a, a + 16, source.begin());
    header->source = net::ip::tcp::endpoint(net::ip::address_v6(source), Be16(a + 32));
  }
  // UNSPEC, UNIX or datagram addresses name no TCP caller: the connection's peer stands.
  return ProxyResult::kDone;
}
}  // namespace

std::string_view ProxyResultName(ProxyResult r) {
  switch (r) {
    case ProxyResult::kDone: return "done";
    case ProxyResult::kNeedMore: return "need_more";
    case ProxyResult::kNotProxy: return "not_proxy";
    case ProxyResult::kMalformed: return "malformed";
    case ProxyResult::kTooLarge: return "too_large";
  }
  return "malformed";
}

ProxyResult ParseProxyHeader(std::string_view bytes, ProxyHeader* header) {
  if (bytes.empty()) return ProxyResult::kNeedMore;
  if (bytes.starts_with(kV2Signature)) return ParseV2(bytes, header);
  if (bytes.starts_with(kV1Prefix)) return ParseV1(bytes, header);
  if (IsPrefixOf(bytes, kV2Signature) || IsPrefixOf(bytes, kV1Prefix)) {
    return ProxyResult::kNeedMore;
  }
  return ProxyResult::kNotProxy;
}

}  // namespace h2gate
