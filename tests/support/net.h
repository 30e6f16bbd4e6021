// Test support: raw loopback sockets with bounded waits.
#pragma once

#include <chrono>
#include <string>

namespace h2gate::testing {

// Raises this process's soft limit on open files to `needed` (at most the hard limit); returns
// the limit now in force.
long RaiseOpenFileLimit(long needed);

class RawClient {
 public:
  explicit RawClient(int port);  // connects to 127.0.0.1:port
  ~RawClient();
  RawClient(const RawClient&) = delete;
  RawClient& operator=(const RawClient&) = delete;

  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }
  bool Send(std::string_view data);
  // Reads until the peer closes or `timeout` passes.
  std::string ReadUntilClose(std::chrono::milliseconds timeout, bool* closed = nullptr);
  // Reads until `needle` has been seen or `timeout` passes.
  std::string ReadUntil(std::string_view needle, std::chrono::milliseconds timeout);
  // Reads at least `n` bytes or until `timeout`.
  std::string ReadAtLeast(std::size_t n, std::chrono::milliseconds timeout);
  // True if the peer closed (EOF or reset) within `timeout`.
  bool WaitClosed(std::chrono::milliseconds timeout);
  void ShutdownWrite();
  void Reset();  // close with RST

 private:
  int fd_ = -1;
  std::string pending_;
};

}  // namespace h2gate::testing
