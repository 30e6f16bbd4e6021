#include "front/memory_guard.h"

#include <malloc.h>
#include <unistd.h>

#include <charconv>
#include <fstream>
#include <string>

#include <spdlog/spdlog.h>

namespace h2gate {
namespace {

std::int64_t ReadNumber(const char* path) {
  std::ifstream in(path);
  std::string text;
  if (!(in >> text)) return 0;
  std::int64_t v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  return ec == std::errc() && end == text.data() + text.size() ? v : 0;  // "max": no limit
}

}  // namespace

std::int64_t ResidentBytes() {
  std::ifstream statm("/proc/self/statm");
  std::int64_t size = 0, resident = 0;
  if (!(statm >> size >> resident)) return 0;
  return resident * ::sysconf(_SC_PAGESIZE);
}

std::int64_t CgroupMemoryLimit() {
  if (const auto v2 = ReadNumber("/sys/fs/cgroup/memory.max"); v2 > 0) return v2;
  const auto v1 = ReadNumber("/sys/fs/cgroup/memory/memory.limit_in_bytes");
  // cgroup v1 reports "no limit" as a huge page-rounded number.
  return v1 > 0 && v1 < (std::int64_t{1} << 60) ? v1 : 0;
}

MemoryGuard::MemoryGuard(boost::asio::io_context& io, Shared& shared, std::int64_t limit_bytes)
    : timer_(io), shared_(shared), limit_(limit_bytes) {
  shared_.metrics.memory_limit_bytes.Set(limit_);
}

void MemoryGuard::Start() { Arm(); }

void MemoryGuard::Stop() {
  stopped_ = true;
  timer_.cancel();
}

void MemoryGuard::Arm() {
  timer_.expires_after(kTick);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (ec || stopped_) return;
    Check();
    Arm();
  });
}

void MemoryGuard::Check() {
  const auto now = std::chrono::steady_clock::now();
  if (shared_.trim_requested.exchange(false, std::memory_order_relaxed)) {
    trim_until_ = now + std::chrono::seconds(2);
  }
  const bool trimming = now < trim_until_;
  if (limit_ <= 0 && !trimming) return;
  std::int64_t rss = ResidentBytes();
  if (trimming || rss > limit_) {
    ::malloc_trim(0);
    shared_.metrics.memory_trims.Inc();
    rss = ResidentBytes();
  }
  const bool over = limit_ > 0 && rss > limit_;
  if (over != shared_.memory_degraded.load(std::memory_order_relaxed)) {
    shared_.memory_degraded.store(over, std::memory_order_relaxed);
    shared_.metrics.memory_degraded.Set(over ? 1 : 0);
    if (over) {
      spdlog::warn("memory: {} MiB resident, over --memory-limit={} MiB: refusing new connections",
                   rss >> 20, limit_ >> 20);
    } else {
      spdlog::info("memory: {} MiB resident, under --memory-limit again: accepting", rss >> 20);
    }
  }
}

}  // namespace h2gate
