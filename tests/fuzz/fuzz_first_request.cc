// The kept-connection path's pure halves on arbitrary bytes: ClassifyFirstRequest (what the
// sniffer routes an HTTP/2 connection by), GrpcMessageReader (how DATA becomes gRPC messages) and
// the base64 and percent-encoding of metadata.
//
// Input: a control byte, then the bytes that follow the client preface. The control byte seeds
// the split points the message reader is fed at; its top bit repeats the bytes past the
// classifier's look limit.
//
// What ClassifyFirstRequest promises, checked here on prefixes of each input:
//  - kGrpc and kOther are final: every longer input with the same prefix gets the same answer
//    (the classifier reads whole frames in order and clips at kFirstRequestLookLimit, so a frame
//    that decided stays in view).
//  - kNone is not final, by design: it means "whole frames, the first SETTINGS, no request yet",
//    which a later HEADERS (or a frame cut short: kNeedMore) changes. It is exactly that: kNone
//    if and only if the input is the bare preface or ends on a frame boundary with such frames.
//  - Past the look limit the answer is kGrpc or kOther; so is it, at once, for a frame that
//    claims more than the limit leaves room for (no buffering for a frame never seen whole).
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "call/grpc_wire.h"
#include "front/h2_frames.h"
#include "fuzz_check.h"
#include "h2/first_request.h"

using namespace h2gate;
using h2gate::fuzz::Check;
using h2gate::fuzz::Rng;

namespace {

std::uint32_t Read24(std::string_view b, std::size_t at) {
  return (static_cast<unsigned char>(b[at]) << 16) | (static_cast<unsigned char>(b[at + 1]) << 8) |
         static_cast<unsigned char>(b[at + 2]);
}

// The offsets (from the start of `bytes`) where whole frames start after the preface, and the
// offset just past the last whole frame.
std::vector<std::size_t> FrameStarts(std::string_view bytes) {
  std::vector<std::size_t> starts;
  std::size_t at = h2::kClientPreface.size();
  while (at + h2::kFrameHeaderSize <= bytes.size()) {
    starts.push_back(at);
    at += h2::kFrameHeaderSize + Read24(bytes, at);
  }
  if (at <= bytes.size()) starts.push_back(at);
  return starts;
}

// kNone's characterisation for an unclipped input: the bare preface, or whole frames ending
// exactly at the end, the first a SETTINGS, none of them starting a request or breaking the rules.
bool ExpectNone(std::string_view bytes) {
  const std::size_t preface = h2::kClientPreface.size();
  if (bytes.size() == preface) return true;
  std::size_t at = preface;
  bool first = true;
  while (at + h2::kFrameHeaderSize <= bytes.size()) {
    const std::size_t end = at + h2::kFrameHeaderSize + Read24(bytes, at);
    if (end > bytes.size()) return false;
    const auto type = static_cast<std::uint8_t>(bytes[at + 3]);
    if (first && type != h2::kSettings) return false;
    if (type == h2::kHeaders || type == h2::kData || type == h2::kPushPromise ||
        type == h2::kContinuation) {
      return false;
    }
    first = false;
    at = end;
  }
  return !first && at == bytes.size();
}

void CheckClassifier(std::string_view bytes, Rng& rng) {
  const std::size_t preface = h2::kClientPreface.size();
  const FirstRequest whole = ClassifyFirstRequest(bytes);
  Check(ClassifyFirstRequest(bytes) == whole);  // no hidden state

  // Cut points: every length near the start, around each frame boundary, around the look limit,
  // and a few anywhere. Checked in increasing order.
  std::vector<std::size_t> cuts;
  for (std::size_t n = 0; n <= bytes.size() && n <= preface + 48; ++n) cuts.push_back(n);
  const std::vector<std::size_t> starts = FrameStarts(bytes);
  for (std::size_t i = 0; i < starts.size() && i < 200; ++i) {
    for (std::size_t d : {0, 1, 8, 9, 10}) cuts.push_back(starts[i] + d);
    cuts.push_back(starts[i] - 1);
  }
  for (std::size_t d : {0, 1}) {
    cuts.push_back(kFirstRequestLookLimit - d);
    cuts.push_back(kFirstRequestLookLimit + d);
  }
  for (int i = 0; i < 16 && !bytes.empty(); ++i) cuts.push_back(rng.Next() % bytes.size());
  cuts.push_back(bytes.size());
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());

  FirstRequest decided = FirstRequest::kNeedMore;
  for (const std::size_t n : cuts) {
    if (n > bytes.size()) break;
    const std::string_view prefix = bytes.substr(0, n);
    const FirstRequest r = ClassifyFirstRequest(prefix);
    if (decided == FirstRequest::kGrpc || decided == FirstRequest::kOther) Check(r == decided);
    decided = r;
    if (n < preface) {
      Check(r == FirstRequest::kNeedMore);
    } else if (n < kFirstRequestLookLimit) {
      Check((r == FirstRequest::kNone) == ExpectNone(prefix));
    } else {
      Check(r == FirstRequest::kGrpc || r == FirstRequest::kOther);
    }
  }
  Check(decided == whole);
}

// Messages and error from feeding `bytes` in pieces whose sizes `rng` picks (at most `max_piece`).
struct ReaderResult {
  std::vector<std::string> messages;
  GrpcMessageReader::Error error = GrpcMessageReader::Error::kNone;
  bool at_boundary = false;
  bool operator==(const ReaderResult&) const = default;
};

ReaderResult Read(std::string_view bytes, std::size_t max_message, Rng* rng,
                  std::uint32_t max_piece) {
  ReaderResult out;
  GrpcMessageReader reader(max_message);
  while (!bytes.empty()) {
    const std::size_t n = rng == nullptr
                              ? bytes.size()
                              : std::min<std::size_t>(1 + rng->Next() % max_piece, bytes.size());
    out.error = reader.Feed(bytes.substr(0, n), [&](std::string message) {
      out.messages.push_back(std::move(message));
    });
    bytes.remove_prefix(n);
    if (out.error != GrpcMessageReader::Error::kNone) return out;
  }
  out.at_boundary = reader.AtBoundary();
  return out;
}

void CheckReader(std::string_view bytes, std::uint8_t control) {
  for (const std::size_t max_message : {std::size_t{16}, std::size_t{4096}}) {
    const ReaderResult whole = Read(bytes, max_message, nullptr, 0);
    Rng rng{control};
    const ReaderResult split = Read(bytes, max_message, &rng, 1u << (control & 7));
    Check(whole == split);
    // Without an error every byte is accounted for: prefixes, messages, and a tail in progress.
    std::size_t framed = 0;
    for (const auto& m : whole.messages) {
      Check(m.size() <= max_message);
      framed += 5 + m.size();
    }
    Check(framed <= bytes.size());
    if (whole.error == GrpcMessageReader::Error::kNone) {
      Check(whole.at_boundary == (framed == bytes.size()));
      // The framing the gateway writes reads back as the same messages.
      std::string again;
      for (const auto& m : whole.messages) AppendGrpcMessage(again, m);
      Check(again == bytes.substr(0, framed));
    }
  }
}

void CheckEncodings(std::string_view bytes) {
  const std::string encoded = Base64Encode(bytes);
  Check(encoded.size() == (bytes.size() + 2) / 3 * 4);
  Check(Base64Decode(encoded) == std::string(bytes));
  std::string_view unpadded = encoded;
  while (!unpadded.empty() && unpadded.back() == '=') unpadded.remove_suffix(1);
  Check(Base64Decode(unpadded) == std::string(bytes));  // accepted without padding too
  // Arbitrary text that decodes re-encodes to text that decodes the same.
  if (const auto decoded = Base64Decode(bytes))
    Check(Base64Decode(Base64Encode(*decoded)) == decoded);

  const std::string percent = PercentEncode(bytes);
  std::string back;
  for (std::size_t i = 0; i < percent.size(); ++i) {
    const auto c = static_cast<unsigned char>(percent[i]);
    Check(c >= 0x20 && c <= 0x7e);
    if (c != '%') {
      back += static_cast<char>(c);
      continue;
    }
    Check(i + 2 < percent.size());
    back += static_cast<char>(std::stoi(percent.substr(i + 1, 2), nullptr, 16));
    i += 2;
  }
  Check(back == bytes);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  const std::uint8_t control = data[0];
  const std::string_view rest(reinterpret_cast<const char*>(data + 1), size - 1);

  std::string bytes(h2::kClientPreface);
  bytes.append(rest);
  if ((control & 0x80) != 0 && !rest.empty()) {
    while (bytes.size() <= kFirstRequestLookLimit + 16) bytes.append(rest);
  }
  Rng rng{control};
  CheckClassifier(bytes, rng);
  CheckReader(rest, control);
  CheckEncodings(rest);
  return 0;
}
