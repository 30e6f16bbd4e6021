// Test support: one HTTP/2 connection on libnghttp2 carrying many requests at once, each a
// gRPC call or a plain HTTP request, as an ingress multiplexes its callers.
#pragma once

#include <nghttp2/nghttp2.h>

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "net.h"

namespace h2gate::testing {

using Fields = std::vector<std::pair<std::string, std::string>>;

struct H2Request {
  std::string method = "POST";
  std::string path;
  Fields headers;    // besides the pseudo-headers; content-type among them
  std::string body;  // as sent (a gRPC call's framed messages: see GrpcFrame)
  bool end = true;   // half-close after the body
};

struct H2Response {
  int status = 0;
  Fields headers;
  Fields trailers;
  std::string body;
  bool closed = false;
  std::uint32_t close_code = 0;  // RST_STREAM's or the connection's error code; 0 when clean
  std::string Header(std::string_view name) const;   // "" when absent
  std::string Trailer(std::string_view name) const;  // "" when absent
};

// A message with gRPC's 5-byte prefix.
std::string GrpcFrame(std::string_view message);
// The messages of a gRPC response body.
std::vector<std::string> GrpcMessages(std::string_view body);

// A gRPC call's request fields: content-type application/grpc and te: trailers.
Fields GrpcHeaders(Fields extra = {});

class H2Connection {
 public:
  explicit H2Connection(int port);
  ~H2Connection();
  H2Connection(const H2Connection&) = delete;
  H2Connection& operator=(const H2Connection&) = delete;

  bool connected() const { return session_ != nullptr && conn_.connected(); }
  // Queues a request; returns its stream id.
  std::int32_t Submit(H2Request request);
  // Sends and reads until every stream submitted has closed (or the connection has), or until
  // `timeout`; false on a timeout.
  bool Run(std::chrono::milliseconds timeout);
  // Reads and answers for `d` (for tests that wait for the server to act).
  void RunFor(std::chrono::milliseconds d);
  void Reset(std::int32_t stream);  // RST_STREAM(CANCEL)
  const H2Response& response(std::int32_t stream) { return streams_[stream].response; }
  bool goaway() const { return goaway_; }
  std::uint32_t goaway_code() const { return goaway_code_; }
  std::int32_t goaway_last_stream() const { return goaway_last_; }
  bool connection_closed() const { return eof_; }

 private:
  struct Stream {
    H2Request request;
    std::size_t sent = 0;
    H2Response response;
  };
  static int OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                      size_t namelen, const uint8_t* value, size_t valuelen, uint8_t, void* user);
  static int OnData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                    void* user);
  static int OnClose(nghttp2_session*, int32_t id, uint32_t code, void* user);
  static int OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* user);
  static ssize_t Read(nghttp2_session*, int32_t id, uint8_t* buf, size_t length, uint32_t* flags,
                      nghttp2_data_source* source, void* user);
  bool Pump(std::chrono::milliseconds wait);  // one send + one bounded read; false when closed

  RawClient conn_;
  nghttp2_session* session_ = nullptr;
  std::map<std::int32_t, Stream> streams_;
  bool goaway_ = false;
  std::uint32_t goaway_code_ = 0;
  std::int32_t goaway_last_ = 0;
  bool eof_ = false;
};

}  // namespace h2gate::testing
