// What a TLS client asks for in its ClientHello (the server name, the ALPN protocols it offers,
// the TLS versions), read off the bytes peeked from a connection so the sniffer can decide where
// the connection goes before a byte is consumed. Envoy's tls_inspector does this with BoringSSL;
// this is a parser of its own so the decision needs no TLS stack, and it follows BoringSSL where
// the RFCs leave room.
//
// ParseClientHello promises, and tests/fuzz/fuzz_client_hello.cc checks:
//  - It never changes its mind: an answer other than kNeedMore for `bytes` is the answer, with the
//    same info, for every longer input that starts with `bytes`. It reads records and the message
//    in order, judges each byte when it reads it, and stops at the first answer; nothing after
//    the ClientHello is looked at.
//  - kNotTls comes from the first two bytes alone: exactly when the first is not 22 (handshake)
//    or the second not 3 (SSL 3.0 to TLS 1.3 all put major version 3 there), the test Detect
//    makes, so the two agree. HTTP text and SSLv2-format hellos land here.
//  - Past those two bytes the client has started TLS, and a rule it breaks is kMalformed: a
//    record of length 0 or over 2^14, a record that is not a handshake before the ClientHello is
//    whole (RFC 8446 5.1), a first message that is not a ClientHello, a length that overruns what
//    contains it, an extension type twice (RFC 8446 4.2). No plaintext protocol starts 0x16 0x03,
//    so treating these as "not TLS" would only hand a broken TLS client to a plaintext session.
//  - How the message is cut into records does not change the answer or the info.
//  - It reads nothing past `bytes`, allocates only for `out`'s strings and vectors, and throws
//    nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace h2gate {

enum class ClientHelloResult {
  kNeedMore,   // every byte so far is the start of a ClientHello still arriving
  kDone,       // a whole ClientHello: `out` says what it offers
  kNotTls,     // the first two bytes are not a TLS handshake record's
  kMalformed,  // TLS records, but the ClientHello in them breaks the rules (see above)
  kTooLarge,   // the ClientHello's length is over kMaxClientHello, decided as soon as it is read
};

struct ClientHelloInfo {
  std::string sni;                   // host_name of server_name, lower-cased; empty if none
  std::vector<std::string> alpn;     // protocols offered, in the client's order
  std::uint16_t legacy_version = 0;  // ClientHello.legacy_version (0x0303 for TLS 1.2/1.3)
  std::vector<std::uint16_t> supported_versions;  // extension 43, as sent; empty if absent

  // The highest version offered: the largest of supported_versions if present (GREASE values,
  // RFC 8701, are not versions and do not count; 0 if nothing else is there), else
  // legacy_version, which RFC 8446 4.2.1 says to ignore when the extension is present.
  std::uint16_t MaxVersion() const;
  bool Offers(std::string_view protocol) const;  // ALPN, exact bytes
};

// Handshake message bytes looked at, as Envoy's tls_inspector's default maximum; a ClientHello
// that claims more is kTooLarge. Those captured for the tests are 208 to 508 bytes; a
// post-quantum key share (an ML-KEM-768 key is 1184 bytes) adds little more than a kilobyte.
inline constexpr std::size_t kMaxClientHello = 64 * 1024;

// `bytes`: what was peeked so far, from the first byte of the connection. `out` is cleared, and
// filled only when the answer is kDone. The server name is compared by callers, not validated
// here beyond its length (1..255, as BoringSSL) and having no NUL byte.
ClientHelloResult ParseClientHello(std::string_view bytes, ClientHelloInfo* out);

// For metrics: "need_more", "ok", "not_tls", "malformed", "too_large".
const char* ClientHelloResultName(ClientHelloResult result);

}  // namespace h2gate
