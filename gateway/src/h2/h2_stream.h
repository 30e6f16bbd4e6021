// One request on a kept HTTP/2 connection (h2_session.h), and what its answer has got to.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "call/grpc_wire.h"
#include "call/inprocess_call.h"
#include "h2/h2_session.h"

namespace h2gate {

// A FIFO of sizes. std::deque allocates twice even when empty, for every stream, and most
// streams (unary calls) never use it.
class Sizes {
 public:
  bool empty() const { return head_ == sizes_.size(); }
  std::size_t front() const { return sizes_[head_]; }
  void push_back(std::size_t n) { sizes_.push_back(n); }
  void pop_front() {
    ++head_;
    // Taken entries are dropped when none is left, or when they are most of the vector (a
    // stream that always has one in flight).
    if (head_ == sizes_.size() || (head_ >= 64 && head_ * 2 >= sizes_.size())) {
      sizes_.erase(sizes_.begin(), sizes_.begin() + static_cast<std::ptrdiff_t>(head_));
      head_ = 0;
    }
  }

 private:
  std::vector<std::size_t> sizes_;
  std::size_t head_ = 0;
};

struct H2Session::Stream {
  explicit Stream(std::int32_t stream_id)
      : id(stream_id), started(std::chrono::steady_clock::now()) {}

  const std::int32_t id;
  const std::chrono::steady_clock::time_point started;

  // The request's headers.
  std::string method, path, content_type, user_agent, forwarded_for, grpc_timeout, grpc_encoding;
  std::string authority;  // :authority, or Host
  Metadata metadata;      // every other field, for gRPC's metadata and forwarded JSON headers
  std::size_t header_bytes = 0;
  bool headers_too_large = false;
  bool grpc = false;
  bool request_ended = false;  // the client half-closed
  bool responded = false;      // the answer's headers went to nghttp2
  bool ended = false;          // the answer is complete (queued to nghttp2 whole)

  // An HTTP request's body.
  std::string body;
  bool body_too_large = false;
  std::function<void()> cancel;               // of the JSON call in flight
  std::optional<CallGate::Ticket> in_flight;  // Shared::calls, while the call runs

  // A gRPC call's relay.
  std::shared_ptr<InProcessCall> call;
  std::optional<GrpcMessageReader> reader;
  bool one_message = false;  // unary or server streaming: started with its message at the end
  bool unary = false;        // one message each way: gRPC's callback unary call (cancel ends it)
  int messages = 0;
  std::optional<std::string> only_message;
  Sizes writing;               // sizes of messages given to gRPC, not yet taken
  std::size_t queued = 0;      // their sum
  std::size_t unconsumed = 0;  // bytes received and not yet returned to the flow window
  bool read_paused = false;    // a response message waits for the client's window
  Metadata trailers;           // the trailers, once the call is done
  bool done = false;

  // Bytes of DATA waiting for the client's window.
  std::string out;
  std::size_t out_offset = 0;
  std::size_t pending() const { return out.size() - out_offset; }
};

}  // namespace h2gate
