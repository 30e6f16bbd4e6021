#include "h2_client.h"

#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <sys/socket.h>

#include <cstring>
#include <thread>

#include "net.h"

namespace h2gate::testing {
namespace {

using Clock = std::chrono::steady_clock;
constexpr std::string_view kPreface = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

struct CallState {
  H2Result* result = nullptr;
  std::string request_body;  // framed gRPC message
  std::size_t sent = 0;
  std::string response_body;
  bool closed = false;
};

int OnHeader(nghttp2_session*, const nghttp2_frame*, const uint8_t* name, size_t namelen,
             const uint8_t* value, size_t valuelen, uint8_t, void* user) {
  auto* s = static_cast<CallState*>(user);
  const std::string_view n(reinterpret_cast<const char*>(name), namelen);
  const std::string_view v(reinterpret_cast<const char*>(value), valuelen);
  if (n == ":status") s->result->http_status = std::atoi(std::string(v).c_str());
  if (n == "grpc-status") s->result->grpc_status = v;
  return 0;
}

int OnData(nghttp2_session*, uint8_t, int32_t, const uint8_t* data, size_t len, void* user) {
  static_cast<CallState*>(user)->response_body.append(reinterpret_cast<const char*>(data), len);
  return 0;
}

int OnClose(nghttp2_session*, int32_t, uint32_t, void* user) {
  static_cast<CallState*>(user)->closed = true;
  return 0;
}

ssize_t ReadBody(nghttp2_session*, int32_t, uint8_t* buf, size_t length, uint32_t* flags,
                 nghttp2_data_source*, void* user) {
  auto* s = static_cast<CallState*>(user);
  const std::size_t n = std::min(length, s->request_body.size() - s->sent);
  std::memcpy(buf, s->request_body.data() + s->sent, n);
  s->sent += n;
  if (s->sent == s->request_body.size()) *flags |= NGHTTP2_DATA_FLAG_EOF;
  return static_cast<ssize_t>(n);
}

nghttp2_nv Nv(std::string_view name, std::string_view value) {
  return {reinterpret_cast<uint8_t*>(const_cast<char*>(name.data())),
          reinterpret_cast<uint8_t*>(const_cast<char*>(value.data())), name.size(), value.size(),
          NGHTTP2_NV_FLAG_NONE};
}

}  // namespace

H2Result H2UnaryCall(int port, const std::string& path, const std::string& request, Preface preface,
                     std::chrono::milliseconds timeout) {
  H2Result result;
  const auto deadline = Clock::now() + timeout;
  RawClient conn(port);
  if (!conn.connected()) {
    result.error = "connect failed";
    return result;
  }

  std::string received;
  bool preface_sent = false;
  if (preface == Preface::kSplitAfterTenBytes) {
    conn.Send(kPreface.substr(0, 10));
    std::this_thread::sleep_for(std::chrono::milliseconds(200));
    conn.Send(kPreface.substr(10));
    preface_sent = true;
  }
  if (preface == Preface::kAloneThenWait) {
    conn.Send(kPreface);
    preface_sent = true;
    received = conn.ReadAtLeast(9, timeout);
    if (received.size() < 9 || received[3] != NGHTTP2_SETTINGS) {
      result.error = "no SETTINGS frame from the server after the preface";
      return result;
    }
    result.saw_server_settings_before_sending = true;
  }

  CallState state;
  state.result = &result;
  state.request_body = std::string(5, '\0') + request;
  const auto n = static_cast<uint32_t>(request.size());
  state.request_body[1] = static_cast<char>(n >> 24);
  state.request_body[2] = static_cast<char>(n >> 16);
  state.request_body[3] = static_cast<char>(n >> 8);
  state.request_body[4] = static_cast<char>(n);

  nghttp2_session_callbacks* callbacks;
  nghttp2_session_callbacks_new(&callbacks);
  nghttp2_session_callbacks_set_on_header_callback(callbacks, OnHeader);
  nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, OnData);
  nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, OnClose);
  nghttp2_session* session;
  nghttp2_session_client_new(&session, callbacks, &state);
  nghttp2_session_callbacks_del(callbacks);

  nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, nullptr, 0);
  const std::string authority = "127.0.0.1:" + std::to_string(port);
  const nghttp2_nv headers[] = {Nv(":method", "POST"),
                                Nv(":scheme", "http"),
                                Nv(":path", path),
                                Nv(":authority", authority),
                                Nv("content-type", "application/grpc"),
                                Nv("te", "trailers")};
  nghttp2_data_provider body{};
  body.read_callback = ReadBody;
  nghttp2_submit_request(session, nullptr, headers, std::size(headers), &body, nullptr);

  auto flush = [&]() -> bool {
    const uint8_t* data;
    ssize_t len;
    while ((len = nghttp2_session_mem_send(session, &data)) > 0) {
      std::string_view out(reinterpret_cast<const char*>(data), static_cast<std::size_t>(len));
      // nghttp2 starts a client's output with the preface; it is on the wire already.
      if (preface_sent && out.starts_with(kPreface)) out.remove_prefix(kPreface.size());
      preface_sent = true;
      if (!out.empty() && !conn.Send(out)) return false;
    }
    return len == 0;
  };

  while (!state.closed && result.error.empty()) {
    if (!flush()) {
      result.error = "send failed";
      break;
    }
    if (!received.empty()) {
      const auto consumed = nghttp2_session_mem_recv(
          session, reinterpret_cast<const uint8_t*>(received.data()), received.size());
      if (consumed < 0) result.error = nghttp2_strerror(static_cast<int>(consumed));
      received.clear();
      continue;
    }
    const auto left =
        std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    if (left.count() <= 0) {
      result.error = "timed out";
      break;
    }
    received = conn.ReadAtLeast(1, left);
    if (received.empty()) result.error = "connection closed or timed out before the response";
  }
  nghttp2_session_del(session);
  if (result.error.empty() && state.response_body.size() >= 5) {
    result.message = state.response_body.substr(5);
  }
  return result;
}

}  // namespace h2gate::testing
