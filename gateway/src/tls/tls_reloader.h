// Follows the --tls-* files without a restart. Every --tls-reload-interval it looks at them
// (device, inode, size and modification time, through symbolic links, so the flip of a
// Kubernetes Secret volume's ..data link counts); when one changed it loads the set again. A set
// that loads replaces the one in force: new handshakes, the gateway's and gRPC's, use it, while
// connections already up keep theirs. One that does not load is logged and counted, and the old
// set stays.
#pragma once

#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "front/connection.h"
#include "tls/tls_context.h"

namespace h2gate {

class TlsReloader {
 public:
  // `files`: gRPC's copies, republished on each successful load.
  TlsReloader(boost::asio::io_context& io, Shared& shared, GrpcTlsFiles& files);
  void Start();
  void Stop();  // on the I/O thread

 private:
  void Arm();
  void Check();

  boost::asio::steady_timer timer_;
  Shared& shared_;
  GrpcTlsFiles& files_;
  std::string stamp_;  // of the files as last looked at
  bool stopped_ = false;
};

// The facts of the --tls-* files that change when one is replaced; "" for one that is missing.
std::string TlsFilesStamp(const Options& options);

}  // namespace h2gate
