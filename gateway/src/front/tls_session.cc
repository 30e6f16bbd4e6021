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

// Sends the protocol_version alert and closes. The ClientHello is read first: closing a socket
// with unread bytes sends a reset, which may overtake the alert.
void RefuseVersion(int fd, Shared& shared, const ConnectionLabel& label,
                   const ClientHelloInfo& hello) {
  shared.metrics.tls_refused.Inc(TlsRefusal::kVersion);
  char sink[4096];
  for (int i = 0; i < 32 && ::recv(fd, sink, sizeof sink, MSG_DONTWAIT) > 0; ++i) {
  }
  const std::string_view alert = ProtocolVersionAlert();
  (void)::send(fd, alert.data(), alert.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
  ::shutdown(fd, SHUT_WR);
  ::close(fd);
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

// The gateway's own handshake, under --tls-handshake-timeout; then the HTTP/1.1 session.
class Handshake : public std::enable_shared_from_this<Handshake> {
 public:
  Handshake(net::ip::tcp::socket socket, std::string_view bytes_read, Shared& shared,
            ConnectionSlot slot, ConnectionLabel label)
      : tls_(shared.tls.Current()),
        stream_(std::move(socket), tls_->ssl()),
        timer_(stream_.get_executor()),
        bytes_(bytes_read),
        shared_(shared),
        slot_(std::move(slot)),
        label_(std::move(label)) {}

  void Start() {
    timer_.expires_after(shared_.context->options.tls_handshake_timeout);
    timer_.async_wait([self = shared_from_this()](boost::system::error_code ec) {
      if (ec) return;  // cancelled: the handshake ended first
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
    std::make_shared<TlsHttp1Session>(std::move(stream_), beast::flat_buffer(), shared_,
                                      std::move(slot_), std::move(label_))
        ->Start();
  }

  // The certificate this handshake started with: a rotation meanwhile does not free it.
  std::shared_ptr<const TlsContext> tls_;
  ssl::stream<net::ip::tcp::socket> stream_;
  net::steady_timer timer_;
  std::string bytes_;  // the ClientHello (or its start) the sniffer read
  Shared& shared_;
  ConnectionSlot slot_;
  ConnectionLabel label_;
  const Clock::time_point started_ = Clock::now();
  bool timed_out_ = false;
};

}  // namespace

void StartTls(int fd, std::string_view bytes_read, const ClientHelloInfo& hello,
              const net::ip::tcp& protocol, const net::any_io_executor& executor, Shared& shared,
              ConnectionSlot slot, ConnectionLabel label) {
  const TlsContext& tls = *shared.context->tls;
  if (hello.MaxVersion() < tls.min_version()) return RefuseVersion(fd, shared, label, hello);
  if (IsGrpcClientHello(hello)) return HandOffTls(fd, bytes_read, shared, slot, label);
  shared.metrics.tls_connections.Inc(TlsRoute::kGateway);
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
                              std::move(label))
      ->Start();
}

}  // namespace h2gate
