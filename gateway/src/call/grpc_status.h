// The gRPC status codes as the gateway shows them: in metric labels, and as the HTTP status of a
// JSON answer. One table, so a code added upstream is added once.
#pragma once

#include <string_view>

#include <grpcpp/support/status_code_enum.h>

namespace h2gate {

inline constexpr int kGrpcCodeCount = static_cast<int>(grpc::StatusCode::UNAUTHENTICATED) + 1;

// go-grpc-prometheus' name of a code ("OK", "InvalidArgument", ...), or "Unknown".
std::string_view GrpcCodeName(int code);

// grpc-gateway's mapping from gRPC status codes to HTTP statuses; 500 for an unknown code.
unsigned HttpStatusForGrpc(int code);

}  // namespace h2gate
