// ParseClientHello (what the sniffer routes a TLS connection by) on arbitrary bytes, two ways:
// as peeked bytes, records and all (the corpus holds captured ClientHellos, raw), and as the
// handshake bytes inside records the fuzzer makes itself, so that a mutation of the message's
// fields is not lost to a record layer it broke on the way.
//
// What client_hello.h promises, checked here:
//  - Final answers are final. On prefixes in increasing length (every length up to 64, around
//    each record header, a few anywhere), once an answer other than kNeedMore appears, every
//    longer prefix and the whole input give it again, with the same info. So every prefix of an
//    input gets kNeedMore or the input's own answer, and a kDone input's prefixes all need more.
//  - kNotTls exactly when the first byte is not 22 or the second is not 3; so never in the
//    fuzzer's own records.
//  - Records do not matter. The same handshake bytes in records of 2^14 bytes and in records of
//    random sizes give the same answer and info. So does a raw input against its handshake bytes
//    re-cut, when each of its record headers keeps the record layer's rules (type 22, major
//    version 3, length 1..2^14; the input may stop inside a record); and, whatever follows the
//    ClientHello, a raw input that ended kDone or kTooLarge.
//  - kTooLarge exactly when the handshake bytes start with type 1 and a length over
//    kMaxClientHello, whatever follows it.
//  - Bounds: on kDone the server name is empty or 1..255 bytes, lower case, with no NUL; each
//    ALPN name is 1..255 bytes; supported_versions has at most 127 entries; what was copied out
//    is no longer than the input; MaxVersion is legacy_version without supported_versions, else
//    the largest of them that is not GREASE, or 0 if all are. Other answers leave the info empty.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.h"
#include "tls/client_hello.h"

using namespace h2gate;
using h2gate::fuzz::Check;
using h2gate::fuzz::Rng;

namespace {

constexpr std::size_t kRecordHeaderSize = 5;
constexpr std::size_t kMaxRecordLength = 1 << 14;

std::uint32_t Hash(std::string_view bytes) {
  std::uint32_t h = 2166136261u;  // FNV-1a
  for (const char c : bytes) h = (h ^ static_cast<unsigned char>(c)) * 16777619u;
  return h;
}

unsigned Byte(std::string_view b, std::size_t at) { return static_cast<unsigned char>(b[at]); }

struct Answer {
  ClientHelloResult result = ClientHelloResult::kNeedMore;
  ClientHelloInfo info;
};

bool Same(const Answer& a, const Answer& b) {
  return a.result == b.result && a.info.sni == b.info.sni && a.info.alpn == b.info.alpn &&
         a.info.legacy_version == b.info.legacy_version &&
         a.info.supported_versions == b.info.supported_versions;
}

Answer Parse(std::string_view bytes) {
  Answer a;
  a.result = ParseClientHello(bytes, &a.info);
  return a;
}

bool IsGrease(std::uint16_t v) { return (v >> 8) == (v & 0xff) && (v & 0x0f) == 0x0a; }

void CheckInfo(const Answer& a, std::size_t input_size) {
  Check(ClientHelloResultName(a.result) != nullptr);
  const ClientHelloInfo& info = a.info;
  if (a.result != ClientHelloResult::kDone) {
    Check(info.sni.empty() && info.alpn.empty() && info.legacy_version == 0 &&
          info.supported_versions.empty());
    return;
  }
  Check(info.sni.size() <= 255);
  for (const char c : info.sni) Check(c != '\0' && !(c >= 'A' && c <= 'Z'));
  std::size_t copied = info.sni.size();
  for (const std::string& p : info.alpn) {
    Check(!p.empty() && p.size() <= 255);
    copied += p.size();
  }
  Check(info.supported_versions.size() <= 127);
  copied += 2 * info.supported_versions.size();
  Check(copied <= input_size);

  const std::uint16_t max = info.MaxVersion();
  if (info.supported_versions.empty()) {
    Check(max == info.legacy_version);
    return;
  }
  bool found = false;
  for (const std::uint16_t v : info.supported_versions) {
    if (IsGrease(v)) continue;
    Check(v <= max);
    found = found || v == max;
  }
  Check(found || max == 0);
}

bool NotTlsByItsFirstBytes(std::string_view b) {
  return !b.empty() && (Byte(b, 0) != 22 || (b.size() > 1 && Byte(b, 1) != 3));
}

// Checks the answer for `bytes` against its prefixes'; returns it.
Answer CheckPrefixes(std::string_view bytes, Rng& rng) {
  const Answer whole = Parse(bytes);
  Check(Same(Parse(bytes), whole));  // no hidden state
  CheckInfo(whole, bytes.size());

  std::vector<std::size_t> cuts;
  for (std::size_t n = 0; n <= bytes.size() && n <= 64; ++n) cuts.push_back(n);
  std::size_t at = 0;
  for (int records = 0; records < 64 && at + kRecordHeaderSize <= bytes.size(); ++records) {
    for (std::size_t d : {0, 1, 2, 5, 6, 9, 10}) cuts.push_back(at + d);
    if (at > 0) cuts.push_back(at - 1);
    at += kRecordHeaderSize + ((Byte(bytes, at + 3) << 8) | Byte(bytes, at + 4));
  }
  for (int i = 0; i < 16 && !bytes.empty(); ++i) cuts.push_back(rng.Next() % bytes.size());
  cuts.push_back(bytes.size());
  std::sort(cuts.begin(), cuts.end());
  cuts.erase(std::unique(cuts.begin(), cuts.end()), cuts.end());

  Answer decided;
  for (const std::size_t n : cuts) {
    if (n > bytes.size()) break;
    const std::string_view prefix = bytes.substr(0, n);
    Answer a = Parse(prefix);
    CheckInfo(a, n);
    Check((a.result == ClientHelloResult::kNotTls) == NotTlsByItsFirstBytes(prefix));
    if (decided.result != ClientHelloResult::kNeedMore) Check(Same(a, decided));
    decided = std::move(a);
  }
  Check(Same(decided, whole));
  return whole;
}

// `handshake` in handshake records: of 2^14 bytes without `rng`, else of random sizes.
std::string Records(std::string_view handshake, Rng* rng) {
  const std::uint32_t max_piece = rng == nullptr ? kMaxRecordLength : 1u << (rng->Next() % 15);
  std::string out;
  while (!handshake.empty()) {
    const std::size_t n = std::min<std::size_t>(
        rng == nullptr ? max_piece : 1 + rng->Next() % max_piece, handshake.size());
    out += '\x16';
    out += '\x03';
    out += rng != nullptr && (rng->Next() & 1) ? '\x03' : '\x01';  // minor versions are not read
    out += static_cast<char>(n >> 8);
    out += static_cast<char>(n);
    out.append(handshake.substr(0, n));
    handshake.remove_prefix(n);
  }
  return out;
}

// The handshake bytes a raw input's records carry, and whether every record header in it keeps
// the record layer's rules (the last may be cut short).
struct Carried {
  std::string handshake;
  bool clean = true;
};

Carried Unrecord(std::string_view bytes) {
  Carried out;
  std::size_t at = 0;
  while (at < bytes.size()) {
    const std::string_view header = bytes.substr(at, kRecordHeaderSize);
    if (Byte(header, 0) != 22 || (header.size() > 1 && Byte(header, 1) != 3)) {
      out.clean = false;
      break;
    }
    if (header.size() < kRecordHeaderSize) break;
    const std::size_t length = (Byte(header, 3) << 8) | Byte(header, 4);
    if (length == 0 || length > kMaxRecordLength) {
      out.clean = false;
      break;
    }
    out.handshake.append(bytes.substr(at + kRecordHeaderSize, length));
    at += kRecordHeaderSize + length;
  }
  return out;
}

void CheckHandshake(std::string_view handshake, Rng& rng) {
  const Answer big = CheckPrefixes(Records(handshake, nullptr), rng);
  Check(big.result != ClientHelloResult::kNotTls);
  const std::string cut = Records(handshake, &rng);
  const Answer small = Parse(cut);
  CheckInfo(small, cut.size());
  Check(Same(small, big));
  const bool too_large = handshake.size() >= 4 && Byte(handshake, 0) == 1 &&
                         ((Byte(handshake, 1) << 16) | (Byte(handshake, 2) << 8) |
                          Byte(handshake, 3)) > kMaxClientHello;
  Check((big.result == ClientHelloResult::kTooLarge) == too_large);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Rng rng{Hash(input)};

  const Answer raw = CheckPrefixes(input, rng);
  const Carried carried = Unrecord(input);
  const std::string recut = Records(carried.handshake, &rng);
  if (carried.clean || raw.result == ClientHelloResult::kDone ||
      raw.result == ClientHelloResult::kTooLarge) {
    Check(Same(Parse(recut), raw));
  }

  CheckHandshake(input, rng);
  if (carried.handshake != input) CheckHandshake(carried.handshake, rng);
  return 0;
}
