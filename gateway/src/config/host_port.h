#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace h2gate {

struct HostPort {
  std::string host;  // an IP literal, without brackets; "localhost" is accepted as 127.0.0.1
  std::uint16_t port = 0;
};

// Parses "HOST:PORT", "[V6]:PORT". Only IP literals (and localhost): the listener never resolves
// names, so start-up cannot hang on DNS.
std::optional<HostPort> ParseHostPort(std::string_view text);

}  // namespace h2gate
