// Test support: a raw TLS client on 127.0.0.1 (OpenSSL, blocking, every wait bounded), for
// hostile HTTP/2 over TLS: the test writes the frames, byte for byte, inside the TLS stream.
#pragma once

#include <openssl/ssl.h>

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace h2gate::testing {

class TlsRawClient {
 public:
  // Connects to 127.0.0.1:port, offers `alpn` (e.g. {"h2"}, or {"h2", "http/1.1"}), verifies the
  // server against `ca_file` for the name localhost, and runs the handshake (5 s at most).
  TlsRawClient(int port, const std::vector<std::string>& alpn, const std::string& ca_file);
  ~TlsRawClient();
  TlsRawClient(const TlsRawClient&) = delete;
  TlsRawClient& operator=(const TlsRawClient&) = delete;

  bool connected() const { return ssl_ != nullptr; }  // the handshake succeeded
  const std::string& error() const { return error_; }
  std::string alpn() const;  // what the server selected
  bool Send(std::string_view data);
  // Reads until the peer closes (close_notify, EOF or reset) or `timeout` passes.
  std::string ReadUntilClose(std::chrono::milliseconds timeout, bool* closed = nullptr);
  // Reads until `needle` has been seen or `timeout` passes.
  std::string ReadUntil(std::string_view needle, std::chrono::milliseconds timeout);

 private:
  std::string Read(std::chrono::milliseconds timeout, std::string_view needle, bool* closed);

  int fd_ = -1;
  SSL_CTX* ctx_ = nullptr;
  SSL* ssl_ = nullptr;
  std::string error_;
};

}  // namespace h2gate::testing
