// Test support: a minimal HTTP/2 gRPC client on libnghttp2 that controls its own bytes, to
// exercise client behaviours gRPC's own client never shows.
#pragma once

#include <chrono>
#include <string>

namespace h2gate::testing {

struct H2Result {
  std::string error;  // empty on success
  bool saw_server_settings_before_sending = false;
  int http_status = 0;
  std::string grpc_status;  // from trailers
  std::string message;      // the response message, without gRPC framing
};

// One unary gRPC call on a new connection to 127.0.0.1:port. With `wait_for_server_settings`,
// sends only the 24-byte preface, then waits for the server's SETTINGS before sending more.
H2Result H2UnaryCall(int port, const std::string& path, const std::string& request,
                     bool wait_for_server_settings, std::chrono::milliseconds timeout);

}  // namespace h2gate::testing
