// HTTP/2 frame headers read out of a byte stream that is passed on unchanged (RFC 9113 §4.1).
// Only the 9-byte headers are parsed, RST_STREAM's error code and PING's opaque data: payloads
// are skipped, so the cost is the same for a 16 KiB DATA frame and an empty one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace h2gate::h2 {

enum FrameType : std::uint8_t {
  kData = 0,
  kHeaders = 1,
  kPriority = 2,
  kRstStream = 3,
  kSettings = 4,
  kPushPromise = 5,
  kPing = 6,
  kGoaway = 7,
  kWindowUpdate = 8,
  kContinuation = 9,
};

inline constexpr std::uint8_t kFlagEndStream = 0x1;
inline constexpr std::uint8_t kFlagAck = 0x1;
inline constexpr std::uint8_t kFlagEndHeaders = 0x4;

enum class ErrorCode : std::uint32_t {
  kNoError = 0,
  kProtocolError = 1,
  kRefusedStream = 7,
  kCancel = 8,
  kEnhanceYourCalm = 0xb,
  kInadequateSecurity = 0xc,
};

inline constexpr std::string_view kClientPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
inline constexpr std::size_t kFrameHeaderSize = 9;

struct Frame {
  std::uint32_t length = 0;
  std::uint8_t type = 0;
  std::uint8_t flags = 0;
  std::uint32_t stream_id = 0;
  // RST_STREAM's error code; 0 for other types.
  std::uint32_t error_code = 0;
  // PING's opaque data (RFC 9113 §6.7); 0 for other types.
  std::uint64_t ping_data = 0;
};

// Reads frame headers incrementally: bytes may arrive split anywhere. Feed() calls
// `on_frame(const Frame&)` once per frame, as soon as its header (and RST_STREAM's error code, or
// PING's data) is in; on_frame returns false to stop, and Feed() then returns false too.
class FrameReader {
 public:
  // `skip`: bytes before the first frame (the client preface on a client's stream).
  explicit FrameReader(std::size_t skip = 0) : skip_(skip) {}

  template <typename OnFrame>
  bool Feed(std::string_view bytes, OnFrame&& on_frame);

  // True between frames: bytes may be inserted here without breaking the stream.
  bool AtBoundary() const { return skip_ == 0 && have_ == 0 && remaining_ == 0; }

 private:
  std::size_t skip_;
  unsigned char header_[kFrameHeaderSize + 8];
  std::size_t have_ = 0;         // header bytes collected so far
  std::size_t want_ = 0;         // header bytes this frame needs before it is reported
  std::uint64_t remaining_ = 0;  // payload bytes of the current frame still to skip
};

// A GOAWAY frame (RFC 9113 §6.8) with `debug` as its opaque data.
std::string Goaway(std::uint32_t last_stream_id, ErrorCode code, std::string_view debug);
// A PING frame (RFC 9113 §6.7), not an ACK, carrying `data`.
std::string Ping(std::uint64_t data);

namespace detail {
Frame Decode(const unsigned char* h, std::size_t size);
}

template <typename OnFrame>
bool FrameReader::Feed(std::string_view bytes, OnFrame&& on_frame) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  std::size_t n = bytes.size();
  while (n > 0) {
    if (skip_ > 0) {
      const std::size_t k = skip_ < n ? skip_ : n;
      skip_ -= k, p += k, n -= k;
      continue;
    }
    if (remaining_ > 0 && have_ == 0) {
      const std::size_t k = remaining_ < n ? static_cast<std::size_t>(remaining_) : n;
      remaining_ -= k, p += k, n -= k;
      continue;
    }
    if (have_ == 0) want_ = kFrameHeaderSize;
    while (have_ < want_ && n > 0) {
      header_[have_++] = *p++;
      --n;
      if (have_ == kFrameHeaderSize && (header_[3] == kRstStream || header_[3] == kPing)) {
        const std::uint32_t length = (header_[0] << 16) | (header_[1] << 8) | header_[2];
        const std::size_t extra = header_[3] == kPing ? 8 : 4;
        if (length >= extra) want_ = kFrameHeaderSize + extra;
      }
    }
    if (have_ < want_) break;
    const Frame f = detail::Decode(header_, have_);
    remaining_ = f.length - (have_ - kFrameHeaderSize);
    have_ = 0;
    if (!on_frame(f)) return false;
  }
  return true;
}

}  // namespace h2gate::h2
