// The PROXY protocol header parser (front/proxy_protocol.h): v1 lines and v2 binary headers as
// haproxy's proxy-protocol.txt defines them, cut anywhere, and the malformed ones.
#include "front/proxy_protocol.h"

#include <gtest/gtest.h>

#include <string>

namespace h2gate {
namespace {

const std::string kV2Signature("\r\n\r\n\0\r\nQUIT\n", 12);

// A v2 header: PROXY over TCP/IPv4 from 198.51.100.7:40000 to 10.0.0.1:8080, plus `tlvs`.
std::string V2Inet(std::string_view tlvs = "", unsigned char command = 0x21) {
  std::string h = kV2Signature;
  h += static_cast<char>(command);
  h += '\x11';  // INET, STREAM
  const std::size_t length = 12 + tlvs.size();
  h += static_cast<char>(length >> 8);
  h += static_cast<char>(length & 0xFF);
  h += std::string("\xC6\x33\x64\x07", 4);  // 198.51.100.7
  h += std::string("\x0A\x00\x00\x01", 4);  // 10.0.0.1
  h += std::string("\x9C\x40", 2);          // 40000
  h += std::string("\x1F\x90", 2);          // 8080
  h += tlvs;
  return h;
}

std::string V2Inet6() {
  std::string h = kV2Signature + "\x21\x21" + std::string("\x00\x24", 2);
  std::string source(16, '\0');
  source[0] = '\x20';
  source[1] = '\x01';
  source[2] = '\x0d';
  source[3] = '\xb8';
  source[15] = '\x05';  // 2001:db8::5
  h += source + std::string(16, '\0') + std::string("\x01\xBB\x1F\x90", 4);
  return h;
}

ProxyResult Parse(std::string_view bytes, ProxyHeader* h) { return ParseProxyHeader(bytes, h); }

TEST(ProxyProtocol, V1Tcp4NamesTheSource) {
  const std::string line = "PROXY TCP4 198.51.100.7 10.0.0.1 40000 8080\r\n";
  ProxyHeader h;
  ASSERT_EQ(Parse(line + "GET / HTTP/1.1\r\n", &h), ProxyResult::kDone);
  EXPECT_EQ(h.length, line.size());
  EXPECT_EQ(h.version, 1);
  ASSERT_TRUE(h.source);
  EXPECT_EQ(h.source->address().to_string(), "198.51.100.7");
  EXPECT_EQ(h.source->port(), 40000);
}

TEST(ProxyProtocol, V1Tcp6AndUnknown) {
  ProxyHeader h;
  ASSERT_EQ(Parse("PROXY TCP6 2001:db8::5 2001:db8::1 443 8080\r\n", &h), ProxyResult::kDone);
  ASSERT_TRUE(h.source);
  EXPECT_EQ(h.source->address().to_string(), "2001:db8::5");
  // UNKNOWN: the rest of the line is ignored and the connection's own peer stands.
  ASSERT_EQ(Parse("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n", &h), ProxyResult::kDone);
  EXPECT_FALSE(h.source);
  EXPECT_EQ(h.length, 35u);
  ASSERT_EQ(Parse("PROXY UNKNOWN\r\n", &h), ProxyResult::kDone);
  EXPECT_EQ(h.length, 15u);
}

TEST(ProxyProtocol, V2InetInet6AndLocal) {
  ProxyHeader h;
  const std::string v4 = V2Inet("\x03\x00\x04\x01\x02\x03\x04");  // a CRC32c TLV
  ASSERT_EQ(Parse(v4 + "PRI * HTTP/2.0", &h), ProxyResult::kDone);
  EXPECT_EQ(h.length, v4.size());
  EXPECT_EQ(h.version, 2);
  ASSERT_TRUE(h.source);
  EXPECT_EQ(h.source->address().to_string(), "198.51.100.7");
  EXPECT_EQ(h.source->port(), 40000);
  ASSERT_EQ(Parse(V2Inet6(), &h), ProxyResult::kDone);
  ASSERT_TRUE(h.source);
  EXPECT_EQ(h.source->address().to_string(), "2001:db8::5");
  EXPECT_EQ(h.source->port(), 443);
  // LOCAL: the balancer's own connection; its address block is skipped.
  ASSERT_EQ(Parse(V2Inet("", 0x20), &h), ProxyResult::kDone);
  EXPECT_FALSE(h.source);
  EXPECT_EQ(h.length, 28u);
  // UNSPEC family with PROXY: no caller named.
  ASSERT_EQ(Parse(kV2Signature + std::string("\x21\x00\x00\x00", 4), &h), ProxyResult::kDone);
  EXPECT_FALSE(h.source);
  EXPECT_EQ(h.length, 16u);
}

TEST(ProxyProtocol, EveryCutOfAHeaderNeedsMore) {
  for (const std::string& whole :
       {std::string("PROXY TCP4 198.51.100.7 10.0.0.1 40000 8080\r\n"), V2Inet(), V2Inet6()}) {
    for (std::size_t n = 0; n < whole.size(); ++n) {
      ProxyHeader h;
      EXPECT_EQ(Parse(whole.substr(0, n), &h), ProxyResult::kNeedMore) << n;
    }
  }
}

TEST(ProxyProtocol, OtherFirstBytesAreNotProxy) {
  ProxyHeader h;
  for (std::string_view bytes : {"POST /echo.v1.Echo/Echo HTTP/1.1\r\n", "PRI * HTTP/2.0\r\n",
                                 "\x16\x03\x01", "GET", "PROXX", "\r\n\r\nX"}) {
    EXPECT_EQ(Parse(bytes, &h), ProxyResult::kNotProxy) << bytes;
  }
}

TEST(ProxyProtocol, MalformedHeadersAreRefused) {
  ProxyHeader h;
  for (std::string_view line : {
           "PROXY TCP4 999.1.1.1 10.0.0.1 1 2\r\n",         // not an address
           "PROXY TCP4 2001:db8::5 10.0.0.1 1 2\r\n",       // v6 under TCP4
           "PROXY TCP6 198.51.100.7 2001:db8::1 1 2\r\n",   // v4 under TCP6
           "PROXY TCP4 198.51.100.7 10.0.0.1 70000 2\r\n",  // port out of range
           "PROXY TCP4 198.51.100.7 10.0.0.1 -1 2\r\n",
           "PROXY TCP4 198.51.100.7 10.0.0.1 1\r\n",  // a field missing
           "PROXY UDP4 198.51.100.7 10.0.0.1 1 2\r\n",
       }) {
    EXPECT_EQ(Parse(line, &h), ProxyResult::kMalformed) << line;
  }
  // No CRLF within the 107 bytes a v1 line may take.
  EXPECT_EQ(Parse("PROXY TCP4 " + std::string(200, '1'), &h), ProxyResult::kMalformed);
  // v2: another version, another command, an address block too short for its family.
  std::string v = V2Inet();
  v[12] = '\x31';
  EXPECT_EQ(Parse(v, &h), ProxyResult::kMalformed);
  v[12] = '\x22';
  EXPECT_EQ(Parse(v, &h), ProxyResult::kMalformed);
  std::string short_block = kV2Signature + "\x21\x11" + std::string("\x00\x04", 2) + "abcd";
  EXPECT_EQ(Parse(short_block, &h), ProxyResult::kMalformed);
}

TEST(ProxyProtocol, V2LongerThanTheBoundIsTooLargeBeforeItArrives) {
  ProxyHeader h;
  // The length field alone says so: nothing more is waited for.
  const std::string fixed = kV2Signature + "\x21\x11" + std::string("\x04\x00", 2);  // 1024 + 16
  EXPECT_EQ(Parse(fixed, &h), ProxyResult::kTooLarge);
  const std::string largest = V2Inet(std::string(kMaxProxyHeader - 28, 'x'));
  EXPECT_EQ(Parse(largest, &h), ProxyResult::kDone);
  EXPECT_EQ(h.length, kMaxProxyHeader);
}

}  // namespace
}  // namespace h2gate
