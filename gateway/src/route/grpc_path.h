// gRPC request paths ("/package.Service/Method") and the table of methods this server registers.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace h2gate {

struct GrpcPath {
  std::string_view service;  // "echo.v1.Echo"
  std::string_view method;   // "Echo"
};

// Parses a request target shaped like a gRPC method path. A query string is ignored, since
// legacy callers add one; anything else shaped differently is not a gRPC path.
std::optional<GrpcPath> ParseGrpcPath(std::string_view target);

// Whether an unregistered path is still plainly meant as a gRPC method, by protobuf's naming
// style: a package ("pkg.Service"), and Service and Method in UpperCamelCase. REST paths such as
// /v1/users or /api/health are not.
bool LooksLikeGrpcMethod(const GrpcPath& path);

enum class RpcType { kUnary, kClientStream, kServerStream, kBidiStream };
std::string_view RpcTypeName(RpcType type);  // go-grpc-prometheus names: "unary", ...

struct MethodInfo {
  std::string service;
  std::string method;
  std::string path;  // "/service/method"
  RpcType type = RpcType::kUnary;
};

// Registered methods, fixed once the gRPC server has started; read concurrently without locks.
// Indexes are dense, so metrics keep one counter slot per method.
class MethodTable {
 public:
  MethodTable() = default;
  explicit MethodTable(std::vector<MethodInfo> methods);

  // Index of the registered method at `path`, or -1.
  int Find(std::string_view path) const;
  const std::vector<MethodInfo>& methods() const { return methods_; }
  std::vector<std::string> Services() const;  // sorted, unique

 private:
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::vector<MethodInfo> methods_;
  std::unordered_map<std::string, int, Hash, std::equal_to<>> index_;
};

}  // namespace h2gate
