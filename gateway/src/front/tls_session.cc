#include "front/tls_session.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <memory>
#include <string>

#include <spdlog/spdlog.h>
#include <boost/asio/ssl/stream.hpp>
#include <boost/asio/steady_timer.hpp>

#include "front/sniff_session.h"
#include "front/tls_guard.h"
#include "h2/first_request.h"
#include "h2/h2_session.h"
#include "http1/http1_session.h"
#include "tls/client_hello.h"
#include "tls/tls_context.h"

namespace h2gate {
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using Clock = std::chrono::steady_clock;

namespace {

const char* VersionName(std::uint16_t v) {
  switch (v) {
    case 0x0304: return "TLS 1.3";
    case 0x0303: return "TLS 1.2";
    case 0x0302: return "TLS 1.1";
    case 0x0301: return "TLS 1.0";
    case 0x0300: return "SSL 3.0";
  }
  return "an unknown version";
}

// Sends the protocol_version alert and closes (AnswerAndClose).
void RefuseVersion(int fd, Shared& shared, const ConnectionLabel& label,
                   const ClientHelloInfo& hello) {
  shared.metrics.tls_refused.Inc(TlsRefusal::kVersion);
  AnswerAndClose(fd, ProtocolVersionAlert());
  std::uint64_t suppressed = 0;
  if (shared.rejection_log.Allow(&suppressed)) {
    spdlog::warn(
        "conn={} peer={} TLS refused: the client offers at most {}, older than "
        "--tls-min-version={} ({} similar suppressed)",
        label.id, label.peer, VersionName(hello.MaxVersion()),
        shared.context->options.tls_min_version, suppressed);
  }
}

void HandOffTls(int fd, std::string_view bytes_read, Shared& shared, ConnectionSlot& slot,
                const ConnectionLabel& label) {
  slot.Release();  // gRPC's connections take no slot, as plaintext hand-offs
  shared.metrics.tls_connections.Inc(TlsRoute::kGrpc);
  HandOffCounted(*shared.context->tls_handoff, shared, label, fd, bytes_read);
}

// What follows the gateway's own handshake.
enum class Then {
  kServe,            // by ALPN: the HTTP/2 session (h2), else the HTTP/1.1 one
  kRoutePerRequest,  // --http2-route-per-request: as kServe, counted as that
  kGuard,            // a gRPC client's: relayed to gRPC behind the guard (front/tls_guard.h)
};

// The ALPN protocol the handshake chose, as counted.
TlsAlpn AlpnOf(SSL* ssl) {
  const unsigned char* p = nullptr;
  unsigned int n = 0;
  SSL_get0_alpn_selected(ssl, &p, &n);
  const std::string_view alpn(reinterpret_cast<const char*>(p), n);
  if (alpn == "h2") return TlsAlpn::kH2;
  return alpn.empty() ? TlsAlpn::kNone : TlsAlpn::kHttp11;
}

// A gRPC client's TLS connection, its handshake done: its first request decides, as in the
// clear (front/sniff_session.cc), whether it goes to gRPC behind the guard or to the gateway's
// own HTTP/2 session (an HTTP/2-only client that is not gRPC). Every byte read is passed on.
class TlsFirstRequest : public std::enable_shared_from_this<TlsFirstRequest> {
 public:
  TlsFirstRequest(TlsStream stream, Shared& shared, ConnectionSlot slot, ConnectionLabel label)
      : stream_(std::move(stream)),
        deadline_(stream_.get_executor()),
        wait_(stream_.get_executor()),
        shared_(shared),
        slot_(std::move(slot)),
        label_(std::move(label)) {}

  void Start() {
    deadline_.expires_after(shared_.context->options.sniff_timeout);
    deadline_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->passed_on_) return;  // cancelled, or fired just as the stream went on
      self->timed_out_ = true;
      self->shared_.metrics.limits.Inc(Limit::kSniffTimeout);
      boost::system::error_code ignored;
      self->stream_.lowest_layer().close(ignored);
    });
    Read();
  }

 private:
  void Read() {
    stream_.async_read_some(net::buffer(chunk_),
                            [self = shared_from_this()](boost::system::error_code ec,
                                                        std::size_t n) { self->OnRead(ec, n); });
  }

  void OnRead(boost::system::error_code ec, std::size_t n) {
    if (ec) {  // the client left, or the deadline closed it
      deadline_.cancel();
      return;
    }
    bytes_.append(chunk_.data(), n);
    switch (ClassifyFirstRequest(bytes_)) {
      case FirstRequest::kNeedMore: return Read();
      case FirstRequest::kNone: return WaitForRequest();
      case FirstRequest::kGrpc: return Guard();
      case FirstRequest::kOther: return Keep();
    }
  }

  // SETTINGS and no request: a gRPC stack waits for the server's, curl sends its request in the
  // next segment. Looked at again for --http2-first-request-wait, as in the clear.
  void WaitForRequest() {
    SSL* ssl = stream_.native_handle();
    // Bytes already decrypted, or received and not yet decrypted, are no socket event.
    if (SSL_has_pending(ssl) == 1 || BIO_ctrl_pending(SSL_get_rbio(ssl)) > 0) return Read();
    if (!waiting_) {
      waiting_ = true;
      wait_.expires_after(shared_.context->options.http2_first_request_wait);
    }
    if (wait_.expiry() <= net::steady_timer::clock_type::now()) return Guard();
    socket_waiting_ = true;
    wait_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      // Only the socket wait below is cancelled: an SSL read cut short would lose its record.
      if (ec || !self->socket_waiting_) return;
      boost::system::error_code ignored;
      self->stream_.lowest_layer().cancel(ignored);  // the wait below ends: to gRPC
    });
    stream_.lowest_layer().async_wait(net::socket_base::wait_read,
                                      [self = shared_from_this()](boost::system::error_code ec) {
                                        self->socket_waiting_ = false;
                                        self->wait_.cancel();
                                        if (self->timed_out_) return;  // closed by the deadline
                                        if (ec == net::error::operation_aborted)
                                          return self->Guard();
                                        if (ec) {
                                          self->deadline_.cancel();
                                          return;
                                        }
                                        self->Read();
                                      });
  }

  void Guard() {
    passed_on_ = true;
    deadline_.cancel();
    shared_.metrics.tls_connections.Inc(TlsRoute::kGuarded);
    slot_.Release();  // gRPC's connections take no slot, as plaintext guarded ones
    StartTlsGuarded(std::make_unique<TlsStream>(std::move(stream_)), shared_, std::move(label_),
                    bytes_);
  }

  void Keep() {
    passed_on_ = true;
    deadline_.cancel();
    shared_.metrics.tls_connections.Inc(TlsRoute::kGateway);
    KeepHttp2(std::make_unique<TlsStream>(std::move(stream_)), bytes_, shared_, std::move(slot_),
              std::move(label_), KeptReason::kFirstRequest);
  }

  TlsStream stream_;
  net::steady_timer deadline_;  // --sniff-timeout, for the whole look
  net::steady_timer wait_;      // --http2-first-request-wait
  bool waiting_ = false;
  bool passed_on_ = false;       // the stream went to the guard or the HTTP/2 session
  bool socket_waiting_ = false;  // the readiness wait is pending (not an SSL read)
  bool timed_out_ = false;       // --sniff-timeout closed the connection
  Shared& shared_;
  ConnectionSlot slot_;
  ConnectionLabel label_;
  std::string bytes_;
  std::array<char, 4096> chunk_;
};

// The gateway's own handshake, under --tls-handshake-timeout; then what `then` says.
class Handshake : public std::enable_shared_from_this<Handshake> {
 public:
  Handshake(net::ip::tcp::socket socket, std::string_view bytes_read, Shared& shared,
            ConnectionSlot slot, ConnectionLabel label, Then then)
      : then_(then),
        tls_(shared.tls.Current()),
        stream_(std::move(socket), tls_->ssl()),
        timer_(stream_.get_executor()),
        bytes_(bytes_read),
        shared_(shared),
        slot_(std::move(slot)),
        label_(std::move(label)) {}

  void Start() {
    timer_.expires_after(shared_.context->options.tls_handshake_timeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec || self->handshake_done_) return;  // cancelled, or fired as the handshake ended
      self->timed_out_ = true;
      boost::system::error_code ignored;
      self->stream_.lowest_layer().close(ignored);
    });
    stream_.async_handshake(ssl::stream_base::server, net::buffer(bytes_),
                            [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
                              self->OnHandshake(ec);
                            });
  }

 private:
  void OnHandshake(boost::system::error_code ec) {
    handshake_done_ = true;
    timer_.cancel();
    if (timed_out_) {
      shared_.metrics.tls_handshakes.Inc(TlsHandshake::kTimeout);
      SPDLOG_DEBUG("conn={} peer={} TLS handshake timed out", label_.id, label_.peer);
      return;
    }
    if (ec) {
      shared_.metrics.tls_handshakes.Inc(TlsHandshake::kFailed);
      SPDLOG_DEBUG("conn={} peer={} TLS handshake failed: {}", label_.id, label_.peer,
                   ec.message());
      return;
    }
    shared_.metrics.tls_handshakes.Inc(TlsHandshake::kOk);
    shared_.metrics.tls_handshake_duration.Observe(Clock::now() - started_);
    label_.tls_subject = PeerSubject(stream_.native_handle());
    const TlsAlpn alpn = AlpnOf(stream_.native_handle());
    shared_.metrics.tls_alpn.Inc(alpn);
    shared_.metrics.tls_versions.Inc(SSL_version(stream_.native_handle()) == TLS1_3_VERSION
                                         ? TlsVersion::kTls13
                                         : TlsVersion::kTls12);
    if (then_ == Then::kGuard) {
      return std::make_shared<TlsFirstRequest>(std::move(stream_), shared_, std::move(slot_),
                                               std::move(label_))
          ->Start();
    }
    if (alpn == TlsAlpn::kH2) {
      return KeepHttp2(
          std::make_unique<TlsStream>(std::move(stream_)), {}, shared_, std::move(slot_),
          std::move(label_),
          then_ == Then::kRoutePerRequest ? KeptReason::kRoutePerRequest : KeptReason::kAlpn);
    }
    std::make_shared<TlsHttp1Session>(std::move(stream_), beast::flat_buffer(), shared_,
                                      std::move(slot_), std::move(label_))
        ->Start();
  }

  const Then then_;

  // The certificate this handshake started with: a rotation meanwhile does not free it.
  std::shared_ptr<const TlsContext> tls_;
  TlsStream stream_;
  net::steady_timer timer_;
  std::string bytes_;  // the ClientHello (or its start) the sniffer read
  Shared& shared_;
  ConnectionSlot slot_;
  ConnectionLabel label_;
  const Clock::time_point started_ = Clock::now();
  bool timed_out_ = false;
  bool handshake_done_ = false;  // the stream may have moved on
};

}  // namespace

void StartTls(int fd, std::string_view bytes_read, const ClientHelloInfo& hello,
              const net::ip::tcp& protocol, const net::any_io_executor& executor, Shared& shared,
              ConnectionSlot slot, ConnectionLabel label) {
  const TlsContext& tls = *shared.context->tls;
  if (hello.MaxVersion() < tls.min_version()) return RefuseVersion(fd, shared, label, hello);
  const Context& ctx = *shared.context;
  Then then = Then::kServe;
  if (ctx.route_per_request.Contains(label.peer_address)) {
    then = Then::kRoutePerRequest;  // an ingress: whatever its ALPN offer, request by request
    shared.metrics.tls_connections.Inc(TlsRoute::kGateway);
  } else if (!IsGrpcClientHello(hello)) {
    shared.metrics.tls_connections.Inc(TlsRoute::kGateway);
  } else if (ctx.guard_exempt.Contains(label.peer_address)) {
    return HandOffTls(fd, bytes_read, shared, slot, label);
  } else {
    then = Then::kGuard;  // counted once its first request has said where it goes
  }
  net::ip::tcp::socket socket(executor);
  boost::system::error_code ec;
  socket.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    return;
  }
  if (!slot.held()) {  // over --max-connections: the gateway's own connections take a slot
    shared.metrics.limits.Inc(Limit::kConnections);
    return;  // the socket closes
  }
  std::make_shared<Handshake>(std::move(socket), bytes_read, shared, std::move(slot),
                              std::move(label), then)
      ->Start();
}

}  // namespace h2gate
