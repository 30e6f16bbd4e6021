// The TLS material in force (tls_context.h): swapped whole when rotated files load, read by each
// new handshake, which keeps the one it started with.
#pragma once

#include <atomic>
#include <memory>

namespace h2gate {

class TlsContext;

class TlsStore {
 public:
  std::shared_ptr<const TlsContext> Current() const { return current_.load(); }
  void Set(std::shared_ptr<const TlsContext> tls) { current_.store(std::move(tls)); }

 private:
  std::atomic<std::shared_ptr<const TlsContext>> current_;
};

}  // namespace h2gate
