#include "call/grpc_status.h"

#include <array>

namespace h2gate {
namespace {

struct CodeInfo {
  std::string_view name;
  unsigned http_status;
};

constexpr std::array<CodeInfo, kGrpcCodeCount> kCodes = {{
    {"OK", 200},
    {"Canceled", 499},
    {"Unknown", 500},
    {"InvalidArgument", 400},
    {"DeadlineExceeded", 504},
    {"NotFound", 404},
    {"AlreadyExists", 409},
    {"PermissionDenied", 403},
    {"ResourceExhausted", 429},
    {"FailedPrecondition", 400},
    {"Aborted", 409},
    {"OutOfRange", 400},
    {"Unimplemented", 501},
    {"Internal", 500},
    {"Unavailable", 503},
    {"DataLoss", 500},
    {"Unauthenticated", 401},
}};
static_assert(kCodes[grpc::StatusCode::UNAUTHENTICATED].name == "Unauthenticated");

bool Known(int code) { return code >= 0 && code < kGrpcCodeCount; }

}  // namespace

std::string_view GrpcCodeName(int code) { return Known(code) ? kCodes[code].name : "Unknown"; }

unsigned HttpStatusForGrpc(int code) { return Known(code) ? kCodes[code].http_status : 500; }

}  // namespace h2gate
