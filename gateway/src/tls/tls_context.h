// The gateway's TLS material: the certificate chain, key and client CAs named by the --tls-*
// flags, read and checked once, and the two places that use them: the OpenSSL context of the
// connections the gateway terminates itself, and the credentials of gRPC's TLS acceptor, which
// runs its own handshake on the connections handed to it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include <grpcpp/security/server_credentials.h>
#include <boost/asio/ssl/context.hpp>

#include "h2gate/gateway.h"
#include "tls/tls_store.h"

namespace h2gate {

class TlsContext {
 public:
  // Null when TLS is not configured (no --tls-cert and no --tls-key). Otherwise the material,
  // or null with `*error` naming the flag and the file that is wrong.
  static std::shared_ptr<const TlsContext> Load(const Options& options, std::string* error);

  boost::asio::ssl::context& ssl() const { return *ssl_; }
  const std::string& cert_pem() const { return cert_pem_; }
  const std::string& key_pem() const { return key_pem_; }
  const std::string& client_ca_pem() const { return client_ca_pem_; }

  std::int64_t not_after() const { return not_after_; }  // the leaf's, in Unix seconds
  // The oldest version a ClientHello may offer at most (0x0303 TLS 1.2, 0x0304 TLS 1.3).
  std::uint16_t min_version() const { return min_version_; }

 private:
  TlsContext() = default;

  std::string cert_pem_, key_pem_, client_ca_pem_;
  std::unique_ptr<boost::asio::ssl::context> ssl_;
  std::int64_t not_after_ = 0;
  std::uint16_t min_version_ = 0x0303;
};

// The copies of the material that gRPC's TLS acceptor reads, in a private directory, so that only
// a pair the gateway has checked ever reaches gRPC (gRPC 1.51's file watcher does not check that
// a new key matches its certificate: a broken pair would fail every new handshake until good
// files appear). Each version goes into a new directory and a symbolic link is flipped to it,
// the way gRPC's file watcher asks for: it never reads a key of one version with the
// certificate of another.
class GrpcTlsFiles {
 public:
  // Null, with `*error`, if the directory cannot be made or written.
  static std::unique_ptr<GrpcTlsFiles> Create(const TlsContext& tls, std::string* error);
  ~GrpcTlsFiles();
  bool Publish(const TlsContext& tls, std::string* error);
  // Credentials whose provider watches the copies, every `refresh_seconds`.
  std::shared_ptr<grpc::ServerCredentials> Credentials(const std::string& client_auth,
                                                       unsigned refresh_seconds) const;

 private:
  explicit GrpcTlsFiles(std::string dir) : dir_(std::move(dir)) {}
  std::string dir_;
  bool has_ca_ = false;
  int version_ = 0;
};

// Where a ClientHello goes: gRPC takes it when it offers h2 (or the grpc-exp that gRPC 1.51's
// own clients put first) and not http/1.1, as every gRPC stack does: a client that also offers
// http/1.1 (browsers, curl, .NET Core 3's HttpClient) is answered by the gateway.
struct ClientHelloInfo;
bool IsGrpcClientHello(const ClientHelloInfo& hello);

// The server name (SNI) a TLS connection asked for; empty if it sent none (a client dialling an
// IP address).
std::string_view ServerName(SSL* ssl);

// Whether a request's Host or :authority ("host", "host:port", "[v6]:port") names the server
// the connection's SNI asked for (case-insensitive). True without SNI or without an authority:
// nothing to compare.
// RFC 9110 7.4: a request for another authority gets 421 Misdirected Request.
bool AuthorityMatchesServerName(std::string_view authority, std::string_view server_name);

// The subject (RFC 2253, at most 256 bytes) of the client certificate `ssl` verified; empty if
// the client sent none or it did not verify.
std::string PeerSubject(SSL* ssl);

// The body of the 421 for a request to `authority` on a connection whose SNI is another server;
// empty when they match.
std::string MisdirectedMessage(SSL* ssl, std::string_view authority);

// The TLS alert record that refuses a ClientHello whose versions are all too old
// (protocol_version, RFC 8446 6.2), in the record version the client can read.
std::string_view ProtocolVersionAlert();

}  // namespace h2gate
