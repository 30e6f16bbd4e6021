// Decides, frame by frame, whether an HTTP/2 client is abusing the server behind it. Pure: fed
// the frame headers of both directions and the time, no I/O. The guard in h2_guard.h runs it on
// every HTTP/2 connection before gRPC sees a byte, because gRPC 1.51 builds a whole call for
// every HEADERS it reads and frees it only later: 20,000 HEADERS + RST_STREAM pairs sent in
// 0.3 s (CVE-2023-44487, "rapid reset") held 390 MB in live calls at once.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string_view>
#include <utility>
#include <vector>

#include "front/h2_frames.h"

namespace h2gate {

// The ways a connection is cut, each a label value of h2gate_http2_abuse_total.
enum class Http2Abuse {
  kRapidReset,   // streams reset before the server finished them, faster than the reset budget
  kStreams,      // more open streams than twice the advertised SETTINGS_MAX_CONCURRENT_STREAMS
  kPing,         // PING frames faster than their budget
  kSettings,     // SETTINGS frames faster than their budget
  kPriority,     // PRIORITY frames faster than their budget
  kEmptyFrames,  // DATA without END_STREAM, HEADERS or CONTINUATION without END_HEADERS, empty
  kHeaderBlock,  // a header block (HEADERS + CONTINUATION) longer than the cap
  kCount
};
std::string_view Http2AbuseName(Http2Abuse abuse);

struct Http2Limits {
  int max_concurrent_streams = 250;  // what gRPC advertises; twice this open is abuse
  int reset_burst = 200;             // premature resets allowed at once,
  int reset_rate = 100;              // and refilled per second
  int ping_burst = 1000, ping_rate = 100;
  int settings_burst = 100, settings_rate = 10;
  int priority_burst = 1000, priority_rate = 100;
  int empty_burst = 100, empty_rate = 10;
  std::uint32_t max_header_block = 65536;  // bytes; gRPC's own metadata limit is 8 KiB
};

// Allows `burst` events at once and `rate` more per second.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  TokenBucket(int burst, int rate) : burst_(burst), rate_(rate), tokens_(burst) {}
  bool Take(Clock::time_point now);

 private:
  double burst_, rate_, tokens_;
  Clock::time_point last_{};
};

class H2Policer {
 public:
  using Clock = TokenBucket::Clock;
  explicit H2Policer(const Http2Limits& limits);

  // A frame from the client, or from the server; nullopt while the connection behaves.
  std::optional<Http2Abuse> FromClient(const h2::Frame& f, Clock::time_point now);
  void FromServer(const h2::Frame& f, Clock::time_point now);
  // A server reset since the last call that spends the client's budget ("MadeYouReset": frames
  // that make the server reset a stream are counted like the client's own resets).
  std::optional<Http2Abuse> TakeServerAbuse() { return std::exchange(server_abuse_, {}); }

  // The whole frames `bytes` complete in `reader`, read as the client's (up to the first abuse,
  // which is returned) or the server's (then the server abuse they caused, if any).
  // `also` sees each of the client's frames first.
  template <typename Also = void (*)(const h2::Frame&)>
  std::optional<Http2Abuse> ClientBytes(
      h2::FrameReader& reader, std::string_view bytes, Clock::time_point now,
      Also also = [](const h2::Frame&) {}) {
    std::optional<Http2Abuse> abuse;
    reader.Feed(bytes, [&](const h2::Frame& f) {
      also(f);
      abuse = FromClient(f, now);
      return !abuse;
    });
    return abuse;
  }
  std::optional<Http2Abuse> ServerBytes(h2::FrameReader& reader, std::string_view bytes,
                                        Clock::time_point now) {
    reader.Feed(bytes, [&](const h2::Frame& f) {
      FromServer(f, now);
      return true;
    });
    return TakeServerAbuse();
  }

  std::uint32_t last_client_stream() const { return last_stream_; }
  std::size_t open_streams() const { return open_.size(); }

 private:
  bool Close(std::uint32_t stream_id);  // true if the stream was open

  const Http2Limits& limits_;
  TokenBucket resets_, pings_, settings_, priorities_, empties_;
  std::vector<std::uint32_t> open_;  // client-opened streams, ascending (ids only grow)
  std::uint32_t last_stream_ = 0;
  std::uint64_t header_block_ = 0;
  bool in_header_block_ = false;
  std::optional<Http2Abuse> server_abuse_;
};

}  // namespace h2gate
