// Detect() on arbitrary bytes: never crashes, and never changes its mind as bytes arrive.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "front/detect.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  h2gate::Protocol decided = h2gate::Protocol::kNeedMore;
  for (std::size_t n = 0; n <= bytes.size() && n <= 64; ++n) {
    const h2gate::Protocol p = h2gate::Detect(bytes.substr(0, n));
    if (decided != h2gate::Protocol::kNeedMore && p != decided) std::abort();
    decided = p;
  }
  // Past the preface's length something is always decided.
  if (bytes.size() >= h2gate::kHttp2Preface.size() && decided == h2gate::Protocol::kNeedMore) {
    std::abort();
  }
  return 0;
}
