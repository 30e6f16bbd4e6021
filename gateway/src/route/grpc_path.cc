#include "route/grpc_path.h"

#include <algorithm>

namespace h2gate {
namespace {

bool IsIdentStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentChar(char c) { return IsIdentStart(c) || (c >= '0' && c <= '9'); }

// A protobuf identifier: [A-Za-z_][A-Za-z0-9_]*
bool IsIdent(std::string_view s) {
  if (s.empty() || !IsIdentStart(s.front())) return false;
  return std::all_of(s.begin(), s.end(), IsIdentChar);
}

// A fully-qualified service name: identifiers joined by dots.
bool IsServiceName(std::string_view s) {
  while (true) {
    const auto dot = s.find('.');
    if (!IsIdent(s.substr(0, dot))) return false;
    if (dot == std::string_view::npos) return true;
    s.remove_prefix(dot + 1);
  }
}

}  // namespace

std::optional<GrpcPath> ParseGrpcPath(std::string_view target) {
  target = target.substr(0, target.find('?'));
  if (target.size() < 4 || target.front() != '/') return std::nullopt;
  target.remove_prefix(1);
  const auto slash = target.find('/');
  if (slash == std::string_view::npos) return std::nullopt;
  GrpcPath path{target.substr(0, slash), target.substr(slash + 1)};
  if (!IsServiceName(path.service) || !IsIdent(path.method)) return std::nullopt;
  return path;
}

bool LooksLikeGrpcMethod(const GrpcPath& path) {
  const auto dot = path.service.rfind('.');
  if (dot == std::string_view::npos) return false;
  const char service_initial = path.service[dot + 1];
  return service_initial >= 'A' && service_initial <= 'Z' && path.method.front() >= 'A' &&
         path.method.front() <= 'Z';
}

std::string_view RpcTypeName(RpcType type) {
  switch (type) {
    case RpcType::kUnary: return "unary";
    case RpcType::kClientStream: return "client_stream";
    case RpcType::kServerStream: return "server_stream";
    case RpcType::kBidiStream: return "bidi_stream";
  }
  return "unary";
}

MethodTable::MethodTable(std::vector<MethodInfo> methods) : methods_(std::move(methods)) {
  for (std::size_t i = 0; i < methods_.size(); ++i) {
    index_.emplace(methods_[i].path, static_cast<int>(i));
  }
}

int MethodTable::Find(std::string_view path) const {
  const auto it = index_.find(path);
  return it == index_.end() ? -1 : it->second;
}

std::vector<std::string> MethodTable::Services() const {
  std::vector<std::string> services;
  for (const auto& m : methods_) services.push_back(m.service);
  std::sort(services.begin(), services.end());
  services.erase(std::unique(services.begin(), services.end()), services.end());
  return services;
}

}  // namespace h2gate
