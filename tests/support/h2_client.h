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

// How the client's 24-byte connection preface goes out.
enum class Preface {
  kWithRequest,        // with SETTINGS and the request, in one go, as gRPC clients send it
  kAloneThenWait,      // alone, then nothing more until the server's SETTINGS arrive
  kSplitAfterTenBytes  // its first 10 bytes, a 200 ms pause, then the rest and the request
};

// One unary gRPC call on a new connection to 127.0.0.1:port.
H2Result H2UnaryCall(int port, const std::string& path, const std::string& request, Preface preface,
                     std::chrono::milliseconds timeout);

}  // namespace h2gate::testing
