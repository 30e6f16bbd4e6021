#include "support/h2_frames.h"

namespace h2gate::testing {

std::string Frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload) {
  std::string f;
  const auto n = static_cast<std::uint32_t>(payload.size());
  f += static_cast<char>(n >> 16);
  f += static_cast<char>(n >> 8);
  f += static_cast<char>(n);
  f += static_cast<char>(type);
  f += static_cast<char>(flags);
  for (int shift = 24; shift >= 0; shift -= 8) f += static_cast<char>(stream >> shift);
  f += payload;
  return f;
}

std::string U32(std::uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
          static_cast<char>(v)};
}

std::string Literal(std::string_view name, std::string_view value) {
  std::string out(1, '\0');
  out += static_cast<char>(name.size());
  out += name;
  out += static_cast<char>(value.size());
  out += value;
  return out;
}

std::string EchoCallHeaders() {
  return Literal(":method", "POST") + Literal(":scheme", "http") +
         Literal(":path", "/echo.v1.Echo/Echo") + Literal(":authority", "test") +
         Literal("content-type", "application/grpc") + Literal("te", "trailers");
}

const std::string kPreface = std::string("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n") + Frame(4, 0, 0);

std::string RapidReset(int pairs) {
  std::string out;
  const std::string headers = EchoCallHeaders();
  for (int i = 0; i < pairs; ++i) {
    const auto stream = static_cast<std::uint32_t>(2 * i + 1);
    out += Frame(1, 0x4, stream, headers);  // END_HEADERS, the request body still to come
    out += Frame(3, 0, stream, U32(8));     // RST_STREAM(CANCEL)
  }
  return out;
}

int GoawayCode(const std::string& bytes) {
  std::size_t i = 0;
  while (i + 9 <= bytes.size()) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + i);
    const std::size_t length = (p[0] << 16) | (p[1] << 8) | p[2];
    if (p[3] == 7 && i + 9 + 8 <= bytes.size()) {
      return (p[13] << 24) | (p[14] << 16) | (p[15] << 8) | p[16];
    }
    i += 9 + length;
  }
  return -1;
}

std::vector<ParsedFrame> ParseFrames(const std::string& bytes) {
  std::vector<ParsedFrame> out;
  std::size_t i = 0;
  while (i + 9 <= bytes.size()) {
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data() + i);
    const std::size_t length = (p[0] << 16) | (p[1] << 8) | p[2];
    if (i + 9 + length > bytes.size()) break;
    const std::uint32_t stream = ((p[5] & 0x7fu) << 24) | (p[6] << 16) | (p[7] << 8) | p[8];
    out.push_back({p[3], p[4], stream, bytes.substr(i + 9, length)});
    i += 9 + length;
  }
  return out;
}

}  // namespace h2gate::testing
