// One call on the embedded gRPC server through its in-process channel, for the transports the
// gateway serves itself: raw message bytes both ways, request metadata, the response's headers
// (initial metadata) and trailers, a deadline, and cancellation.
//
// Every kind of call (unary, client, server or bidi streaming) is one generic bidi stream
// underneath: on the wire they differ only in how many messages each side sends, which is the
// codec's business (JSON transcoding sends one and expects one; HTTP/2 proxying relays frames).
// The events are delivered in order (headers, messages, then the end) on the executor given at
// the start (the session's strand), so the session's code never runs on a gRPC thread.
#pragma once

#include <atomic>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <grpcpp/client_context.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/support/byte_buffer.h>
#include <grpcpp/support/client_callback.h>
#include <boost/asio/any_io_executor.hpp>

#include "h2gate/gateway.h"

namespace h2gate {

using Metadata = std::vector<std::pair<std::string, std::string>>;

class InProcessCall : public std::enable_shared_from_this<InProcessCall>,
                      private grpc::ClientBidiReactor<grpc::ByteBuffer, grpc::ByteBuffer> {
 public:
  struct Events {
    // Once, before the first message (or with an empty list if the call ended without any).
    std::function<void(Metadata headers)> on_headers;
    // Each response message, serialised. The next is read from gRPC only after this returns, or,
    // with `paced`, only once ReadNext() is called.
    std::function<void(std::string message)> on_message;
    // A request message (or the half-close) has been taken by gRPC: the codec may read more
    // from its client.
    std::function<void()> on_written;
    // Once, last: the status and the trailers.
    std::function<void(grpc::Status status, Metadata trailers)> on_done;
  };

  // Starts a call to `path` ("/pkg.Service/Method"). `timeout` is its deadline from now.
  // `only_message`, for unary and server-streaming calls: the one request message, sent with
  // the start and followed by the half-close; Write() and WritesDone() then do nothing.
  // `paced`: the codec says when it can take the next response message (ReadNext), so a client
  // that reads slowly holds the server back in gRPC's flow control.
  static std::shared_ptr<InProcessCall> Start(
      grpc::GenericStub& stub, const std::string& path, const Metadata& metadata, Duration timeout,
      boost::asio::any_io_executor executor, Events events,
      std::optional<std::string> only_message = std::nullopt, bool paced = false);
  // A `timeout` that sets no deadline.
  static constexpr Duration kNoDeadline = Duration::max();

  // Sends a request message; queued behind earlier ones. `last` half-closes after it.
  void Write(std::string message, bool last = false);
  // Half-closes: no more request messages.
  void WritesDone();
  // Ends the call with CANCELLED (on_done still runs). Any thread; also after the end.
  void Cancel();
  // With `paced`: the last message delivered is taken, read the next. On the executor only.
  void ReadNext();

 private:
  InProcessCall(boost::asio::any_io_executor executor, Events events);
  void Post(std::function<void()> f);
  // Starts the next queued write, or the half-close; true if the write hold is to be dropped
  // (the caller does it outside the lock).
  bool WriteNextLocked();
  bool DropWriteHoldLocked();  // true if the hold was still held

  void OnReadInitialMetadataDone(bool ok) override;
  void OnReadDone(bool ok) override;
  void OnWriteDone(bool ok) override;
  void OnWritesDoneDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

  boost::asio::any_io_executor executor_;
  Events events_;
  grpc::ClientContext context_;
  grpc::ByteBuffer read_;
  std::mutex mu_;  // the write queue: Write() runs on the session, OnWriteDone on gRPC's threads
  std::deque<std::pair<std::string, bool>> queue_;
  grpc::ByteBuffer writing_;
  bool write_in_flight_ = false;
  bool writes_done_ = false;       // asked for
  bool writes_done_sent_ = false;  // given to gRPC
  bool write_hold_ = false;        // the hold that lets writes start from outside reactions
  std::mutex order_mu_;  // the read reactions run on different gRPC threads: headers go first
  bool headers_posted_ = false;
  std::function<void()> early_message_;  // a message read before the headers were posted
  // Set before the call starts; atomic because the threads that read it learn of the call
  // through gRPC, which ThreadSanitizer cannot see into.
  std::atomic<bool> paced_{false};
  std::atomic<bool> cancelled_{false};  // Cancel() was called: reads are no longer paced
  std::shared_ptr<void> paused_;  // paced: the delivery whose hold keeps the stream until ReadNext
  std::shared_ptr<InProcessCall> self_;  // held from Start to OnDone: gRPC owns the reactor then
};

// gRPC's metadata as owned pairs.
Metadata CopyMetadata(const std::multimap<grpc::string_ref, grpc::string_ref>& from);

// A serialised message as gRPC's buffer, and back.
grpc::ByteBuffer ToByteBuffer(const std::string& bytes);
std::string FromByteBuffer(const grpc::ByteBuffer& buffer);
// Appends the message framed as on the wire (grpc_wire.h's AppendGrpcMessage), copied once.
void AppendGrpcMessage(std::string& out, const grpc::ByteBuffer& message);

}  // namespace h2gate
