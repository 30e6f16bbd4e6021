#include "echo_service.h"

#include <chrono>
#include <mutex>

#include <grpcpp/alarm.h>

namespace h2gate::demo {
namespace {

using echo::v1::EchoRequest;
using echo::v1::EchoResponse;
using echo::v1::StreamRequest;

// Limits that keep one call from tying the server up indefinitely.
constexpr std::uint32_t kMaxCount = 100000;
constexpr std::uint32_t kMaxWaitMs = 600000;

auto After(std::uint32_t ms) {
  return std::chrono::system_clock::now() + std::chrono::milliseconds(ms);
}

// Writes `count` responses `interval_ms` apart, then holds the stream open `hold_ms`. Waits use
// a gRPC Alarm, so no thread sleeps; a cancelled call (client gone, server drain deadline)
// cancels the alarm and finishes.
class ServerStreamReactor : public grpc::ServerWriteReactor<EchoResponse> {
 public:
  explicit ServerStreamReactor(const StreamRequest& request) : request_(request) {
    response_.set_message(request_.message());
    Next();
  }

  void OnWriteDone(bool ok) override {
    if (!ok) return Done(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
    ++sent_;
    Next();
  }

  void OnCancel() override {
    std::lock_guard lock(mu_);
    cancelled_ = true;
    alarm_.Cancel();
  }

  void OnDone() override { delete this; }

 private:
  // Either writes the next response, waits, or finishes.
  void Next() {
    if (sent_ < request_.count()) {
      if (sent_ == 0 || request_.interval_ms() == 0) return StartWrite(&response_);
      return Wait(request_.interval_ms(), [this] { StartWrite(&response_); });
    }
    if (request_.hold_ms() > 0 && !held_) {
      held_ = true;
      return Wait(request_.hold_ms(), [this] { Next(); });
    }
    Done(grpc::Status::OK);
  }

  template <typename F>
  void Wait(std::uint32_t ms, F then) {
    std::lock_guard lock(mu_);
    if (cancelled_) return Done(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    alarm_.Set(After(ms), [this, then](bool fired) {
      if (fired)
        then();
      else
        Done(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    });
  }

  void Done(grpc::Status status) {
    if (finished_.exchange(true)) return;
    Finish(std::move(status));
  }

  StreamRequest request_;
  EchoResponse response_;
  std::uint32_t sent_ = 0;
  bool held_ = false;
  std::mutex mu_;
  bool cancelled_ = false;
  std::atomic<bool> finished_{false};
  grpc::Alarm alarm_;
};

// Echo with delay_ms: answers when an Alarm fires, so no thread waits; a cancelled call (client
// gone, deadline passed, server drain deadline) cancels the alarm and finishes at once.
class DelayedEchoReactor : public grpc::ServerUnaryReactor {
 public:
  DelayedEchoReactor(std::uint32_t delay_ms, const EchoRequest& request, EchoResponse* response) {
    response->set_message(request.message());
    response->set_payload(request.payload());
    alarm_.Set(After(delay_ms), [this](bool fired) {
      Finish(fired ? grpc::Status::OK : grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    });
  }
  void OnCancel() override { alarm_.Cancel(); }
  void OnDone() override { delete this; }

 private:
  grpc::Alarm alarm_;
};

class ClientStreamReactor : public grpc::ServerReadReactor<EchoRequest> {
 public:
  explicit ClientStreamReactor(EchoResponse* response) : response_(response) {
    StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) return Finish(grpc::Status::OK);  // the client half-closed
    if (count_++ > 0) response_->mutable_message()->append(",");
    response_->mutable_message()->append(request_.message());
    response_->mutable_payload()->append(request_.payload());
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  EchoResponse* response_;
  EchoRequest request_;
  std::size_t count_ = 0;
};

class BidiReactor : public grpc::ServerBidiReactor<EchoRequest, EchoResponse> {
 public:
  BidiReactor() { StartRead(&request_); }
  void OnReadDone(bool ok) override {
    if (!ok) return Finish(grpc::Status::OK);
    response_.set_message(request_.message());
    response_.set_payload(request_.payload());
    StartWrite(&response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return Finish(grpc::Status(grpc::StatusCode::CANCELLED, "write failed"));
    StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  EchoRequest request_;
  EchoResponse response_;
};

}  // namespace

grpc::ServerUnaryReactor* EchoService::Echo(grpc::CallbackServerContext* context,
                                            const EchoRequest* request, EchoResponse* response) {
  if (request->delay_ms() > kMaxWaitMs) {
    auto* reactor = context->DefaultReactor();
    reactor->Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "delay_ms is at most 600000"));
    return reactor;
  }
  if (request->delay_ms() > 0) {
    return new DelayedEchoReactor(request->delay_ms(), *request, response);
  }
  response->set_message(request->message());
  response->set_payload(request->payload());
  auto* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerWriteReactor<EchoResponse>* EchoService::ServerStream(
    grpc::CallbackServerContext* context, const StreamRequest* request) {
  if (request->count() > kMaxCount || request->interval_ms() > kMaxWaitMs ||
      request->hold_ms() > kMaxWaitMs) {
    class Reject : public grpc::ServerWriteReactor<EchoResponse> {
     public:
      Reject() {
        Finish(grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                            "count is at most 100000; interval_ms and hold_ms at most 600000"));
      }
      void OnDone() override { delete this; }
    };
    return new Reject();
  }
  (void)context;
  return new ServerStreamReactor(*request);
}

grpc::ServerReadReactor<EchoRequest>* EchoService::ClientStream(grpc::CallbackServerContext*,
                                                                EchoResponse* response) {
  return new ClientStreamReactor(response);
}

grpc::ServerBidiReactor<EchoRequest, EchoResponse>* EchoService::BidiStream(
    grpc::CallbackServerContext*) {
  return new BidiReactor();
}

}  // namespace h2gate::demo
