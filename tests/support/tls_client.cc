#include "support/tls_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <csignal>

#include <openssl/err.h>

namespace h2gate::testing {
namespace {

std::string OpensslError(std::string_view what) {
  char buf[256];
  ERR_error_string_n(ERR_get_error(), buf, sizeof buf);
  return std::string(what) + ": " + buf;
}

void SetTimeout(int fd, int option, std::chrono::milliseconds t) {
  timeval tv{static_cast<time_t>(t.count() / 1000),
             static_cast<suseconds_t>(t.count() % 1000 * 1000)};
  ::setsockopt(fd, SOL_SOCKET, option, &tv, sizeof tv);
}

}  // namespace

TlsRawClient::TlsRawClient(int port, const std::vector<std::string>& alpn,
                           const std::string& ca_file) {
  // OpenSSL writes with write(2), not send(MSG_NOSIGNAL): a server that closes on an attack
  // must fail the write, not kill the test.
  std::signal(SIGPIPE, SIG_IGN);
  fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (fd_ < 0 || ::connect(fd_, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    error_ = "connect failed";
    return;
  }
  SetTimeout(fd_, SO_RCVTIMEO, std::chrono::milliseconds(5000));
  SetTimeout(fd_, SO_SNDTIMEO, std::chrono::milliseconds(5000));
  ctx_ = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_verify(ctx_, SSL_VERIFY_PEER, nullptr);
  if (SSL_CTX_load_verify_locations(ctx_, ca_file.c_str(), nullptr) != 1) {
    error_ = OpensslError("CA file");
    return;
  }
  std::string wire;
  for (const std::string& p : alpn) wire += static_cast<char>(p.size()) + p;
  SSL_CTX_set_alpn_protos(ctx_, reinterpret_cast<const unsigned char*>(wire.data()),
                          static_cast<unsigned>(wire.size()));
  SSL* ssl = SSL_new(ctx_);
  SSL_set_fd(ssl, fd_);
  SSL_set_tlsext_host_name(ssl, "localhost");
  SSL_set1_host(ssl, "localhost");
  if (SSL_connect(ssl) != 1) {
    error_ = OpensslError("handshake");
    SSL_free(ssl);
    return;
  }
  ssl_ = ssl;
}

TlsRawClient::~TlsRawClient() {
  if (ssl_ != nullptr) SSL_free(ssl_);
  if (ctx_ != nullptr) SSL_CTX_free(ctx_);
  if (fd_ >= 0) ::close(fd_);
}

std::string TlsRawClient::alpn() const {
  const unsigned char* p = nullptr;
  unsigned n = 0;
  if (ssl_ != nullptr) SSL_get0_alpn_selected(ssl_, &p, &n);
  return std::string(reinterpret_cast<const char*>(p), n);
}

bool TlsRawClient::Send(std::string_view data) {
  if (ssl_ == nullptr) return false;
  while (!data.empty()) {
    const int n =
        SSL_write(ssl_, data.data(), static_cast<int>(std::min<std::size_t>(data.size(), 1 << 20)));
    if (n <= 0) return false;  // the server closed, or the 5 s send timeout passed
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

std::string TlsRawClient::ReadUntilClose(std::chrono::milliseconds timeout, bool* closed) {
  return Read(timeout, {}, closed);
}

std::string TlsRawClient::ReadUntil(std::string_view needle, std::chrono::milliseconds timeout) {
  return Read(timeout, needle, nullptr);
}

std::string TlsRawClient::Read(std::chrono::milliseconds timeout, std::string_view needle,
                               bool* closed) {
  std::string out;
  if (closed != nullptr) *closed = false;
  if (ssl_ == nullptr) return out;
  SetTimeout(fd_, SO_RCVTIMEO, std::chrono::milliseconds(100));
  const auto until = std::chrono::steady_clock::now() + timeout;
  char buf[16384];
  while (std::chrono::steady_clock::now() < until) {
    const int n = SSL_read(ssl_, buf, sizeof buf);
    if (n > 0) {
      out.append(buf, static_cast<std::size_t>(n));
      if (!needle.empty() && out.find(needle) != std::string::npos) break;
      continue;
    }
    const int err = SSL_get_error(ssl_, n);
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) continue;  // the 100 ms tick
    if (closed != nullptr) *closed = true;  // close_notify, EOF without it, or a reset
    break;
  }
  return out;
}

}  // namespace h2gate::testing
