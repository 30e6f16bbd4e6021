// The HTTP/2 guard's pure half: bytes of both directions, cut into pieces and spaced in time by
// the input itself, through FrameReader and H2Policer. ASan and UBSan check every read; the
// open-stream count must never pass the cut-off unnoticed.
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "front/h2_frames.h"
#include "front/h2_policer.h"

using namespace h2gate;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Http2Limits limits;
  limits.max_concurrent_streams = 4;
  limits.reset_burst = 3;
  limits.ping_burst = limits.settings_burst = limits.priority_burst = limits.empty_burst = 5;
  limits.max_header_block = 256;
  H2Policer policer(limits);
  h2::FrameReader from_client(h2::kClientPreface.size()), from_server;
  auto now = H2Policer::Clock::time_point{} + std::chrono::hours(1);
  std::optional<Http2Abuse> abuse;
  std::size_t i = 0;
  while (i < size && !abuse) {
    // A control byte: direction (bit 0), piece length (bits 1-5), time passing (bits 6-7).
    const std::uint8_t control = data[i++];
    const bool client = (control & 1) != 0;
    const std::size_t n = std::min<std::size_t>(((control >> 1) & 0x1f) + 1, size - i);
    now += std::chrono::milliseconds(50 * (control >> 6));
    const std::string_view piece(reinterpret_cast<const char*>(data + i), n);
    i += n;
    if (client) {
      from_client.Feed(piece, [&](const h2::Frame& f) {
        abuse = policer.FromClient(f, now);
        return !abuse;
      });
    } else {
      from_server.Feed(piece, [&](const h2::Frame& f) {
        policer.FromServer(f, now);
        return true;
      });
      abuse = policer.TakeServerAbuse();
    }
    const std::size_t cutoff = 2 * static_cast<std::size_t>(limits.max_concurrent_streams);
    if (policer.open_streams() > cutoff && abuse != Http2Abuse::kStreams) std::abort();
  }
  return 0;
}
