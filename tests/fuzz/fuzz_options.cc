// Arbitrary flags and environment values: ParseOptions either accepts them or names the problem.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "h2gate/gateway.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  // Lines before a blank line are arguments; lines after are NAME=VALUE environment entries.
  const std::string input(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> args, env;
  bool in_env = false;
  std::size_t start = 0;
  while (start <= input.size()) {
    std::size_t end = input.find('\n', start);
    if (end == std::string::npos) end = input.size();
    const std::string line = input.substr(start, end - start);
    if (line.empty() && !in_env)
      in_env = true;
    else
      (in_env ? env : args).push_back(line);
    start = end + 1;
  }
  std::vector<std::string_view> views(args.begin(), args.end());
  const auto parsed = h2gate::ParseOptions(views, [&env](const char* name) -> const char* {
    const std::string prefix = std::string(name) + "=";
    for (const auto& e : env) {
      if (e.compare(0, prefix.size(), prefix) == 0) return e.c_str() + prefix.size();
    }
    return nullptr;
  });
  if (!parsed.help && parsed.error.empty()) {
    const auto& o = parsed.options;
    // Accepted values are within their documented ranges.
    if (o.io_threads < 1 || o.io_threads > 64 || o.max_connections < 1) std::abort();
    if (o.sniff_timeout.count() < 0 || o.max_header_bytes < 256) std::abort();
  }
  if (!parsed.error.empty() && parsed.error.find("--") == std::string::npos &&
      parsed.error.find("H2GATE_") == std::string::npos) {
    std::abort();  // every error names the flag or variable
  }
  return 0;
}
