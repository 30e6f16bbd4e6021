// The stream of a TLS connection the gateway terminates itself: OpenSSL through Boost.Asio over
// the accepted TCP socket. One name for the HTTP/1.1 and HTTP/2 sessions and the TLS guard.
#pragma once

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/stream.hpp>

namespace h2gate {

using TlsStream = boost::asio::ssl::stream<boost::asio::ip::tcp::socket>;

}  // namespace h2gate
