#include "call/inprocess_call.h"

#include <boost/asio/post.hpp>

namespace h2gate {
namespace {

Metadata Copy(const std::multimap<grpc::string_ref, grpc::string_ref>& from) {
  Metadata out;
  out.reserve(from.size());
  for (const auto& [key, value] : from) {
    out.emplace_back(std::string(key.data(), key.size()), std::string(value.data(), value.size()));
  }
  return out;
}

}  // namespace

grpc::ByteBuffer ToByteBuffer(const std::string& bytes) {
  grpc::Slice slice(bytes.data(), bytes.size());
  return grpc::ByteBuffer(&slice, 1);
}

std::string FromByteBuffer(const grpc::ByteBuffer& buffer) {
  std::string bytes;
  bytes.reserve(buffer.Length());
  std::vector<grpc::Slice> slices;
  if (buffer.Dump(&slices).ok()) {
    for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return bytes;
}

InProcessCall::InProcessCall(boost::asio::any_io_executor executor, Events events)
    : executor_(std::move(executor)), events_(std::move(events)) {}

std::shared_ptr<InProcessCall> InProcessCall::Start(grpc::GenericStub& stub,
                                                    const std::string& path,
                                                    const Metadata& metadata, Duration timeout,
                                                    boost::asio::any_io_executor executor,
                                                    Events events) {
  std::shared_ptr<InProcessCall> call(new InProcessCall(std::move(executor), std::move(events)));
  call->self_ = call;
  call->context_.set_deadline(std::chrono::system_clock::now() + timeout);
  for (const auto& [key, value] : metadata) call->context_.AddMetadata(key, value);
  stub.PrepareBidiStreamingCall(&call->context_, path, grpc::StubOptions(), call.get());
  call->StartRead(&call->read_);
  call->StartCall();
  return call;
}

void InProcessCall::Post(std::function<void()> f) { boost::asio::post(executor_, std::move(f)); }

void InProcessCall::Write(std::string message, bool last) {
  std::lock_guard lock(mu_);
  if (writes_done_ || done_) return;
  writes_done_ = last;
  queue_.emplace_back(std::move(message), last);
  if (!write_in_flight_) WriteNextLocked();
}

void InProcessCall::WritesDone() {
  std::lock_guard lock(mu_);
  if (writes_done_ || done_) return;
  writes_done_ = true;
  if (!write_in_flight_) WriteNextLocked();
}

void InProcessCall::WriteNextLocked() {
  if (!queue_.empty()) {
    auto [message, last] = std::move(queue_.front());
    queue_.pop_front();
    writing_ = ToByteBuffer(message);
    write_in_flight_ = true;
    if (last) {
      writes_done_sent_ = true;
      StartWriteLast(&writing_, grpc::WriteOptions());
    } else {
      StartWrite(&writing_);
    }
  } else if (writes_done_ && !writes_done_sent_) {
    writes_done_sent_ = true;
    write_in_flight_ = true;
    StartWritesDone();
  }
}

void InProcessCall::Cancel() { context_.TryCancel(); }

void InProcessCall::OnReadInitialMetadataDone(bool ok) {
  if (!ok) return;  // the call ended first: OnDone sends empty headers
  headers_sent_ = true;
  Post([self = shared_from_this(), headers = Copy(context_.GetServerInitialMetadata())]() mutable {
    if (self->events_.on_headers) self->events_.on_headers(std::move(headers));
  });
}

void InProcessCall::OnReadDone(bool ok) {
  if (!ok) return;  // no more messages: the status follows in OnDone
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
  Post([delivery] {
    InProcessCall& call = *delivery->call;
    if (call.events_.on_message) call.events_.on_message(std::move(delivery->message));
    delivery->delivered = true;
    call.StartRead(&call.read_);
  });
}

void InProcessCall::OnWriteDone(bool ok) {
  std::lock_guard lock(mu_);
  write_in_flight_ = false;
  if (!ok) {  // the call is over: what is queued can never be sent
    queue_.clear();
    return;
  }
  WriteNextLocked();
}

void InProcessCall::OnWritesDoneDone(bool) {
  std::lock_guard lock(mu_);
  write_in_flight_ = false;
}

void InProcessCall::OnDone(const grpc::Status& status) {
  {
    std::lock_guard lock(mu_);
    done_ = true;  // no Start* call may follow
    queue_.clear();
  }
  // gRPC calls nothing on the reactor after this: drop its hold, the posted events keep us.
  auto self = std::move(self_);
  const bool headers = headers_sent_;
  Post([self, status, headers, trailers = Copy(context_.GetServerTrailingMetadata())]() mutable {
    if (!headers && self->events_.on_headers) self->events_.on_headers({});
    if (self->events_.on_done) self->events_.on_done(status, std::move(trailers));
  });
}

}  // namespace h2gate
