#include "net.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>

namespace h2gate::testing {

long RaiseOpenFileLimit(long needed) {
  rlimit limit{};
  getrlimit(RLIMIT_NOFILE, &limit);
  if (limit.rlim_cur < static_cast<rlim_t>(needed)) {
    limit.rlim_cur = std::min(static_cast<rlim_t>(needed), limit.rlim_max);
    setrlimit(RLIMIT_NOFILE, &limit);
  }
  return static_cast<long>(limit.rlim_cur);
}
namespace {
using Clock = std::chrono::steady_clock;

// One bounded read: >0 bytes, 0 on EOF, -1 on error, -2 on timeout.
ssize_t ReadOnce(int fd, std::string& out, Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
  if (left.count() <= 0) return -2;
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(left.count())) <= 0) return -2;
  char buf[16384];
  const ssize_t n = recv(fd, buf, sizeof buf, 0);
  if (n > 0) out.append(buf, static_cast<std::size_t>(n));
  return n < 0 ? -1 : n;
}
}  // namespace

RawClient::RawClient(int port) {
  fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(port));
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd_);
    fd_ = -1;
  }
}

RawClient::~RawClient() {
  if (fd_ >= 0) close(fd_);
}

bool RawClient::Send(std::string_view data) {
  while (!data.empty()) {
    const ssize_t n = send(fd_, data.data(), data.size(), MSG_NOSIGNAL);
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string RawClient::ReadUntilClose(std::chrono::milliseconds timeout, bool* closed) {
  std::string out;
  const auto deadline = Clock::now() + timeout;
  ssize_t n;
  while ((n = ReadOnce(fd_, out, deadline)) > 0) {
  }
  if (closed) *closed = n == 0 || n == -1;
  return out;
}

std::string RawClient::ReadUntil(std::string_view needle, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = Clock::now() + timeout;
  while (out.find(needle) == std::string::npos && ReadOnce(fd_, out, deadline) > 0) {
  }
  return out;
}

std::string RawClient::ReadAtLeast(std::size_t n, std::chrono::milliseconds timeout) {
  std::string out;
  const auto deadline = Clock::now() + timeout;
  while (out.size() < n && ReadOnce(fd_, out, deadline) > 0) {
  }
  return out;
}

bool RawClient::WaitClosed(std::chrono::milliseconds timeout) {
  bool closed = false;
  ReadUntilClose(timeout, &closed);
  return closed;
}

void RawClient::ShutdownWrite() { shutdown(fd_, SHUT_WR); }

void RawClient::Reset() {
  linger l{1, 0};
  setsockopt(fd_, SOL_SOCKET, SO_LINGER, &l, sizeof l);
  close(fd_);
  fd_ = -1;
}

}  // namespace h2gate::testing
