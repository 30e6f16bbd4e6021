#include "h2/first_request.h"

#include <nghttp2/nghttp2.h>

#include <memory>
#include <string>

#include "front/h2_frames.h"

namespace h2gate {
namespace {

constexpr std::uint8_t kFlagPadded = 0x8;
constexpr std::uint8_t kFlagPriority = 0x20;

struct InflaterDeleter {
  void operator()(nghttp2_hd_inflater* p) const { nghttp2_hd_inflate_del(p); }
};

// The content-type in a complete header block; kOther if it does not decode.
FirstRequest FromHeaderBlock(std::string_view block) {
  nghttp2_hd_inflater* raw = nullptr;
  if (nghttp2_hd_inflate_new(&raw) != 0) return FirstRequest::kOther;
  std::unique_ptr<nghttp2_hd_inflater, InflaterDeleter> inflater(raw);
  auto* in = reinterpret_cast<const std::uint8_t*>(block.data());
  std::size_t left = block.size();
  while (true) {
    nghttp2_nv nv;
    int flags = 0;
    const ssize_t n = nghttp2_hd_inflate_hd2(inflater.get(), &nv, &flags, in, left, 1);
    if (n < 0) return FirstRequest::kOther;
    in += n;
    left -= static_cast<std::size_t>(n);
    if (flags & NGHTTP2_HD_INFLATE_EMIT) {
      const std::string_view name(reinterpret_cast<const char*>(nv.name), nv.namelen);
      if (name == "content-type") {
        const std::string_view value(reinterpret_cast<const char*>(nv.value), nv.valuelen);
        return IsGrpcContentType(value) ? FirstRequest::kGrpc : FirstRequest::kOther;
      }
    }
    if (flags & NGHTTP2_HD_INFLATE_FINAL) return FirstRequest::kOther;  // no content-type
    if (n == 0 && left == 0) return FirstRequest::kOther;
  }
}

std::uint32_t Read24(const unsigned char* p) { return (p[0] << 16) | (p[1] << 8) | p[2]; }

}  // namespace

bool IsGrpcContentType(std::string_view v) {
  constexpr std::string_view kGrpc = "application/grpc";
  if (v.size() < kGrpc.size()) return false;
  for (std::size_t i = 0; i < kGrpc.size(); ++i) {
    const char c = v[i] >= 'A' && v[i] <= 'Z' ? static_cast<char>(v[i] - 'A' + 'a') : v[i];
    if (c != kGrpc[i]) return false;
  }
  return v.size() == kGrpc.size() || v[kGrpc.size()] == '+' || v[kGrpc.size()] == ';';
}

FirstRequest ClassifyFirstRequest(std::string_view bytes) {
  const std::size_t preface = h2::kClientPreface.size();
  // The magic alone: a client that waits for the server's preface before its SETTINGS.
  if (bytes.size() == preface) return FirstRequest::kNone;
  if (bytes.size() < preface + h2::kFrameHeaderSize) return FirstRequest::kNeedMore;
  bytes = bytes.substr(0, kFirstRequestLookLimit);
  const bool clipped = bytes.size() == kFirstRequestLookLimit;
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data()) + preface;
  std::size_t left = bytes.size() - preface;
  bool first = true;
  std::string block;  // a HEADERS block that continues in CONTINUATION frames
  bool in_block = false;
  while (true) {
    if (left < h2::kFrameHeaderSize) break;
    const std::uint32_t length = Read24(p);
    const std::uint8_t type = p[3], flags = p[4];
    // A frame that cannot end inside the look limit decides now: waiting for it would buffer
    // whatever length the client claims.
    const std::size_t end = (bytes.size() - left) + h2::kFrameHeaderSize + length;
    if (end > kFirstRequestLookLimit) return FirstRequest::kOther;
    if (left < h2::kFrameHeaderSize + length) break;
    const std::string_view payload(reinterpret_cast<const char*>(p) + h2::kFrameHeaderSize, length);
    p += h2::kFrameHeaderSize + length;
    left -= h2::kFrameHeaderSize + length;
    // The preface's SETTINGS comes first (RFC 9113 3.4); anything else is not ours to judge.
    if (first && type != h2::kSettings) return FirstRequest::kOther;
    first = false;
    if (in_block) {
      if (type != h2::kContinuation) return FirstRequest::kOther;
      block.append(payload);
    } else if (type == h2::kHeaders) {
      std::string_view fragment = payload;
      std::size_t pad = 0;
      if (flags & kFlagPadded) {
        if (fragment.empty()) return FirstRequest::kOther;
        pad = static_cast<unsigned char>(fragment.front());
        fragment.remove_prefix(1);
      }
      if (flags & kFlagPriority) {
        if (fragment.size() < 5) return FirstRequest::kOther;
        fragment.remove_prefix(5);
      }
      if (pad > fragment.size()) return FirstRequest::kOther;
      block.assign(fragment.substr(0, fragment.size() - pad));
      in_block = true;
    } else if (type == h2::kData || type == h2::kPushPromise || type == h2::kContinuation) {
      return FirstRequest::kOther;  // a protocol error: the gateway's session answers it
    } else {
      continue;  // SETTINGS, WINDOW_UPDATE, PRIORITY, PING: the request may follow
    }
    if (flags & h2::kFlagEndHeaders) return FromHeaderBlock(block);
  }
  if (first) return FirstRequest::kNeedMore;  // the first SETTINGS is incomplete
  if (clipped) return FirstRequest::kOther;
  // Between frames with no request yet: the client waits for the server's SETTINGS. A frame
  // cut short may be the request itself.
  return in_block || left > 0 ? FirstRequest::kNeedMore : FirstRequest::kNone;
}

}  // namespace h2gate
