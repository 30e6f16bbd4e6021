// Test support: raw HTTP/2 frames for hostile clients, built by hand so that a test controls
// every byte (HPACK literals without indexing: no dynamic table to keep in step).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace h2gate::testing {

std::string Frame(std::uint8_t type, std::uint8_t flags, std::uint32_t stream,
                  std::string_view payload = "");
std::string U32(std::uint32_t v);
std::string Literal(std::string_view name, std::string_view value);
// The request headers of a unary gRPC call to /echo.v1.Echo/Echo.
std::string EchoCallHeaders();
// The client preface and an empty SETTINGS frame.
extern const std::string kPreface;
// `pairs` HEADERS + RST_STREAM(CANCEL) pairs on streams 1, 3, 5, ... (CVE-2023-44487).
std::string RapidReset(int pairs);
// The GOAWAY error code among the frames a server sent, or -1.
int GoawayCode(const std::string& bytes);

struct ParsedFrame {
  int type = 0;
  int flags = 0;
  std::uint32_t stream = 0;
  std::string payload;
};
// The whole frames of `bytes`, which start at a frame (no preface).
std::vector<ParsedFrame> ParseFrames(const std::string& bytes);

}  // namespace h2gate::testing
