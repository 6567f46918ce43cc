#include "p2psip/overlay/dht_access.hpp"

#include <gtest/gtest.h>

#include <cstring>
#include <string>

using namespace p2psip::overlay;

namespace {
// Two lines of a real Dht::dumpSearch (OpenDHT 2.4.12), closest first.
const char* const kSearchLog =
    "\nSearch IPv4 4d2da2ac0ed0e3d3726aafecb2c4873ddb606c8b gets: 1, last step: now [not "
    "synced]\nQueries:\nQuery[SELECT * ]\n"
    " Common bits    InfoHash                       Conn. Get   Ops  IP\n"
    "  9 4d618d1e3cb64b9444db1ec48bd9d29f43834201 * [  ] [u ] 11.0.0.84:4222\n"
    "  7 4c40a55bb9a282edbbe903a1ce7df0cefc0faca2 * [2 ] [uf] 11.0.0.113:4222\n"
    "  7 4ca7b05a15bb2768f9bb31b7511fe5a2218929cd   [1x] [- ] 11.0.0.31:4222\n"
    "  7 4cc6e15976184e436fca32e8b8f93af0f9fdf586 * [  ] [u ] 11.0.0.46:4222\n"
    "  6 4fe3bae297f6aef1a397d6af479505b6bc13709d * [  ] [s ] 11.0.0.199:4222\n"
    "  6 4e43ca6edc6953eab8f0595d7af84e17e0252706   [1 ] [-c] 11.0.0.76:4222\n"
    "  5 4902373dc6a6c77a82486a8c32a8255304b1d033 * [  ] [u ] 11.0.0.65:4222\n"
    "  5 4b3c2aa31e4b52b8bbe15c3c8303ae7c7e506f51   [  ] [- ] 11.0.0.127:4222\n"
    "  5 4b6be769916a32bc2abe33b5b5a1c8a2aa6f96f2   [  ] [u ] 11.0.0.122:4222\n"
    "  4 45c051a907b11140f91a0353b03a9373b3b65d73   [  ] [u ] 11.0.0.22:4222\n"
    "  4 46a57b6249f280c167553c19768b4d8479dac62a * [  ] [u ] 11.0.0.28:4222\n";

// A contact at a numeric address (getaddrinfo resolves it without asking anyone).
dht::NodeExport contact(const std::string& host, const std::string& port) {
    dht::NodeExport n{};
    n.id = dht::InfoHash::get(host);
    const auto addresses = dht::SockAddr::resolve(host, port);
    EXPECT_FALSE(addresses.empty()) << host;
    if (addresses.empty()) return n;
    std::memcpy(&n.ss, addresses.front().get(), addresses.front().getLength());
    n.sslen = addresses.front().getLength();
    return n;
}
}  // namespace

TEST(SearchLog, CountsTheClosestEightThatAnsweredInFull) {
    const auto p = parse_search_log(kSearchLog);
    ASSERT_TRUE(p.has_value());
    // Skipped: .31 (expired), .76 (pending retry). The first 8 left: .84 .113 .46 .199 .65
    // .127 .122 .22; answered in full: .84 .46 .65 .122 .22 (.113 still has requests out,
    // .199 answered an earlier get only, .127 never). .28 is the ninth: not counted.
    EXPECT_EQ(p->closest, 8u);
    EXPECT_EQ(p->answered, 5u);
    // No search (yet): nothing has answered.
    const auto none = parse_search_log("");
    ASSERT_TRUE(none.has_value());
    EXPECT_EQ(none->closest, 0u);
    EXPECT_EQ(none->answered, 0u);
    // A node line in a layout this parser does not know is not guessed at.
    EXPECT_FALSE(parse_search_log("  9 4d618d1e3cb64b9444db1ec48bd9d29f43834201 * 11.0.0.84\n"));
}

TEST(Ipv4Addresses, KeepsTheIpv4ContactsInTheirOrder) {
    const auto addresses = ipv4_addresses(
        {contact("10.0.0.2", "4222"), contact("2001:db8::1", "4222"), contact("10.0.0.1", "5000")});
    ASSERT_EQ(addresses.size(), 2u);
    EXPECT_EQ(addresses[0].toString(), "10.0.0.2:4222");
    EXPECT_EQ(addresses[1].toString(), "10.0.0.1:5000");
    EXPECT_TRUE(ipv4_addresses({}).empty());
}
