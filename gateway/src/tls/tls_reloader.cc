#include "tls/tls_reloader.h"

#include <sys/stat.h>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace h2gate {
namespace {

void AppendStamp(std::string& out, const std::string& path) {
  if (path.empty()) return;
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    out += "missing;";
    return;
  }
  fmt::format_to(std::back_inserter(out), "{}:{}:{}:{}.{};", st.st_dev, st.st_ino, st.st_size,
                 st.st_mtim.tv_sec, st.st_mtim.tv_nsec);
}

}  // namespace

std::string TlsFilesStamp(const Options& o) {
  std::string stamp;
  AppendStamp(stamp, o.tls_cert);
  AppendStamp(stamp, o.tls_key);
  AppendStamp(stamp, o.tls_client_ca);
  return stamp;
}

TlsReloader::TlsReloader(boost::asio::io_context& io, Shared& shared, GrpcTlsFiles& files)
    : timer_(io), shared_(shared), files_(files) {}

void TlsReloader::Start() {
  stamp_ = TlsFilesStamp(shared_.context->options);
  Arm();
}

void TlsReloader::Stop() {
  stopped_ = true;
  timer_.cancel();
}

void TlsReloader::Arm() {
  if (stopped_) return;
  timer_.expires_after(shared_.context->options.tls_reload_interval);
  timer_.async_wait([this](boost::system::error_code ec) {
    if (!ec) Check();
  });
}

void TlsReloader::Check() {
  const Options& o = shared_.context->options;
  std::string stamp = TlsFilesStamp(o);
  if (stamp != stamp_) {
    // Looked at again only when the files change again: a bad set is reported once.
    stamp_ = std::move(stamp);
    std::string error;
    auto tls = TlsContext::Load(o, &error);
    if (tls && files_.Publish(*tls, &error)) {
      shared_.tls.Set(tls);
      shared_.metrics.tls_reloads.Inc(TlsReload::kOk);
      shared_.metrics.tls_certificate_expiry.Set(tls->not_after());
      spdlog::info("TLS certificate reloaded from --tls-cert={}; it expires at {} (Unix time)",
                   o.tls_cert, tls->not_after());
    } else {
      shared_.metrics.tls_reloads.Inc(TlsReload::kFailed);
      spdlog::error("TLS files changed but do not load, the previous certificate stays: {}", error);
    }
  }
  Arm();
}

}  // namespace h2gate
