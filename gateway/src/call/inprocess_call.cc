#include "call/inprocess_call.h"

#include <boost/asio/post.hpp>

#include "call/grpc_wire.h"

namespace h2gate {
Metadata CopyMetadata(const std::multimap<grpc::string_ref, grpc::string_ref>& from) {
  Metadata out;
  out.reserve(from.size());
  for (const auto& [key, value] : from) {
    out.emplace_back(std::string(key.data(), key.size()), std::string(value.data(), value.size()));
  }
  return out;
}

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());
  return grpc::ByteBuffer(&slice, 1);
}

namespace {

// Calls `append(data, size)` for each of the buffer's slices; one slice (the usual case, and
// always for the in-process transport) without Dump's vector.
template <typename Append>
void ForEachSlice(const grpc::ByteBuffer& buffer, Append append) {
  grpc::Slice single;
  if (buffer.TrySingleSlice(&single).ok()) {
    return append(reinterpret_cast<const char*>(single.begin()), single.size());
  }
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) return;
  for (const auto& s : slices) append(reinterpret_cast<const char*>(s.begin()), s.size());
}

}  // namespace

std::string FromByteBuffer(const grpc::ByteBuffer& buffer) {
  std::string bytes;
  bytes.reserve(buffer.Length());
  ForEachSlice(buffer, [&](const char* data, std::size_t n) { bytes.append(data, n); });
  return bytes;
}

void AppendGrpcMessage(std::string& out, const grpc::ByteBuffer& message) {
  const std::size_t n = message.Length();
  out.reserve(out.size() + 5 + n);
  AppendGrpcPrefix(out, n);
  ForEachSlice(message, [&](const char* data, std::size_t size) { out.append(data, size); });
}

InProcessCall::InProcessCall(boost::asio::any_io_executor executor, Events events)
    : executor_(std::move(executor)), events_(std::move(events)) {}

std::shared_ptr<InProcessCall> InProcessCall::Start(
    grpc::GenericStub& stub, const std::string& path, const Metadata& metadata, Duration timeout,
    boost::asio::any_io_executor executor, Events events, std::optional<std::string> only_message,
    bool paced) {
  std::shared_ptr<InProcessCall> call(new InProcessCall(std::move(executor), std::move(events)));
  call->self_ = call;
  call->paced_.store(paced, std::memory_order_relaxed);
  if (timeout != kNoDeadline) {
    call->context_.set_deadline(std::chrono::system_clock::now() + timeout);
  }
  for (const auto& [key, value] : metadata) call->context_.AddMetadata(key, value);
  stub.PrepareBidiStreamingCall(&call->context_, path, grpc::StubOptions(), call.get());
  if (only_message) {
    // Sent with the start itself: no operation is started from outside a reaction afterwards,
    // which a call that fails at once (an unknown method) would otherwise race with.
    call->writing_ = ToByteBuffer(*only_message);
    call->write_in_flight_ = call->writes_done_ = call->writes_done_sent_ = true;
    call->StartWriteLast(&call->writing_, grpc::WriteOptions());
  } else {
    // Writes come from outside gRPC's reactions (the session's thread), so the stream must not
    // be destroyed under them: this hold keeps it until the last write starts or the call ends.
    call->AddHold();
    call->write_hold_ = true;
  }
  call->StartRead(&call->read_);
  call->StartCall();
  return call;
}

void InProcessCall::Post(std::function<void()> f) { boost::asio::post(executor_, std::move(f)); }

void InProcessCall::Write(std::string message, bool last) {
  bool release = false;
  {
    std::lock_guard lock(mu_);
    if (writes_done_ || !write_hold_) return;
    writes_done_ = last;
    queue_.emplace_back(std::move(message), last);
    if (!write_in_flight_) release = WriteNextLocked();
  }
  if (release) RemoveHold();
}

void InProcessCall::WritesDone() {
  bool release = false;
  {
    std::lock_guard lock(mu_);
    if (writes_done_ || !write_hold_) return;
    writes_done_ = true;
    if (!write_in_flight_) release = WriteNextLocked();
  }
  if (release) RemoveHold();
}

bool InProcessCall::DropWriteHoldLocked() {
  queue_.clear();
  return std::exchange(write_hold_, false);
}

bool InProcessCall::WriteNextLocked() {
  if (!write_hold_) return false;
  if (!queue_.empty()) {
    auto [message, last] = std::move(queue_.front());
    queue_.pop_front();
    writing_ = ToByteBuffer(message);
    write_in_flight_ = true;
    if (!last) {
      StartWrite(&writing_);
      return false;
    }
    writes_done_sent_ = true;
    StartWriteLast(&writing_, grpc::WriteOptions());
    return DropWriteHoldLocked();  // the write in flight keeps the stream now
  }
  if (writes_done_ && !writes_done_sent_) {
    writes_done_sent_ = true;
    write_in_flight_ = true;
    StartWritesDone();
    return DropWriteHoldLocked();
  }
  return false;
}

void InProcessCall::Cancel() {
  // A message read after this is not parked: nobody would call ReadNext for it, and the hold
  // it keeps would keep the call (and its owner's memory) for good.
  cancelled_.store(true, std::memory_order_relaxed);
  context_.TryCancel();
  // A paused read holds the stream open: resume it, so the cancelled read ends the call.
  if (paced_.load(std::memory_order_relaxed))
    Post([self = shared_from_this()] { self->ReadNext(); });
}

void InProcessCall::ReadNext() {
  if (!paused_) return;
  StartRead(&read_);
  paused_.reset();  // its hold kept the stream alive for this StartRead
}

// gRPC runs the two read reactions on whichever of its threads is free, so the first message can
// be reported before the headers. The headers are posted first regardless: a message that comes
// earlier waits here (holding its hold) until they are.
void InProcessCall::OnReadInitialMetadataDone(bool ok) {
  Metadata headers;
  if (ok) headers = CopyMetadata(context_.GetServerInitialMetadata());
  std::lock_guard lock(order_mu_);
  headers_posted_ = true;
  Post([self = shared_from_this(), headers = std::move(headers)]() mutable {
    if (self->events_.on_headers) self->events_.on_headers(std::move(headers));
  });
  if (early_message_) Post(std::exchange(early_message_, {}));
}

void InProcessCall::OnReadDone(bool ok) {
  if (!ok) {
    // The call is over from the server's side: no write can matter now, so the stream may end
    // (OnDone follows) even if the session never half-closes.
    bool release;
    {
      std::lock_guard lock(mu_);
      release = DropWriteHoldLocked();
    }
    if (release) RemoveHold();
    return;
  }
  // The next read starts only once the session has taken this message: a fast server stream
  // waits in gRPC's flow control, not in an unbounded queue of posted handlers. The hold keeps
  // the call from completing between this read and the next.
  AddHold();
  struct Delivery {
    std::shared_ptr<InProcessCall> call;
    std::string message;
    bool delivered = false;
    Delivery() = default;
    Delivery(const Delivery&) = delete;
    Delivery& operator=(const Delivery&) = delete;
    ~Delivery() {
      if (!call) return;
      if (!delivered) call->Cancel();  // the executor is gone: nobody reads the rest
      call->RemoveHold();
    }
  };
  // Built in place: a copy's destructor would release the hold a second time.
  auto delivery = std::make_shared<Delivery>();
  delivery->call = shared_from_this();
  delivery->message = FromByteBuffer(read_);
  std::function<void()> deliver = [delivery] {
    InProcessCall& call = *delivery->call;
    delivery->delivered = true;
    if (call.paced_.load(std::memory_order_relaxed) &&
        !call.cancelled_.load(std::memory_order_relaxed)) {
      // Paused before the codec sees the message: it may call ReadNext from on_message.
      call.paused_ = delivery;
      if (call.events_.on_message) call.events_.on_message(std::move(delivery->message));
      return;
    }
    if (call.events_.on_message) call.events_.on_message(std::move(delivery->message));
    call.StartRead(&call.read_);
  };
  std::lock_guard lock(order_mu_);
  if (headers_posted_) {
    Post(std::move(deliver));
  } else {
    early_message_ = std::move(deliver);  // one at most: the next read starts after delivery
  }
}

void InProcessCall::OnWriteDone(bool ok) {
  bool release;
  {
    std::lock_guard lock(mu_);
    write_in_flight_ = false;
    // Not ok: the call is over, and what is queued can never be sent.
    release = ok ? WriteNextLocked() : DropWriteHoldLocked();
  }
  if (ok && events_.on_written) {
    Post([self = shared_from_this()] { self->events_.on_written(); });
  }
  // Outside the lock: releasing the last hold may run OnDone, which takes it.
  if (release) RemoveHold();
}

void InProcessCall::OnWritesDoneDone(bool) {
  std::lock_guard lock(mu_);
  write_in_flight_ = false;
}

void InProcessCall::OnDone(const grpc::Status& status) {
  {
    std::lock_guard lock(mu_);
    queue_.clear();
  }
  // gRPC calls nothing on the reactor after this: drop its hold, the posted events keep us.
  auto self = std::move(self_);
  bool headers;
  {
    std::lock_guard lock(order_mu_);
    headers = headers_posted_;  // OnReadInitialMetadataDone runs first; this is a safety net
  }
  Post([self, status, headers,
        trailers = CopyMetadata(context_.GetServerTrailingMetadata())]() mutable {
    if (!headers && self->events_.on_headers) self->events_.on_headers({});
    if (self->events_.on_done) self->events_.on_done(status, std::move(trailers));
  });
}

}  // namespace h2gate
