#include "front/h2_policer.h"

#include <gtest/gtest.h>

namespace h2gate {
namespace {

using namespace std::chrono_literals;
using h2::Frame;

Frame F(std::uint8_t type, std::uint8_t flags = 0, std::uint32_t stream = 0,
        std::uint32_t length = 8, std::uint32_t code = 0) {
  Frame f;
  f.type = type;
  f.flags = flags;
  f.stream_id = stream;
  f.length = length;
  f.error_code = code;
  return f;
}

Frame Open(std::uint32_t stream) { return F(h2::kHeaders, h2::kFlagEndHeaders, stream, 40); }
Frame Reset(std::uint32_t stream) {
  return F(h2::kRstStream, 0, stream, 4, static_cast<std::uint32_t>(h2::ErrorCode::kCancel));
}
Frame Trailers(std::uint32_t stream) {
  return F(h2::kHeaders, h2::kFlagEndHeaders | h2::kFlagEndStream, stream, 20);
}

class Policer : public ::testing::Test {
 protected:
  Http2Limits limits_;
  H2Policer::Clock::time_point now_ = H2Policer::Clock::now();
};

TEST_F(Policer, ResetBurstIsCutOneResetPastTheBudget) {
  limits_.reset_burst = 10;
  H2Policer p(limits_);
  std::uint32_t id = 1;
  for (int i = 0; i < 10; ++i, id += 2) {
    ASSERT_FALSE(p.FromClient(Open(id), now_));
    ASSERT_FALSE(p.FromClient(Reset(id), now_)) << i;
  }
  ASSERT_FALSE(p.FromClient(Open(id), now_));
  EXPECT_EQ(p.FromClient(Reset(id), now_), Http2Abuse::kRapidReset);
}

TEST_F(Policer, ResetsRefillAtTheRate) {
  limits_.reset_burst = 10;
  limits_.reset_rate = 100;
  H2Policer p(limits_);
  std::uint32_t id = 1;
  // 1,000 resets over 10.5 s: 95 per second, under the rate.
  for (int i = 0; i < 1000; ++i, id += 2) {
    const auto t = now_ + std::chrono::microseconds(10500 * i);
    ASSERT_FALSE(p.FromClient(Open(id), t));
    ASSERT_FALSE(p.FromClient(Reset(id), t)) << i;
  }
}

TEST_F(Policer, ResetOfAFinishedStreamIsFree) {
  limits_.reset_burst = 1;
  H2Policer p(limits_);
  for (std::uint32_t id = 1; id < 2001; id += 2) {
    ASSERT_FALSE(p.FromClient(Open(id), now_));
    p.FromServer(Trailers(id), now_);
    ASSERT_FALSE(p.FromClient(Reset(id), now_));
  }
  EXPECT_EQ(p.open_streams(), 0u);
}

TEST_F(Policer, ServerResetsSpendTheBudgetButNotNoErrorOrRefused) {
  limits_.reset_burst = 2;
  H2Policer p(limits_);
  auto server_reset = [&](std::uint32_t id, h2::ErrorCode code) {
    p.FromServer(F(h2::kRstStream, 0, id, 4, static_cast<std::uint32_t>(code)), now_);
    return p.TakeServerAbuse();
  };
  std::uint32_t id = 1;
  for (int i = 0; i < 20; ++i, id += 2) {
    ASSERT_FALSE(p.FromClient(Open(id), now_));
    ASSERT_FALSE(server_reset(id, i % 2 ? h2::ErrorCode::kNoError : h2::ErrorCode::kRefusedStream));
  }
  for (int i = 0; i < 2; ++i, id += 2) {
    ASSERT_FALSE(p.FromClient(Open(id), now_));
    ASSERT_FALSE(server_reset(id, h2::ErrorCode::kProtocolError));
  }
  ASSERT_FALSE(p.FromClient(Open(id), now_));
  EXPECT_EQ(server_reset(id, h2::ErrorCode::kProtocolError), Http2Abuse::kRapidReset);
  EXPECT_FALSE(p.TakeServerAbuse()) << "reported once";
}

TEST_F(Policer, OpenStreamsBeyondTwiceTheLimit) {
  limits_.max_concurrent_streams = 5;
  H2Policer p(limits_);
  for (std::uint32_t id = 1; id <= 19; id += 2) ASSERT_FALSE(p.FromClient(Open(id), now_));
  EXPECT_EQ(p.open_streams(), 10u);
  EXPECT_EQ(p.FromClient(Open(21), now_), Http2Abuse::kStreams);
}

TEST_F(Policer, TrailersAndOldIdsOpenNothing) {
  H2Policer p(limits_);
  ASSERT_FALSE(p.FromClient(Open(5), now_));
  ASSERT_FALSE(p.FromClient(Trailers(5), now_));  // the client's trailers
  ASSERT_FALSE(p.FromClient(Open(3), now_));      // an id below the last: not a new stream
  ASSERT_FALSE(p.FromClient(Open(4), now_));      // even: not a client stream
  EXPECT_EQ(p.open_streams(), 1u);
  EXPECT_EQ(p.last_client_stream(), 5u);
}

TEST_F(Policer, ControlFrameBudgets) {
  struct Case {
    Frame frame;
    int burst;
    Http2Abuse abuse;
  };
  const Case cases[] = {
      {F(h2::kPing), limits_.ping_burst, Http2Abuse::kPing},
      {F(h2::kSettings, 0, 0, 6), limits_.settings_burst, Http2Abuse::kSettings},
      {F(h2::kPriority, 0, 1, 5), limits_.priority_burst, Http2Abuse::kPriority},
      {F(h2::kData, 0, 1, 0), limits_.empty_burst, Http2Abuse::kEmptyFrames},
  };
  for (const Case& c : cases) {
    H2Policer p(limits_);
    for (int i = 0; i < c.burst; ++i) ASSERT_FALSE(p.FromClient(c.frame, now_)) << i;
    EXPECT_EQ(p.FromClient(c.frame, now_), c.abuse) << Http2AbuseName(c.abuse);
  }
}

TEST_F(Policer, AcksAndNonEmptyFramesAreFree) {
  limits_.ping_burst = limits_.settings_burst = limits_.empty_burst = 1;
  H2Policer p(limits_);
  for (int i = 0; i < 1000; ++i) {
    ASSERT_FALSE(p.FromClient(F(h2::kPing, h2::kFlagAck), now_));
    ASSERT_FALSE(p.FromClient(F(h2::kSettings, h2::kFlagAck, 0, 0), now_));
    ASSERT_FALSE(p.FromClient(F(h2::kData, 0, 1, 100), now_));
    ASSERT_FALSE(p.FromClient(F(h2::kData, h2::kFlagEndStream, 1, 0), now_));  // a half-close
    ASSERT_FALSE(p.FromClient(F(h2::kWindowUpdate, 0, 0, 4), now_));
  }
}

TEST_F(Policer, HeaderBlockCap) {
  limits_.max_header_block = 1000;
  H2Policer p(limits_);
  ASSERT_FALSE(p.FromClient(F(h2::kHeaders, 0, 1, 400), now_));
  ASSERT_FALSE(p.FromClient(F(h2::kContinuation, 0, 1, 400), now_));
  EXPECT_EQ(p.FromClient(F(h2::kContinuation, 0, 1, 400), now_), Http2Abuse::kHeaderBlock);

  H2Policer q(limits_);  // blocks that end in time do not add up
  for (std::uint32_t id = 1; id < 100; id += 2) {
    ASSERT_FALSE(q.FromClient(F(h2::kHeaders, 0, id, 400), now_));
    ASSERT_FALSE(q.FromClient(F(h2::kContinuation, h2::kFlagEndHeaders, id, 400), now_));
  }
}

TEST(TokenBucket, BurstThenRate) {
  TokenBucket b(3, 10);
  const auto t0 = TokenBucket::Clock::now();
  EXPECT_TRUE(b.Take(t0));
  EXPECT_TRUE(b.Take(t0));
  EXPECT_TRUE(b.Take(t0));
  EXPECT_FALSE(b.Take(t0));
  EXPECT_FALSE(b.Take(t0 + 50ms));  // half a token
  EXPECT_TRUE(b.Take(t0 + 110ms));
  EXPECT_TRUE(b.Take(t0 + 10s));  // refills to the burst, no further
  EXPECT_TRUE(b.Take(t0 + 10s));
  EXPECT_TRUE(b.Take(t0 + 10s));
  EXPECT_FALSE(b.Take(t0 + 10s));
}

}  // namespace
}  // namespace h2gate
