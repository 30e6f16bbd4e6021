#include "front/detect.h"

#include <gtest/gtest.h>

#include <random>

namespace h2gate {
namespace {

TEST(Detect, FullPrefaceIsHttp2) { EXPECT_EQ(Detect(kHttp2Preface), Protocol::kHttp2); }

TEST(Detect, PrefaceFollowedByFramesIsHttp2) {
  std::string bytes(kHttp2Preface);
  bytes += std::string("\x00\x00\x00\x04\x00\x00\x00\x00\x00", 9);  // empty SETTINGS
  EXPECT_EQ(Detect(bytes), Protocol::kHttp2);
}

// The preface arriving one byte at a time: undecided until the last byte, then HTTP/2.
TEST(Detect, PrefaceSplitAtEveryByte) {
  for (std::size_t n = 0; n < kHttp2Preface.size(); ++n) {
    EXPECT_EQ(Detect(kHttp2Preface.substr(0, n)), Protocol::kNeedMore) << "prefix length " << n;
  }
}

struct Case {
  std::string bytes;
  Protocol want;
};

class DetectTable : public ::testing::TestWithParam<Case> {};

TEST_P(DetectTable, Decides) { EXPECT_EQ(Detect(GetParam().bytes), GetParam().want); }

INSTANTIATE_TEST_SUITE_P(
    NearMissesAndOthers, DetectTable,
    ::testing::Values(
        // HTTP/1 requests, including ones that share the preface's first bytes.
        Case{"GET / HTTP/1.1\r\n", Protocol::kHttp1},
        Case{"POST /echo.v1.Echo/Echo HTTP/1.1\r\n", Protocol::kHttp1},
        Case{"PRI * HTTP/1.1\r\n\r\n", Protocol::kHttp1}, Case{"PRI * HTTP/2.1", Protocol::kHttp1},
        Case{"PRI / HTTP/2.0\r\n", Protocol::kHttp1}, Case{"PRX * HTTP/2.0", Protocol::kHttp1},
        Case{"GET /\r\n", Protocol::kHttp1},  // HTTP/0.9: Beast answers 400
        Case{"M-SEARCH * HTTP/1.1\r\n", Protocol::kHttp1},
        // Still undecided.
        Case{"G", Protocol::kNeedMore}, Case{"GET", Protocol::kNeedMore},
        Case{"P", Protocol::kNeedMore}, Case{"PRI", Protocol::kNeedMore},
        Case{"PRI ", Protocol::kNeedMore}, Case{"PRI * HTTP/2.0\r\n", Protocol::kNeedMore},
        Case{"\x16", Protocol::kNeedMore}, Case{std::string(20, 'A'), Protocol::kNeedMore},
        // TLS ClientHello records (TLS 1.0 and 1.2 record versions).
        Case{std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11), Protocol::kTls},
        Case{std::string("\x16\x03\x03\x00\x2a", 5), Protocol::kTls},
        Case{std::string("\x16\x03", 2), Protocol::kTls},
        // Neither.
        Case{std::string("\x16\x02", 2), Protocol::kUnknown},
        Case{std::string("\x00\x00\x00\x04", 4), Protocol::kUnknown},
        Case{" GET / HTTP/1.1", Protocol::kUnknown}, Case{"GET\t/ HTTP/1.1", Protocol::kUnknown},
        Case{"SSH-2.0-OpenSSH_9.2\r\n", Protocol::kUnknown},
        Case{std::string(21, 'A'), Protocol::kUnknown},
        Case{std::string("\xff\xfe\xfd", 3), Protocol::kUnknown}));

// Monotonic: once a prefix decides, every longer prefix of the same bytes decides the same way.
TEST(Detect, RandomBytesNeverChangeTheirMind) {
  std::mt19937 rng(1234);
  for (int round = 0; round < 2000; ++round) {
    std::string bytes(32, '\0');
    for (auto& c : bytes) c = static_cast<char>(rng() % 256);
    // Half the rounds start like the preface or a method, to reach the interesting branches.
    if (round % 4 == 1) bytes.replace(0, round % 24, kHttp2Preface.substr(0, round % 24));
    if (round % 4 == 2) bytes.replace(0, 4, "GET ");
    Protocol decided = Protocol::kNeedMore;
    for (std::size_t n = 0; n <= bytes.size(); ++n) {
      const Protocol p = Detect(std::string_view(bytes).substr(0, n));
      if (decided != Protocol::kNeedMore) {
        ASSERT_EQ(p, decided) << "round " << round << " length " << n;
      }
      decided = p;
    }
    EXPECT_NE(decided, Protocol::kNeedMore) << "32 bytes always decide";
  }
}

TEST(Detect, Names) {
  EXPECT_EQ(ProtocolName(Protocol::kHttp2), "http2");
  EXPECT_EQ(ProtocolName(Protocol::kHttp1), "http1");
  EXPECT_EQ(ProtocolName(Protocol::kTls), "tls");
  EXPECT_EQ(ProtocolName(Protocol::kUnknown), "unknown");
}

}  // namespace
}  // namespace h2gate
