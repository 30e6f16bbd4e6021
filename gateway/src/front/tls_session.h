// A TLS connection on the listening port, once its whole ClientHello has been seen (peeked, or
// read by the sniffer): refused if every version it offers is older than --tls-min-version;
// handed to gRPC's TLS acceptor if it is a gRPC client's (tls/tls_context.h); otherwise the
// gateway runs the handshake itself and serves HTTP/1.1 over it.
#pragma once

#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "front/connection.h"

namespace h2gate {

struct ClientHelloInfo;

// `fd` is non-blocking; `bytes_read` are the bytes the sniffer took from it (empty when the
// ClientHello was only peeked: gRPC then reads it from the socket itself).
void StartTls(int fd, std::string_view bytes_read, const ClientHelloInfo& hello,
              const boost::asio::ip::tcp& protocol, const boost::asio::any_io_executor& executor,
              Shared& shared, ConnectionSlot slot, ConnectionLabel label);

}  // namespace h2gate
