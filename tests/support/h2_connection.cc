#include "h2_connection.h"

#include <poll.h>
#include <sys/socket.h>

#include <cstring>

namespace h2gate::testing {
namespace {

using Clock = std::chrono::steady_clock;

nghttp2_nv Nv(const std::string& name, const std::string& value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

std::string Find(const Fields& fields, std::string_view name) {
  for (const auto& [k, v] : fields) {
    if (k == name) return v;
  }
  return "";
}

}  // namespace

std::string H2Response::Header(std::string_view name) const { return Find(headers, name); }
std::string H2Response::Trailer(std::string_view name) const { return Find(trailers, name); }

std::string GrpcFrame(std::string_view message) {
  const auto n = static_cast<std::uint32_t>(message.size());
  std::string out = {0, static_cast<char>(n >> 24), static_cast<char>(n >> 16),
                     static_cast<char>(n >> 8), static_cast<char>(n)};
  out.append(message);
  return out;
}

std::vector<std::string> GrpcMessages(std::string_view body) {
  std::vector<std::string> out;
  while (body.size() >= 5) {
    const auto* p = reinterpret_cast<const unsigned char*>(body.data());
    const std::size_t n = (std::size_t{p[1]} << 24) | (p[2] << 16) | (p[3] << 8) | p[4];
    if (body.size() < 5 + n) break;
    out.emplace_back(body.substr(5, n));
    body.remove_prefix(5 + n);
  }
  return out;
}

Fields GrpcHeaders(Fields extra) {
  Fields f = {{"content-type", "application/grpc"}, {"te", "trailers"}};
  f.insert(f.end(), extra.begin(), extra.end());
  return f;
}

H2Connection::H2Connection(int port) : conn_(port) {
  if (!conn_.connected()) return;
  nghttp2_session_callbacks* callbacks;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, OnData);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, OnClose);
  nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, OnFrame);
  nghttp2_session_client_new(&session_, callbacks, this);
  nghttp2_session_callbacks_del(callbacks);
  nghttp2_submit_settings(session_, NGHTTP2_FLAG_NONE, nullptr, 0);
}

H2Connection::~H2Connection() {
  if (session_ != nullptr) nghttp2_session_del(session_);
}

std::int32_t H2Connection::Submit(H2Request request) {
  std::vector<nghttp2_nv> nva;
  const std::string method = ":method", scheme = ":scheme", path = ":path",
                    authority = ":authority", http = "http", host = "test";
  nva.push_back(Nv(method, request.method));
  nva.push_back(Nv(scheme, http));
  nva.push_back(Nv(path, request.path));
  nva.push_back(Nv(authority, host));
  for (const auto& [k, v] : request.headers) nva.push_back(Nv(k, v));
  nghttp2_data_provider provider{};
  provider.read_callback = Read;
  const bool has_body = !request.body.empty() || !request.end;
  // The stream's id is known only after submit: the body is attached through the map entry,
  // which the read callback finds by id.
  const std::int32_t id = nghttp2_submit_request(session_, nullptr, nva.data(), nva.size(),
                                                 has_body ? &provider : nullptr, nullptr);
  if (id > 0) streams_[id].request = std::move(request);
  return id;
}

void H2Connection::Reset(std::int32_t stream) {
  nghttp2_submit_rst_stream(session_, NGHTTP2_FLAG_NONE, stream, NGHTTP2_CANCEL);
  Pump(std::chrono::milliseconds(0));
}

bool H2Connection::Pump(std::chrono::milliseconds wait) {
  const uint8_t* data;
  ssize_t len;
  while ((len = nghttp2_session_mem_send(session_, &data)) > 0) {
    if (!conn_.Send(
            std::string_view(reinterpret_cast<const char*>(data), static_cast<std::size_t>(len)))) {
      eof_ = true;
      return false;
    }
  }
  bool closed = false;
  pollfd pfd{conn_.fd(), POLLIN, 0};
  if (::poll(&pfd, 1, static_cast<int>(wait.count())) > 0) {
    char buf[65536];
    const ssize_t n = ::recv(conn_.fd(), buf, sizeof buf, 0);
    if (n <= 0) {
      closed = true;
    } else if (nghttp2_session_mem_recv(session_, reinterpret_cast<const uint8_t*>(buf),
                                        static_cast<std::size_t>(n)) < 0) {
      closed = true;
    }
  }
  if (closed) eof_ = true;
  return !eof_;
}

bool H2Connection::Run(std::chrono::milliseconds timeout) {
  const auto until = Clock::now() + timeout;
  while (Clock::now() < until) {
    bool open = false;
    for (const auto& [id, s] : streams_) open = open || !s.response.closed;
    if (!open) return true;
    if (!Pump(std::chrono::milliseconds(50))) return false;
  }
  return false;
}

void H2Connection::RunFor(std::chrono::milliseconds d) {
  const auto until = Clock::now() + d;
  while (Clock::now() < until && Pump(std::chrono::milliseconds(20))) {
  }
}

int H2Connection::OnHeader(nghttp2_session*, const nghttp2_frame* frame, const uint8_t* name,
                           size_t namelen, const uint8_t* value, size_t valuelen, uint8_t,
                           void* user) {
  auto* self = static_cast<H2Connection*>(user);
  auto& r = self->streams_[frame->hd.stream_id].response;
  std::string n(reinterpret_cast<const char*>(name), namelen);
  std::string v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":status") {
    r.status = std::atoi(v.c_str());
    return 0;
  }
  // A second header block on the stream is the trailers (or a Trailers-Only answer's fields).
  (r.status != 0 && frame->headers.cat == NGHTTP2_HCAT_HEADERS ? r.trailers : r.headers)
      .emplace_back(std::move(n), std::move(v));
  return 0;
}

int H2Connection::OnData(nghttp2_session*, uint8_t, int32_t id, const uint8_t* data, size_t len,
                         void* user) {
  static_cast<H2Connection*>(user)->streams_[id].response.body.append(
      reinterpret_cast<const char*>(data), len);
  return 0;
}

int H2Connection::OnClose(nghttp2_session*, int32_t id, uint32_t code, void* user) {
  auto& r = static_cast<H2Connection*>(user)->streams_[id].response;
  r.closed = true;
  r.close_code = code;
  return 0;
}

int H2Connection::OnFrame(nghttp2_session*, const nghttp2_frame* frame, void* user) {
  auto* self = static_cast<H2Connection*>(user);
  if (frame->hd.type == NGHTTP2_GOAWAY) {
    self->goaway_ = true;
    self->goaway_code_ = frame->goaway.error_code;
    self->goaway_last_ = frame->goaway.last_stream_id;
  }
  return 0;
}

ssize_t H2Connection::Read(nghttp2_session*, int32_t id, uint8_t* buf, size_t length,
                           uint32_t* flags, nghttp2_data_source*, void* user) {
  auto& s = static_cast<H2Connection*>(user)->streams_[id];
  const std::size_t n = std::min(length, s.request.body.size() - s.sent);
  std::memcpy(buf, s.request.body.data() + s.sent, n);
  s.sent += n;
  if (s.sent == s.request.body.size()) {
    if (!s.request.end) return n == 0 ? NGHTTP2_ERR_DEFERRED : static_cast<ssize_t>(n);
    *flags |= NGHTTP2_DATA_FLAG_EOF;
  }
  return static_cast<ssize_t>(n);
}

}  // namespace h2gate::testing
