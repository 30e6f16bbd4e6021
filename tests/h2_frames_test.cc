#include "front/h2_frames.h"

#include <gtest/gtest.h>

#include <random>
#include <vector>

namespace h2gate::h2 {
namespace {

std::string Header(std::uint32_t length, std::uint8_t type, std::uint8_t flags,
                   std::uint32_t stream) {
  return {static_cast<char>(length >> 16), static_cast<char>(length >> 8),
          static_cast<char>(length),       static_cast<char>(type),
          static_cast<char>(flags),        static_cast<char>(stream >> 24),
          static_cast<char>(stream >> 16), static_cast<char>(stream >> 8),
          static_cast<char>(stream)};
}

// A client's stream: preface, SETTINGS, HEADERS with a payload, RST_STREAM(CANCEL), DATA.
std::string Sample() {
  std::string s(kClientPreface);
  s += Header(6, kSettings, 0, 0) + std::string(6, '\x01');
  s += Header(20, kHeaders, kFlagEndHeaders, 1) + std::string(20, 'h');
  s += Header(4, kRstStream, 0, 1) + std::string("\0\0\0\x08", 4);
  s += Header(3, kData, kFlagEndStream, 0x80000003u) + "abc";  // reserved bit set
  s += Header(8, kPing, kFlagAck, 0) + "h2gdrain";
  return s;
}

std::vector<Frame> ReadAll(std::string_view bytes, std::size_t piece) {
  FrameReader reader(kClientPreface.size());
  std::vector<Frame> frames;
  for (std::size_t i = 0; i < bytes.size(); i += piece) {
    EXPECT_TRUE(reader.Feed(bytes.substr(i, piece), [&](const Frame& f) {
      frames.push_back(f);
      return true;
    }));
  }
  EXPECT_TRUE(reader.AtBoundary());
  return frames;
}

TEST(FrameReader, SameFramesWhateverTheSplit) {
  const std::string s = Sample();
  for (std::size_t piece : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{9},
                            std::size_t{13}, s.size()}) {
    const auto frames = ReadAll(s, piece);
    ASSERT_EQ(frames.size(), 5u) << "piece " << piece;
    EXPECT_EQ(frames[0].type, kSettings);
    EXPECT_EQ(frames[0].length, 6u);
    EXPECT_EQ(frames[1].type, kHeaders);
    EXPECT_EQ(frames[1].flags, kFlagEndHeaders);
    EXPECT_EQ(frames[1].stream_id, 1u);
    EXPECT_EQ(frames[2].type, kRstStream);
    EXPECT_EQ(frames[2].error_code, static_cast<std::uint32_t>(ErrorCode::kCancel));
    EXPECT_EQ(frames[3].type, kData);
    EXPECT_EQ(frames[3].stream_id, 3u) << "the reserved bit is not part of the id";
    EXPECT_EQ(frames[3].error_code, 0u);
    EXPECT_EQ(frames[4].type, kPing);
    EXPECT_EQ(frames[4].flags, kFlagAck);
    EXPECT_EQ(frames[4].ping_data, 0x683267647261696eu) << "\"h2gdrain\", big-endian";
    EXPECT_EQ(frames[4].error_code, 0u);
  }
}

TEST(FrameReader, BoundaryOnlyBetweenFrames) {
  const std::string frame = Header(5, kPing, 0, 0) + "12345";
  FrameReader reader;
  auto ignore = [](const Frame&) { return true; };
  EXPECT_TRUE(reader.AtBoundary());
  for (std::size_t i = 0; i + 1 < frame.size(); ++i) {
    reader.Feed(frame.substr(i, 1), ignore);
    EXPECT_FALSE(reader.AtBoundary()) << i;
  }
  reader.Feed(frame.substr(frame.size() - 1), ignore);
  EXPECT_TRUE(reader.AtBoundary());
}

TEST(FrameReader, StopsWhenTold) {
  const std::string s = Sample();
  FrameReader reader(kClientPreface.size());
  int seen = 0;
  EXPECT_FALSE(reader.Feed(s, [&](const Frame&) { return ++seen < 2; }));
  EXPECT_EQ(seen, 2);
}

// Random bytes in random pieces: never reads out of bounds, and frames come out identically
// whether fed whole or in pieces.
TEST(FrameReader, PiecesNeverChangeTheFrames) {
  std::mt19937 rng(7);
  for (int round = 0; round < 200; ++round) {
    std::string bytes(1 + rng() % 400, '\0');
    for (char& c : bytes) c = static_cast<char>(rng() % 4 == 0 ? rng() : rng() % 3);
    std::vector<std::tuple<std::uint32_t, int, int, std::uint32_t, std::uint32_t, std::uint64_t>>
        whole, split;
    auto into = [](auto& v) {
      return [&v](const Frame& f) {
        v.emplace_back(f.length, f.type, f.flags, f.stream_id, f.error_code, f.ping_data);
        return true;
      };
    };
    FrameReader a, b;
    a.Feed(bytes, into(whole));
    for (std::size_t i = 0; i < bytes.size();) {
      const std::size_t k = 1 + rng() % 11;
      b.Feed(std::string_view(bytes).substr(i, k), into(split));
      i += k;
    }
    EXPECT_EQ(whole, split) << "round " << round;
  }
}

TEST(Goaway, WireFormat) {
  const std::string g = Goaway(41, ErrorCode::kEnhanceYourCalm, "why");
  EXPECT_EQ(g, Header(11, kGoaway, 0, 0) + std::string("\0\0\0\x29\0\0\0\x0b", 8) + "why");
}

TEST(Ping, WireFormat) {
  EXPECT_EQ(Ping(0x0102030405060708u),
            Header(8, kPing, 0, 0) + std::string("\x01\x02\x03\x04\x05\x06\x07\x08", 8));
}

// A PING shorter than its 8 bytes of data (a PROTOCOL_ERROR the server answers) reports what
// it has, and the reader stays in step with the frames after it.
TEST(FrameReader, ShortPingKeepsStep) {
  const std::string s = Header(3, kPing, 0, 0) + "abc" + Header(0, kSettings, kFlagAck, 0);
  const auto frames = ReadAll(std::string(kClientPreface) + s, 1);
  ASSERT_EQ(frames.size(), 2u);
  EXPECT_EQ(frames[0].ping_data, 0u);
  EXPECT_EQ(frames[1].type, kSettings);
}

}  // namespace
}  // namespace h2gate::h2
