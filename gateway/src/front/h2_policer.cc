#include "front/h2_policer.h"

#include <algorithm>
#include <array>

namespace h2gate {
namespace {
constexpr std::array<std::string_view, static_cast<std::size_t>(Http2Abuse::kCount)> kNames = {
    "rapid_reset", "streams", "ping", "settings", "priority", "empty_frames", "header_block"};
}  // namespace

std::string_view Http2AbuseName(Http2Abuse abuse) {
  return kNames[static_cast<std::size_t>(abuse)];
}

bool TokenBucket::Take(Clock::time_point now) {
  if (last_ != Clock::time_point{}) {
    const double seconds = std::chrono::duration<double>(now - last_).count();
    tokens_ = std::min(burst_, tokens_ + seconds * rate_);
  }
  last_ = now;
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

H2Policer::H2Policer(const Http2Limits& limits)
    : limits_(limits),
      resets_(limits.reset_burst, limits.reset_rate),
      pings_(limits.ping_burst, limits.ping_rate),
      settings_(limits.settings_burst, limits.settings_rate),
      priorities_(limits.priority_burst, limits.priority_rate),
      empties_(limits.empty_burst, limits.empty_rate) {}

bool H2Policer::Close(std::uint32_t stream_id) {
  const auto it = std::lower_bound(open_.begin(), open_.end(), stream_id);
  if (it == open_.end() || *it != stream_id) return false;
  open_.erase(it);
  return true;
}

std::optional<Http2Abuse> H2Policer::FromClient(const h2::Frame& f, Clock::time_point now) {
  using namespace h2;
  const bool end_headers = (f.flags & kFlagEndHeaders) != 0;
  switch (f.type) {
    case kHeaders:
      // Client streams are odd and ascending: a larger id opens one, a known id carries trailers.
      if ((f.stream_id & 1) != 0 && f.stream_id > last_stream_) {
        last_stream_ = f.stream_id;
        open_.push_back(f.stream_id);
        if (open_.size() > 2 * static_cast<std::size_t>(limits_.max_concurrent_streams)) {
          return Http2Abuse::kStreams;
        }
      }
      header_block_ = f.length;
      in_header_block_ = !end_headers;
      if (f.length == 0 && !end_headers && !empties_.Take(now)) return Http2Abuse::kEmptyFrames;
      break;
    case kContinuation:
      header_block_ += f.length;
      in_header_block_ = !end_headers;
      if (f.length == 0 && !end_headers && !empties_.Take(now)) return Http2Abuse::kEmptyFrames;
      break;
    case kRstStream:
      // A reset of a stream the server already finished costs the server nothing.
      if (Close(f.stream_id) && !resets_.Take(now)) return Http2Abuse::kRapidReset;
      break;
    case kPing:
      if ((f.flags & kFlagAck) == 0 && !pings_.Take(now)) return Http2Abuse::kPing;
      break;
    case kSettings:
      if ((f.flags & kFlagAck) == 0 && !settings_.Take(now)) return Http2Abuse::kSettings;
      break;
    case kPriority:
      if (!priorities_.Take(now)) return Http2Abuse::kPriority;
      break;
    case kData:
      if (f.length == 0 && (f.flags & kFlagEndStream) == 0 && !empties_.Take(now)) {
        return Http2Abuse::kEmptyFrames;
      }
      break;
    default: break;
  }
  if (header_block_ > limits_.max_header_block) return Http2Abuse::kHeaderBlock;
  if (!in_header_block_) header_block_ = 0;
  return std::nullopt;
}

void H2Policer::FromServer(const h2::Frame& f, Clock::time_point now) {
  using namespace h2;
  switch (f.type) {
    case kHeaders:
    case kData:
      if ((f.flags & kFlagEndStream) != 0) Close(f.stream_id);
      break;
    case kRstStream: {
      const auto code = static_cast<ErrorCode>(f.error_code);
      // NO_ERROR ends a finished call early; REFUSED_STREAM a stream over the limit, which gRPC
      // turns away before it builds a call.
      const bool costly = code != ErrorCode::kNoError && code != ErrorCode::kRefusedStream;
      if (Close(f.stream_id) && costly && !resets_.Take(now)) {
        server_abuse_ = Http2Abuse::kRapidReset;
      }
      break;
    }
    default: break;
  }
}

}  // namespace h2gate
