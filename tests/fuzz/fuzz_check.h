// What the fuzz targets share: the check that aborts (libFuzzer saves the input), and a small
// deterministic generator, so that the same input gives the same cuts and splits.
#pragma once

#include <cstdint>
#include <cstdlib>

namespace h2gate::fuzz {

inline void Check(bool ok) {
  if (!ok) std::abort();
}

struct Rng {
  std::uint32_t state;
  std::uint32_t Next() {
    state = state * 1664525u + 1013904223u;
    return state >> 8;
  }
};

}  // namespace h2gate::fuzz
