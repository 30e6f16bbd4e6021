// What a request body is, by its Content-Type. Only JSON is transcoded; the others are named in
// the 415 and counted in h2gate_http1_unsupported_media_type_total, so operators see who sends
// binary protobuf, gRPC-Web or Connect calls to an HTTP/1.x JSON endpoint.
#pragma once

#include <string_view>

namespace h2gate {

enum class MediaKind { kJson, kProto, kGrpc, kGrpcWeb, kConnect, kOther, kCount };

MediaKind MediaKindOf(std::string_view content_type);
std::string_view MediaKindName(MediaKind kind);  // "json", "proto", "grpc", "grpc_web", ...

}  // namespace h2gate
