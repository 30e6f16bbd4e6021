// Test support: child processes with bounded waits.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <string>
#include <vector>

namespace h2gate::testing {

struct ProcessResult {
  int exit_code = -1;  // -1 if killed by a signal or timed out
  bool timed_out = false;
  std::string output;  // stdout and stderr, interleaved
};

// Runs argv to completion or until `timeout` (then SIGKILL). Never waits longer.
ProcessResult RunProcess(const std::vector<std::string>& argv, std::chrono::milliseconds timeout,
                         const std::string& stdin_data = "");

// A running child whose output is collected on demand.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv);
  ~Child();  // SIGKILLs the child if still running
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }
  // Reads output until `needle` appears or `timeout` passes; returns whether it appeared.
  bool WaitForOutput(const std::string& needle, std::chrono::milliseconds timeout);
  const std::string& output() const { return output_; }
  // Waits up to `timeout` for exit; returns the exit code, or -1 (signal or timeout).
  int Wait(std::chrono::milliseconds timeout, bool* timed_out = nullptr);

 private:
  void Drain(std::chrono::milliseconds timeout);
  pid_t pid_ = -1;
  int out_fd_ = -1;
  bool exited_ = false;
  int status_ = 0;
  std::string output_;
};

// Directory of the built binaries and test data, set by CMake.
std::string BinaryDir();
std::string SourceDir();

}  // namespace h2gate::testing
