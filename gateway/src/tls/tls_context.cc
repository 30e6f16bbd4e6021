#include "tls/tls_context.h"

#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include <fmt/format.h>
#include <grpcpp/security/tls_certificate_provider.h>
#include <grpcpp/security/tls_credentials_options.h>

#include "tls/client_hello.h"

namespace h2gate {
namespace ssl = boost::asio::ssl;

namespace {

struct BioFree {
  void operator()(BIO* b) const { BIO_free(b); }
};
struct X509Free {
  void operator()(X509* x) const { X509_free(x); }
};
struct KeyFree {
  void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Key = std::unique_ptr<EVP_PKEY, KeyFree>;

Bio MemoryBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The first OpenSSL error on this thread, for a message; the queue is cleared.
std::string OpenSslError() {
  char text[256] = "unknown error";
  if (const unsigned long e = ERR_get_error()) ERR_error_string_n(e, text, sizeof text);
  ERR_clear_error();
  return text;
}

bool ReadFile(std::string_view flag, const std::string& path, std::string* out,
              std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = fmt::format("--{}={}: cannot read it: {}", flag, path, std::strerror(errno));
    return false;
  }
  std::ostringstream text;
  text << in.rdbuf();
  *out = text.str();
  return true;
}

// Every certificate in a PEM text; none if it holds none (or anything but certificates first).
std::vector<Cert> Certificates(const std::string& pem) {
  std::vector<Cert> certs;
  const Bio bio = MemoryBio(pem);
  while (X509* x = PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)) certs.emplace_back(x);
  ERR_clear_error();  // the end of the text reads as an error
  return certs;
}

std::int64_t NotAfter(const X509* cert) {
  std::tm tm{};
  if (ASN1_TIME_to_tm(X509_get0_notAfter(cert), &tm) != 1) return 0;
  return static_cast<std::int64_t>(timegm(&tm));
}

}  // namespace

std::shared_ptr<const TlsContext> TlsContext::Load(const Options& o, std::string* error) {
  if (o.tls_cert.empty() && o.tls_key.empty()) {
    if (!o.tls_client_ca.empty()) *error = "--tls-client-ca needs --tls-cert and --tls-key";
    if (o.tls_required) *error = "--tls-required needs --tls-cert and --tls-key";
    return nullptr;
  }
  if (o.tls_cert.empty() || o.tls_key.empty()) {
    *error = o.tls_cert.empty() ? "--tls-key needs --tls-cert" : "--tls-cert needs --tls-key";
    return nullptr;
  }
  if (o.tls_client_auth != "off" && o.tls_client_ca.empty()) {
    *error = fmt::format("--tls-client-auth={} needs --tls-client-ca", o.tls_client_auth);
    return nullptr;
  }
  std::shared_ptr<TlsContext> t(new TlsContext());
  if (!ReadFile("tls-cert", o.tls_cert, &t->cert_pem_, error) ||
      !ReadFile("tls-key", o.tls_key, &t->key_pem_, error) ||
      (!o.tls_client_ca.empty() &&
       !ReadFile("tls-client-ca", o.tls_client_ca, &t->client_ca_pem_, error))) {
    return nullptr;
  }
  const std::vector<Cert> chain = Certificates(t->cert_pem_);
  if (chain.empty()) {
    *error = fmt::format("--tls-cert={}: no PEM certificate in it", o.tls_cert);
    return nullptr;
  }
  const Bio key_bio = MemoryBio(t->key_pem_);
  const Key key(PEM_read_bio_PrivateKey(key_bio.get(), nullptr, nullptr, nullptr));
  if (!key) {
    *error = fmt::format("--tls-key={}: no PEM private key in it ({})", o.tls_key, OpenSslError());
    return nullptr;
  }
  if (X509_check_private_key(chain.front().get(), key.get()) != 1) {
    ERR_clear_error();
    *error = fmt::format("--tls-key={} does not match the certificate of --tls-cert={}", o.tls_key,
                         o.tls_cert);
    return nullptr;
  }
  const std::vector<Cert> client_cas = Certificates(t->client_ca_pem_);
  if (!o.tls_client_ca.empty() && client_cas.empty()) {
    *error = fmt::format("--tls-client-ca={}: no PEM certificate in it", o.tls_client_ca);
    return nullptr;
  }
  t->not_after_ = NotAfter(chain.front().get());
  t->min_version_ = o.tls_min_version == "1.3" ? 0x0304 : 0x0303;

  auto ctx = std::make_unique<ssl::context>(ssl::context::tls_server);
  SSL_CTX* native = ctx->native_handle();
  SSL_CTX_set_min_proto_version(native,
                                t->min_version_ == 0x0304 ? TLS1_3_VERSION : TLS1_2_VERSION);
  boost::system::error_code ec;
  ctx->use_certificate_chain(boost::asio::buffer(t->cert_pem_), ec);
  if (!ec) ctx->use_private_key(boost::asio::buffer(t->key_pem_), ssl::context::pem, ec);
  if (ec) {
    *error = fmt::format("--tls-cert={} / --tls-key={}: OpenSSL refused them: {}", o.tls_cert,
                         o.tls_key, ec.message());
    return nullptr;
  }
  if (!o.tls_client_ca.empty()) {
    ctx->add_certificate_authority(boost::asio::buffer(t->client_ca_pem_), ec);
    if (ec) {
      *error = fmt::format("--tls-client-ca={}: {}", o.tls_client_ca, ec.message());
      return nullptr;
    }
    // The CertificateRequest names them, so a client with several certificates picks the one.
    STACK_OF(X509_NAME)* names = sk_X509_NAME_new_null();
    for (const Cert& ca : client_cas) {
      sk_X509_NAME_push(names, X509_NAME_dup(X509_get_subject_name(ca.get())));
    }
    SSL_CTX_set_client_CA_list(native, names);
  }
  if (o.tls_client_auth == "require") {
    ctx->set_verify_mode(ssl::verify_peer | ssl::verify_fail_if_no_peer_cert);
  } else if (o.tls_client_auth == "request") {
    ctx->set_verify_mode(ssl::verify_peer);
  }
  // The gateway's own sessions speak HTTP/2 and HTTP/1.1, h2 first when both are offered
  // (RFC 9113 3.2); a client that offers neither goes on without ALPN (RFC 7301 3.2 allows
  // either) and is served HTTP/1.1.
  // Renegotiation (TLS 1.2) would let a client make the gateway redo handshakes on a connection
  // it holds: refused, as TLS 1.3 has none.
  SSL_CTX_set_options(native, SSL_OP_NO_RENEGOTIATION);
  SSL_CTX_set_alpn_select_cb(
      native,
      [](SSL*, const unsigned char** out, unsigned char* out_len, const unsigned char* in,
         unsigned int in_len, void*) -> int {
        static constexpr unsigned char kOurs[] = {2,   'h', '2', 8,   'h', 't',
                                                  't', 'p', '/', '1', '.', '1'};
        unsigned char* selected = nullptr;
        if (SSL_select_next_proto(&selected, out_len, kOurs, sizeof kOurs, in, in_len) !=
            OPENSSL_NPN_NEGOTIATED) {
          return SSL_TLSEXT_ERR_NOACK;
        }
        *out = selected;
        return SSL_TLSEXT_ERR_OK;
      },
      nullptr);
  t->ssl_ = std::move(ctx);
  return t;
}

namespace {

// Mode 0600 whatever the umask: the key's copy is as private as its directory.
bool WriteFile(const std::string& path, const std::string& text, std::string* error) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) {
    *error = fmt::format("cannot write {}: {}", path, std::strerror(errno));
    return false;
  }
  std::size_t done = 0;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    done += static_cast<std::size_t>(n);
  }
  const int write_errno = errno;
  const bool closed = ::close(fd) == 0;
  if (done == text.size() && closed) return true;
  *error = fmt::format("cannot write {}: {}", path,
                       std::strerror(done == text.size() ? errno : write_errno));
  return false;
}

}  // namespace

std::unique_ptr<GrpcTlsFiles> GrpcTlsFiles::Create(const TlsContext& tls, std::string* error) {
  const char* tmp = std::getenv("TMPDIR");
  std::string pattern =
      std::string(tmp != nullptr && *tmp != '\0' ? tmp : "/tmp") + "/h2gate-tls-XXXXXX";
  if (::mkdtemp(pattern.data()) == nullptr) {  // mode 0700: the key stays the process's
    *error = fmt::format("cannot make a directory for gRPC's TLS files ({}): {}", pattern,
                         std::strerror(errno));
    return nullptr;
  }
  std::unique_ptr<GrpcTlsFiles> files(new GrpcTlsFiles(pattern));
  files->has_ca_ = !tls.client_ca_pem().empty();
  if (!files->Publish(tls, error)) return nullptr;
  return files;
}

GrpcTlsFiles::~GrpcTlsFiles() {
  std::error_code ignored;
  std::filesystem::remove_all(dir_, ignored);
}

bool GrpcTlsFiles::Publish(const TlsContext& tls, std::string* error) {
  const std::string version = fmt::format("{}/v{}", dir_, ++version_);
  if (::mkdir(version.c_str(), 0700) != 0) {
    *error = fmt::format("cannot make {}: {}", version, std::strerror(errno));
    return false;
  }
  if (!WriteFile(version + "/key.pem", tls.key_pem(), error) ||
      !WriteFile(version + "/cert.pem", tls.cert_pem(), error) ||
      (has_ca_ && !WriteFile(version + "/ca.pem", tls.client_ca_pem(), error))) {
    return false;
  }
  // The flip: a new link renamed over "current" in one step.
  const std::string link = dir_ + "/current", next = dir_ + "/current.next";
  ::unlink(next.c_str());
  if (::symlink(version.c_str(), next.c_str()) != 0 || ::rename(next.c_str(), link.c_str()) != 0) {
    *error = fmt::format("cannot point {} at {}: {}", link, version, std::strerror(errno));
    return false;
  }
  // Two versions back is no longer read: gRPC rereads within its refresh interval.
  if (version_ > 2) {
    std::error_code ignored;
    std::filesystem::remove_all(fmt::format("{}/v{}", dir_, version_ - 2), ignored);
  }
  return true;
}

std::shared_ptr<grpc::ServerCredentials> GrpcTlsFiles::Credentials(const std::string& client_auth,
                                                                   unsigned refresh_seconds) const {
  using grpc::experimental::FileWatcherCertificateProvider;
  const std::string current = dir_ + "/current";
  auto provider = has_ca_ ? std::make_shared<FileWatcherCertificateProvider>(
                                current + "/key.pem", current + "/cert.pem", current + "/ca.pem",
                                refresh_seconds)
                          : std::make_shared<FileWatcherCertificateProvider>(
                                current + "/key.pem", current + "/cert.pem", refresh_seconds);
  grpc::experimental::TlsServerCredentialsOptions options(provider);
  options.watch_identity_key_cert_pairs();
  if (has_ca_) options.watch_root_certs();
  if (client_auth == "require") {
    options.set_cert_request_type(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  } else if (client_auth == "request") {
    options.set_cert_request_type(GRPC_SSL_REQUEST_CLIENT_CERTIFICATE_AND_VERIFY);
  } else {
    options.set_cert_request_type(GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  }
  return grpc::experimental::TlsServerCredentials(options);
}

bool IsGrpcClientHello(const ClientHelloInfo& hello) {
  return (hello.Offers("h2") || hello.Offers("grpc-exp")) && !hello.Offers("http/1.1");
}

std::string_view ServerName(SSL* ssl) {
  const char* name = SSL_get_servername(ssl, TLSEXT_NAMETYPE_host_name);
  return name == nullptr ? std::string_view() : std::string_view(name);
}

bool AuthorityMatchesServerName(std::string_view authority, std::string_view server_name) {
  // No SNI, or no Host (HTTP/1.0): nothing to compare.
  if (server_name.empty() || authority.empty()) return true;
  std::string_view host = authority;
  if (host.starts_with('[')) {
    host = host.substr(1, host.find(']') == std::string_view::npos ? 0 : host.find(']') - 1);
  } else if (const auto colon = host.rfind(':'); colon != std::string_view::npos) {
    host = host.substr(0, colon);
  }
  if (host.ends_with('.')) host.remove_suffix(1);  // an absolute name is the same name
  return host.size() == server_name.size() &&
         std::equal(host.begin(), host.end(), server_name.begin(), [](char a, char b) {
           return std::tolower(static_cast<unsigned char>(a)) ==
                  std::tolower(static_cast<unsigned char>(b));
         });
}

std::string PeerSubject(SSL* ssl) {
  X509* cert = SSL_get0_peer_certificate(ssl);
  if (cert == nullptr || SSL_get_verify_result(ssl) != X509_V_OK) return {};
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(BIO_new(BIO_s_mem()), BIO_free);
  if (!bio || X509_NAME_print_ex(bio.get(), X509_get_subject_name(cert), 0, XN_FLAG_RFC2253) < 0) {
    return {};
  }
  char* data = nullptr;
  const long n = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<std::size_t>(std::clamp(n, 0L, 256L)));
}

std::string MisdirectedMessage(SSL* ssl, std::string_view authority) {
  const std::string_view sni = ServerName(ssl);
  if (AuthorityMatchesServerName(authority, sni)) return {};
  return fmt::format(
      "this TLS connection was opened for {:.200} (SNI), not for {:.200}: open a new connection "
      "whose server name is the host you call",
      sni, authority);
}

std::string_view ProtocolVersionAlert() {
  // Record: alert (21), version 3.1 (readable by every client that sent a hello), length 2;
  // alert: fatal (2), protocol_version (70).
  static constexpr char kAlert[] = {21, 3, 1, 0, 2, 2, 70};
  return {kAlert, sizeof kAlert};
}

}  // namespace h2gate
