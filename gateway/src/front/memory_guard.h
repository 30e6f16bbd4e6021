// Keeps the process under an operator's memory limit before the kernel's OOM killer acts: every
// tick it reads the resident size; over the limit it first gives freed heap back to the system
// (glibc keeps it: after a reset burst 370 MB of freed call arenas stayed resident until
// malloc_trim), and if that is not enough the front listener refuses new connections, counted
// as h2gate_limit_hits_total{limit="memory"}, until the process is back under the limit.
#pragma once

#include <chrono>
#include <cstdint>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "front/connection.h"

namespace h2gate {

// The resident set size of this process, in bytes (0 if /proc cannot be read).
std::int64_t ResidentBytes();
// The memory limit of this process's cgroup (v2 memory.max, or v1 limit_in_bytes); 0 if none.
std::int64_t CgroupMemoryLimit();

class MemoryGuard {
 public:
  static constexpr auto kTick = std::chrono::milliseconds(50);
  // `limit_bytes`: 0 for no limit (freed memory is still returned after an abusive connection).
  MemoryGuard(boost::asio::io_context& io, Shared& shared, std::int64_t limit_bytes);
  void Start();
  void Stop();

 private:
  void Arm();
  void Check();

  boost::asio::steady_timer timer_;
  Shared& shared_;
  std::int64_t limit_;
  // After an abusive connection is cut, gRPC frees its calls over the next moments: trim until.
  std::chrono::steady_clock::time_point trim_until_{};
  bool stopped_ = false;
};

}  // namespace h2gate
