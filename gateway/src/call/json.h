// The little JSON the gateway writes itself: escaped strings and google.rpc.Status bodies.
#pragma once

#include <string>
#include <string_view>

#include <grpcpp/support/status_code_enum.h>

namespace h2gate {

// Appends `s` as a JSON string literal, quotes included. Control bytes and anything outside
// ASCII are escaped, so the output is valid JSON even when `s` is not valid UTF-8.
void AppendJsonString(std::string& out, std::string_view s);

// A google.rpc.Status as JSON, newline-terminated: {"code":N,"message":"...","details":[...]}.
// `details` is the array's contents, already serialised.
std::string StatusJson(grpc::StatusCode code, std::string_view message,
                       std::string_view details = "");

}  // namespace h2gate
