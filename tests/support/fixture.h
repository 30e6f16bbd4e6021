// Test support: an in-process gateway serving the demo service on 127.0.0.1:0.
#pragma once

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include <google/protobuf/struct.pb.h>

#include "echo/v1/echo.grpc.pb.h"
#include "echo_service.h"
#include "h2gate/gateway.h"
#include "process.h"

namespace h2gate::testing {

// Options tuned for tests: loopback, port 0, short deadlines.
Options TestOptions();

class GatewayTest : public ::testing::Test {
 protected:
  void SetUp() override { StartGateway(TestOptions()); }
  void StartGateway(Options options);

  std::string Address() const { return "127.0.0.1:" + std::to_string(port_); }
  std::shared_ptr<grpc::Channel> NewChannel() const;  // its own connection each time
  std::unique_ptr<echo::v1::Echo::Stub> NewStub() const;

  // Whole HTTP/1.1 exchange on a fresh connection ("Connection: close"); returns the raw response.
  std::string Http(std::string_view method, std::string_view path, std::string_view body = "");
  std::string Metrics();

  demo::EchoService service_;
  std::unique_ptr<Gateway> gateway_;
  int port_ = 0;
};

// Without TCP_DEFER_ACCEPT: the gateway itself holds a silent connection from the handshake on,
// for tests of what it does with one.
class AcceptedAtOnce : public GatewayTest {
 protected:
  void SetUp() override {
    Options options = TestOptions();
    options.defer_accept = false;
    StartGateway(options);
  }
};

// The value of the exposition line that starts with `series` (name and labels), or -1.
double MetricValue(const std::string& text, std::string_view series);

// The port a started h2gate binary reports ("listening on 127.0.0.1:PORT"), waiting up to 10 s;
// 0 if it never does.
int ListeningPort(Child& child);

// A JSON document as a protobuf Struct; a test failure if it is not JSON.
google::protobuf::Struct ParseJson(const std::string& body);

// Status code of a raw HTTP/1.x response, or 0.
int StatusOf(const std::string& response);
// Body of a raw HTTP/1.x response (after the blank line).
std::string BodyOf(const std::string& response);

}  // namespace h2gate::testing
