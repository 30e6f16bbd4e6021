// The phase before sniffing when --proxy-protocol is on: a main-port connection's PROXY header
// is read and consumed, exactly its bytes, and the caller it names becomes the connection's
// peer. Everything after the header stays in the socket, so an HTTP/2 connection still reaches
// gRPC with its bytes unread.
#pragma once

#include <string>
#include <string_view>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/ip/tcp.hpp>

#include "front/connection.h"

namespace h2gate {

// Fills the context's PROXY protocol settings from the options; false with `error` set if they
// do not go together.
bool ConfigureProxyProtocol(const Options& options, Context& context, std::string* error);

// `bytes` without the PROXY header a trusted source put in front: what the connection itself
// sent so far (for the look at a connection's first bytes before any phase runs).
std::string_view AfterProxyHeader(const Context& context, const boost::asio::ip::address& peer,
                                  std::string_view bytes);

// Takes a freshly accepted connection (`fd`, non-blocking, owned from here on), reads its header
// under the sniff deadline, then goes on as StartConnection; or closes it, counted in
// h2gate_proxy_protocol_total.
void StartProxied(int fd, const boost::asio::ip::tcp& protocol,
                  const boost::asio::any_io_executor& executor, Shared& shared, ConnectionSlot slot,
                  ConnectionLabel label);

}  // namespace h2gate
