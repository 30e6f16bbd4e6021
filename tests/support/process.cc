#include "process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>

namespace h2gate::testing {
namespace {

using Clock = std::chrono::steady_clock;

pid_t Spawn(const std::vector<std::string>& argv, int* out_fd, int* in_fd) {
  int out[2], in[2];
  if (pipe2(out, O_CLOEXEC) != 0 || pipe2(in, O_CLOEXEC) != 0) throw std::runtime_error("pipe");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork");
  if (pid == 0) {
    // A test that crashes must not leave its servers behind.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    // The test process may block signals (the gateway does); the child starts clean.
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    dup2(in[0], 0);
    dup2(out[1], 1);
    dup2(out[1], 2);
    std::vector<char*> args;
    for (const auto& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    execvp(args[0], args.data());
    _exit(127);
  }
  close(out[1]);
  close(in[0]);
  *out_fd = out[0];
  *in_fd = in[1];
  fcntl(*out_fd, F_SETFL, O_NONBLOCK);
  return pid;
}

// Reads what is available from fd within `timeout`; returns false at EOF.
bool ReadSome(int fd, std::string& out, std::chrono::milliseconds timeout) {
  pollfd p{fd, POLLIN, 0};
  if (poll(&p, 1, static_cast<int>(timeout.count())) <= 0) return true;
  char buf[4096];
  const ssize_t n = read(fd, buf, sizeof buf);
  if (n == 0) return false;
  if (n > 0) out.append(buf, static_cast<std::size_t>(n));
  return true;
}

}  // namespace

ProcessResult RunProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const std::string& stdin_data) {
  int out_fd = -1, in_fd = -1;
  const pid_t pid = Spawn(argv, &out_fd, &in_fd);
  if (!stdin_data.empty()) {
    // Small inputs only: fits the pipe buffer.
    (void)!write(in_fd, stdin_data.data(), stdin_data.size());
  }
  close(in_fd);
  ProcessResult result;
  const auto deadline = Clock::now() + timeout;
  bool open = true;
  while (open && Clock::now() < deadline) {
    open = ReadSome(out_fd, result.output, std::chrono::milliseconds(50));
  }
  close(out_fd);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() >= deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      result.timed_out = true;
      return result;
    }
    usleep(10000);
  }
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return result;
}

Child::Child(const std::vector<std::string>& argv) {
  int in_fd = -1;
  pid_ = Spawn(argv, &out_fd_, &in_fd);
  close(in_fd);
}

Child::~Child() {
  if (!exited_) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status_, 0);
  }
  close(out_fd_);
}

void Child::Drain(std::chrono::milliseconds timeout) { ReadSome(out_fd_, output_, timeout); }

bool Child::WaitForOutput(const std::string& needle, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (output_.find(needle) == std::string::npos) {
    if (Clock::now() >= deadline) return false;
    Drain(std::chrono::milliseconds(20));
  }
  return true;
}

int Child::Wait(std::chrono::milliseconds timeout, bool* timed_out) {
  const auto deadline = Clock::now() + timeout;
  while (!exited_) {
    if (waitpid(pid_, &status_, WNOHANG) == pid_) {
      exited_ = true;
      break;
    }
    if (Clock::now() >= deadline) {
      if (timed_out) *timed_out = true;
      return -1;
    }
    Drain(std::chrono::milliseconds(10));
  }
  Drain(std::chrono::milliseconds(0));
  if (timed_out) *timed_out = false;
  return WIFEXITED(status_) ? WEXITSTATUS(status_) : -1;
}

std::string BinaryDir() { return H2GATE_BINARY_DIR; }
std::string SourceDir() { return H2GATE_SOURCE_DIR; }

}  // namespace h2gate::testing
