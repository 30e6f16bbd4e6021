// What every connection of the front listener shares, and the per-connection bookkeeping.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>

#include <boost/asio/ip/tcp.hpp>

#include "call/transcoder.h"
#include "config/cidr.h"
#include "front/h2_policer.h"
#include "h2gate/gateway.h"
#include "obs/grpc_metrics.h"
#include "obs/log.h"
#include "obs/metrics.h"
#include "policy/legacy_callers.h"
#include "policy/policy.h"
#include "policy/policy_metrics.h"
#include "tls/tls_store.h"

namespace h2gate {

// Where HTTP/2 connections go: the embedded gRPC server (GrpcHandoff), or the guard's socket
// pair end in front of it.
class TlsContext;

// --proxy-protocol.
enum class ProxyMode { kOff, kOptional, kRequired };

class HandoffTarget {
 public:
  virtual ~HandoffTarget() = default;
  // Takes ownership of `fd` (non-blocking) and the bytes already read from it. gRPC's acceptor
  // reports nothing back (it closes an fd it cannot serve itself), so true only says the fd is
  // no longer ours.
  virtual bool Handoff(int fd, std::string_view bytes_read) = 0;
};

// A connection a drain must tell to finish (a kept HTTP/2 one sends GOAWAY).
class Drainable {
 public:
  virtual ~Drainable() = default;
  virtual void Drain() = 0;  // any thread
};

class KeptConnections {
 public:
  // The caller holds a reference to `c`.
  void Add(std::uint64_t id, const std::shared_ptr<Drainable>& c) {
    std::lock_guard lock(mu_);
    if (draining_) c->Drain();
    live_.emplace(id, c);
  }
  void Remove(std::uint64_t id) {
    std::lock_guard lock(mu_);
    live_.erase(id);
  }
  // Tells every connection, and each one added later, to drain.
  void DrainAll() {
    std::vector<std::shared_ptr<Drainable>> live;
    {
      std::lock_guard lock(mu_);
      draining_ = true;
      for (auto& [id, weak] : live_) {
        if (auto c = weak.lock()) live.push_back(std::move(c));
      }
    }
    // Outside the lock: the last reference to a connection may go here, and its destructor
    // removes it.
    for (auto& c : live) c->Drain();
  }

 private:
  std::mutex mu_;
  std::unordered_map<std::uint64_t, std::weak_ptr<Drainable>> live_;
  bool draining_ = false;
};

// What connections read and nothing changes once the gateway serves: built when gRPC has
// started, then published whole as shared_ptr<const>. Each connection holds a reference, so what
// it reads can neither change under it nor go away before it.
struct Context {
  explicit Context(Options o) : options(std::move(o)), http2_limits(LimitsOf(options)) {}
  static Http2Limits LimitsOf(const Options& o) {
    Http2Limits limits;
    limits.max_concurrent_streams = o.http2_max_concurrent_streams;
    limits.reset_burst = o.http2_reset_burst;
    limits.reset_rate = o.http2_reset_rate;
    return limits;
  }
  const Options options;
  const Http2Limits http2_limits;
  CidrList guard_exempt;
  CidrList route_per_request;  // --http2-route-per-request
  ProxyMode proxy_mode = ProxyMode::kOff;
  CidrList proxy_from;  // --proxy-protocol-from; "all" when unset under required
  MethodTable methods;
  // The 426 for a POST over HTTP/1.1 to each registered method, whole on the wire:
  // [method_index][keep_alive].
  std::vector<std::array<std::string, 2>> reject_wire;
  std::unique_ptr<Transcoder> transcoder;
  // gRPC calls of kept HTTP/2 connections, on the same in-process channel.
  std::unique_ptr<grpc::GenericStub> grpc_stub;
  HandoffTarget* handoff = nullptr;  // owned by the gateway, which outlives every connection
  // TLS (--tls-cert): the material loaded at start (Shared::tls has the one in force), and
  // gRPC's TLS acceptor; both null without it.
  std::shared_ptr<const TlsContext> tls;
  HandoffTarget* tls_handoff = nullptr;
};

// The calls on gRPC's in-process channel (JSON calls, gRPC calls of kept HTTP/2 connections)
// and the drain. A call started while gRPC's server shuts down crashes inside gRPC (the channel
// stack under it is being torn down), so every call takes a ticket before it starts, and once the
// drain has closed the gate none is given: the caller answers "draining" instead.
class CallGate {
 public:
  class Ticket {
   public:
    explicit Ticket(CallGate* gate) : gate_(gate) {}
    Ticket(Ticket&& other) noexcept : gate_(std::exchange(other.gate_, nullptr)) {}
    Ticket& operator=(Ticket&& other) noexcept {
      Leave();
      gate_ = std::exchange(other.gate_, nullptr);
      return *this;
    }
    ~Ticket() { Leave(); }

   private:
    void Leave() {
      if (gate_) gate_->in_flight_.fetch_sub(1);
      gate_ = nullptr;
    }
    CallGate* gate_;
  };
  // Sequentially consistent with Close(): either the drain sees this call counted, or the call
  // sees the gate closed.
  std::optional<Ticket> TryEnter() {
    in_flight_.fetch_add(1);
    Ticket ticket(this);
    if (closed_.load()) return std::nullopt;  // the ticket leaves again
    return ticket;
  }
  void Close() { closed_.store(true); }
  int in_flight() const { return in_flight_.load(); }

 private:
  std::atomic<int> in_flight_{0};
  std::atomic<bool> closed_{false};
};

// The gateway's live state: counters, the report, the policy store, flags. Owned by the
// gateway; outlives every connection.
struct Shared {
  explicit Shared(std::size_t legacy_callers_capacity) : legacy_callers(legacy_callers_capacity) {}
  // Set once, before the listeners accept; read without a lock from then on.
  std::shared_ptr<const Context> context;
  Metrics metrics;
  GrpcMetrics grpc_metrics;
  LegacyCallers legacy_callers;
  PolicyStore policies{PolicySet{}};
  std::function<SystemTime()> clock = [] { return std::chrono::system_clock::now(); };
  std::atomic<bool> draining{false};
  std::atomic<bool> memory_degraded{false};  // over --memory-limit: new connections refused
  std::atomic<bool> trim_requested{false};   // an abusive connection was cut: return its memory
  // Calls on the in-process channel, from their start until their answer is written: a drain
  // waits for them, then closes the gate before gRPC shuts down.
  CallGate calls;
  std::atomic<std::uint64_t> next_connection_id{1};
  // The HTTP/2 connections the gateway serves itself and the guarded ones, told to drain with the
  // listener.
  KeptConnections kept;
  // Guarded connections told of the drain whose client has not acknowledged it yet.
  std::atomic<int> drain_notices_pending{0};
  // With --tls-cert: the certificate in force (Context::tls is the one loaded at start).
  TlsStore tls;
  LogLimiter rejection_log{5};  // per second: 426s, 4xx and bad protocols are caller errors
  LogLimiter error_log{20};
};

// The whole /metrics page: the gateway's, the process's and the embedded gRPC server's.
inline std::string RenderMetrics(const Shared& shared) {
  std::string out;
  out.reserve(16384);
  shared.metrics.Render(out);
  shared.grpc_metrics.Render(out);
  if (shared.context) {
    RenderPolicyMetrics(shared.context->methods, *shared.policies.Get(), shared.clock(), out);
  }
  return out;
}

// A listener's cap on the connections it holds at once. The check and the count are one atomic
// step, so no number of I/O threads can take more slots than `max`.
class ConnectionLimiter {
 public:
  explicit ConnectionLimiter(int max) : max_(max) {}
  bool TryAcquire() {
    int open = open_.load(std::memory_order_relaxed);
    do {
      if (open >= max_) return false;
    } while (!open_.compare_exchange_weak(open, open + 1, std::memory_order_relaxed));
    return true;
  }
  void Release() { open_.fetch_sub(1, std::memory_order_relaxed); }
  int open() const { return open_.load(std::memory_order_relaxed); }
  int max() const { return max_; }

 private:
  const int max_;
  std::atomic<int> open_{0};
};

// The token of one held connection: a slot of its listener's limiter, counted in
// h2gate_connections_open while some session owns the connection. An empty slot (a connection
// that goes to gRPC at once) holds nothing.
class ConnectionSlot {
 public:
  ConnectionSlot() = default;
  // A slot of `limiter`, or an empty one if the limiter is full.
  static ConnectionSlot TryAcquire(ConnectionLimiter& limiter, Metrics& metrics) {
    ConnectionSlot slot;
    if (!limiter.TryAcquire()) return slot;
    slot.limiter_ = &limiter;
    slot.metrics_ = &metrics;
    metrics.connections_open.Add(1);
    return slot;
  }
  ConnectionSlot(ConnectionSlot&& other) noexcept
      : limiter_(std::exchange(other.limiter_, nullptr)),
        metrics_(std::exchange(other.metrics_, nullptr)) {}
  ConnectionSlot& operator=(ConnectionSlot&&) = delete;
  ~ConnectionSlot() { Release(); }
  bool held() const { return limiter_ != nullptr; }
  void Release() {
    if (limiter_ == nullptr) return;
    metrics_->CheckAlive();
    limiter_->Release();
    metrics_->connections_open.Add(-1);
    limiter_ = nullptr;
    metrics_ = nullptr;
  }

 private:
  ConnectionLimiter* limiter_ = nullptr;
  Metrics* metrics_ = nullptr;
};

// Identifies a connection in every log line: "conn=42 peer=127.0.0.1:5555".
struct ConnectionLabel {
  std::uint64_t id = 0;
  std::string peer;     // "ip:port", "[v6]:port"
  std::string peer_ip;  // the address alone, as legacy callers are keyed
  boost::asio::ip::address peer_address;
  // mTLS: the subject of the client certificate the gateway's handshake verified (RFC 2253),
  // so that the report and the logs name the workload; empty otherwise.
  std::string tls_subject;

  // The peer fields, from the accepted connection's address or the caller its PROXY header
  // named.
  void SetPeer(const boost::asio::ip::tcp::endpoint& endpoint);
};

}  // namespace h2gate
