// The process's own resource use, read from /proc for the standard process_* metrics.
#pragma once

#include <cstdint>

namespace h2gate {

struct ProcessStats {
  std::uint64_t resident_bytes = 0;
  std::uint64_t virtual_bytes = 0;
  std::uint64_t open_fds = 0;
  std::uint64_t max_fds = 0;
  double cpu_seconds = 0;
  std::uint64_t threads = 0;
};

ProcessStats ReadProcessStats();

}  // namespace h2gate
