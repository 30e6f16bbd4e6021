// The kept HTTP/2 session end to end: an in-process gateway (the demo Echo service, every HTTP/2
// connection kept: --http2-route-per-request=all) serves each input on a fresh loopback
// connection, and the reply is checked.
//
// Input: a control byte, then records that become the bytes sent after the client preface:
//   0x00-0x0f, 0x50-0xff  a frame: type (0x50-0xef: (b - 0x50) % 10; 0xf0-0xff: unknown types),
//                         flags, stream id, payload length, payload
//   0x10-0x1f             a request's HEADERS from a fixed set (gRPC unary, JSON POST, GET
//                         /healthz, GET /metrics, other gRPC call kinds), HPACK-encoded by
//                         nghttp2's deflater; bit 3 splits the block into a CONTINUATION
//   0x20-0x2f             DATA carrying gRPC length-prefixed messages
//   0x30-0x3f             raw bytes, as they are
//   0x40-0x4f             HEADERS built from the input: method, path, content-type, one more field
// A stream id is one byte (0xff: four more follow); a length one byte (0xff: two more follow).
// Control byte: bit 0 leaves out the empty SETTINGS after the magic; bits 1-2 say how the client
// ends (0, 3: half-close at once; 1: wait until the answers stop, then half-close; 2: wait, then
// reset); bit 3 sends each record in its own write.
//
// Checks: the reply is HTTP/2 frames from a server (the first a SETTINGS: the server preface),
// whole when the gateway closes cleanly; no sanitizer report; and every 64 inputs a fresh
// connection's GET /healthz still gets 200. FUZZ_H2SESSION_TRACE=1 prints each reply's frames.
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <google/protobuf/stubs/logging.h>

#include "echo_service.h"
#include "h2gate/gateway.h"

namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;
using Fields = std::vector<std::pair<std::string, std::string>>;

constexpr std::string_view kMagic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
constexpr std::uint8_t kData = 0, kHeaders = 1, kSettings = 4, kPushPromise = 5, kGoaway = 7,
                       kContinuation = 9;
constexpr std::uint8_t kEndStream = 0x1, kEndHeaders = 0x4, kPadded = 0x8, kPriority = 0x20;
// How long an input may take: its answers, and (once) the server preface.
constexpr auto kReplyBudget = milliseconds(300);
constexpr auto kPrefaceWait = milliseconds(2000);
constexpr auto kQuiet = milliseconds(20);
constexpr std::size_t kMaxWire = 1 << 20;
constexpr int kHealthEvery = 64;

h2gate::Gateway* gateway = nullptr;  // never destroyed: drained at exit
int port = 0;

[[noreturn]] void Fail(const char* what, std::string_view bytes) {
  std::fprintf(stderr, "fuzz_h2session: %s; reply (%zu bytes):", what, bytes.size());
  for (std::size_t i = 0; i < bytes.size() && i < 512; ++i) {
    std::fprintf(stderr, "%s%02x", i % 32 == 0 ? "\n  " : "", static_cast<unsigned char>(bytes[i]));
  }
  std::fprintf(stderr, "\n");
  std::abort();
}

std::string Frame(std::uint8_t type, std::uint8_t flags, std::uint32_t id,
                  std::string_view payload) {
  const std::size_t n = payload.size();
  std::string f = {
      static_cast<char>(n >> 16),  static_cast<char>(n >> 8),  static_cast<char>(n),
      static_cast<char>(type),     static_cast<char>(flags),   static_cast<char>(id >> 24),
      static_cast<char>(id >> 16), static_cast<char>(id >> 8), static_cast<char>(id)};
  f.append(payload);
  return f;
}

// The fuzz input, read front to back; past its end every byte is 0.
class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : p_(data), left_(size) {}
  bool empty() const { return left_ == 0; }
  std::uint8_t Byte() {
    if (left_ == 0) return 0;
    --left_;
    return *p_++;
  }
  std::string_view Bytes(std::size_t n) {
    n = std::min(n, left_);
    const std::string_view b(reinterpret_cast<const char*>(p_), n);
    p_ += n;
    left_ -= n;
    return b;
  }
  std::uint32_t StreamId() {
    const std::uint8_t b = Byte();
    if (b != 0xff) return b;
    std::uint32_t id = 0;
    for (int i = 0; i < 4; ++i) id = (id << 8) | Byte();
    return id;
  }
  std::size_t Length() {
    const std::uint8_t b = Byte();
    if (b != 0xff) return b;
    const std::size_t hi = Byte();
    return (hi << 8) | Byte();
  }

 private:
  const std::uint8_t* p_;
  std::size_t left_;
};

// HPACK with one dynamic table per connection, as the server's inflater keeps it.
class Deflater {
 public:
  Deflater() { nghttp2_hd_deflate_new(&d_, 4096); }
  ~Deflater() { nghttp2_hd_deflate_del(d_); }
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  std::string Block(const Fields& fields) {
    std::vector<nghttp2_nv> nva;
    for (const auto& [k, v] : fields) {
      nva.push_back({reinterpret_cast<std::uint8_t*>(const_cast<char*>(k.data())),
                     reinterpret_cast<std::uint8_t*>(const_cast<char*>(v.data())), k.size(),
                     v.size(), NGHTTP2_NV_FLAG_NONE});
    }
    std::string out(nghttp2_hd_deflate_bound(d_, nva.data(), nva.size()), '\0');
    const ssize_t n = nghttp2_hd_deflate_hd(d_, reinterpret_cast<std::uint8_t*>(out.data()),
                                            out.size(), nva.data(), nva.size());
    out.resize(n < 0 ? 0 : static_cast<std::size_t>(n));
    return out;
  }

 private:
  nghttp2_hd_deflater* d_ = nullptr;
};

Fields Request(std::string method, std::string path, std::string content_type) {
  Fields f = {{":method", std::move(method)},
              {":scheme", "http"},
              {":path", std::move(path)},
              {":authority", "fuzz"}};
  if (!content_type.empty()) f.emplace_back("content-type", std::move(content_type));
  return f;
}

Fields Grpc(std::string method) {
  Fields f = Request("POST", "/echo.v1.Echo/" + method, "application/grpc");
  f.emplace_back("te", "trailers");
  return f;
}

Fields Template(int k) {
  switch (k & 7) {
    case 0: return Grpc("Echo");
    case 1: return Request("POST", "/echo.v1.Echo/Echo", "application/json");
    case 2: return Request("GET", "/healthz", "");
    case 3: return Request("GET", "/metrics", "");
    case 4: return Grpc("BidiStream");
    case 5: {
      Fields f = Grpc("ServerStream");
      f.emplace_back("grpc-timeout", "200m");
      return f;
    }
    case 6: {
      Fields f = Grpc("Echo");
      f.emplace_back("grpc-encoding", "identity");
      f.emplace_back("user-agent", "grpc-c++/1.51 fuzz");
      f.emplace_back("x-forwarded-for", "192.0.2.1");
      f.emplace_back("x-trace-bin", "AAEC");
      return f;
    }
    default: return Grpc("ClientStream");
  }
}

// A request's HEADERS from the input's choices.
Fields Custom(std::uint8_t selector, std::uint8_t choice, Input& in) {
  static constexpr const char* kMethods[] = {"GET",    "POST",    "HEAD",    "PUT",
                                             "DELETE", "OPTIONS", "CONNECT", "PRI"};
  static constexpr const char* kTypes[] = {"",
                                           "application/grpc",
                                           "application/grpc+proto",
                                           "application/json",
                                           "text/plain",
                                           "application/json; charset=utf-8",
                                           "application/grpc-web",
                                           "APPLICATION/GRPC;x"};
  static constexpr const char* kPaths[] = {"/",
                                           "/healthz",
                                           "/readyz",
                                           "/metrics",
                                           "/debug/legacy-callers",
                                           "/debug/legacy-callers?format=text",
                                           "/echo.v1.Echo/Echo",
                                           "/echo.v1.Echo/BidiStream",
                                           "/echo.v1.Echo/ServerStream",
                                           "/echo.v1.Echo/ClientStream",
                                           "/echo.v1.Echo/Nope",
                                           "/grpc.health.v1.Health/Check",
                                           "/echo.v1.Echo/Echo?x=1",
                                           "*",
                                           "//",
                                           "/echo.v1.Echo"};
  static constexpr std::pair<const char*, const char*> kExtra[] = {
      {"te", "trailers"},       {"grpc-timeout", "1S"},        {"x-forwarded-for", "203.0.113.9"},
      {"user-agent", "curl/8"}, {"grpc-encoding", "gzip"},     {"x-blob-bin", "AAE"},
      {"content-length", "5"},  {"accept", "application/json"}};
  const std::size_t path_length = in.Length();
  std::string path = path_length == 0 ? kPaths[selector & 15] : std::string(in.Bytes(path_length));
  Fields f = Request(kMethods[choice & 7], std::move(path), kTypes[(choice >> 3) & 7]);
  const std::uint8_t extra = in.Byte();
  if (extra != 0) {
    const auto& [name, value] = kExtra[extra & 7];
    const std::size_t value_length = extra >> 3;
    f.emplace_back(name,
                   value_length == 0 ? std::string(value) : std::string(in.Bytes(value_length)));
  }
  return f;
}

// HEADERS (and CONTINUATION, if `split`) carrying `block`.
std::string HeaderFrames(std::uint32_t id, std::uint8_t flags, std::string_view block, bool split) {
  if (!split || block.size() < 2) return Frame(kHeaders, flags | kEndHeaders, id, block);
  const std::size_t half = block.size() / 2;
  return Frame(kHeaders, flags, id, block.substr(0, half)) +
         Frame(kContinuation, kEndHeaders, id, block.substr(half));
}

// DATA with one or two gRPC messages: an EchoRequest/StreamRequest (field 1, and a count), or
// raw bytes; the compressed flag on request.
std::string GrpcData(std::uint8_t selector, Input& in) {
  const std::uint8_t flags = in.Byte();
  const std::uint32_t id = in.StreamId();
  const std::string_view bytes = in.Bytes(in.Length());
  std::string message;
  if (selector & 1) {
    message = {'\x0a', static_cast<char>(std::min<std::size_t>(bytes.size(), 127))};
    message.append(bytes.substr(0, 127));
  } else {
    message = std::string(bytes);
  }
  if (selector & 2) message += {'\x10', static_cast<char>(1 + ((selector >> 2) & 3))};
  const auto n = static_cast<std::uint32_t>(message.size());
  std::string payload = {static_cast<char>((selector & 4) ? 1 : 0), static_cast<char>(n >> 24),
                         static_cast<char>(n >> 16), static_cast<char>(n >> 8),
                         static_cast<char>(n)};
  payload += message;
  if (selector & 8) payload += payload;
  std::uint8_t frame_flags = flags & kEndStream;
  if (flags & kPadded) {
    const std::size_t pad = flags >> 4;
    payload = static_cast<char>(pad) + payload + std::string(pad, '\0');
    frame_flags |= kPadded;
  }
  return Frame(kData, frame_flags, id, payload);
}

// The input's records as wire bytes, one string per record.
std::vector<std::string> Records(Input& in) {
  std::vector<std::string> records;
  Deflater deflater;
  std::size_t total = 0;
  while (!in.empty() && total < kMaxWire) {
    const std::uint8_t b = in.Byte();
    std::string r;
    if (b >= 0x10 && b < 0x20) {
      const std::uint8_t flags = in.Byte();
      const std::uint32_t id = in.StreamId();
      r = HeaderFrames(id, flags & kEndStream, deflater.Block(Template(b)), (b & 8) != 0);
    } else if (b >= 0x20 && b < 0x30) {
      r = GrpcData(b, in);
    } else if (b >= 0x30 && b < 0x40) {
      r = std::string(in.Bytes(in.Byte()));
    } else if (b >= 0x40 && b < 0x50) {
      const std::uint8_t choice = in.Byte();
      const std::uint32_t id = in.StreamId();
      const Fields fields = Custom(b, choice, in);
      const std::uint8_t flags = (choice & 0x40) ? kEndStream : 0;
      r = HeaderFrames(id, flags, deflater.Block(fields), (choice & 0x80) != 0);
    } else {
      const std::uint8_t type = b < 0x10 ? b : b < 0xf0 ? (b - 0x50) % 10 : b;
      const std::uint8_t flags = in.Byte();
      const std::uint32_t id = in.StreamId();
      r = Frame(type, flags, id, in.Bytes(in.Length()));
    }
    total += r.size();
    records.push_back(std::move(r));
  }
  return records;
}

// A new connection to the gateway, from 127.0.0.2-127.0.0.254 in turn: a hundred connections a
// second, each closed by the client first, would otherwise run one address's ephemeral ports
// into TIME_WAIT. -1 (errno set) if it cannot connect.
int Connect() {
  static std::uint32_t next = 0;
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return -1;
  sockaddr_in from{};
  from.sin_family = AF_INET;
  from.sin_addr.s_addr = htonl(INADDR_LOOPBACK + 1 + next++ % 253);
  sockaddr_in to{};
  to.sin_family = AF_INET;
  to.sin_port = htons(static_cast<std::uint16_t>(port));
  to.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  // Non-blocking: libFuzzer's timer signal would interrupt a blocking connect.
  int error = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&from), sizeof from) != 0 ||
      ::fcntl(fd, F_SETFL, O_NONBLOCK) != 0) {
    error = errno;
  } else if (::connect(fd, reinterpret_cast<sockaddr*>(&to), sizeof to) != 0) {
    error = errno;
    if (error == EINPROGRESS || error == EINTR) {
      pollfd p{fd, POLLOUT, 0};
      const auto deadline = Clock::now() + milliseconds(2000);
      int n = 0;
      while ((n = ::poll(&p, 1, 100)) <= 0 && Clock::now() < deadline) {
        if (n < 0 && errno != EINTR) break;
      }
      socklen_t size = sizeof error;
      error = n > 0 ? 0 : ETIMEDOUT;
      if (n > 0) ::getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &size);
    }
  }
  if (error != 0) {
    ::close(fd);
    errno = error;
    return -1;
  }
  const int one = 1;
  ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  return fd;
}

enum class End { kSent, kQuiet, kEof, kReset, kTimeout };
enum class Until { kSent, kQuiet, kClose, kBytes };

// Writes `out` as the socket takes it and reads what arrives, until `until` holds (all sent;
// nothing read for kQuiet; the peer closed; `min_bytes` read), the peer closes or `deadline`.
End Pump(int fd, std::string_view& out, std::string& in, Until until, Clock::time_point deadline,
         std::size_t min_bytes = 0) {
  auto last = Clock::now();
  char buf[65536];
  while (true) {
    const auto now = Clock::now();
    if (until == Until::kSent && out.empty()) return End::kSent;
    if (until == Until::kBytes && in.size() >= min_bytes) return End::kSent;
    if (now >= deadline) return End::kTimeout;
    auto wake = deadline;
    if (until == Until::kQuiet && out.empty()) {
      if (now >= last + kQuiet) return End::kQuiet;
      wake = std::min(wake, last + kQuiet);
    }
    pollfd p{fd, static_cast<short>(POLLIN | (out.empty() ? 0 : POLLOUT)), 0};
    const auto ms = std::chrono::ceil<milliseconds>(wake - now).count();
    if (::poll(&p, 1, static_cast<int>(ms)) < 0 && errno != EINTR) return End::kReset;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      const ssize_t n = ::recv(fd, buf, sizeof buf, MSG_DONTWAIT);
      if (n > 0) {
        in.append(buf, static_cast<std::size_t>(n));
        last = Clock::now();
        continue;
      }
      if (n == 0) return End::kEof;
      if (errno != EAGAIN && errno != EINTR) return End::kReset;
    }
    if (!out.empty() && (p.revents & POLLOUT)) {
      const ssize_t n = ::send(fd, out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n > 0) {
        out.remove_prefix(static_cast<std::size_t>(n));
        last = Clock::now();
      } else if (n < 0 && errno != EAGAIN && errno != EINTR) {
        out = {};  // the gateway stopped reading; what it sent still counts
      }
    }
  }
}

std::uint32_t Read24(std::string_view b, std::size_t at) {
  return (static_cast<unsigned char>(b[at]) << 16) | (static_cast<unsigned char>(b[at + 1]) << 8) |
         static_cast<unsigned char>(b[at + 2]);
}

// The server's side of the exchange: frames a server may send, the server preface first; a
// frame cut short only if the connection did not end cleanly.
void CheckReply(std::string_view reply, End end) {
  if (reply.size() < 9) Fail("no server preface", reply);
  std::size_t at = 0;
  bool first = true;
  while (at + 9 <= reply.size()) {
    const std::uint32_t length = Read24(reply, at);
    const auto type = static_cast<std::uint8_t>(reply[at + 3]);
    const auto flags = static_cast<std::uint8_t>(reply[at + 4]);
    const auto reserved = static_cast<unsigned char>(reply[at + 5]) & 0x80;
    const std::uint32_t id =
        (static_cast<std::uint32_t>(static_cast<unsigned char>(reply[at + 5]) & 0x7f) << 24) |
        (Read24(reply, at + 6));
    if (first && (type != kSettings || flags != 0 || id != 0 || length % 6 != 0)) {
      Fail("the first frame is not the server's SETTINGS", reply);
    }
    if (type > kContinuation || type == kPushPromise || reserved != 0) {
      Fail("a frame no server sends", reply);
    }
    first = false;
    at += 9 + length;
  }
  if (end == End::kEof && at != reply.size()) Fail("closed cleanly inside a frame", reply);
}

// The :status of the response on stream 1 in `reply`, or 0.
int StatusOn1(std::string_view reply) {
  std::string block;
  std::size_t at = 0;
  bool in_block = false;
  while (at + 9 <= reply.size()) {
    const std::uint32_t length = Read24(reply, at);
    if (at + 9 + length > reply.size()) break;
    const auto type = static_cast<std::uint8_t>(reply[at + 3]);
    const auto flags = static_cast<std::uint8_t>(reply[at + 4]);
    const std::uint32_t id = Read24(reply, at + 6);  // small ids only
    std::string_view payload = reply.substr(at + 9, length);
    at += 9 + length;
    if (id != 1 || (type != kHeaders && !(in_block && type == kContinuation))) continue;
    if (type == kHeaders) {
      std::size_t pad = 0;
      if ((flags & kPadded) && !payload.empty()) {
        pad = static_cast<unsigned char>(payload[0]);
        payload.remove_prefix(1);
      }
      if (flags & kPriority) payload.remove_prefix(std::min<std::size_t>(5, payload.size()));
      payload.remove_suffix(std::min(pad, payload.size()));
    }
    block.append(payload);
    in_block = true;
    if (!(flags & kEndHeaders)) continue;
    nghttp2_hd_inflater* inflater = nullptr;
    if (nghttp2_hd_inflate_new(&inflater) != 0) return 0;
    auto* in = reinterpret_cast<const std::uint8_t*>(block.data());
    std::size_t left = block.size();
    int status = 0;
    while (true) {
      nghttp2_nv nv;
      int inflate_flags = 0;
      const ssize_t n = nghttp2_hd_inflate_hd2(inflater, &nv, &inflate_flags, in, left, 1);
      if (n < 0) break;
      in += n;
      left -= static_cast<std::size_t>(n);
      if (inflate_flags & NGHTTP2_HD_INFLATE_EMIT) {
        const std::string_view name(reinterpret_cast<const char*>(nv.name), nv.namelen);
        if (name == ":status")
          status =
              std::atoi(std::string(reinterpret_cast<const char*>(nv.value), nv.valuelen).c_str());
      }
      if ((inflate_flags & NGHTTP2_HD_INFLATE_FINAL) || (n == 0 && left == 0)) break;
    }
    nghttp2_hd_inflate_del(inflater);
    return status;
  }
  return 0;
}

// With FUZZ_H2SESSION_TRACE set, the reply's frames and header fields go to stderr: to see
// what a seed or a reproducer does.
void Trace(std::string_view reply, End end) {
  static const bool on = std::getenv("FUZZ_H2SESSION_TRACE") != nullptr;
  if (!on) return;
  static constexpr const char* kEnds[] = {"sent", "quiet", "eof", "reset", "timeout"};
  std::fprintf(stderr, "reply: %zu bytes, %s\n", reply.size(), kEnds[static_cast<int>(end)]);
  nghttp2_hd_inflater* inflater = nullptr;
  nghttp2_hd_inflate_new(&inflater);
  std::string block;
  for (std::size_t at = 0; at + 9 <= reply.size();) {
    const std::uint32_t length = Read24(reply, at);
    const auto type = static_cast<std::uint8_t>(reply[at + 3]);
    const auto flags = static_cast<std::uint8_t>(reply[at + 4]);
    const std::uint32_t id = Read24(reply, at + 6);
    std::fprintf(stderr, "  type %u flags 0x%02x stream %u length %u\n", type, flags, id, length);
    if (at + 9 + length > reply.size()) break;
    std::string_view payload = reply.substr(at + 9, length);
    at += 9 + length;
    if (type == kGoaway && payload.size() >= 8) {
      std::fprintf(stderr, "    error %u: %.*s\n", Read24(payload, 5),
                   static_cast<int>(payload.size() - 8), payload.data() + 8);
    }
    if (type == kData) {
      std::fprintf(stderr, "    %.*s\n",
                   static_cast<int>(std::min<std::size_t>(payload.size(), 200)), payload.data());
    }
    if (type != kHeaders && type != kContinuation) continue;
    block.append(payload);
    if (!(flags & kEndHeaders)) continue;
    auto* in = reinterpret_cast<const std::uint8_t*>(block.data());
    std::size_t left = block.size();
    while (true) {
      nghttp2_nv nv;
      int inflate_flags = 0;
      const ssize_t n = nghttp2_hd_inflate_hd2(inflater, &nv, &inflate_flags, in, left, 1);
      if (n < 0) break;
      in += n;
      left -= static_cast<std::size_t>(n);
      if (inflate_flags & NGHTTP2_HD_INFLATE_EMIT) {
        std::fprintf(stderr, "    %.*s: %.*s\n", static_cast<int>(nv.namelen), nv.name,
                     static_cast<int>(std::min<std::size_t>(nv.valuelen, 200)), nv.value);
      }
      if ((inflate_flags & NGHTTP2_HD_INFLATE_FINAL) || (n == 0 && left == 0)) break;
    }
    nghttp2_hd_inflate_end_headers(inflater);
    block.clear();
  }
  nghttp2_hd_inflate_del(inflater);
}

// The gateway still serves others: GET /healthz over HTTP/2 with prior knowledge gets 200.
void CheckHealthy() {
  const int fd = Connect();
  if (fd < 0)
    Fail(("cannot connect for GET /healthz: " + std::string(std::strerror(errno))).c_str(), "");
  Deflater deflater;
  std::string request(kMagic);
  request += Frame(kSettings, 0, 0, "");
  request += HeaderFrames(1, kEndStream, deflater.Block(Request("GET", "/healthz", "")), false);
  std::string_view out = request;
  std::string reply;
  const auto deadline = Clock::now() + milliseconds(3000);
  int status = 0;
  while (status == 0 && Clock::now() < deadline) {
    const End end = Pump(fd, out, reply, Until::kBytes, deadline, reply.size() + 1);
    status = StatusOn1(reply);
    if (end != End::kSent) break;
  }
  ::close(fd);
  if (status != 200) Fail("GET /healthz over HTTP/2 did not get 200", reply);
}

void DrainAtExit() {
  gateway->Shutdown();
  gateway->Wait();
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  // The demo service's protobuf logs every request string that is not UTF-8: most inputs.
  google::protobuf::SetLogHandler(
      [](google::protobuf::LogLevel, const char*, int, const std::string&) {});
  static h2gate::demo::EchoService service;
  h2gate::Options o;
  o.listen = h2gate::HostPort{"127.0.0.1", 0};
  o.log_level = "off";
  o.http2_route_per_request = "all";            // every HTTP/2 connection is an H2Session
  o.http1_policy = h2gate::Http1Policy::kWarn;  // JSON POSTs are transcoded: more paths
  o.memory_limit = 0;  // ASan's shadow memory is not the gateway's to count
  o.sniff_timeout = milliseconds(500);
  o.header_timeout = milliseconds(1000);
  o.idle_timeout = milliseconds(2000);
  o.drain_timeout = milliseconds(1000);
  o.transcode_timeout = milliseconds(1000);
  gateway = new h2gate::Gateway(o);
  gateway->RegisterService(&service);
  std::string error;
  if (!gateway->Start(&error)) {
    std::fprintf(stderr, "fuzz_h2session: the gateway did not start: %s\n", error.c_str());
    std::abort();
  }
  port = gateway->port();
  std::atexit(DrainAtExit);
  CheckHealthy();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static int inputs = 0;
  if (++inputs % kHealthEvery == 0) CheckHealthy();
  if (size == 0) return 0;
  Input in(data, size);
  const std::uint8_t control = in.Byte();
  const std::vector<std::string> records = Records(in);

  std::vector<std::string> pieces = {std::string(kMagic)};
  if (!(control & 1)) pieces[0] += Frame(kSettings, 0, 0, "");
  for (const auto& r : records) {
    if (control & 8) {
      pieces.push_back(r);
    } else {
      pieces[0] += r;
    }
  }

  const int fd = Connect();
  if (fd < 0) Fail(("cannot connect: " + std::string(std::strerror(errno))).c_str(), "");
  std::string reply;
  const auto start = Clock::now();
  End end = End::kSent;
  for (const auto& piece : pieces) {
    std::string_view out = piece;
    end = Pump(fd, out, reply, Until::kSent, start + kReplyBudget);
    if (end != End::kSent) break;
  }
  // The server preface comes whatever the client sent; a slow start gets longer than the rest.
  if (end == End::kSent && reply.size() < 9) {
    std::string_view none;
    end = Pump(fd, none, reply, Until::kBytes, start + kPrefaceWait, 9);
  }
  const int ending = (control >> 1) & 3;
  if (end == End::kSent) {
    std::string_view none;
    if (ending == 1 || ending == 2)
      end = Pump(fd, none, reply, Until::kQuiet, start + kReplyBudget);
    if (ending == 2) {
      const linger reset{1, 0};  // close with RST: a client that vanishes mid-exchange
      ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
    } else if (end != End::kEof && end != End::kReset) {
      ::shutdown(fd, SHUT_WR);
      end = Pump(fd, none, reply, Until::kClose, start + kReplyBudget);
    }
  }
  ::close(fd);
  Trace(reply, end);
  CheckReply(reply, end);
  return 0;
}
