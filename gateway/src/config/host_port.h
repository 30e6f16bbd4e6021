#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "h2gate/gateway.h"

namespace h2gate {

// Parses "HOST:PORT", "[V6]:PORT" into a HostPort (h2gate/gateway.h). Only IP literals (and
// localhost, as 127.0.0.1): the listener never resolves names, so start-up cannot hang on DNS.
std::optional<HostPort> ParseHostPort(std::string_view text);

}  // namespace h2gate
