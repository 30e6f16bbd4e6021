// What a TLS ClientHello offers, read off peeked bytes: real hellos from OpenSSL and curl, and
// built ones for the record layer's cuts and every rule the parser enforces.
#include <gtest/gtest.h>

#include <initializer_list>
#include <string>
#include <string_view>

#include "tls/client_hello.h"
#include "tls/tls_context.h"

namespace h2gate {
namespace {

using R = ClientHelloResult;

// Captured when this test was written (OpenSSL 3.0.19, curl 7.88.1, Debian 12): a throwaway script
// listened on 127.0.0.1:0, ran the client against it and saved what arrived before the client
// waited for a ServerHello.
//   openssl s_client -connect 127.0.0.1:PORT -tls1_2 -alpn h2 -servername Example.COM
const char kOpensslTls12Hex[] =
    "16030100d4010000d003037632d332171b51667e28b143daa12db80ed2299f228dd517c8bdd6ed898296b4000038"
    "c02cc030009fcca9cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c"
    "003d003c0035002f00ff0100006f00000010000e00000b4578616d706c652e434f4d000b000403000102000a000c"
    "000a001d0017001e00190018002300000010000500030268320016000000170000000d002a002804030503060308"
    "0708080809080a080b080408050806040105010601030303010302040205020602";
//   curl -k --resolve gw.example:PORT:127.0.0.1 https://gw.example:PORT/  (padded to 512 bytes)
const char kCurlHex[] =
    "1603010200010001fc0303a92c8d51db4bbfac5b4883517f3d44f7625c2060c4de33409ac61fb0d4eaec4220cc0d"
    "c1a6a06a29a3d041e9f6a4eb22bc0815c627f5775f7b3497404ed40a138a003e130213031301c02cc030009fcca9"
    "cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f"
    "00ff010001750000000f000d00000a67772e6578616d706c65000b000403000102000a00160014001d0017001e00"
    "190018010001010102010301040010000e000c02683208687474702f312e31001600000017000000310000000d00"
    "2a0028040305030603080708080809080a080b080408050806040105010601030303010302040205020602002b00"
    "09080304030303020301002d00020101003300260024001d0020742546f29b5a26a80558e65e9453fb48139e8f54"
    "a5f0e9343615d5fafa8aa572001500b3000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
    "0000000000000000000000";
//   openssl s_client -connect 127.0.0.1:PORT -alpn h2  (an IP address: no server_name)
const char kOpensslH2Hex[] =
    "160301012d0100012903035e0ec29329f64ffd3e90c16b0ca2094fb6f83367012edec20376e4395ac5e7bf209cb6"
    "009dad0a0f2ab2f836cccbc10beec5fad81621d3469caa736ff33bc69cd6003e130213031301c02cc030009fcca9"
    "cca8ccaac02bc02f009ec024c028006bc023c0270067c00ac0140039c009c0130033009d009c003d003c0035002f"
    "00ff010000a2000b000403000102000a00160014001d0017001e0019001801000101010201030104002300000010"
    "000500030268320016000000170000000d002a0028040305030603080708080809080a080b080408050806040105"
    "010601030303010302040205020602002b0009080304030303020301002d00020101003300260024001d0020ba76"
    "16e376579ded4885737149cb4b960c08379bab721747808ccac868c0153b";

std::string FromHex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i + 1 < hex.size(); i += 2) {
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  }
  return out;
}

// The builder: a ClientHello message with chosen fields, and its framing into records.
std::string U8(std::size_t v) { return std::string(1, static_cast<char>(v)); }
std::string U16(std::size_t v) { return U8(v >> 8) + U8(v); }
std::string U24(std::size_t v) { return U8(v >> 16) + U16(v); }

std::string Extension(std::size_t type, std::string_view data) {
  return U16(type) + U16(data.size()) + std::string(data);
}
std::string Sni(std::string_view host) {
  const std::string entry = U8(0) + U16(host.size()) + std::string(host);
  return Extension(0, U16(entry.size()) + entry);
}
std::string Alpn(std::initializer_list<std::string_view> protocols) {
  std::string list;
  for (const auto p : protocols) list += U8(p.size()) + std::string(p);
  return Extension(16, U16(list.size()) + list);
}
std::string Versions(std::initializer_list<std::size_t> versions) {
  std::string list;
  for (const auto v : versions) list += U16(v);
  return Extension(43, U8(list.size()) + list);
}

struct Hello {
  std::size_t legacy_version = 0x0303;
  std::string session_id = std::string(32, 's');
  std::string cipher_suites = "\x13\x01\xc0\x2f";  // TLS_AES_128_GCM_SHA256, ECDHE-RSA-AES128-GCM
  std::string compression = std::string(1, '\0');
  bool has_extensions = true;
  std::string extensions = Sni("gw.example") + Alpn({"h2", "http/1.1"}) + Versions({0x0304});

  std::string Body() const {
    std::string body = U16(legacy_version) + std::string(32, 'r') + U8(session_id.size()) +
                       session_id + U16(cipher_suites.size()) + cipher_suites +
                       U8(compression.size()) + compression;
    if (has_extensions) body += U16(extensions.size()) + extensions;
    return body;
  }
  std::string Message() const { return U8(1) + U24(Body().size()) + Body(); }
};

std::string Record(std::string_view fragment, char type = 22) {
  return std::string(1, type) + "\x03\x01" + U16(fragment.size()) + std::string(fragment);
}
// `message` in handshake records of `piece` bytes (the last shorter).
std::string Records(std::string_view message, std::size_t piece = 16384) {
  std::string out;
  for (std::size_t i = 0; i < message.size(); i += piece) out += Record(message.substr(i, piece));
  return out;
}

R Parse(std::string_view bytes) {
  ClientHelloInfo info;
  return ParseClientHello(bytes, &info);
}

TEST(ClientHelloCaptured, OpensslTls12) {
  ClientHelloInfo info;
  ASSERT_EQ(ParseClientHello(FromHex(kOpensslTls12Hex), &info), R::kDone);
  EXPECT_EQ(info.sni, "example.com");  // sent as Example.COM
  EXPECT_EQ(info.alpn, std::vector<std::string>{"h2"});
  EXPECT_EQ(info.legacy_version, 0x0303);
  EXPECT_TRUE(info.supported_versions.empty());
  EXPECT_EQ(info.MaxVersion(), 0x0303);
}

TEST(ClientHelloCaptured, CurlOffersH2AndHttp11OverTls13) {
  ClientHelloInfo info;
  ASSERT_EQ(ParseClientHello(FromHex(kCurlHex), &info), R::kDone);
  EXPECT_EQ(info.sni, "gw.example");
  EXPECT_EQ(info.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_TRUE(info.Offers("h2"));
  EXPECT_TRUE(info.Offers("http/1.1"));
  EXPECT_FALSE(info.Offers("h2c"));
  EXPECT_EQ(info.supported_versions, (std::vector<std::uint16_t>{0x0304, 0x0303, 0x0302, 0x0301}));
  EXPECT_EQ(info.MaxVersion(), 0x0304);
}

TEST(ClientHelloCaptured, OpensslToAnAddressSendsNoServerName) {
  ClientHelloInfo info;
  ASSERT_EQ(ParseClientHello(FromHex(kOpensslH2Hex), &info), R::kDone);
  EXPECT_EQ(info.sni, "");
  EXPECT_EQ(info.alpn, std::vector<std::string>{"h2"});
  EXPECT_EQ(info.MaxVersion(), 0x0304);
}

TEST(ClientHelloCaptured, EveryPrefixNeedsMoreAndWhatFollowsIsNotRead) {
  for (const char* hex : {kOpensslTls12Hex, kCurlHex, kOpensslH2Hex}) {
    const std::string hello = FromHex(hex);
    for (std::size_t n = 0; n < hello.size(); ++n) {
      ASSERT_EQ(Parse(hello.substr(0, n)), R::kNeedMore) << n;
    }
    // A TLS 1.3 client's ChangeCipherSpec, or garbage: after the ClientHello, never looked at.
    EXPECT_EQ(Parse(hello + Record("\x01", 20)), R::kDone);
    EXPECT_EQ(Parse(hello + "GET / HTTP/1.1\r\n"), R::kDone);
  }
}

TEST(ClientHelloRecords, OneByteAtATime) {
  const std::string message = Hello().Message();
  const std::string bytes = Records(message);
  for (std::size_t n = 0; n < bytes.size(); ++n) ASSERT_EQ(Parse(bytes.substr(0, n)), R::kNeedMore);
  ClientHelloInfo info;
  ASSERT_EQ(ParseClientHello(bytes, &info), R::kDone);
  EXPECT_EQ(info.sni, "gw.example");
  EXPECT_EQ(info.alpn, (std::vector<std::string>{"h2", "http/1.1"}));
  EXPECT_EQ(info.MaxVersion(), 0x0304);

  // One handshake byte per record, each prefix still waiting.
  const std::string tiny = Records(message, 1);
  for (std::size_t n = 0; n < tiny.size(); ++n) ASSERT_EQ(Parse(tiny.substr(0, n)), R::kNeedMore);
  ClientHelloInfo again;
  ASSERT_EQ(ParseClientHello(tiny, &again), R::kDone);
  EXPECT_EQ(again.sni, info.sni);
  EXPECT_EQ(again.alpn, info.alpn);
  EXPECT_EQ(again.supported_versions, info.supported_versions);
}

TEST(ClientHelloRecords, TwoRecordsSplitAtEveryOffset) {
  const std::string message = FromHex(kCurlHex).substr(5);
  for (std::size_t cut = 1; cut < message.size(); ++cut) {
    ClientHelloInfo info;
    const std::string bytes = Record(message.substr(0, cut)) + Record(message.substr(cut));
    ASSERT_EQ(ParseClientHello(bytes, &info), R::kDone) << cut;
    ASSERT_EQ(info.sni, "gw.example") << cut;
    ASSERT_EQ(info.alpn.size(), 2u) << cut;
    // An alert between the two pieces: handshake messages are not interleaved (RFC 8446 5.1).
    ASSERT_EQ(Parse(Record(message.substr(0, cut)) + Record("\x02\x28", 21)), R::kMalformed);
  }
}

TEST(ClientHelloLimits, TooLargeIsDecidedFromTheLengthAlone) {
  // 70 KiB: 8 KiB of cipher suites and 62 KiB of padding (an extension block holds < 64 KiB).
  Hello big;
  big.cipher_suites = std::string(8 * 1024, '\x13');
  big.extensions += Extension(21, std::string(62 * 1024, '\0'));
  const std::string bytes = Records(big.Message());
  EXPECT_EQ(Parse(bytes.substr(0, 8)), R::kNeedMore);
  EXPECT_EQ(Parse(bytes.substr(0, 9)), R::kTooLarge);  // record header + message header
  EXPECT_EQ(Parse(bytes), R::kTooLarge);
  // A claim of 16 MiB, with nothing behind it.
  EXPECT_EQ(Parse(Record("\x01\xff\xff\xff")), R::kTooLarge);

  // Exactly kMaxClientHello bytes of message body is still read.
  Hello limit;
  const std::size_t room = kMaxClientHello - limit.Body().size() - 4;
  limit.extensions += Extension(21, std::string(room, '\0'));
  ASSERT_EQ(limit.Body().size(), kMaxClientHello);
  EXPECT_EQ(Parse(Records(limit.Message())), R::kDone);
  limit.extensions += std::string(1, '\0');
  EXPECT_EQ(Parse(Records(limit.Message())), R::kTooLarge);
}

TEST(ClientHelloLimits, RecordLengths) {
  const std::string message = Hello().Message();
  EXPECT_EQ(Parse(Record("") + Records(message)), R::kMalformed);  // RFC 8446 5.1
  // 2^14 is TLSPlaintext's bound; over it the record is refused before its bytes arrive.
  EXPECT_EQ(Parse(std::string("\x16\x03\x01\x40\x01", 5)), R::kMalformed);
  // The record need not be whole, only the message in it.
  EXPECT_EQ(Parse(std::string("\x16\x03\x01\x40\x00", 5) + message), R::kDone);
}

TEST(ClientHelloNotTls, PlaintextAndSslv2) {
  EXPECT_EQ(Parse(""), R::kNeedMore);
  EXPECT_EQ(Parse("\x16"), R::kNeedMore);
  EXPECT_EQ(Parse("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), R::kNotTls);
  EXPECT_EQ(Parse("PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"), R::kNotTls);
  EXPECT_EQ(Parse("G"), R::kNotTls);  // decided by the first byte
  // An SSLv2-format CLIENT-HELLO (RFC 6101 E.2: two-byte length with the top bit set, type 1,
  // version 3.1): no TLS 1.3 client sends one, and RFC 8446 D.5 leaves accepting it optional.
  EXPECT_EQ(Parse(std::string("\x80\x2e\x01\x03\x01\x00\x15\x00\x00\x00\x10", 11)), R::kNotTls);
  EXPECT_EQ(Parse("\x16\x02"), R::kNotTls);              // not major version 3
  EXPECT_EQ(Parse(Record("\x02\x28", 21)), R::kNotTls);  // an alert first
}

TEST(ClientHelloMalformed, TheRecordLayerIsTlsButNotItsContent) {
  // Garbage after a record header.
  EXPECT_EQ(Parse(std::string("\x16\x03\x01\x00\x20", 5) + "GET / HTTP/1.1\r\n"), R::kMalformed);
  // A ServerHello (type 2) first: decided by the first handshake byte.
  EXPECT_EQ(Parse(std::string("\x16\x03\x03\x00\x30\x02", 6)), R::kMalformed);
  // A second record that is not TLS's.
  const std::string message = Hello().Message();
  EXPECT_EQ(Parse(Record(message.substr(0, 10)) + "\x16\x02"), R::kMalformed);
}

TEST(ClientHelloMalformed, LengthsThatOverrun) {
  auto with = [](auto change) {
    Hello h;
    change(h);
    return Parse(Records(h.Message()));
  };
  EXPECT_EQ(with([](Hello&) {}), R::kDone);
  EXPECT_EQ(with([](Hello& h) { h.session_id = std::string(33, 's'); }), R::kMalformed);
  EXPECT_EQ(with([](Hello& h) { h.cipher_suites = "\x13\x01\x13"; }), R::kMalformed);
  EXPECT_EQ(with([](Hello& h) { h.cipher_suites = ""; }), R::kMalformed);
  EXPECT_EQ(with([](Hello& h) { h.compression = ""; }), R::kMalformed);
  EXPECT_EQ(with([](Hello& h) { h.extensions = ""; }), R::kDone);  // an empty block
  EXPECT_EQ(with([](Hello& h) { h.extensions += std::string(1, '\0'); }), R::kMalformed);
  EXPECT_EQ(with([](Hello& h) { h.extensions = U16(21) + U16(10) + "short"; }), R::kMalformed);

  // The message is whole; a length inside claims more than is left of it.
  Hello h;
  std::string body = h.Body();
  body[2 + 32 + 1 + 32] = 4;  // cipher suites: 1024 bytes, past the message's end
  EXPECT_EQ(Parse(Record(U8(1) + U24(body.size()) + body)), R::kMalformed);
  body = h.Body();
  const std::size_t ext_length_at = body.size() - h.extensions.size() - 2;
  body[ext_length_at + 1] = static_cast<char>(body[ext_length_at + 1] + 1);
  EXPECT_EQ(Parse(Record(U8(1) + U24(body.size()) + body)), R::kMalformed);
  // The message header's length short of the body: the block overruns the message.
  body = h.Body();
  EXPECT_EQ(Parse(Record(U8(1) + U24(body.size() - 3) + body)), R::kMalformed);
}

TEST(ClientHelloMalformed, Extensions) {
  auto ext = [](std::string extensions) {
    Hello h;
    h.extensions = std::move(extensions);
    return Parse(Records(h.Message()));
  };
  EXPECT_EQ(ext(Sni("a") + Sni("b")), R::kMalformed);  // RFC 8446 4.2: no type twice
  EXPECT_EQ(ext(Extension(21, "") + Extension(21, "")), R::kMalformed);
  EXPECT_EQ(ext(Extension(0xfafa, "") + Extension(0x0a0a, "")), R::kDone);  // GREASE, each once

  EXPECT_EQ(ext(Extension(0, "")), R::kMalformed);  // what a server echoes, not a client's
  EXPECT_EQ(ext(Sni("")), R::kMalformed);
  EXPECT_EQ(ext(Sni(std::string(255, 'a'))), R::kDone);
  EXPECT_EQ(ext(Sni(std::string(256, 'a'))), R::kMalformed);
  EXPECT_EQ(ext(Sni(std::string("a\0b", 3))), R::kMalformed);
  const std::string two = U8(0) + U16(1) + "a" + U8(0) + U16(1) + "b";
  EXPECT_EQ(ext(Extension(0, U16(two.size()) + two)), R::kMalformed);  // one host_name only
  const std::string other_type = U8(1) + U16(1) + "a";
  EXPECT_EQ(ext(Extension(0, U16(other_type.size()) + other_type)), R::kMalformed);
  EXPECT_EQ(ext(Extension(0, U16(5) + U8(0) + U16(9) + "ab")), R::kMalformed);  // name overruns

  EXPECT_EQ(ext(Alpn({})), R::kMalformed);
  EXPECT_EQ(ext(Alpn({"h2", ""})), R::kMalformed);
  EXPECT_EQ(ext(Extension(16, U16(3) + U8(5) + "h2")), R::kMalformed);  // name overruns the list
  EXPECT_EQ(ext(Extension(16, U16(4) + U8(2) + "h2")), R::kMalformed);  // list overruns
  EXPECT_EQ(ext(Alpn({std::string(255, 'p')})), R::kDone);

  EXPECT_EQ(ext(Extension(43, U8(0))), R::kMalformed);
  EXPECT_EQ(ext(Extension(43, U8(3) + "\x03\x04\x03")), R::kMalformed);
  EXPECT_EQ(ext(Extension(43, U8(4) + "\x03\x04")), R::kMalformed);
}

TEST(ClientHelloVersions, OldAndNewClients) {
  ClientHelloInfo info;
  // TLS 1.0 only, from a client older than extensions.
  Hello tls10;
  tls10.legacy_version = 0x0301;
  tls10.has_extensions = false;
  ASSERT_EQ(ParseClientHello(Records(tls10.Message()), &info), R::kDone);
  EXPECT_EQ(info.legacy_version, 0x0301);
  EXPECT_TRUE(info.supported_versions.empty());
  EXPECT_EQ(info.MaxVersion(), 0x0301);
  EXPECT_EQ(info.sni, "");
  EXPECT_TRUE(info.alpn.empty());

  Hello tls13;
  tls13.extensions = Versions({0x0304, 0x0303});
  ASSERT_EQ(ParseClientHello(Records(tls13.Message()), &info), R::kDone);
  EXPECT_EQ(info.supported_versions, (std::vector<std::uint16_t>{0x0304, 0x0303}));
  EXPECT_EQ(info.MaxVersion(), 0x0304);

  // Chrome's GREASE value first: not a version.
  tls13.extensions = Versions({0x7a7a, 0x0304, 0x0303});
  ASSERT_EQ(ParseClientHello(Records(tls13.Message()), &info), R::kDone);
  EXPECT_EQ(info.MaxVersion(), 0x0304);
  tls13.extensions = Versions({0x0a0a});
  ASSERT_EQ(ParseClientHello(Records(tls13.Message()), &info), R::kDone);
  EXPECT_EQ(info.MaxVersion(), 0);  // legacy_version is not to be used (RFC 8446 4.2.1)
}

TEST(ClientHelloOutput, IsEmptyUnlessDone) {
  ClientHelloInfo info;
  ASSERT_EQ(ParseClientHello(FromHex(kCurlHex), &info), R::kDone);
  const std::string cut = FromHex(kCurlHex).substr(0, 400);  // past the SNI and ALPN
  EXPECT_EQ(ParseClientHello(cut, &info), R::kNeedMore);
  EXPECT_EQ(info.sni, "");
  EXPECT_TRUE(info.alpn.empty());
  EXPECT_EQ(info.legacy_version, 0);
  EXPECT_TRUE(info.supported_versions.empty());
}

TEST(ClientHelloNames, MetricLabels) {
  EXPECT_STREQ(ClientHelloResultName(R::kNeedMore), "need_more");
  EXPECT_STREQ(ClientHelloResultName(R::kDone), "ok");
  EXPECT_STREQ(ClientHelloResultName(R::kNotTls), "not_tls");
  EXPECT_STREQ(ClientHelloResultName(R::kMalformed), "malformed");
  EXPECT_STREQ(ClientHelloResultName(R::kTooLarge), "too_large");
}

// The 421 check: Host or :authority against the SNI.
TEST(AuthorityMatchesServerName, PortsCaseAndTrailingDotAreTheSameServer) {
  EXPECT_TRUE(AuthorityMatchesServerName("api.example", "api.example"));
  EXPECT_TRUE(AuthorityMatchesServerName("API.Example:8443", "api.example"));
  EXPECT_TRUE(AuthorityMatchesServerName("api.example.", "api.example"));
  EXPECT_TRUE(AuthorityMatchesServerName("anything", ""));  // no SNI: nothing to compare
  EXPECT_FALSE(AuthorityMatchesServerName("other.example", "api.example"));
  EXPECT_FALSE(AuthorityMatchesServerName("api.example.evil", "api.example"));
  EXPECT_TRUE(AuthorityMatchesServerName("", "api.example"));  // HTTP/1.0 without Host
  EXPECT_FALSE(AuthorityMatchesServerName("[::1]:8443", "api.example"));
  EXPECT_TRUE(AuthorityMatchesServerName("[::1]:8443", "::1"));
}

}  // namespace
}  // namespace h2gate
