#include "p2psip/nat/detail/nice_candidate.hpp"

#include <gtest/gtest.h>

#include "p2psip/nat/error.hpp"

namespace p2psip::nat::detail {
namespace {

TEST(NiceCandidate, HostRoundTrip) {
    Candidate c;
    c.foundation = "7";
    c.priority = 2130706431;
    c.address = "127.0.0.1";
    c.port = 40000;
    std::error_code ec;
    auto n = to_nice_candidate(c, 3, ec);
    ASSERT_TRUE(n) << ec.message();
    EXPECT_EQ(n->type, NICE_CANDIDATE_TYPE_HOST);
    EXPECT_EQ(n->transport, NICE_CANDIDATE_TRANSPORT_UDP);
    EXPECT_EQ(n->stream_id, 3u);
    EXPECT_EQ(n->component_id, 1u);
    EXPECT_EQ(n->priority, 2130706431u);
    EXPECT_STREQ(n->foundation, "7");
    EXPECT_EQ(nice_address_get_port(&n->addr), 40000u);
    EXPECT_EQ(format_endpoint(n->addr), "127.0.0.1:40000");

    Candidate back;
    ASSERT_FALSE(from_nice_candidate(*n, back));
    EXPECT_EQ(back, c);
}

TEST(NiceCandidate, RelayKeepsRelatedAddressAndIpv6) {
    Candidate c;
    c.foundation = "abc+/";
    c.priority = 16777215;
    c.address = "2001:db8::5";
    c.port = 3479;
    c.type = "relay";
    c.related_address = "2001:db8::9";
    c.related_port = 50001;
    std::error_code ec;
    auto n = to_nice_candidate(c, 1, ec);
    ASSERT_TRUE(n) << ec.message();
    EXPECT_EQ(n->type, NICE_CANDIDATE_TYPE_RELAYED);
    EXPECT_EQ(format_endpoint(n->addr), "[2001:db8::5]:3479");
    EXPECT_EQ(format_endpoint(n->base_addr), "[2001:db8::9]:50001");
    Candidate back;
    ASSERT_FALSE(from_nice_candidate(*n, back));
    EXPECT_EQ(back, c);
}

TEST(NiceCandidate, TypesMapBothWays) {
    const struct {
        const char* name;
        NiceCandidateType type;
    } map[] = {{"host", NICE_CANDIDATE_TYPE_HOST},
               {"srflx", NICE_CANDIDATE_TYPE_SERVER_REFLEXIVE},
               {"prflx", NICE_CANDIDATE_TYPE_PEER_REFLEXIVE},
               {"relay", NICE_CANDIDATE_TYPE_RELAYED}};
    for (const auto& m : map) {
        Candidate c;
        c.foundation = "1";
        c.address = "10.1.2.3";
        c.port = 1;
        c.type = m.name;
        std::error_code ec;
        auto n = to_nice_candidate(c, 1, ec);
        ASSERT_TRUE(n) << m.name;
        EXPECT_EQ(n->type, m.type);
        EXPECT_STREQ(candidate_type_name(m.type), m.name);
    }
}

TEST(NiceCandidate, RejectsWhatLibniceCannotUse) {
    Candidate c;
    c.foundation = "1";
    c.address = "127.0.0.1";
    c.port = 9;
    std::error_code ec;

    Candidate tcp = c;
    tcp.transport = "TCP";
    EXPECT_FALSE(to_nice_candidate(tcp, 1, ec));
    EXPECT_EQ(ec, make_error_code(Errc::unsupported_candidate));

    Candidate fqdn = c;
    fqdn.address = "peer.example.com";
    EXPECT_FALSE(to_nice_candidate(fqdn, 1, ec));
    EXPECT_EQ(ec, make_error_code(Errc::invalid_address));

    Candidate type = c;
    type.type = "nat64";
    EXPECT_FALSE(to_nice_candidate(type, 1, ec));
    EXPECT_EQ(ec, make_error_code(Errc::unsupported_candidate));

    Candidate longf = c;
    longf.foundation = std::string(33, 'x');
    EXPECT_FALSE(to_nice_candidate(longf, 1, ec));
    EXPECT_EQ(ec, make_error_code(Errc::malformed_candidate));
}

TEST(NiceCandidate, FromNiceRejectsTcp) {
    NiceCandidatePtr n(nice_candidate_new(NICE_CANDIDATE_TYPE_HOST));
    n->transport = NICE_CANDIDATE_TRANSPORT_TCP_ACTIVE;
    ASSERT_TRUE(nice_address_set_from_string(&n->addr, "127.0.0.1"));
    Candidate out;
    EXPECT_EQ(from_nice_candidate(*n, out), make_error_code(Errc::unsupported_candidate));
}

}  // namespace
}  // namespace p2psip::nat::detail
