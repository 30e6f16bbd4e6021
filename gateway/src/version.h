#pragma once

#include <string_view>

namespace h2gate {

inline constexpr std::string_view kVersion = H2GATE_VERSION;

// The linked gRPC core's version string, e.g. "1.51.1".
std::string_view GrpcVersion();

}  // namespace h2gate
