// gRPC's HTTP/2 wire format for the calls the gateway relays itself (gRPC's PROTOCOL-HTTP2.md):
// length-prefixed messages in DATA frames, base64 in "-bin" metadata, percent-encoded
// grpc-message. Pure functions and a bounded incremental reader; no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace h2gate {

// Splits a DATA byte stream into messages. Bytes may arrive split anywhere.
class GrpcMessageReader {
 public:
  enum class Error { kNone, kCompressed, kTooLarge };
  explicit GrpcMessageReader(std::size_t max_message) : max_message_(max_message) {}

  // Calls `on_message(std::string)` for every message completed by `bytes`; stops at the first
  // error and returns it (the reader is then unusable).
  template <typename OnMessage>
  Error Feed(std::string_view bytes, OnMessage&& on_message);
  // True between messages: a stream that ends here ended cleanly.
  bool AtBoundary() const { return have_ == 0 && !in_message_; }

 private:
  const std::size_t max_message_;
  unsigned char prefix_[5];
  std::size_t have_ = 0;  // prefix bytes collected
  bool in_message_ = false;
  std::size_t want_ = 0;  // message bytes still missing
  std::string message_;
};

// The 5-byte prefix (uncompressed) and `message`.
std::string FrameGrpcMessage(std::string_view message);
void AppendGrpcMessage(std::string& out, std::string_view message);
// The prefix alone, for a message of `size` bytes appended next.
void AppendGrpcPrefix(std::string& out, std::size_t size);

// Base64 as "-bin" metadata uses it: sent padded; accepted with or without padding.
std::string Base64Encode(std::string_view bytes);
std::optional<std::string> Base64Decode(std::string_view text);

// grpc-message's percent-encoding: bytes outside printable ASCII, and '%', as %XX.
std::string PercentEncode(std::string_view text);

template <typename OnMessage>
GrpcMessageReader::Error GrpcMessageReader::Feed(std::string_view bytes, OnMessage&& on_message) {
  while (!bytes.empty()) {
    if (!in_message_) {
      while (have_ < sizeof prefix_ && !bytes.empty()) {
        prefix_[have_++] = static_cast<unsigned char>(bytes.front());
        bytes.remove_prefix(1);
      }
      if (have_ < sizeof prefix_) break;
      if (prefix_[0] != 0) return Error::kCompressed;
      want_ = (std::size_t{prefix_[1]} << 24) | (std::size_t{prefix_[2]} << 16) |
              (std::size_t{prefix_[3]} << 8) | prefix_[4];
      if (want_ > max_message_) return Error::kTooLarge;
      have_ = 0;
      in_message_ = true;
      message_.clear();
      message_.reserve(want_);
    }
    const std::size_t k = want_ < bytes.size() ? want_ : bytes.size();
    message_.append(bytes.data(), k);
    bytes.remove_prefix(k);
    want_ -= k;
    if (want_ == 0) {
      in_message_ = false;
      on_message(std::move(message_));
      message_ = {};
    }
  }
  return Error::kNone;
}

}  // namespace h2gate
