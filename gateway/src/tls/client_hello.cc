#include "tls/client_hello.h"

#include <algorithm>
#include <bitset>
#include <limits>

namespace h2gate {
namespace {

using Result = ClientHelloResult;

constexpr unsigned char kHandshakeRecord = 22;
constexpr unsigned char kMajorVersion = 3;
constexpr std::size_t kRecordHeaderSize = 5;
// TLSPlaintext's bound (RFC 8446 5.1). 2^14 + 256 is TLSCiphertext's (5.2), and a ClientHello is
// never encrypted; BoringSSL refuses a longer plaintext record too.
constexpr std::size_t kMaxRecordLength = 1 << 14;

constexpr std::uint32_t kClientHelloType = 1;
constexpr std::size_t kRandomSize = 32;
constexpr std::uint32_t kMaxSessionId = 32;
constexpr std::uint32_t kHostNameType = 0;
// DNS names fit in 253 bytes; BoringSSL refuses a host_name longer than 255.
constexpr std::uint32_t kMaxHostName = 255;

constexpr std::uint32_t kServerNameExtension = 0;
constexpr std::uint32_t kAlpnExtension = 16;
constexpr std::uint32_t kSupportedVersionsExtension = 43;

// For the message header, which nothing contains.
constexpr std::size_t kNoEnd = std::numeric_limits<std::size_t>::max();

// The handshake stream: the fragments of the handshake records, in order. A record's header is
// checked when the stream first needs one of its bytes, so nothing after the ClientHello is read.
// Offsets count handshake bytes; every read names the offset where the field containing it ends
// and is malformed past it, so no length is believed beyond what contains it. A read that fails
// leaves the answer in status().
class HandshakeReader {
 public:
  explicit HandshakeReader(std::string_view bytes) : bytes_(bytes) {}

  Result status() const { return status_; }
  std::size_t offset() const { return offset_; }

  bool Fail(Result result) {
    status_ = result;
    return false;
  }

  // A big-endian unsigned integer of `width` bytes.
  bool Uint(std::size_t width, std::size_t end, std::uint32_t* value) {
    if (!Fits(width, end)) return false;
    *value = 0;
    for (std::size_t i = 0; i < width; ++i) {
      std::string_view piece;
      if (!Next(1, &piece)) return false;
      *value = (*value << 8) | static_cast<unsigned char>(piece[0]);
    }
    return true;
  }

  // `n` bytes, appended to `out` unless it is null.
  bool Bytes(std::size_t n, std::size_t end, std::string* out) {
    if (!Fits(n, end)) return false;
    while (n > 0) {
      std::string_view piece;
      if (!Next(n, &piece)) return false;
      if (out != nullptr) out->append(piece);
      n -= piece.size();
    }
    return true;
  }

  // Where a field of `length` bytes starting here ends, if it ends within `end`.
  bool Field(std::size_t length, std::size_t end, std::size_t* field_end) {
    if (!Fits(length, end)) return false;
    *field_end = offset_ + length;
    return true;
  }

 private:
  bool Fits(std::size_t n, std::size_t end) {
    if (n > end - offset_) return Fail(Result::kMalformed);
    return true;
  }

  // The next piece of the stream, at most `max` (> 0) bytes, all from one record.
  bool Next(std::size_t max, std::string_view* piece) {
    if (record_left_ == 0 && !NextRecord()) return false;
    if (at_ == bytes_.size()) return Fail(Result::kNeedMore);
    const std::size_t n = std::min({max, record_left_, bytes_.size() - at_});
    *piece = bytes_.substr(at_, n);
    at_ += n;
    record_left_ -= n;
    offset_ += n;
    return true;
  }

  bool NextRecord() {
    // Byte by byte: an answer the first bytes give does not wait for the rest of the header.
    const std::string_view header = bytes_.substr(at_, kRecordHeaderSize);
    // Only the connection's first record can be "not TLS" (see the header).
    const Result wrong = at_ == 0 ? Result::kNotTls : Result::kMalformed;
    if (header.size() > 0 && static_cast<unsigned char>(header[0]) != kHandshakeRecord) {
      return Fail(wrong);
    }
    if (header.size() > 1 && static_cast<unsigned char>(header[1]) != kMajorVersion) {
      return Fail(wrong);
    }
    if (header.size() < kRecordHeaderSize) return Fail(Result::kNeedMore);
    const std::size_t length =
        (static_cast<unsigned char>(header[3]) << 8) | static_cast<unsigned char>(header[4]);
    // RFC 8446 5.1: no zero-length handshake fragments.
    if (length == 0 || length > kMaxRecordLength) return Fail(Result::kMalformed);
    at_ += kRecordHeaderSize;
    record_left_ = length;
    return true;
  }

  std::string_view bytes_;
  std::size_t at_ = 0;           // the next byte of bytes_ to read
  std::size_t record_left_ = 0;  // bytes of the current record's fragment not read yet
  std::size_t offset_ = 0;       // handshake bytes read
  // Every failure sets it; the default only guards against a path that forgot to.
  Result status_ = Result::kMalformed;
};

// RFC 6066 3: a ServerNameList filling the extension. As in BoringSSL it holds exactly one
// entry, a host_name: no other name type was ever defined, and an entry of an unknown type could
// not be stepped over (its length field is the type's to define).
bool ParseServerName(HandshakeReader& r, std::size_t end, std::string* sni) {
  std::uint32_t list_length = 0, type = 0, name_length = 0;
  if (!r.Uint(2, end, &list_length)) return false;
  if (list_length != end - r.offset()) return r.Fail(Result::kMalformed);
  if (!r.Uint(1, end, &type)) return false;
  if (type != kHostNameType) return r.Fail(Result::kMalformed);
  if (!r.Uint(2, end, &name_length)) return false;
  if (name_length == 0 || name_length > kMaxHostName || name_length != end - r.offset()) {
    return r.Fail(Result::kMalformed);
  }
  if (!r.Bytes(name_length, end, sni)) return false;
  for (char& c : *sni) {
    // A NUL would end the name early for whatever reads it as a C string (BoringSSL refuses it).
    if (c == '\0') return r.Fail(Result::kMalformed);
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');  // DNS names ignore case
  }
  return true;
}

// RFC 7301 3.1: a non-empty ProtocolNameList filling the extension, no name empty.
bool ParseAlpn(HandshakeReader& r, std::size_t end, std::vector<std::string>* alpn) {
  std::uint32_t list_length = 0;
  if (!r.Uint(2, end, &list_length)) return false;
  if (list_length == 0 || list_length != end - r.offset()) return r.Fail(Result::kMalformed);
  while (r.offset() < end) {
    std::uint32_t length = 0;
    if (!r.Uint(1, end, &length)) return false;
    if (length == 0) return r.Fail(Result::kMalformed);
    alpn->emplace_back();
    if (!r.Bytes(length, end, &alpn->back())) return false;
  }
  return true;
}

// RFC 8446 4.2.1: ProtocolVersion versions<2..254>, filling the extension.
bool ParseSupportedVersions(HandshakeReader& r, std::size_t end,
                            std::vector<std::uint16_t>* versions) {
  std::uint32_t length = 0;
  if (!r.Uint(1, end, &length)) return false;
  if (length < 2 || length % 2 != 0 || length != end - r.offset()) {
    return r.Fail(Result::kMalformed);
  }
  while (r.offset() < end) {
    std::uint32_t version = 0;
    if (!r.Uint(2, end, &version)) return false;
    versions->push_back(static_cast<std::uint16_t>(version));
  }
  return true;
}

// RFC 8446 4.1.2 (and RFC 5246 7.4.1.2 for clients older than extensions).
bool ParseMessage(HandshakeReader& r, ClientHelloInfo* out) {
  std::uint32_t type = 0, length = 0;
  if (!r.Uint(1, kNoEnd, &type)) return false;
  if (type != kClientHelloType) return r.Fail(Result::kMalformed);
  if (!r.Uint(3, kNoEnd, &length)) return false;
  // At once: waiting to see a message this long would hold its claimed bytes (up to 16 MiB) in
  // the socket's buffer for one connection's decision.
  if (length > kMaxClientHello) return r.Fail(Result::kTooLarge);
  const std::size_t end = r.offset() + length;

  std::uint32_t version = 0, n = 0;
  if (!r.Uint(2, end, &version)) return false;
  out->legacy_version = static_cast<std::uint16_t>(version);
  if (!r.Bytes(kRandomSize, end, nullptr)) return false;
  if (!r.Uint(1, end, &n)) return false;
  if (n > kMaxSessionId) return r.Fail(Result::kMalformed);
  if (!r.Bytes(n, end, nullptr)) return false;
  if (!r.Uint(2, end, &n)) return false;
  if (n < 2 || n % 2 != 0) return r.Fail(Result::kMalformed);  // cipher suites, two bytes each
  if (!r.Bytes(n, end, nullptr)) return false;
  if (!r.Uint(1, end, &n)) return false;
  if (n == 0) return r.Fail(Result::kMalformed);  // compression methods: at least "null"
  if (!r.Bytes(n, end, nullptr)) return false;

  // A client older than extensions (SSL 3.0, some TLS 1.0) ends the message here.
  if (r.offset() == end) return true;
  if (!r.Uint(2, end, &n)) return false;
  if (n != end - r.offset()) return r.Fail(Result::kMalformed);  // the block fills the message
  // 8 KiB on the stack rather than an allocation; a ClientHello has room for 16384 extensions.
  std::bitset<65536> seen;
  while (r.offset() < end) {
    std::uint32_t ext_type = 0, ext_length = 0;
    std::size_t ext_end = 0;
    if (!r.Uint(2, end, &ext_type)) return false;
    if (seen.test(ext_type)) return r.Fail(Result::kMalformed);
    seen.set(ext_type);
    if (!r.Uint(2, end, &ext_length) || !r.Field(ext_length, end, &ext_end)) return false;
    // Each parser below reads its extension to ext_end exactly or fails.
    bool ok = false;
    switch (ext_type) {
      case kServerNameExtension: ok = ParseServerName(r, ext_end, &out->sni); break;
      case kAlpnExtension: ok = ParseAlpn(r, ext_end, &out->alpn); break;
      case kSupportedVersionsExtension:
        ok = ParseSupportedVersions(r, ext_end, &out->supported_versions);
        break;
      default: ok = r.Bytes(ext_length, ext_end, nullptr); break;
    }
    if (!ok) return false;
  }
  return true;
}

void Clear(ClientHelloInfo* out) {
  out->sni.clear();
  out->alpn.clear();
  out->legacy_version = 0;
  out->supported_versions.clear();
}

// RFC 8701: 0x0a0a, 0x1a1a, ..., 0xfafa.
bool IsGrease(std::uint16_t v) { return (v >> 8) == (v & 0xff) && (v & 0x0f) == 0x0a; }

}  // namespace

std::uint16_t ClientHelloInfo::MaxVersion() const {
  if (supported_versions.empty()) return legacy_version;
  std::uint16_t max = 0;
  for (const std::uint16_t v : supported_versions) {
    if (!IsGrease(v)) max = std::max(max, v);
  }
  return max;
}

bool ClientHelloInfo::Offers(std::string_view protocol) const {
  return std::find(alpn.begin(), alpn.end(), protocol) != alpn.end();
}

ClientHelloResult ParseClientHello(std::string_view bytes, ClientHelloInfo* out) {
  Clear(out);
  HandshakeReader reader(bytes);
  if (ParseMessage(reader, out)) return Result::kDone;
  Clear(out);
  return reader.status();
}

const char* ClientHelloResultName(ClientHelloResult result) {
  switch (result) {
    case Result::kNeedMore: return "need_more";
    case Result::kDone: return "ok";
    case Result::kNotTls: return "not_tls";
    case Result::kMalformed: return "malformed";
    case Result::kTooLarge: return "too_large";
  }
  return "malformed";
}

}  // namespace h2gate
