#include "route/media.h"

#include <array>

#include <boost/beast/core/string.hpp>

namespace h2gate {
namespace {

constexpr std::array<std::string_view, static_cast<std::size_t>(MediaKind::kCount)> kMediaNames = {
    "json", "proto", "grpc", "grpc_web", "connect", "other"};

// The media type without parameters and surrounding space: "application/json; charset=utf-8"
// is "application/json".
std::string_view Essence(std::string_view content_type) {
  std::string_view type = content_type.substr(0, content_type.find(';'));
  while (!type.empty() && (type.front() == ' ' || type.front() == '\t')) type.remove_prefix(1);
  while (!type.empty() && (type.back() == ' ' || type.back() == '\t')) type.remove_suffix(1);
  return type;
}

bool StartsWithNoCase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && boost::beast::iequals(s.substr(0, prefix.size()), prefix);
}

}  // namespace

MediaKind MediaKindOf(std::string_view content_type) {
  const std::string_view type = Essence(content_type);
  // Legacy callers often send JSON with no Content-Type at all; they are served as before.
  if (type.empty() || boost::beast::iequals(type, "application/json")) return MediaKind::kJson;
  if (StartsWithNoCase(type, "application/grpc-web")) return MediaKind::kGrpcWeb;
  if (StartsWithNoCase(type, "application/grpc")) return MediaKind::kGrpc;
  if (StartsWithNoCase(type, "application/connect+")) return MediaKind::kConnect;
  for (std::string_view proto : {"application/proto", "application/protobuf",
                                 "application/x-protobuf", "application/x-google-protobuf"}) {
    if (boost::beast::iequals(type, proto)) return MediaKind::kProto;
  }
  return MediaKind::kOther;
}

std::string_view MediaKindName(MediaKind kind) {
  return kMediaNames[static_cast<std::size_t>(kind)];
}

}  // namespace h2gate
