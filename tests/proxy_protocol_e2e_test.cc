// --proxy-protocol end to end: real headers in front of real HTTP/1.1, gRPC and bad bytes, on
// the gateway's port; the caller the header names shows in the legacy-caller report.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <grpcpp/security/credentials.h>

#include <thread>

#include "support/fixture.h"
#include "support/net.h"
#include "support/test_certs.h"

namespace h2gate::testing {
namespace {
using namespace std::chrono_literals;

const std::string kV1 = "PROXY TCP4 198.51.100.7 127.0.0.1 40000 8080\r\n";
const std::string kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);

// PROXY over TCP/IPv6 from 2001:db8::5:443.
std::string V2Inet6() {
  std::string source(16, '\0');
  source[0] = '\x20', source[1] = '\x01', source[2] = '\x0d', source[3] = '\xb8', source[15] = 5;
  return kV2Signature + "\x21\x21" + std::string("\x00\x24", 2) + source + std::string(16, '\0') +
         std::string("\x01\xBB\x1F\x90", 4);
}
std::string V2Local() { return kV2Signature + std::string("\x20\x00\x00\x00", 4); }

const std::string kLegacyCall =
    "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nConnection: close\r\nContent-Type: "
    "application/json\r\nContent-Length: 2\r\n\r\n{}";

// Sends `bytes` on a fresh connection to the main port; returns what came back by the close.
std::string Exchange(int port, std::string_view bytes, bool* closed = nullptr) {
  RawClient c(port);
  EXPECT_TRUE(c.connected());
  c.Send(bytes);
  return c.ReadUntilClose(5s, closed);
}

// A one-connection TCP relay that writes `header` to the gateway first: a gRPC channel pointed
// at it reaches the gateway as if through an L4 balancer that sends the PROXY protocol.
class HeaderRelay {
 public:
  HeaderRelay(int target_port, std::string header) : header_(std::move(header)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof addr;
    ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    ::listen(listen_fd_, 4);
    ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this, target_port] { Run(target_port); });
  }
  ~HeaderRelay() {
    stop_ = true;
    thread_.join();
    ::close(listen_fd_);
  }
  int port() const { return port_; }

 private:
  void Run(int target_port) {
    pollfd p{listen_fd_, POLLIN, 0};
    if (::poll(&p, 1, 5000) <= 0) return;
    const int client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
    RawClient upstream(target_port);
    if (client < 0 || !upstream.connected() || !upstream.Send(header_)) return;
    Pump(client, upstream.fd());
    ::close(client);
  }
  // Copies both ways until one side ends or the test is over (20 s at most).
  void Pump(int a, int b) {
    const auto deadline = std::chrono::steady_clock::now() + 20s;
    char buf[16384];
    while (!stop_ && std::chrono::steady_clock::now() < deadline) {
      pollfd fds[2] = {{a, POLLIN, 0}, {b, POLLIN, 0}};
      if (::poll(fds, 2, 100) < 0) return;
      for (int i = 0; i < 2; ++i) {
        if (!(fds[i].revents & (POLLIN | POLLHUP | POLLERR))) continue;
        const ssize_t n = ::recv(fds[i].fd, buf, sizeof buf, 0);
        if (n <= 0) return;
        if (::send(fds[1 - i].fd, buf, static_cast<std::size_t>(n), MSG_NOSIGNAL) != n) return;
      }
    }
  }

  std::string header_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class ProxyProtocol : public GatewayTest {
 protected:
  void SetUp() override {}
  void Start(std::string mode, std::string from = "") {
    Options o = TestOptions();
    o.admin_listen = HostPort{"127.0.0.1", 0};
    o.proxy_protocol = std::move(mode);
    o.proxy_protocol_from = std::move(from);
    StartGateway(o);
  }
  // From the admin port, which never takes PROXY headers.
  std::string Admin(std::string_view path) {
    const std::string request =
        "GET " + std::string(path) + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n";
    return BodyOf(Exchange(gateway_->admin_port(), request));
  }
  double Outcome(std::string_view outcome) {
    return MetricValue(Admin("/metrics"),
                       "h2gate_proxy_protocol_total{outcome=\"" + std::string(outcome) + "\"}");
  }
};

TEST_F(ProxyProtocol, V1AndV2NameTheCallerInTheReport) {
  Start("required");
  EXPECT_EQ(StatusOf(Exchange(port_, kV1 + kLegacyCall)), 426);
  EXPECT_EQ(StatusOf(Exchange(port_, V2Inet6() + kLegacyCall)), 426);
  const std::string report = Admin("/debug/legacy-callers?format=text");
  EXPECT_NE(report.find("198.51.100.7"), std::string::npos) << report;
  EXPECT_NE(report.find("2001:db8::5"), std::string::npos) << report;
  EXPECT_EQ(report.find("127.0.0.1"), std::string::npos) << report;
  EXPECT_EQ(Outcome("v1"), 1);
  EXPECT_EQ(Outcome("v2"), 1);
}

TEST_F(ProxyProtocol, GrpcBehindAV2HeaderGetsExactlyTheBytesAfterIt) {
  Start("required", "127.0.0.0/8");
  for (const std::string& header : {V2Inet6(), kV1, V2Local()}) {
    HeaderRelay relay(port_, header);
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    auto stub = echo::v1::Echo::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(relay.port()), grpc::InsecureChannelCredentials(), args));
    for (int i = 0; i < 3; ++i) {
      grpc::ClientContext ctx;
      ctx.set_deadline(std::chrono::system_clock::now() + 5s);
      echo::v1::EchoRequest request;
      request.set_message("through a balancer " + std::to_string(i));
      echo::v1::EchoResponse response;
      const grpc::Status status = stub->Echo(&ctx, request, &response);
      ASSERT_TRUE(status.ok()) << status.error_message();
      EXPECT_EQ(response.message(), request.message());
    }
  }
  EXPECT_EQ(Outcome("v2"), 1);
  EXPECT_EQ(Outcome("v1"), 1);
  EXPECT_EQ(Outcome("local"), 1);
  EXPECT_EQ(MetricValue(Admin("/metrics"), "h2gate_grpc_handoffs_total"), 3);
}

TEST_F(ProxyProtocol, AHeaderInPiecesIsWaitedForUnderTheSniffDeadline) {
  Start("required");
  RawClient c(port_);
  ASSERT_TRUE(c.connected());
  c.Send(kV1.substr(0, 9));
  std::this_thread::sleep_for(50ms);
  c.Send(kV1.substr(9));
  std::this_thread::sleep_for(50ms);
  c.Send(kLegacyCall);
  EXPECT_EQ(StatusOf(c.ReadUntilClose(5s)), 426);
  // Half a header, then nothing: closed at the sniff deadline (500 ms here), counted.
  RawClient stalled(port_);
  stalled.Send(kV1.substr(0, 20));
  EXPECT_TRUE(stalled.WaitClosed(3s));
  EXPECT_EQ(Outcome("v1"), 1);
  EXPECT_EQ(Outcome("timeout"), 1);
}

TEST_F(ProxyProtocol, RequiredClosesMissingMalformedAndOversizedHeaders) {
  Start("required");
  bool closed = false;
  EXPECT_EQ(Exchange(port_, kLegacyCall, &closed), "");
  EXPECT_TRUE(closed);
  EXPECT_EQ(Exchange(port_, "PROXY TCP4 999.1.1.1 127.0.0.1 1 2\r\n" + kLegacyCall), "");
  EXPECT_EQ(Exchange(port_, "PROXY TCP4 " + std::string(150, '1') + "\r\n" + kLegacyCall), "");
  EXPECT_EQ(Exchange(port_, kV2Signature + "\x21\x11" + std::string("\x08\x00", 2)), "");
  EXPECT_EQ(Outcome("missing"), 1);
  EXPECT_EQ(Outcome("malformed"), 2);
  EXPECT_EQ(Outcome("too_large"), 1);
  // And the gateway still serves the next caller.
  EXPECT_EQ(StatusOf(Exchange(port_, kV1 + kLegacyCall)), 426);
}

TEST_F(ProxyProtocol, RequiredRefusesSourcesOutsideTheBalancers) {
  Start("required", "10.0.0.0/8");
  EXPECT_EQ(Exchange(port_, kV1 + kLegacyCall), "");
  EXPECT_EQ(Exchange(port_, kLegacyCall), "");
  EXPECT_EQ(Outcome("untrusted"), 2);
  EXPECT_EQ(Outcome("v1"), 0);
}

TEST_F(ProxyProtocol, OptionalReadsTrustedHeadersAndRefusesForgedOnes) {
  Start("optional", "127.0.0.2/32");  // the "balancer" is 127.0.0.2; this client is 127.0.0.1
  EXPECT_EQ(Exchange(port_, kV1 + kLegacyCall), "");  // a forged caller
  EXPECT_EQ(Outcome("untrusted"), 1);
  EXPECT_EQ(StatusOf(Exchange(port_, kLegacyCall)), 426);  // the client as itself
  const std::string report = Admin("/debug/legacy-callers?format=text");
  EXPECT_NE(report.find("127.0.0.1"), std::string::npos) << report;
  EXPECT_EQ(report.find("198.51.100.7"), std::string::npos) << report;
}

TEST_F(ProxyProtocol, OptionalFromATrustedSourceTakesBothWithAndWithout) {
  Start("optional", "127.0.0.0/8");
  EXPECT_EQ(StatusOf(Exchange(port_, kLegacyCall)), 426);
  EXPECT_EQ(StatusOf(Exchange(port_, kV1 + kLegacyCall)), 426);
  auto stub = NewStub();  // no header: straight to gRPC
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 5s);
  echo::v1::EchoRequest request;
  request.set_message("direct");
  echo::v1::EchoResponse response;
  ASSERT_TRUE(stub->Echo(&ctx, request, &response).ok());
  EXPECT_EQ(Outcome("absent"), 2);
  EXPECT_EQ(Outcome("v1"), 1);
  const std::string report = Admin("/debug/legacy-callers?format=text");
  EXPECT_NE(report.find("198.51.100.7"), std::string::npos) << report;
  EXPECT_NE(report.find("127.0.0.1"), std::string::npos) << report;
}

// TLS behind the header: gRPC's own handshake on the handed-off fd (an exempt source), and the
// gateway's, then its guard (any other source), both find their ClientHello right after it.
TEST_F(ProxyProtocol, TlsAfterTheHeaderReachesBothHandshakes) {
  const TestCerts certs = MakeTestCerts();
  ASSERT_FALSE(certs.server_cert.empty());
  for (const char* exempt : {"198.51.100.0/24", "none"}) {
    Options o = TestOptions();
    o.admin_listen = HostPort{"127.0.0.1", 0};
    o.proxy_protocol = "required";
    o.tls_cert = certs.server_cert;
    o.tls_key = certs.server_key;
    o.http2_guard_exempt = exempt;  // the caller the header names decides
    StartGateway(o);
    HeaderRelay relay(port_, kV1);
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = certs.ca_pem();
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    args.SetString(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, "localhost");
    auto stub = echo::v1::Echo::NewStub(grpc::CreateCustomChannel(
        "127.0.0.1:" + std::to_string(relay.port()), grpc::SslCredentials(ssl), args));
    grpc::ClientContext ctx;
    ctx.set_deadline(std::chrono::system_clock::now() + 5s);
    echo::v1::EchoRequest request;
    request.set_message("tls through a balancer");
    echo::v1::EchoResponse response;
    const grpc::Status status = stub->Echo(&ctx, request, &response);
    ASSERT_TRUE(status.ok()) << exempt << ": " << status.error_message();
    EXPECT_EQ(response.message(), request.message());
    const std::string route = std::string(exempt) == "none" ? "guarded" : "grpc";
    EXPECT_EQ(
        MetricValue(Admin("/metrics"), "h2gate_tls_connections_total{route=\"" + route + "\"}"), 1)
        << exempt;
    gateway_.reset();
  }
  RemoveTestCerts(certs);
}

TEST(ProxyProtocolConfig, OptionalWithoutBalancersDoesNotStart) {
  Options o = TestOptions();
  o.proxy_protocol = "optional";
  Gateway gateway(o);
  std::string error;
  EXPECT_FALSE(gateway.Start(&error));
  EXPECT_NE(error.find("--proxy-protocol-from"), std::string::npos) << error;
}

}  // namespace
}  // namespace h2gate::testing
