#include "front/h2_frames.h"

namespace h2gate::h2 {
namespace {

void Put32(std::string& out, std::uint32_t v) {
  out += static_cast<char>(v >> 24);
  out += static_cast<char>(v >> 16);
  out += static_cast<char>(v >> 8);
  out += static_cast<char>(v);
}

std::uint32_t Get32(const unsigned char* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) |
         p[3];
}

}  // namespace

namespace detail {
Frame Decode(const unsigned char* h, std::size_t size) {
  Frame f;
  f.length = (std::uint32_t{h[0]} << 16) | (std::uint32_t{h[1]} << 8) | h[2];
  f.type = h[3];
  f.flags = h[4];
  f.stream_id = Get32(h + 5) & 0x7fffffffu;  // the reserved bit is ignored (RFC 9113 §4.1)
  if (f.type == kRstStream && size >= kFrameHeaderSize + 4) {
    f.error_code = Get32(h + kFrameHeaderSize);
  }
  if (f.type == kPing && size >= kFrameHeaderSize + 8) {
    f.ping_data =
        (std::uint64_t{Get32(h + kFrameHeaderSize)} << 32) | Get32(h + kFrameHeaderSize + 4);
  }
  return f;
}
}  // namespace detail

std::string Goaway(std::uint32_t last_stream_id, ErrorCode code, std::string_view debug) {
  std::string out;
  const std::uint32_t length = 8 + static_cast<std::uint32_t>(debug.size());
  out += static_cast<char>(length >> 16);
  out += static_cast<char>(length >> 8);
  out += static_cast<char>(length);
  out += static_cast<char>(kGoaway);
  out += '\0';    // no flags
  Put32(out, 0);  // stream 0
  Put32(out, last_stream_id & 0x7fffffffu);
  Put32(out, static_cast<std::uint32_t>(code));
  out += debug;
  return out;
}

std::string Ping(std::uint64_t data) {
  std::string out;
  out += std::string("\0\0\x08", 3);  // length 8
  out += static_cast<char>(kPing);
  out += '\0';    // no flags
  Put32(out, 0);  // stream 0
  Put32(out, static_cast<std::uint32_t>(data >> 32));
  Put32(out, static_cast<std::uint32_t>(data));
  return out;
}

}  // namespace h2gate::h2
