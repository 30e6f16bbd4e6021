#include "config/cidr.h"

#include <gtest/gtest.h>

namespace h2gate {
namespace {

namespace net = boost::asio;

CidrList Parse(std::string_view text) {
  std::string why;
  auto list = CidrList::Parse(text, &why);
  EXPECT_TRUE(list.has_value()) << text << ": " << why;
  return list.value_or(CidrList());
}

bool Has(const CidrList& list, const char* address) {
  return list.Contains(net::ip::make_address(address));
}

TEST(CidrList, NoneAndAll) {
  for (const char* none : {"", "none", "  none "}) {
    const CidrList list = Parse(none);
    EXPECT_TRUE(list.empty());
    EXPECT_FALSE(Has(list, "127.0.0.1"));
    EXPECT_FALSE(Has(list, "::1"));
    EXPECT_EQ(list.ToString(), "none");
  }
  const CidrList all = Parse("all");
  EXPECT_TRUE(all.all());
  EXPECT_TRUE(Has(all, "203.0.113.9"));
  EXPECT_TRUE(Has(all, "2001:db8::1"));
}

TEST(CidrList, RangesAndHosts) {
  const CidrList list = Parse("10.0.0.0/8, 192.168.1.7,2001:db8::/32,::1");
  EXPECT_EQ(list.ToString(), "10.0.0.0/8,192.168.1.7/32,2001:db8::/32,::1/128");
  struct Row {
    const char* address;
    bool in;
  } rows[] = {
      {"10.0.0.0", true},
      {"10.255.255.255", true},
      {"11.0.0.0", false},
      {"9.255.255.255", false},
      {"192.168.1.7", true},
      {"192.168.1.8", false},
      {"2001:db8::1", true},
      {"2001:db9::1", false},
      {"::1", true},
      {"::2", false},
      {"::ffff:10.1.2.3", true},  // IPv4-mapped: an IPv4 peer
      {"::ffff:11.1.2.3", false},
  };
  for (const Row& r : rows) EXPECT_EQ(Has(list, r.address), r.in) << r.address;
}

TEST(CidrList, PrefixesThatAreNotByteAligned) {
  const CidrList list = Parse("172.16.0.0/12,0.0.0.0/0");
  EXPECT_TRUE(Has(list, "8.8.8.8")) << "/0 matches every IPv4 address";
  EXPECT_FALSE(Has(list, "::1")) << "but no IPv6 one";
  const CidrList twelve = Parse("172.16.0.0/12");
  EXPECT_TRUE(Has(twelve, "172.31.255.255"));
  EXPECT_FALSE(Has(twelve, "172.32.0.0"));
  EXPECT_FALSE(Has(twelve, "172.15.255.255"));
}

TEST(CidrList, BadEntriesNameThemselves) {
  for (const char* bad : {"10.0.0.0/33", "::/129", "10.0.0.0/", "10.0.0.0/x", "host.example",
                          "10.0.0.0/8,,", "10.0.0.0/-1", "1.2.3"}) {
    std::string why;
    EXPECT_FALSE(CidrList::Parse(bad, &why)) << bad;
    EXPECT_FALSE(why.empty()) << bad;
  }
}

}  // namespace
}  // namespace h2gate
