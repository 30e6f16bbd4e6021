// The in-process call layer against a real gRPC server: every kind of call, metadata both ways,
// trailers, deadline and cancellation, with every event on the executor it was given.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <future>
#include <mutex>
#include <thread>

#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>

#include "call/inprocess_call.h"
#include "echo/v1/echo.grpc.pb.h"

namespace h2gate {
namespace {

using namespace std::chrono_literals;
using echo::v1::EchoRequest;
using echo::v1::EchoResponse;

std::string Value(const Metadata& md, std::string_view key) {
  for (const auto& [k, v] : md) {
    if (k == key) return v;
  }
  return "";
}

class TestService final : public echo::v1::Echo::Service {
 public:
  std::atomic<bool> saw_cancel{false};

  grpc::Status Echo(grpc::ServerContext* ctx, const EchoRequest* req, EchoResponse* resp) override {
    const auto in = ctx->client_metadata().find("x-in");
    if (in != ctx->client_metadata().end()) {
      ctx->AddInitialMetadata("x-head", std::string(in->second.data(), in->second.size()));
    }
    ctx->AddTrailingMetadata("x-trail", "done");
    for (uint32_t waited = 0; waited < req->delay_ms(); waited += 10) {  // at most delay_ms
      if (ctx->IsCancelled()) {
        saw_cancel = true;
        return grpc::Status::CANCELLED;
      }
      std::this_thread::sleep_for(10ms);
    }
    resp->set_message(req->message());
    return grpc::Status::OK;
  }
  grpc::Status ServerStream(grpc::ServerContext*, const echo::v1::StreamRequest* req,
                            grpc::ServerWriter<EchoResponse>* writer) override {
    for (uint32_t i = 0; i < req->count(); ++i) {
      EchoResponse r;
      r.set_message(std::to_string(i));
      if (!writer->Write(r)) break;
    }
    return grpc::Status::OK;
  }
  grpc::Status ClientStream(grpc::ServerContext*, grpc::ServerReader<EchoRequest>* reader,
                            EchoResponse* resp) override {
    EchoRequest r;
    std::string joined;
    while (reader->Read(&r)) joined += (joined.empty() ? "" : ",") + r.message();
    resp->set_message(joined);
    return grpc::Status::OK;
  }
  grpc::Status BidiStream(grpc::ServerContext*,
                          grpc::ServerReaderWriter<EchoResponse, EchoRequest>* stream) override {
    EchoRequest r;
    while (stream->Read(&r)) {
      EchoResponse out;
      out.set_message(r.message());
      stream->Write(out);
    }
    return grpc::Status::OK;
  }
};

std::string Request(std::string_view message, uint32_t delay_ms = 0) {
  EchoRequest r;
  r.set_message(std::string(message));
  r.set_delay_ms(delay_ms);
  return r.SerializeAsString();
}

std::string MessageOf(const std::string& bytes) {
  EchoResponse r;
  EXPECT_TRUE(r.ParseFromString(bytes));
  return r.message();
}

// What a call delivered, recorded on the executor's thread.
struct Recorded {
  std::vector<std::string> order;  // "headers", "message", "done"
  Metadata headers, trailers;
  std::vector<std::string> messages;
  grpc::Status status;
  bool off_thread = false;  // an event ran on another thread than the executor's
};

class InProcessCallTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    stub_ = std::make_unique<grpc::GenericStub>(server_->InProcessChannel({}));
    io_thread_ = std::thread([this] { io_.run(); });
    io_id_ = io_thread_.get_id();
  }
  void TearDown() override {
    server_->Shutdown(std::chrono::system_clock::now() + 1s);
    work_.reset();
    io_thread_.join();
  }

  // Starts a call that records into `rec` and fulfils `finished` at on_done. `on_message`, if
  // set, also runs for each message (on the executor).
  std::shared_ptr<InProcessCall> Start(
      const std::string& path, Recorded& rec, std::promise<void>& finished,
      Duration timeout = 5000ms, Metadata metadata = {},
      std::function<void(InProcessCall&, const std::string&)> on_message = {},
      std::optional<std::string> only_message = std::nullopt) {
    // Locked: the write below and the read in on_message are ordered through gRPC, whose
    // synchronisation ThreadSanitizer does not see.
    struct Holder {
      std::mutex mu;
      std::weak_ptr<InProcessCall> call;
    };
    auto holder = std::make_shared<Holder>();
    InProcessCall::Events events;
    events.on_headers = [this, &rec](Metadata h) {
      rec.off_thread |= std::this_thread::get_id() != io_id_;
      rec.order.push_back("headers");
      rec.headers = std::move(h);
    };
    events.on_message = [this, &rec, holder, on_message](std::string m) {
      rec.off_thread |= std::this_thread::get_id() != io_id_;
      rec.order.push_back("message");
      rec.messages.push_back(m);
      // Only calls that answer from on_message read the holder: theirs is set before their
      // first Write, while a call whose message went with the start may answer before it is.
      if (!on_message) return;
      std::shared_ptr<InProcessCall> call;
      {
        std::lock_guard lock(holder->mu);
        call = holder->call.lock();
      }
      if (call) on_message(*call, m);
    };
    events.on_done = [this, &rec, &finished](grpc::Status s, Metadata t) {
      rec.off_thread |= std::this_thread::get_id() != io_id_;
      rec.order.push_back("done");
      rec.status = std::move(s);
      rec.trailers = std::move(t);
      finished.set_value();
    };
    auto call = InProcessCall::Start(*stub_, path, metadata, timeout, io_.get_executor(),
                                     std::move(events), std::move(only_message));
    {
      std::lock_guard lock(holder->mu);
      holder->call = call;
    }
    return call;
  }

  static void Wait(std::promise<void>& finished) {
    ASSERT_EQ(finished.get_future().wait_for(10s), std::future_status::ready);
  }

  TestService service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::GenericStub> stub_;
  boost::asio::io_context io_;
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_{
      boost::asio::make_work_guard(io_)};
  std::thread io_thread_;
  std::thread::id io_id_;
};

TEST_F(InProcessCallTest, UnaryWithMetadataBothWaysInOrderOnTheExecutor) {
  Recorded rec;
  std::promise<void> finished;
  // The one message goes with the start, as the JSON codec sends it.
  auto call =
      Start("/echo.v1.Echo/Echo", rec, finished, 5000ms, {{"x-in", "hello"}}, {}, Request("ping"));
  Wait(finished);
  EXPECT_TRUE(rec.status.ok()) << rec.status.error_message();
  EXPECT_EQ(rec.order, (std::vector<std::string>{"headers", "message", "done"}));
  EXPECT_EQ(Value(rec.headers, "x-head"), "hello");
  EXPECT_EQ(Value(rec.trailers, "x-trail"), "done");
  ASSERT_EQ(rec.messages.size(), 1u);
  EXPECT_EQ(MessageOf(rec.messages[0]), "ping");
  EXPECT_FALSE(rec.off_thread);
}

TEST_F(InProcessCallTest, ServerStreamingDeliversEveryMessageInOrder) {
  echo::v1::StreamRequest req;
  req.set_count(200);
  Recorded rec;
  std::promise<void> finished;
  auto call = Start("/echo.v1.Echo/ServerStream", rec, finished);
  call->Write(req.SerializeAsString(), true);
  Wait(finished);
  EXPECT_TRUE(rec.status.ok()) << rec.status.error_message();
  ASSERT_EQ(rec.messages.size(), 200u);
  for (int i = 0; i < 200; ++i) EXPECT_EQ(MessageOf(rec.messages[i]), std::to_string(i));
  EXPECT_FALSE(rec.off_thread);
}

TEST_F(InProcessCallTest, ClientStreamingSendsEveryMessageThenHalfCloses) {
  Recorded rec;
  std::promise<void> finished;
  auto call = Start("/echo.v1.Echo/ClientStream", rec, finished);
  call->Write(Request("a"));
  call->Write(Request("b"));
  call->Write(Request("c"));
  call->WritesDone();
  call->Write(Request("ignored"));  // after the half-close: dropped, never sent
  Wait(finished);
  EXPECT_TRUE(rec.status.ok()) << rec.status.error_message();
  ASSERT_EQ(rec.messages.size(), 1u);
  EXPECT_EQ(MessageOf(rec.messages[0]), "a,b,c");
}

// Each reply triggers the next request: both directions interleave on one call.
TEST_F(InProcessCallTest, BidiPingPong) {
  Recorded rec;
  std::promise<void> finished;
  auto call = Start("/echo.v1.Echo/BidiStream", rec, finished, 5000ms, {},
                    [](InProcessCall& c, const std::string& m) {
                      const int n = std::stoi(MessageOf(m));
                      if (n < 9) {
                        c.Write(Request(std::to_string(n + 1)));
                      } else {
                        c.WritesDone();
                      }
                    });
  call->Write(Request("0"));
  Wait(finished);
  EXPECT_TRUE(rec.status.ok()) << rec.status.error_message();
  ASSERT_EQ(rec.messages.size(), 10u);
  for (int i = 0; i < 10; ++i) EXPECT_EQ(MessageOf(rec.messages[i]), std::to_string(i));
}

TEST_F(InProcessCallTest, DeadlineEndsTheCall) {
  Recorded rec;
  std::promise<void> finished;
  auto call = Start("/echo.v1.Echo/Echo", rec, finished, 100ms);
  call->Write(Request("slow", 3000), true);
  Wait(finished);
  EXPECT_EQ(rec.status.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_TRUE(rec.messages.empty());
  EXPECT_EQ(rec.order.front(), "headers");  // delivered (empty) even without a response
  EXPECT_EQ(rec.order.back(), "done");
}

TEST_F(InProcessCallTest, CancelReachesTheServer) {
  Recorded rec;
  std::promise<void> finished;
  auto call = Start("/echo.v1.Echo/Echo", rec, finished);
  call->Write(Request("held", 5000), true);
  std::this_thread::sleep_for(100ms);  // let the handler start
  call->Cancel();
  Wait(finished);
  EXPECT_EQ(rec.status.error_code(), grpc::StatusCode::CANCELLED);
  for (int i = 0; i < 200 && !service_.saw_cancel; ++i) std::this_thread::sleep_for(10ms);
  EXPECT_TRUE(service_.saw_cancel);
  call->Cancel();  // after the end: harmless
  call->Write(Request("late"), true);
}
}  // namespace
}  // namespace h2gate
