// What an HTTP/2 connection's first request is, from the bytes that came with its preface; and
// gRPC's wire format pieces the gateway's own HTTP/2 sessions use.
#include <gtest/gtest.h>

#include "call/grpc_wire.h"
#include "h2/first_request.h"
#include "support/h2_frames.h"

namespace h2gate {
namespace {

using testing::EchoCallHeaders;
using testing::Frame;
using testing::Literal;

const std::string kMagic = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
const std::string kSettings = Frame(4, 0, 0, std::string("\0\3\0\0\0\x64", 6));
const std::string kWindowUpdate = Frame(8, 0, 0, std::string("\0\x0f\0\x01", 4));

std::string JsonHeaders() {
  return Literal(":method", "POST") + Literal(":scheme", "http") +
         Literal(":path", "/echo.v1.Echo/Echo") + Literal(":authority", "t") +
         Literal("content-type", "application/json");
}

TEST(FirstRequest, GrpcStacksThatWaitForTheServersSettingsShowNoRequest) {
  EXPECT_EQ(ClassifyFirstRequest(kMagic), FirstRequest::kNone);
  EXPECT_EQ(ClassifyFirstRequest(kMagic + kSettings), FirstRequest::kNone);
  EXPECT_EQ(ClassifyFirstRequest(kMagic + kSettings + kWindowUpdate), FirstRequest::kNone);
}

TEST(FirstRequest, IncompleteBytesNeedMore) {
  EXPECT_EQ(ClassifyFirstRequest(kMagic.substr(0, 10)), FirstRequest::kNeedMore);
  EXPECT_EQ(ClassifyFirstRequest(kMagic + kSettings.substr(0, 12)), FirstRequest::kNeedMore);
  const std::string headers = Frame(1, 0x5, 1, EchoCallHeaders());
  EXPECT_EQ(ClassifyFirstRequest(kMagic + kSettings + headers.substr(0, 20)),
            FirstRequest::kNeedMore);
  // A header block continued in a CONTINUATION frame not here yet.
  EXPECT_EQ(ClassifyFirstRequest(kMagic + kSettings + Frame(1, 0x1, 1, EchoCallHeaders())),
            FirstRequest::kNeedMore);
}

TEST(FirstRequest, TheFirstRequestsContentTypeDecides) {
  const std::string grpc = kMagic + kSettings + kWindowUpdate + Frame(1, 0x4, 1, EchoCallHeaders());
  EXPECT_EQ(ClassifyFirstRequest(grpc), FirstRequest::kGrpc);
  EXPECT_EQ(ClassifyFirstRequest(kMagic + kSettings + Frame(1, 0x5, 1, JsonHeaders())),
            FirstRequest::kOther);
  // A GET with no content-type at all (curl's GET /healthz).
  const std::string get = Literal(":method", "GET") + Literal(":scheme", "http") +
                          Literal(":path", "/healthz") + Literal(":authority", "t");
  EXPECT_EQ(ClassifyFirstRequest(kMagic + kSettings + Frame(1, 0x5, 1, get)), FirstRequest::kOther);
  // The block split across HEADERS and CONTINUATION, with padding and priority on the HEADERS.
  const std::string block = EchoCallHeaders();
  const std::string padded = std::string(1, '\x03') + std::string("\0\0\0\0\x10", 5) +
                             block.substr(0, 10) + std::string(3, '\0');
  EXPECT_EQ(ClassifyFirstRequest(kMagic + kSettings + Frame(1, 0x8 | 0x20, 1, padded) +
                                 Frame(9, 0x4, 1, block.substr(10))),
            FirstRequest::kGrpc);
}

TEST(FirstRequest, ProtocolErrorsAndFloodsAreTheGatewaysToAnswer) {
  // Not SETTINGS first.
  EXPECT_EQ(ClassifyFirstRequest(kMagic + Frame(6, 0, 0, std::string(8, '\0'))),
            FirstRequest::kOther);
  // DATA before any request.
  EXPECT_EQ(ClassifyFirstRequest(kMagic + kSettings + Frame(0, 0, 1, "x")), FirstRequest::kOther);
  // A header block that does not decode.
  EXPECT_EQ(ClassifyFirstRequest(kMagic + kSettings + Frame(1, 0x4, 1, std::string(8, '\xff'))),
            FirstRequest::kOther);
  // A first frame that claims 16 MiB: decided at once, not buffered until it is whole.
  EXPECT_EQ(ClassifyFirstRequest(kMagic + std::string("\xff\xff\xff\x04\0\0\0\0\0", 9) + "x"),
            FirstRequest::kOther);
  // A HEADERS frame that fits in the look limit: still waited for.
  EXPECT_EQ(ClassifyFirstRequest(kMagic + kSettings +
                                 Frame(1, 0x4, 1, std::string(100, 'h')).substr(0, 19)),
            FirstRequest::kNeedMore);
  // 16 KiB of PINGs and no request.
  std::string pings = kMagic + kSettings;
  while (pings.size() < kFirstRequestLookLimit) pings += Frame(6, 0, 0, std::string(8, '\0'));
  EXPECT_EQ(ClassifyFirstRequest(pings), FirstRequest::kOther);
}

TEST(FirstRequest, GrpcContentTypes) {
  EXPECT_TRUE(IsGrpcContentType("application/grpc"));
  EXPECT_TRUE(IsGrpcContentType("application/grpc+proto"));
  EXPECT_TRUE(IsGrpcContentType("Application/GRPC;charset=utf-8"));
  EXPECT_FALSE(IsGrpcContentType("application/grpc-web"));
  EXPECT_FALSE(IsGrpcContentType("application/grpc-web+proto"));
  EXPECT_FALSE(IsGrpcContentType("application/json"));
  EXPECT_FALSE(IsGrpcContentType(""));
}

TEST(GrpcWire, MessagesSplitAnywhereComeOutWhole) {
  const std::string stream =
      FrameGrpcMessage("first") + FrameGrpcMessage("") + FrameGrpcMessage(std::string(70000, 'x'));
  for (std::size_t piece : {1u, 2u, 5u, 7u, 4096u, 100000u}) {
    GrpcMessageReader reader(1 << 20);
    std::vector<std::string> got;
    for (std::size_t i = 0; i < stream.size(); i += piece) {
      ASSERT_EQ(reader.Feed(std::string_view(stream).substr(i, piece),
                            [&](std::string m) { got.push_back(std::move(m)); }),
                GrpcMessageReader::Error::kNone);
    }
    ASSERT_EQ(got.size(), 3u) << piece;
    EXPECT_EQ(got[0], "first");
    EXPECT_EQ(got[1], "");
    EXPECT_EQ(got[2].size(), 70000u);
    EXPECT_TRUE(reader.AtBoundary());
  }
}

TEST(GrpcWire, CompressedAndOversizeMessagesAreRefused) {
  GrpcMessageReader reader(10);
  auto ignore = [](std::string) {};
  EXPECT_EQ(reader.Feed(std::string("\1\0\0\0\1x", 6), ignore),
            GrpcMessageReader::Error::kCompressed);
  GrpcMessageReader small(10);
  EXPECT_EQ(small.Feed(std::string("\0\0\0\0\x0b", 5), ignore),
            GrpcMessageReader::Error::kTooLarge);
  GrpcMessageReader partial(10);
  EXPECT_EQ(partial.Feed(std::string("\0\0\0", 3), ignore), GrpcMessageReader::Error::kNone);
  EXPECT_FALSE(partial.AtBoundary());
}

TEST(GrpcWire, Base64AsBinaryMetadataUsesIt) {
  for (const std::string raw : {std::string(), std::string("f"), std::string("fo"),
                                std::string("foo"), std::string("\0\xff\x10\x80", 4)}) {
    const std::string encoded = Base64Encode(raw);
    EXPECT_EQ(encoded.size() % 4, 0u);
    EXPECT_EQ(Base64Decode(encoded), raw);
    std::string unpadded = encoded;
    while (!unpadded.empty() && unpadded.back() == '=') unpadded.pop_back();
    EXPECT_EQ(Base64Decode(unpadded), raw);  // gRPC accepts both
  }
  EXPECT_EQ(Base64Encode("foob"), "Zm9vYg==");
  EXPECT_FALSE(Base64Decode("Zm9v!"));
  EXPECT_FALSE(Base64Decode("Z"));
}

TEST(GrpcWire, GrpcMessageIsPercentEncoded) {
  EXPECT_EQ(PercentEncode("plain text"), "plain text");
  EXPECT_EQ(PercentEncode("100% \xc3\xa9\n"), "100%25 %C3%A9%0A");
}

}  // namespace
}  // namespace h2gate
