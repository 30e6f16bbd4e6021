#include "call/json.h"

#include <fmt/format.h>

namespace h2gate {

void AppendJsonString(std::string& out, std::string_view s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c >= 0x7f)
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", c);
        else
          out += static_cast<char>(c);
    }
  }
  out += '"';
}

std::string StatusJson(grpc::StatusCode code, std::string_view message, std::string_view details) {
  std::string body = fmt::format("{{\"code\":{},\"message\":", static_cast<int>(code));
  AppendJsonString(body, message);
  body += ",\"details\":[";
  body += details;
  body += "]}\n";
  return body;
}

}  // namespace h2gate
