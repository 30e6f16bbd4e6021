// What an HTTP/2 connection's first request is, read off the bytes that arrived with its
// preface, so the sniffer can decide where the connection goes without consuming a byte.
//
// gRPC stacks send their preface and SETTINGS and then wait for the server's SETTINGS before
// their first HEADERS (measured with gRPC 1.51's core: 1.5 s with no HEADERS), while curl,
// nghttp2's clients and h2load send the first HEADERS in the same flight. So a connection that
// shows its SETTINGS and no request is a gRPC stack's, and one whose first request is there is
// classified by that request's content-type.
#pragma once

#include <cstddef>
#include <string_view>

namespace h2gate {

enum class FirstRequest {
  kNeedMore,  // the preface, the first SETTINGS or the first header block is incomplete
  kNone,      // SETTINGS (and maybe more) but no request: the client waits for the server
  kGrpc,      // the first request's content-type is application/grpc[+proto|;...]
  kOther,     // any other request, or bytes the gateway's own session must answer
};

// Bytes the classifier reads at most; a first header block not done by then is kOther.
inline constexpr std::size_t kFirstRequestLookLimit = 16384;

// `bytes` start with the client connection preface.
FirstRequest ClassifyFirstRequest(std::string_view bytes);

// Whether a content-type names gRPC over HTTP/2 (not gRPC-Web, which a gRPC server rejects).
bool IsGrpcContentType(std::string_view content_type);

}  // namespace h2gate
