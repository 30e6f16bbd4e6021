#include "front/proxy_session.h"

#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <memory>

#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <boost/asio/dispatch.hpp>
#include <boost/asio/steady_timer.hpp>

#include "front/proxy_protocol.h"
#include "front/sniff_session.h"

namespace h2gate {
namespace net = boost::asio;
using net::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {
// What the bytes so far say: go on (with the header's caller, if one), wait for more, or close.
enum class Verdict { kPass, kNeedMore, kClose };

struct Judged {
  Verdict verdict = Verdict::kNeedMore;
  ProxyOutcome outcome = ProxyOutcome::kAbsent;
  ProxyHeader header;
};

Judged Judge(const Context& context, bool trusted, std::string_view bytes) {
  Judged j;
  const ProxyResult r = ParseProxyHeader(bytes, &j.header);
  switch (r) {
    case ProxyResult::kNeedMore: return j;
    case ProxyResult::kNotProxy:
      if (context.proxy_mode == ProxyMode::kRequired) {
        j.verdict = Verdict::kClose;
        j.outcome = ProxyOutcome::kMissing;
      } else {
        j.verdict = Verdict::kPass;
        j.header.length = 0;
      }
      return j;
    case ProxyResult::kDone:
      j.verdict = trusted ? Verdict::kPass : Verdict::kClose;
      j.outcome = !trusted                ? ProxyOutcome::kUntrusted
                  : !j.header.source      ? ProxyOutcome::kLocal
                  : j.header.version == 1 ? ProxyOutcome::kV1
                                          : ProxyOutcome::kV2;
      return j;
    case ProxyResult::kMalformed:
    case ProxyResult::kTooLarge: break;
  }
  j.verdict = Verdict::kClose;
  j.outcome = !trusted                      ? ProxyOutcome::kUntrusted
              : r == ProxyResult::kTooLarge ? ProxyOutcome::kTooLarge
                                            : ProxyOutcome::kMalformed;
  return j;
}

std::string_view Why(ProxyOutcome outcome) {
  switch (outcome) {
    case ProxyOutcome::kMissing: return "no PROXY protocol header, and --proxy-protocol=required";
    case ProxyOutcome::kUntrusted:
      return "its source is not a load balancer in --proxy-protocol-from, and it sent or needs a "
             "PROXY protocol header";
    case ProxyOutcome::kMalformed: return "a malformed PROXY protocol header";
    case ProxyOutcome::kTooLarge: return "a PROXY protocol header over 1 KiB";
    case ProxyOutcome::kTimeout: return "no whole PROXY protocol header within the sniff timeout";
    default: break;
  }
  return "closed while its PROXY protocol header was read";
}

void CountClosed(Shared& shared, const ConnectionLabel& label, ProxyOutcome outcome) {
  shared.metrics.proxy_headers.Inc(outcome);
  if (outcome == ProxyOutcome::kTimeout) shared.metrics.limits.Inc(Limit::kSniffTimeout);
  if (outcome == ProxyOutcome::kClosed) {
    SPDLOG_DEBUG("conn={} peer={} {}", label.id, label.peer, Why(outcome));
    return;
  }
  std::uint64_t suppressed = 0;
  if (shared.rejection_log.Allow(&suppressed)) {
    spdlog::warn("conn={} peer={} closed: {} ({} similar suppressed)", label.id, label.peer,
                 Why(outcome), suppressed);
  }
}

// Consumes the header, exactly its bytes, names the caller, and goes on to sniff the rest.
void Pass(int fd, const Judged& j, const tcp& protocol, const net::any_io_executor& executor,
          Shared& shared, ConnectionSlot slot, ConnectionLabel label, Clock::time_point started,
          bool trusted) {
  if (j.header.length > 0) {
    char sink[kMaxProxyHeader];
    ssize_t n;
    do {
      n = ::recv(fd, sink, j.header.length, 0);
    } while (n < 0 && errno == EINTR);
    // The bytes were peeked a moment ago: only a reset in between takes them away.
    if (n != static_cast<ssize_t>(j.header.length)) {
      CountClosed(shared, label, ProxyOutcome::kClosed);
      ::close(fd);
      return;
    }
  }
  if (trusted) shared.metrics.proxy_headers.Inc(j.outcome);
  if (j.header.source) {
    SPDLOG_DEBUG("conn={} peer={} PROXY v{}: caller {}:{}", label.id, label.peer, j.header.version,
                 j.header.source->address().to_string(), j.header.source->port());
    label.SetPeer(*j.header.source);
  }
  StartConnection(fd, protocol, executor, shared, std::move(slot), std::move(label), started);
}

// Peeks without blocking: > 0 bytes, 0 at end of stream, -1 with errno set.
ssize_t Peek(int fd, char* data, std::size_t size) {
  ssize_t n;
  do {
    n = ::recv(fd, data, size, MSG_PEEK);
  } while (n < 0 && errno == EINTR);
  return n;
}

// A trusted connection whose header has not all arrived: waits for more under the deadline,
// peeking, so that nothing but the header is ever read here.
class ProxySession : public std::enable_shared_from_this<ProxySession> {
 public:
  ProxySession(tcp::socket socket, Shared& shared, ConnectionSlot slot, ConnectionLabel label,
               Clock::time_point started)
      : socket_(std::move(socket)),
        timer_(socket_.get_executor()),
        shared_(shared),
        slot_(std::move(slot)),
        label_(std::move(label)),
        started_(started) {}

  void Start() {
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      self->timer_.expires_at(self->started_ + self->shared_.context->options.sniff_timeout);
      self->timer_.async_wait([self](boost::system::error_code ec) {
        if (ec) return;  // cancelled: the header is in
        self->timed_out_ = true;
        boost::system::error_code ignored;
        self->socket_.close(ignored);
      });
      self->WaitReadable();
    });
  }

 private:
  void WaitReadable() {
    socket_.async_wait(
        tcp::socket::wait_read,
        [self = shared_from_this()](boost::system::error_code ec) { self->OnReadable(ec); });
  }

  void OnReadable(boost::system::error_code ec) {
    if (timed_out_) return CountClosed(shared_, label_, ProxyOutcome::kTimeout);
    if (ec) return Close(ProxyOutcome::kClosed);
    char bytes[kMaxProxyHeader];
    const ssize_t n = Peek(socket_.native_handle(), bytes, sizeof bytes);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return WaitReadable();
    if (n <= 0) return Close(ProxyOutcome::kClosed);
    const Judged j = Judge(*shared_.context, /*trusted=*/true,
                           std::string_view(bytes, static_cast<std::size_t>(n)));
    if (j.verdict == Verdict::kNeedMore) return WaitReadable();
    if (j.verdict == Verdict::kClose) return Close(j.outcome);
    timer_.cancel();
    boost::system::error_code ignored;
    const tcp protocol = socket_.local_endpoint(ignored).protocol();
    const int fd = socket_.release(ec);
    if (ec) return;  // the socket closes
    Pass(fd, j, protocol, socket_.get_executor(), shared_, std::move(slot_), std::move(label_),
         started_, /*trusted=*/true);
  }

  void Close(ProxyOutcome outcome) {
    timer_.cancel();
    CountClosed(shared_, label_, outcome);
    boost::system::error_code ignored;
    socket_.close(ignored);
  }

  tcp::socket socket_;
  net::steady_timer timer_;
  Shared& shared_;
  ConnectionSlot slot_;
  ConnectionLabel label_;
  Clock::time_point started_;
  bool timed_out_ = false;
};
}  // namespace

bool ConfigureProxyProtocol(const Options& o, Context& context, std::string* error) {
  context.proxy_mode = o.proxy_protocol == "required"   ? ProxyMode::kRequired
                       : o.proxy_protocol == "optional" ? ProxyMode::kOptional
                                                        : ProxyMode::kOff;
  if (context.proxy_mode == ProxyMode::kOff) return true;
  if (o.proxy_protocol_from.empty()) {
    if (context.proxy_mode == ProxyMode::kOptional) {
      // Any client could then name any address: the balancers must be known.
      *error =
          "--proxy-protocol=optional needs --proxy-protocol-from (the load balancers' "
          "addresses): without it any client could send a header and forge its address";
      return false;
    }
    context.proxy_from = *CidrList::Parse("all", error);
    return true;
  }
  std::string why;
  const auto from = CidrList::Parse(o.proxy_protocol_from, &why);
  if (!from) {
    *error = fmt::format("invalid --proxy-protocol-from={:?}: {}", o.proxy_protocol_from, why);
    return false;
  }
  context.proxy_from = *from;
  return true;
}

std::string_view AfterProxyHeader(const Context& context, const net::ip::address& peer,
                                  std::string_view bytes) {
  if (context.proxy_mode == ProxyMode::kOff || !context.proxy_from.Contains(peer)) return bytes;
  ProxyHeader header;
  if (ParseProxyHeader(bytes, &header) != ProxyResult::kDone) return bytes;
  return bytes.substr(header.length);
}

void StartProxied(int fd, const tcp& protocol, const net::any_io_executor& executor, Shared& shared,
                  ConnectionSlot slot, ConnectionLabel label) {
  const auto started = Clock::now();
  const Context& context = *shared.context;
  const bool trusted = context.proxy_from.Contains(label.peer_address);
  if (!trusted && context.proxy_mode == ProxyMode::kRequired) {
    CountClosed(shared, label, ProxyOutcome::kUntrusted);
    ::close(fd);
    return;
  }
  char bytes[kMaxProxyHeader];
  const ssize_t n = Peek(fd, bytes, sizeof bytes);
  if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
    CountClosed(shared, label, ProxyOutcome::kClosed);
    ::close(fd);
    return;
  }
  const Judged j =
      Judge(context, trusted, std::string_view(bytes, n > 0 ? static_cast<std::size_t>(n) : 0));
  if (j.verdict == Verdict::kClose) {
    CountClosed(shared, label, j.outcome);
    ::close(fd);
    return;
  }
  // An untrusted source under optional is looked at once, to refuse a header it sends with its
  // first bytes; one that sends it later meets the sniffer, which closes unknown bytes.
  if (j.verdict == Verdict::kPass || !trusted) {
    return Pass(fd, j, protocol, executor, shared, std::move(slot), std::move(label), started,
                trusted);
  }
  tcp::socket socket(executor);
  boost::system::error_code ec;
  socket.assign(protocol, fd, ec);
  if (ec) {
    ::close(fd);
    CountClosed(shared, label, ProxyOutcome::kClosed);
    return;
  }
  std::make_shared<ProxySession>(std::move(socket), shared, std::move(slot), std::move(label),
                                 started)
      ->Start();
}

}  // namespace h2gate
