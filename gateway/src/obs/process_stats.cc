#include "obs/process_stats.h"

#include <dirent.h>
#include <sys/resource.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace h2gate {

ProcessStats ReadProcessStats() {
  ProcessStats s;
  if (FILE* f = std::fopen("/proc/self/stat", "r")) {
    char buf[1024];
    const std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
    std::fclose(f);
    buf[n] = '\0';
    // Fields after the command name, which may hold spaces, so start after its closing ')'.
    if (const char* p = std::strrchr(buf, ')')) {
      unsigned long utime = 0, stime = 0, vsize = 0;
      long threads = 0, rss = 0;
      // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime
      // cstime priority nice num_threads itrealvalue starttime vsize rss
      if (std::sscanf(p + 2,
                      "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu %*d %*d %*d %*d %ld "
                      "%*d %*u %lu %ld",
                      &utime, &stime, &threads, &vsize, &rss) == 5) {
        const double ticks = static_cast<double>(sysconf(_SC_CLK_TCK));
        s.cpu_seconds = static_cast<double>(utime + stime) / ticks;
        s.threads = static_cast<std::uint64_t>(threads);
        s.virtual_bytes = vsize;
        s.resident_bytes =
            static_cast<std::uint64_t>(rss) * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
      }
    }
  }
  if (DIR* d = opendir("/proc/self/fd")) {
    while (const dirent* e = readdir(d)) {
      if (e->d_name[0] != '.') ++s.open_fds;
    }
    closedir(d);
    if (s.open_fds > 0) --s.open_fds;  // the directory stream's own fd
  }
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) == 0) s.max_fds = limit.rlim_cur;
  return s;
}

}  // namespace h2gate
