// TLS on the one port, with real clients and a throwaway CA: a ClientHello offering h2 (and not
// http/1.1) is handed to gRPC, which runs the handshake (gRPC C++, grpcio, openssl s_client);
// any other is terminated by the gateway, which answers HTTP/1.1 (curl, s_client). Version
// floors, bad files at start-up, slow and broken ClientHellos, each counted in /metrics.
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <grpcpp/grpcpp.h>
#include <grpcpp/security/credentials.h>
#include <sys/resource.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <fstream>
#include <thread>

#include "grpc/health/v1/health.grpc.pb.h"
#include "support/fixture.h"
#include "support/net.h"
#include "support/process.h"
#include "support/test_certs.h"

namespace h2gate::testing {
namespace {

using namespace std::chrono_literals;
using echo::v1::EchoRequest;
using echo::v1::EchoResponse;

const std::string kJson = "{\"message\":\"hi\"}";

std::string Series(std::string_view family, std::string_view label, std::string_view value) {
  return std::string(family) + "{" + std::string(label) + "=\"" + std::string(value) + "\"}";
}
std::string Route(std::string_view route) {
  return Series("h2gate_tls_connections_total", "route", route);
}
std::string Hellos(std::string_view result) {
  return Series("h2gate_tls_client_hellos_total", "result", result);
}
std::string Handshakes(std::string_view result) {
  return Series("h2gate_tls_handshakes_total", "result", result);
}
const std::string kRefusedVersion = Series("h2gate_tls_refused_total", "reason", "version");

std::string Lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return std::tolower(c); });
  return s;
}

// The ClientHello Python's ssl module (OpenSSL 3.0) sends to "localhost", offering `alpn`
// (comma-separated; empty: no ALPN extension). TLS 1.2 at most and one cipher suite keep it near
// 150 bytes: a default TLS 1.3 hello is about 520, too long to send a byte every 20 ms.
std::string PythonClientHello(const std::string& alpn) {
  static constexpr char kScript[] = R"(import ssl, sys
ctx = ssl.create_default_context()
ctx.maximum_version = ssl.TLSVersion.TLSv1_2
ctx.set_ciphers('ECDHE-ECDSA-AES128-GCM-SHA256')
if sys.argv[1]:
    ctx.set_alpn_protocols(sys.argv[1].split(','))
incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
tls = ctx.wrap_bio(incoming, outgoing, server_hostname='localhost')
try:
    tls.do_handshake()
except ssl.SSLWantReadError:
    pass
print(outgoing.read().hex())
)";
  const auto r = RunProcess({"/usr/bin/python3", "-c", kScript, alpn}, 10s);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::string bytes;
  for (std::size_t i = 0; i + 1 < r.output.size() && std::isxdigit(r.output[i]); i += 2) {
    bytes.push_back(static_cast<char>(std::stoi(r.output.substr(i, 2), nullptr, 16)));
  }
  EXPECT_GT(bytes.size(), 100u) << r.output;
  EXPECT_EQ(bytes.substr(0, 2), "\x16\x03");
  return bytes;
}

void NoDelay(RawClient& c) {
  const int one = 1;
  setsockopt(c.fd(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
}

// A curl exchange over https: curl's -i output split into the response and the HTTP version.
struct CurlResult {
  int exit_code = -1;
  std::string response;      // status line, headers and body
  std::string http_version;  // curl's %{http_version}: "1.1", "2"
  std::string output;        // everything, for failure messages
};

class Tls : public GatewayTest {
 public:
  static void TearDownTestSuite() {
    if (certs_ == nullptr) return;
    RemoveTestCerts(*certs_);
    delete certs_;
    certs_ = nullptr;
  }

 protected:
  void SetUp() override { StartTls(TlsOptions()); }

  // Made by the first test that needs them, inside that test: a machine without openssl fails
  // it (a failure in SetUpTestSuite would only mark the tests skipped).
  static const TestCerts& certs() {
    if (certs_ == nullptr) certs_ = new TestCerts(MakeTestCerts());
    return *certs_;
  }
  static Options TlsOptions() {
    Options o = TestOptions();
    o.tls_cert = certs().server_cert;
    o.tls_key = certs().server_key;
    return o;
  }
  void StartTls(Options options) {
    ASSERT_FALSE(certs().server_cert.empty()) << "no test certificates";
    StartGateway(std::move(options));
  }

  std::shared_ptr<grpc::Channel> TlsChannel(bool client_certificate = false) const {
    grpc::SslCredentialsOptions ssl;
    ssl.pem_root_certs = certs().ca_pem();
    if (client_certificate) {
      ssl.pem_private_key = ReadFile(certs().client_key);
      ssl.pem_cert_chain = ReadFile(certs().client_cert);
    }
    grpc::ChannelArguments args;
    args.SetInt("grpc.use_local_subchannel_pool", 1);
    args.SetString(GRPC_SSL_TARGET_NAME_OVERRIDE_ARG, "localhost");
    return grpc::CreateCustomChannel(Address(), grpc::SslCredentials(ssl), args);
  }

  static std::unique_ptr<grpc::ClientContext> Ctx(std::chrono::milliseconds timeout = 5s) {
    auto ctx = std::make_unique<grpc::ClientContext>();
    ctx->set_deadline(std::chrono::system_clock::now() + timeout);
    return ctx;
  }

  static grpc::Status CallEcho(const std::shared_ptr<grpc::Channel>& channel,
                               const std::string& message, std::chrono::milliseconds timeout = 5s) {
    EchoRequest req;
    req.set_message(message);
    EchoResponse resp;
    const grpc::Status status =
        echo::v1::Echo::NewStub(channel)->Echo(Ctx(timeout).get(), req, &resp);
    if (status.ok() && resp.message() != message) {
      return grpc::Status(grpc::StatusCode::INTERNAL, "echoed " + resp.message());
    }
    return status;
  }

  // curl https://localhost:PORT`path`, trusting the test CA; `flags` go before the URL.
  CurlResult Curl(const std::string& path, std::vector<std::string> flags = {},
                  bool trust_ca = true) const {
    const std::string port = std::to_string(port_);
    std::vector<std::string> argv = {"curl",
                                     "-sS",
                                     "-i",
                                     "--max-time",
                                     "5",
                                     "--resolve",
                                     "localhost:" + port + ":127.0.0.1",
                                     "-w",
                                     "\nhttp_version=%{http_version}\n"};
    // Untrusted: a trust anchor that signed nothing here (the client's certificate), not the
    // system's store, which a minimal machine does not have (curl then fails before a hello).
    argv.push_back("--cacert");
    argv.push_back(trust_ca ? certs().ca_cert : certs().client_cert);
    argv.insert(argv.end(), flags.begin(), flags.end());
    argv.push_back("https://localhost:" + port + path);
    const ProcessResult r = RunProcess(argv, 10s);
    CurlResult c;
    c.exit_code = r.exit_code;
    c.output = r.output;
    const auto mark = r.output.rfind("\nhttp_version=");
    if (mark != std::string::npos) {
      c.response = r.output.substr(0, mark);
      c.http_version = r.output.substr(mark + 14);
      c.http_version.erase(c.http_version.find_last_not_of("\r\n") + 1);
    }
    return c;
  }

  CurlResult CurlPostJson(std::vector<std::string> flags = {}) const {
    flags.insert(flags.end(), {"-X", "POST", "-H", "Content-Type: application/json", "-d", kJson});
    return Curl("/echo.v1.Echo/Echo", flags);
  }

  // openssl s_client to the gateway, verifying against the test CA. Its stdin is closed at once:
  // it completes the handshake, prints the session and quits. Bounded at 5 s.
  ProcessResult SClient(const std::vector<std::string>& flags) const {
    std::vector<std::string> argv = {"openssl",     "s_client",  "-connect",
                                     Address(),     "-CAfile",   certs().ca_cert,
                                     "-servername", "localhost", "-verify_return_error"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    return RunProcess(argv, 5s);
  }

  // Some counters move just after the client has seen the outcome (an alert, a close): the
  // value once it is `want`, or the last one read when 3 s have passed.
  double Eventually(const std::string& series, double want) {
    const auto deadline = std::chrono::steady_clock::now() + 3s;
    double v = MetricValue(Metrics(), series);
    while (v != want && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(20ms);
      v = MetricValue(Metrics(), series);
    }
    return v;
  }

  inline static TestCerts* certs_ = nullptr;
};

// "New, TLSv1.3, Cipher is ..." is printed once a handshake is done; "Cipher is (NONE)" and the
// "Verify return code" line also appear when it fails, so neither alone proves success.
bool Handshook(const ProcessResult& r) {
  return r.exit_code == 0 && r.output.find("New, TLSv1.") != std::string::npos &&
         r.output.find("Verify return code: 0 (ok)") != std::string::npos;
}

// A gRPC client's offer (h2, no http/1.1) from a source that is not exempt: the gateway runs
// the handshake and relays the frames to gRPC behind the HTTP/2 guard.
TEST_F(Tls, GrpcCppClientCallsEchoAndHealthOverTls) {
  auto channel = TlsChannel();
  const grpc::Status echo = CallEcho(channel, "over tls");
  ASSERT_TRUE(echo.ok()) << echo.error_code() << " " << echo.error_message();
  auto health = grpc::health::v1::Health::NewStub(channel);
  grpc::health::v1::HealthCheckRequest req;
  grpc::health::v1::HealthCheckResponse resp;
  const grpc::Status checked = health->Check(Ctx().get(), req, &resp);
  ASSERT_TRUE(checked.ok()) << checked.error_message();
  EXPECT_EQ(resp.status(), grpc::health::v1::HealthCheckResponse::SERVING);
  // Cleartext gRPC on the same port is untouched.
  const grpc::Status plain = CallEcho(NewChannel(), "plaintext");
  EXPECT_TRUE(plain.ok()) << plain.error_message();

  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, Route("guarded")), 1) << m;
  EXPECT_EQ(MetricValue(m, Route("grpc")), 0);
  EXPECT_EQ(MetricValue(m, Route("gateway")), 0);
  EXPECT_GE(MetricValue(m, Hellos("ok")), 1);
  EXPECT_GE(MetricValue(m, "h2gate_connections_total{protocol=\"tls\"}"), 1);
  EXPECT_EQ(MetricValue(m, Handshakes("ok")), 1) << "the gateway ran the handshake";
  EXPECT_EQ(MetricValue(m, "h2gate_tls_alpn_total{alpn=\"h2\"}"), 1);
  EXPECT_EQ(MetricValue(m, "h2gate_tls_versions_total{version=\"TLSv1.3\"}"), 1);
  EXPECT_EQ(MetricValue(m, "h2gate_http2_abuse_total{kind=\"rapid_reset\"}"), 0);
}

// --http2-guard-exempt sources keep gRPC's own TLS: the fd is handed over, the gateway copies
// nothing and runs no handshake.
class TlsExempt : public Tls {
 protected:
  void SetUp() override {
    Options o = TlsOptions();
    o.http2_guard_exempt = "127.0.0.0/8";
    StartTls(o);
  }
};

TEST_F(TlsExempt, GrpcClientsHandshakeWithGrpcItself) {
  const grpc::Status echo = CallEcho(TlsChannel(), "zero copy");
  ASSERT_TRUE(echo.ok()) << echo.error_code() << " " << echo.error_message();
  const auto h2 = SClient({"-alpn", "h2"});
  EXPECT_TRUE(Handshook(h2)) << h2.output;
  EXPECT_NE(h2.output.find("ALPN protocol: h2\n"), std::string::npos) << h2.output;
  EXPECT_EQ(Eventually(Route("grpc"), 2), 2);
  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, Route("guarded")), 0) << m;
  EXPECT_EQ(MetricValue(m, Handshakes("ok")), 0) << "gRPC ran the handshakes, not the gateway";
  // Browsers and curl are the gateway's still.
  const CurlResult c = Curl("/healthz");
  EXPECT_EQ(StatusOf(c.response), 200) << c.output;
  EXPECT_EQ(MetricValue(Metrics(), Route("gateway")), 1);
}

TEST_F(Tls, PythonGrpcioOverTls) {
  const auto r = RunProcess({"/usr/bin/python3", SourceDir() + "/tests/python/echo_client.py",
                             BinaryDir() + "/tests/python", Address(), certs().ca_cert},
                            30s);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("echo ok: hello over tls"), std::string::npos) << r.output;
  EXPECT_GE(MetricValue(Metrics(), Route("guarded")), 1);
}

// curl --http1.1 offers ALPN http/1.1: the gateway terminates TLS and answers the 426, which
// points at HTTP/2 over TLS (ALPN h2), not h2c.
TEST_F(Tls, CurlHttp11PostGets426PointingAtHttp2) {
  const CurlResult c = CurlPostJson({"--http1.1"});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(c.http_version, "1.1") << c.output;
  const std::string& out = c.response;
  EXPECT_EQ(out.rfind("HTTP/1.1 426 Upgrade Required\r\n", 0), 0u) << out;
  EXPECT_NE(out.find("\r\nUpgrade: HTTP/2.0\r\n"), std::string::npos) << out;
  EXPECT_EQ(out.find("h2c"), std::string::npos) << "h2c is for cleartext only:\n" << out;
  EXPECT_NE(out.find("\r\nContent-Type: application/json\r\n"), std::string::npos) << out;
  const std::string body = BodyOf(out);
  const auto json = ParseJson(body);
  EXPECT_EQ(json.fields().at("code").number_value(), 9) << body;  // FAILED_PRECONDITION
  EXPECT_NE(body.find("h2"), std::string::npos) << body;
  EXPECT_NE(Lower(body).find("alpn"), std::string::npos) << body;

  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, Route("gateway")), 1) << m;
  EXPECT_EQ(MetricValue(m, Route("grpc")), 0);
  EXPECT_EQ(MetricValue(m, Handshakes("ok")), 1);
  EXPECT_EQ(MetricValue(m, Hellos("ok")), 1);
}

// Without a flag curl offers h2 and http/1.1, as browsers do: not a gRPC client's offer, so the
// gateway terminates TLS, ALPN selects h2, and the gateway's HTTP/2 session answers: JSON on a
// gRPC path gets the 415 that names what a gRPC call needs.
TEST_F(Tls, CurlDefaultAlpnGetsTheHttp2Answer) {
  const CurlResult c = CurlPostJson();
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(c.http_version, "2") << c.output;
  EXPECT_EQ(c.response.rfind("HTTP/2 415", 0), 0u) << c.response;
  EXPECT_NE(Lower(c.response).find("\r\naccept-post: application/grpc"), std::string::npos)
      << c.response;
  const auto json = ParseJson(BodyOf(c.response));
  EXPECT_EQ(json.fields().at("code").number_value(), 9) << c.response;
  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, Route("gateway")), 1) << m;
  EXPECT_EQ(MetricValue(m, Route("grpc")), 0);
  EXPECT_EQ(MetricValue(m, "h2gate_tls_alpn_total{alpn=\"h2\"}"), 1);
  EXPECT_EQ(MetricValue(m, "h2gate_http2_kept_connections_total{reason=\"alpn\"}"), 1);
}

// nghttp offers h2 alone, as gRPC stacks do, but its first request is JSON: as in the clear,
// that request decides, and the gateway's HTTP/2 session answers it, not gRPC.
TEST_F(Tls, Http2OnlyClientThatIsNotGrpcGetsTheGatewaysAnswer) {
  const std::string body = WriteTestFile(certs(), "nghttp-body.json", kJson);
  const auto r = RunProcess({"nghttp", "-v", "-d", body, "-H", "content-type: application/json",
                             "https://127.0.0.1:" + std::to_string(port_) + "/echo.v1.Echo/Echo"},
                            10s);
  EXPECT_NE(r.output.find(":status: 415"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("accept-post: application/grpc"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("GRPC_REQUIRES_GRPC_CONTENT_TYPE"), std::string::npos) << r.output;
  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, "h2gate_http2_kept_connections_total{reason=\"first_request\"}"), 1)
      << m;
  EXPECT_EQ(MetricValue(m, Route("gateway")), 1);
  EXPECT_EQ(MetricValue(m, Route("guarded")), 0);
  // A gRPC client's connection after it is still gRPC's, behind the guard.
  EXPECT_TRUE(CallEcho(TlsChannel(), "after").ok());
  EXPECT_EQ(MetricValue(Metrics(), Route("guarded")), 1);
}

// An ingress that re-encrypts to the pods offers h2 alone and multiplexes JSON callers onto its
// connections: with --http2-route-per-request the gateway serves its connections request by
// request, gRPC calls in process.
class TlsIngress : public Tls {
 protected:
  void SetUp() override {
    Options o = TlsOptions();
    o.http2_route_per_request = "127.0.0.1/32";
    StartTls(o);
  }
};

TEST_F(TlsIngress, GrpcAndJsonOnTheIngressConnectionsAreRoutedPerRequest) {
  EXPECT_TRUE(CallEcho(TlsChannel(), "through the ingress").ok());
  const std::string body = WriteTestFile(certs(), "ingress-body.json", kJson);
  const auto r = RunProcess({"nghttp", "-v", "-d", body, "-H", "content-type: application/json",
                             "https://127.0.0.1:" + std::to_string(port_) + "/echo.v1.Echo/Echo"},
                            10s);
  EXPECT_NE(r.output.find(":status: 415"), std::string::npos) << r.output;
  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, "h2gate_http2_kept_connections_total{reason=\"route_per_request\"}"), 2)
      << m;
  EXPECT_EQ(MetricValue(m, Route("guarded")), 0);
  EXPECT_EQ(MetricValue(m, Route("grpc")), 0);
  EXPECT_GE(MetricValue(m, "h2gate_http2_kept_streams_total{kind=\"grpc\"}"), 1) << m;
}

// Under a warn policy the same call is served as JSON over HTTP/2, with the deprecation notice.
class TlsWarn : public Tls {
 protected:
  void SetUp() override {
    Options o = TlsOptions();
    o.http1_policy = Http1Policy::kWarn;
    StartTls(o);
  }
};

TEST_F(TlsWarn, CurlDefaultAlpnJsonIsTranscodedOverHttp2) {
  const CurlResult c = CurlPostJson();
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(c.http_version, "2") << c.output;
  EXPECT_EQ(StatusOf(c.response), 200) << c.response;
  const auto json = ParseJson(BodyOf(c.response));
  EXPECT_TRUE(json.fields().contains("message")) << c.response;
  EXPECT_NE(Lower(c.response).find("\r\nwarning: 299 h2gate"), std::string::npos) << c.response;
}

TEST_F(Tls, HealthzAndMetricsOverHttps) {
  const CurlResult health = Curl("/healthz");
  ASSERT_EQ(health.exit_code, 0) << health.output;
  EXPECT_EQ(health.http_version, "2") << health.output;
  EXPECT_EQ(StatusOf(health.response), 200) << health.response;
  EXPECT_EQ(BodyOf(health.response), "{\"status\":\"alive\"}\n");
  const CurlResult metrics = Curl("/metrics", {"--http1.1"});
  ASSERT_EQ(metrics.exit_code, 0) << metrics.output;
  EXPECT_EQ(StatusOf(metrics.response), 200) << metrics.response;
  // Scraped over TLS: this connection is already counted when the page is rendered.
  EXPECT_GE(MetricValue(BodyOf(metrics.response), Route("gateway")), 1) << metrics.response;

  const std::string m = Metrics();  // cleartext: counts no TLS connection
  EXPECT_EQ(MetricValue(m, Route("gateway")), 2) << m;
  EXPECT_EQ(MetricValue(m, Handshakes("ok")), 2);
  EXPECT_EQ(MetricValue(m, Handshakes("failed")), 0);
  EXPECT_GE(MetricValue(m, "h2gate_connections_total{protocol=\"tls\"}"), 2);
  // The leaf was made with -days 1 moments ago.
  const double now =
      std::chrono::duration<double>(std::chrono::system_clock::now().time_since_epoch()).count();
  EXPECT_NEAR(MetricValue(m, "h2gate_tls_certificate_expiry_timestamp_seconds"), now + 86400, 600)
      << m;
}

// The ALPN offer decides what serves the connection; s_client shows what was selected. (An h2
// offer alone is a gRPC client's: its first request would decide where it goes, and s_client
// sends none.)
TEST_F(Tls, OpensslAlpnDecidesWhatServesTheConnection) {
  const auto h2 = SClient({"-alpn", "h2"});
  EXPECT_TRUE(Handshook(h2)) << h2.output;
  EXPECT_NE(h2.output.find("ALPN protocol: h2\n"), std::string::npos) << h2.output;
  EXPECT_EQ(Eventually("h2gate_tls_alpn_total{alpn=\"h2\"}", 1), 1);

  const auto http1 = SClient({"-alpn", "http/1.1"});
  EXPECT_TRUE(Handshook(http1)) << http1.output;
  EXPECT_NE(http1.output.find("ALPN protocol: http/1.1\n"), std::string::npos) << http1.output;

  const auto both = SClient({"-alpn", "http/1.1,h2"});
  EXPECT_TRUE(Handshook(both)) << both.output;
  EXPECT_NE(both.output.find("ALPN protocol: h2\n"), std::string::npos) << both.output;

  const auto none = SClient({});
  EXPECT_TRUE(Handshook(none)) << none.output;
  EXPECT_NE(none.output.find("No ALPN negotiated"), std::string::npos) << none.output;

  // Under TLS 1.3 the server counts a handshake once it has read the client's Finished, which
  // may come after s_client has returned.
  EXPECT_EQ(Eventually(Handshakes("ok"), 4), 4);
  EXPECT_EQ(Eventually("h2gate_tls_alpn_total{alpn=\"none\"}", 1), 1);
  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, Route("guarded")), 0) << m;
  EXPECT_EQ(MetricValue(m, Route("grpc")), 0);
  EXPECT_EQ(MetricValue(m, Route("gateway")), 3);
  EXPECT_EQ(MetricValue(m, Hellos("ok")), 4);
  EXPECT_EQ(MetricValue(m, "h2gate_tls_alpn_total{alpn=\"h2\"}"), 2);
  EXPECT_EQ(MetricValue(m, "h2gate_tls_alpn_total{alpn=\"http/1.1\"}"), 1);
  EXPECT_EQ(MetricValue(m, "h2gate_tls_alpn_total{alpn=\"none\"}"), 1);
}

// A connection opened for one server and used for another (HTTP/2 coalescing, a pool keyed by
// address) gets 421 Misdirected Request, over HTTP/1.1 and HTTP/2; the client retries on a new
// connection. A Host with a port, in another case or with a trailing dot, is the same server.
TEST_F(Tls, HostOtherThanTheSniGets421) {
  for (const char* version : {"--http1.1", "--http2"}) {
    const CurlResult wrong = Curl("/healthz", {version, "-H", "Host: other.example"});
    ASSERT_EQ(wrong.exit_code, 0) << wrong.output;
    EXPECT_EQ(StatusOf(wrong.response), 421) << wrong.response;
    EXPECT_NE(BodyOf(wrong.response).find("other.example"), std::string::npos) << wrong.response;
    EXPECT_NE(BodyOf(wrong.response).find("localhost"), std::string::npos) << wrong.response;
    const CurlResult same =
        Curl("/healthz", {version, "-H", "Host: LOCALHOST.:" + std::to_string(port_)});
    EXPECT_EQ(StatusOf(same.response), 200) << same.response;
  }
  EXPECT_EQ(MetricValue(Metrics(), "h2gate_tls_misdirected_total"), 2);
}

// --tls-required: plaintext callers on the main port are told to use TLS (HTTP/1.x: 426 with
// RFC 2817's Upgrade: TLS/1.2, HTTP/1.1; HTTP/2: GOAWAY INADEQUATE_SECURITY) and counted; TLS
// callers are served; the admin port stays plaintext for probes and scrapes.
class TlsRequired : public Tls {
 protected:
  void SetUp() override {
    Options o = TlsOptions();
    o.tls_required = true;
    o.admin_listen = HostPort{"127.0.0.1", 0};
    StartTls(o);
  }
  std::string AdminGet(const std::string& path) {
    RawClient c(gateway_->admin_port());
    c.Send("GET " + path + " HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n");
    return c.ReadUntilClose(5s);
  }
};

TEST_F(TlsRequired, PlaintextIsToldToUseTlsAndTlsIsServed) {
  const std::string http1 = Http("POST", "/echo.v1.Echo/Echo", kJson);
  EXPECT_EQ(StatusOf(http1), 426) << http1;
  EXPECT_NE(http1.find("\r\nUpgrade: TLS/1.2, HTTP/1.1\r\n"), std::string::npos) << http1;
  EXPECT_NE(BodyOf(http1).find("requires TLS"), std::string::npos) << http1;
  EXPECT_EQ(StatusOf(Http("GET", "/healthz")), 426);

  const auto h2 =
      RunProcess({"nghttp", "-v", "http://127.0.0.1:" + std::to_string(port_) + "/"}, 10s);
  EXPECT_NE(h2.output.find("error_code=INADEQUATE_SECURITY"), std::string::npos) << h2.output;
  EXPECT_NE(h2.output.find("TLS is required"), std::string::npos) << h2.output;
  const grpc::Status plain = CallEcho(NewChannel(), "plaintext", 2s);
  EXPECT_FALSE(plain.ok());

  EXPECT_TRUE(CallEcho(TlsChannel(), "over tls").ok());
  const CurlResult https = Curl("/healthz", {"--http1.1"});
  EXPECT_EQ(StatusOf(https.response), 200) << https.output;

  EXPECT_EQ(StatusOf(AdminGet("/readyz")), 200);
  const std::string m = BodyOf(AdminGet("/metrics"));
  EXPECT_EQ(MetricValue(m, "h2gate_plaintext_refused_total{protocol=\"http1\"}"), 2) << m;
  EXPECT_GE(MetricValue(m, "h2gate_plaintext_refused_total{protocol=\"http2\"}"), 2) << m;
}

TEST(TlsRequiredStartup, WithoutACertificateStartFailsSayingSo) {
  Options o = TestOptions();
  o.tls_required = true;
  Gateway gateway(o);
  std::string error;
  EXPECT_FALSE(gateway.Start(&error));
  EXPECT_EQ(error, "--tls-required needs --tls-cert and --tls-key");
}

// A client that does not trust the certificate aborts the handshake with an alert.
TEST_F(Tls, UntrustedCertificateIsAFailedHandshake) {
  const CurlResult c = Curl("/healthz", {}, /*trust_ca=*/false);
  EXPECT_EQ(c.exit_code, 60) << c.output;  // CURLE_PEER_FAILED_VERIFICATION
  EXPECT_EQ(Eventually(Handshakes("failed"), 1), 1);
  EXPECT_EQ(MetricValue(Metrics(), Handshakes("ok")), 0);
}

// The default floor is TLS 1.2: a TLS 1.1 ClientHello (OpenSSL 3.0 sends one only at security
// level 0) is refused with an alert before any handshake, whatever its ALPN.
TEST_F(Tls, Tls11IsRefusedUnderTheDefaultFloor) {
  const auto plain = SClient({"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0"});
  EXPECT_NE(plain.exit_code, 0) << plain.output;
  EXPECT_FALSE(Handshook(plain)) << plain.output;
  EXPECT_NE(plain.output.find("alert"), std::string::npos) << plain.output;
  const auto h2 = SClient({"-tls1_1", "-cipher", "DEFAULT@SECLEVEL=0", "-alpn", "h2"});
  EXPECT_NE(h2.exit_code, 0) << h2.output;
  EXPECT_FALSE(Handshook(h2)) << h2.output;
  EXPECT_EQ(Eventually(kRefusedVersion, 2), 2);
  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, Route("grpc")), 0) << m;
  EXPECT_EQ(MetricValue(m, Route("gateway")), 0);
  EXPECT_EQ(MetricValue(m, Handshakes("ok")), 0);
}

class TlsMin13 : public Tls {
 protected:
  void SetUp() override {
    Options o = TlsOptions();
    o.tls_min_version = "1.3";
    StartTls(o);
  }
};

// With --tls-min-version=1.3 a TLS 1.2 gRPC-style hello is refused by the gateway: gRPC, which
// would accept 1.2, never sees it.
TEST_F(TlsMin13, Tls12IsRefusedAndTls13Served) {
  const auto old = SClient({"-tls1_2", "-alpn", "h2"});
  EXPECT_NE(old.exit_code, 0) << old.output;
  EXPECT_FALSE(Handshook(old)) << old.output;
  EXPECT_EQ(old.output.find("ALPN protocol: h2"), std::string::npos) << old.output;
  EXPECT_NE(old.output.find("alert"), std::string::npos) << old.output;
  EXPECT_EQ(Eventually(kRefusedVersion, 1), 1);
  EXPECT_EQ(MetricValue(Metrics(), Route("guarded")), 0);

  const auto current = SClient({"-tls1_3", "-alpn", "h2"});
  EXPECT_TRUE(Handshook(current)) << current.output;
  EXPECT_NE(current.output.find("New, TLSv1.3,"), std::string::npos) << current.output;
  EXPECT_NE(current.output.find("ALPN protocol: h2\n"), std::string::npos) << current.output;
  EXPECT_EQ(Eventually("h2gate_tls_versions_total{version=\"TLSv1.3\"}", 1), 1);
  EXPECT_EQ(MetricValue(Metrics(), kRefusedVersion), 1);
}

class TlsRequire : public Tls {
 protected:
  void SetUp() override {
    Options o = TlsOptions();
    o.tls_client_auth = "require";
    o.tls_client_ca = certs().ca_cert;
    StartTls(o);
  }
};

TEST_F(TlsRequire, GrpcClientWithCertificateIsServed) {
  const grpc::Status s = CallEcho(TlsChannel(/*client_certificate=*/true), "mutual");
  EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
  EXPECT_GE(MetricValue(Metrics(), Route("guarded")), 1);
}

TEST_F(TlsRequire, GrpcClientWithoutCertificateFails) {
  const grpc::Status s = CallEcho(TlsChannel(/*client_certificate=*/false), "anonymous", 2s);
  EXPECT_FALSE(s.ok());
  EXPECT_TRUE(s.error_code() == grpc::StatusCode::UNAVAILABLE ||
              s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED)
      << s.error_code() << " " << s.error_message();
  // And a certificate from the same CA still gets in.
  EXPECT_TRUE(CallEcho(TlsChannel(true), "after").ok());
}

// The workload that still calls over HTTP/1.1 is named by its certificate: the report and the
// log line carry the verified client certificate's subject.
TEST_F(TlsRequire, LegacyCallerReportNamesTheClientCertificate) {
  const CurlResult c = CurlPostJson(
      {"--http1.1", "--cert", certs().client_cert, "--key", certs().client_key, "-A", "legacy/1"});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  EXPECT_EQ(StatusOf(c.response), 426) << c.response;
  const CurlResult report =
      Curl("/debug/legacy-callers",
           {"--http1.1", "--cert", certs().client_cert, "--key", certs().client_key});
  EXPECT_NE(report.response.find("\"tls_subject\":\"CN=legacy-caller.test\""), std::string::npos)
      << report.response;
  EXPECT_NE(report.response.find("\"user_agent\":\"legacy/1\""), std::string::npos)
      << report.response;
  // Plaintext callers have none.
  RawClient plain(port_);
  plain.Send(
      "POST /echo.v1.Echo/Echo HTTP/1.1\r\nHost: t\r\nUser-Agent: plain/1\r\n"
      "Content-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
  EXPECT_EQ(StatusOf(plain.ReadUntilClose(5s)), 426);
  const std::string json = BodyOf(Http("GET", "/debug/legacy-callers"));
  const auto at = json.find("plain/1");
  ASSERT_NE(at, std::string::npos) << json;
  EXPECT_EQ(json.substr(at, json.find('}', at) - at).find("tls_subject"), std::string::npos)
      << json;
}

class TlsRequest : public Tls {
 protected:
  void SetUp() override {
    Options o = TlsOptions();
    o.tls_client_auth = "request";
    o.tls_client_ca = certs().ca_cert;
    StartTls(o);
  }
};

// "request" asks for a certificate but serves callers without one.
TEST_F(TlsRequest, GrpcClientsWithAndWithoutCertificateAreServed) {
  const grpc::Status without = CallEcho(TlsChannel(false), "anonymous");
  EXPECT_TRUE(without.ok()) << without.error_message();
  const grpc::Status with = CallEcho(TlsChannel(true), "mutual");
  EXPECT_TRUE(with.ok()) << with.error_message();
}

// Bad files fail Start() with the flag and the path in the error.
class TlsStartup : public Tls {
 protected:
  void SetUp() override { ASSERT_FALSE(certs().server_cert.empty()) << "no test certificates"; }
};

TEST_F(TlsStartup, BadFilesFailStartNamingTheFlagAndThePath) {
  const std::string garbage =
      WriteTestFile(certs(), "garbage.pem", "-----BEGIN CERTIFICATE-----\nnot base64 !!\n");
  const std::string absent = certs().dir + "/absent.pem";
  const std::string other_key = MakeMismatchedKey(certs());
  ASSERT_FALSE(garbage.empty());
  ASSERT_FALSE(other_key.empty());
  struct Row {
    std::string what, cert, key, flag, path;
  };
  for (const Row& row : std::vector<Row>{
           {"garbage cert", garbage, certs().server_key, "--tls-cert", garbage},
           {"unreadable cert", absent, certs().server_key, "--tls-cert", absent},
           {"garbage key", certs().server_cert, garbage, "--tls-key", garbage},
           {"key of another cert", certs().server_cert, other_key, "--tls-key", other_key},
       }) {
    Options o = TestOptions();
    o.tls_cert = row.cert;
    o.tls_key = row.key;
    Gateway gateway(o);
    gateway.RegisterService(&service_);
    std::string error;
    EXPECT_FALSE(gateway.Start(&error)) << row.what;
    EXPECT_NE(error.find(row.flag), std::string::npos) << row.what << ": " << error;
    EXPECT_NE(error.find(row.path), std::string::npos) << row.what << ": " << error;
  }
}

// A long sniff deadline: the ClientHello below takes about 3 s to arrive.
class TlsSlowHello : public Tls {
 protected:
  void SetUp() override {
    Options o = TlsOptions();
    o.sniff_timeout = 5s;
    o.http2_guard_exempt = "all";  // gRPC's own handshake reads what the sniffer read
    StartTls(o);
  }
  // Sends a real ClientHello a byte every 20 ms; returns what the server sent back.
  std::string DribbleHello(const std::string& alpn) {
    const std::string hello = PythonClientHello(alpn);
    EXPECT_LT(hello.size(), 200u) << "too long to dribble within the test's budget";
    RawClient c(port_);
    EXPECT_TRUE(c.connected());
    NoDelay(c);  // one byte per segment, not what Nagle gathers while an ACK is delayed
    for (const char byte : hello) {
      if (!c.Send(std::string_view(&byte, 1))) break;
      std::this_thread::sleep_for(20ms);
    }
    return c.ReadAtLeast(3, 3s);
  }
};

// Offering h2: the gateway must hand over every byte it read while waiting, or gRPC's
// handshake never starts.
TEST_F(TlsSlowHello, HelloByteByByteReachesGrpcHandshake) {
  const std::string back = DribbleHello("h2");
  ASSERT_GE(back.size(), 3u);
  EXPECT_EQ(back.substr(0, 3), std::string("\x16\x03\x03", 3));  // ServerHello's record, TLS 1.2
  EXPECT_EQ(Eventually(Route("grpc"), 1), 1);
  EXPECT_EQ(MetricValue(Metrics(), Hellos("ok")), 1);
}

TEST_F(TlsSlowHello, HelloByteByByteReachesGatewayHandshake) {
  const std::string back = DribbleHello("");
  ASSERT_GE(back.size(), 3u);
  EXPECT_EQ(back.substr(0, 3), std::string("\x16\x03\x03", 3));
  EXPECT_EQ(Eventually(Route("gateway"), 1), 1);
  EXPECT_EQ(MetricValue(Metrics(), Hellos("ok")), 1);
}

// Bytes that start as a TLS handshake record and then break the rules: closed, each counted.
TEST_F(Tls, BrokenClientHellosAreClosedAndCounted) {
  struct Row {
    std::string what, bytes;
  };
  for (const Row& row : std::vector<Row>{
           {"garbage after a record header",
            std::string("\x16\x03\x01\x00\x40", 5) + std::string(64, '\xff')},
           {"a record of length 0", std::string("\x16\x03\x01\x00\x00", 5)},
       }) {
    RawClient c(port_);
    ASSERT_TRUE(c.connected());
    c.Send(row.bytes);
    EXPECT_TRUE(c.WaitClosed(3s)) << row.what;
  }
  // A ClientHello claiming 65537 bytes: refused as soon as its length is read.
  RawClient big(port_);
  big.Send(std::string("\x16\x03\x01\x00\x04\x01\x01\x00\x01", 9));
  EXPECT_TRUE(big.WaitClosed(3s));

  EXPECT_EQ(Eventually(Hellos("malformed"), 2), 2);
  EXPECT_EQ(Eventually(Hellos("too_large"), 1), 1);
  const std::string m = Metrics();
  EXPECT_EQ(MetricValue(m, Hellos("ok")), 0) << m;
  EXPECT_EQ(MetricValue(m, Route("grpc")), 0);
  EXPECT_EQ(MetricValue(m, Route("gateway")), 0);
}

// Short deadlines: a ClientHello that stops half-way, and a handshake that stalls.
class TlsDeadlines : public Tls {
 protected:
  void SetUp() override {
    Options o = TlsOptions();
    o.tls_handshake_timeout = 1s;  // TestOptions' sniff_timeout is 500 ms
    StartTls(o);
  }
};

TEST_F(TlsDeadlines, HelloCutShortIsTimedOutOrClosedAndCounted) {
  const std::string hello = PythonClientHello("h2");
  {
    RawClient silent(port_);
    ASSERT_TRUE(silent.connected());
    silent.Send(hello.substr(0, 40));
    EXPECT_TRUE(silent.WaitClosed(4s)) << "a hello that never finishes holds the connection";
  }
  EXPECT_EQ(Eventually(Hellos("timeout"), 1), 1);
  {
    RawClient gone(port_);
    ASSERT_TRUE(gone.connected());
    gone.Send(hello.substr(0, 40));
    std::this_thread::sleep_for(100ms);
  }  // closed by the client before the hello is whole
  EXPECT_EQ(Eventually(Hellos("closed"), 1), 1);
  EXPECT_EQ(MetricValue(Metrics(), Route("grpc")), 0);
}

// A whole ClientHello, then nothing: the gateway's handshake answers and is cut after
// --tls-handshake-timeout.
TEST_F(TlsDeadlines, StalledHandshakeIsCutAndCounted) {
  RawClient c(port_);
  ASSERT_TRUE(c.connected());
  c.Send(PythonClientHello(""));
  bool closed = false;
  const std::string back = c.ReadUntilClose(4s, &closed);
  EXPECT_TRUE(closed);
  EXPECT_EQ(back.substr(0, 2), "\x16\x03");  // the ServerHello went out before the deadline
  EXPECT_EQ(Eventually(Handshakes("timeout"), 1), 1);
  EXPECT_EQ(MetricValue(Metrics(), Handshakes("ok")), 0);
  EXPECT_EQ(MetricValue(Metrics(), Route("gateway")), 1);
}

// 2,000 connections that send a gRPC client's ClientHello and then nothing: each holds a slot
// and a handshake until --tls-handshake-timeout, and none of it slows gRPC over TLS on new
// connections meanwhile. Then every one is counted as timed out and let go.
class TlsStalled : public Tls {
 protected:
  void SetUp() override {
    Options o = TlsOptions();
    o.tls_handshake_timeout = 4s;  // outlasts the calls below, sanitizer builds included
    o.sniff_timeout = 4s;
    StartTls(o);
  }
};

TEST_F(TlsStalled, TwoThousandStalledHandshakesLeaveGrpcOverTlsAlone) {
  constexpr int kStalled = 2000;
  // Both ends of 2,000 connections live in this process.
  ASSERT_GE(RaiseOpenFileLimit(5000), 5000) << "the hard limit on open files is too low";
  const std::string hello = PythonClientHello("h2");
  std::vector<std::unique_ptr<RawClient>> stalled;
  stalled.reserve(kStalled);
  for (int i = 0; i < kStalled; ++i) {
    stalled.push_back(std::make_unique<RawClient>(port_));
    ASSERT_TRUE(stalled.back()->connected()) << i;
    ASSERT_TRUE(stalled.back()->Send(hello)) << i;
  }
  // While they stall: 20 new gRPC connections over TLS, two calls each, every one served.
  int ok = 0;
  for (int i = 0; i < 20; ++i) {
    auto channel = TlsChannel();
    for (int j = 0; j < 2; ++j) {
      const grpc::Status s = CallEcho(channel, "past the stalled", 5s);
      EXPECT_TRUE(s.ok()) << s.error_code() << " " << s.error_message();
      ok += s.ok() ? 1 : 0;
    }
  }
  EXPECT_EQ(ok, 40);
  const std::string m = Metrics();
  EXPECT_GE(MetricValue(m, "h2gate_connections_open") + MetricValue(m, Handshakes("timeout")),
            kStalled)
      << "the stalled handshakes hold their slots until their deadline";
  // The deadline lets all of them go.
  const auto until = std::chrono::steady_clock::now() + 15s;
  double timed_out = 0;
  while ((timed_out = MetricValue(Metrics(), Handshakes("timeout"))) < kStalled &&
         std::chrono::steady_clock::now() < until) {
    std::this_thread::sleep_for(100ms);
  }
  EXPECT_EQ(timed_out, kStalled);
  EXPECT_LT(MetricValue(Metrics(), "h2gate_connections_open"), 10);
  int closed = 0;
  for (auto& c : stalled) closed += c->WaitClosed(2s) ? 1 : 0;
  EXPECT_EQ(closed, kStalled);
}

// The certificate a handshake offering `alpn` is served: the PEM block s_client prints.
std::string FirstPem(const std::string& text) {
  const auto begin = text.find("-----BEGIN CERTIFICATE-----");
  const std::string end_marker = "-----END CERTIFICATE-----";
  const auto end = text.find(end_marker, begin);
  if (begin == std::string::npos || end == std::string::npos) return "";
  return text.substr(begin, end + end_marker.size() - begin);
}

// Files replaced the way Kubernetes does it (never half-written): a new file renamed over the old.
void Replace(const std::string& path, const std::string& contents) {
  const std::string next = path + ".next";
  {
    std::ofstream out(next, std::ios::binary | std::ios::trunc);
    out << contents;
  }
  ASSERT_EQ(std::rename(next.c_str(), path.c_str()), 0) << path;
}

// Rotation: the certificate files change under a running gateway (--tls-reload-interval 100ms).
class TlsRotation : public Tls {
 protected:
  void SetUp() override {
    live_cert_ = WriteTestFile(certs(), "live.pem", ReadFile(certs().server_cert));
    live_key_ = WriteTestFile(certs(), "live.key", ReadFile(certs().server_key));
    Options o = TlsOptions();
    o.tls_cert = live_cert_;
    o.tls_key = live_key_;
    o.tls_reload_interval = 100ms;
    StartTls(o);
  }
  std::string Served(const std::string& alpn) const {
    return FirstPem(SClient({"-alpn", alpn}).output);
  }
  // gRPC rereads its copies each second: its handshakes follow within a few.
  bool ServedEventually(const std::string& alpn, const std::string& pem) const {
    const auto deadline = std::chrono::steady_clock::now() + 5s;
    while (Served(alpn) != pem) {
      if (std::chrono::steady_clock::now() > deadline) return false;
      std::this_thread::sleep_for(200ms);
    }
    return true;
  }
  std::string live_cert_, live_key_;
};

TEST_F(TlsRotation, NewFilesServeNewHandshakesWhileAStreamStaysUp) {
  const std::string first = FirstPem(ReadFile(certs().server_cert));
  const CertAndKey next = MakeServerCert(certs(), "rotated", 9);
  ASSERT_FALSE(next.cert.empty());
  const std::string second = FirstPem(ReadFile(next.cert));
  ASSERT_NE(first, second);
  EXPECT_EQ(Served("http/1.1"), first);
  EXPECT_EQ(Served("h2"), first);

  // A gRPC stream over TLS, up across the rotation.
  auto stub = echo::v1::Echo::NewStub(TlsChannel());
  grpc::ClientContext ctx;
  ctx.set_deadline(std::chrono::system_clock::now() + 20s);
  auto stream = stub->BidiStream(&ctx);
  EchoRequest req;
  EchoResponse resp;
  req.set_message("before");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));

  Replace(live_key_, ReadFile(next.key));
  Replace(live_cert_, ReadFile(next.cert));
  EXPECT_EQ(Eventually(Series("h2gate_tls_reloads_total", "result", "ok"), 1), 1);
  EXPECT_TRUE(ServedEventually("http/1.1", second)) << "the gateway's handshakes";
  EXPECT_TRUE(ServedEventually("h2", second)) << "gRPC's handshakes";

  req.set_message("after");
  ASSERT_TRUE(stream->Write(req));
  ASSERT_TRUE(stream->Read(&resp));
  EXPECT_EQ(resp.message(), "after");
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
  EXPECT_GT(MetricValue(Metrics(), "h2gate_tls_certificate_expiry_timestamp_seconds"), 0);
}

TEST_F(TlsRotation, ABrokenPairIsRefusedAndTheOldCertificateStays) {
  const std::string first = FirstPem(ReadFile(certs().server_cert));
  // A key that does not match the certificate, then a key that is not PEM at all.
  Replace(live_key_, ReadFile(MakeMismatchedKey(certs(), "stray.key")));
  EXPECT_EQ(Eventually(Series("h2gate_tls_reloads_total", "result", "failed"), 1), 1);
  Replace(live_key_, "not a key");
  EXPECT_EQ(Eventually(Series("h2gate_tls_reloads_total", "result", "failed"), 2), 2);
  EXPECT_EQ(MetricValue(Metrics(), Series("h2gate_tls_reloads_total", "result", "ok")), 0);
  // Past gRPC's refresh: both sides still serve the first certificate, and gRPC calls work.
  std::this_thread::sleep_for(1500ms);
  EXPECT_EQ(Served("http/1.1"), first);
  EXPECT_EQ(Served("h2"), first);
  EXPECT_TRUE(CallEcho(TlsChannel(), "still served").ok());
}

}  // namespace
}  // namespace h2gate::testing
