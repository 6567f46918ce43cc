#include "p2psip/nat/candidate.hpp"

#include <gtest/gtest.h>

#include <string>

#include "p2psip/nat/error.hpp"

namespace p2psip::nat {
namespace {

Candidate host_candidate() {
    Candidate c;
    c.foundation = "1";
    c.component = 1;
    c.transport = "UDP";
    c.priority = 2130706431;
    c.address = "127.0.0.1";
    c.port = 50000;
    c.type = "host";
    return c;
}

TEST(Candidate, HostFormatsPerRfc8839) {
    EXPECT_EQ(to_sdp_attribute_value(host_candidate()),
              "1 1 UDP 2130706431 127.0.0.1 50000 typ host");
}

TEST(Candidate, SrflxFormatsRelatedAddress) {
    Candidate c = host_candidate();
    c.foundation = "a+b/9";
    c.type = "srflx";
    c.priority = 1694498815;
    c.address = "203.0.113.7";
    c.port = 61000;
    c.related_address = "192.168.1.10";
    c.related_port = 50000;
    EXPECT_EQ(to_sdp_attribute_value(c),
              "a+b/9 1 UDP 1694498815 203.0.113.7 61000 typ srflx raddr 192.168.1.10 rport 50000");
}

TEST(Candidate, RoundTripAllTypes) {
    for (const char* type : {"host", "srflx", "prflx", "relay"}) {
        Candidate c = host_candidate();
        c.type = type;
        if (c.type != "host") {
            c.related_address = "10.0.0.1";
            c.related_port = 1234;
        }
        Candidate parsed;
        ASSERT_FALSE(parse_candidate_attribute(to_sdp_attribute_value(c), parsed)) << type;
        EXPECT_EQ(parsed, c) << type;
    }
}

TEST(Candidate, RoundTripIpv6AndExtremes) {
    Candidate c = host_candidate();
    c.foundation = std::string(32, 'Z');
    c.component = 256;
    c.priority = 4294967295u;
    c.address = "2001:db8::1";
    c.port = 65535;
    Candidate parsed;
    ASSERT_FALSE(parse_candidate_attribute(to_sdp_attribute_value(c), parsed));
    EXPECT_EQ(parsed, c);
}

TEST(Candidate, AcceptsPrefixesWhitespaceAndCase) {
    const Candidate want = host_candidate();
    for (const char* text : {
             "candidate:1 1 UDP 2130706431 127.0.0.1 50000 typ host",
             "a=candidate:1 1 UDP 2130706431 127.0.0.1 50000 typ host\r\n",
             "  CANDIDATE:1 1 udp 2130706431 127.0.0.1 50000 TYP HOST  ",
             "1  1 UDP 2130706431   127.0.0.1 50000 typ host",
         }) {
        Candidate parsed;
        ASSERT_FALSE(parse_candidate_attribute(text, parsed)) << text;
        EXPECT_EQ(parsed, want) << text;
    }
}

TEST(Candidate, SkipsExtensionAttributes) {
    Candidate parsed;
    ASSERT_FALSE(parse_candidate_attribute(
        "842163049 1 udp 1677729535 198.51.100.3 46154 typ srflx raddr 10.0.0.5 rport 46154 "
        "generation 0 ufrag EsAw network-cost 999",
        parsed));
    EXPECT_EQ(parsed.foundation, "842163049");
    EXPECT_EQ(parsed.transport, "UDP");
    EXPECT_EQ(parsed.type, "srflx");
    EXPECT_EQ(parsed.related_address, "10.0.0.5");
    EXPECT_EQ(parsed.related_port, 46154);
}

TEST(Candidate, AcceptsTcpAndFqdnSyntactically) {
    Candidate parsed;
    ASSERT_FALSE(parse_candidate_attribute(
        "2 1 TCP 1518280447 peer.example.com 9 typ host tcptype active", parsed));
    EXPECT_EQ(parsed.transport, "TCP");
    EXPECT_EQ(parsed.address, "peer.example.com");
    EXPECT_EQ(parsed.port, 9);
}

TEST(Candidate, RejectsMalformedInput) {
    const Candidate sentinel = [] {
        Candidate c;
        c.foundation = "sentinel";
        return c;
    }();
    const char* bad[] = {
        "",
        "candidate:",
        "1 1 UDP 2130706431 127.0.0.1 50000 typ",                          // missing type
        "1 1 UDP 2130706431 127.0.0.1 50000 host",                         // missing "typ"
        "1 1 UDP 2130706431 127.0.0.1 50000 type host",                    // wrong keyword
        "1 0 UDP 2130706431 127.0.0.1 50000 typ host",                     // component 0
        "1 257 UDP 2130706431 127.0.0.1 50000 typ host",                   // component > 256
        "1 x UDP 2130706431 127.0.0.1 50000 typ host",                     // component not a number
        "1 1 UDP 4294967296 127.0.0.1 50000 typ host",                     // priority > 2^32-1
        "1 1 UDP -5 127.0.0.1 50000 typ host",                             // negative priority
        "1 1 UDP 2130706431 127.0.0.1 65536 typ host",                     // port too large
        "1 1 UDP 2130706431 127.0.0.1 5e4 typ host",                       // port not decimal
        "1 1 UDP 2130706431 bad_host! 50000 typ host",                     // address charset
        "f=o 1 UDP 2130706431 127.0.0.1 50000 typ host",                   // foundation charset
        "123456789012345678901234567890123 1 UDP 1 127.0.0.1 1 typ host",  // 33-char foundation
        "1 1 U\"P 2130706431 127.0.0.1 50000 typ host",                    // transport not a token
        "1 1 UDP 2130706431 127.0.0.1 50000 typ srflx raddr",              // dangling name
        "1 1 UDP 2130706431 127.0.0.1 50000 typ srflx raddr 1.2.3.4 rport x",
        "1 1 UDP 2130706431 127.0.0.1 50000 typ srflx raddr b@d rport 1",
    };
    for (const char* text : bad) {
        Candidate out = sentinel;
        EXPECT_EQ(parse_candidate_attribute(text, out), make_error_code(Errc::malformed_candidate))
            << text;
        EXPECT_EQ(out, sentinel) << "output modified for: " << text;
    }
}

TEST(Candidate, UnknownTypeIsUnsupported) {
    Candidate out;
    EXPECT_EQ(parse_candidate_attribute("1 1 UDP 1 127.0.0.1 5000 typ nat64", out),
              make_error_code(Errc::unsupported_candidate));
}

TEST(IceCredentials, ValidatesLengthsAndCharset) {
    // RFC 8839 §5.4: ufrag 4..256, pwd 22..256 ice-chars
    EXPECT_FALSE(validate_credentials({"abcd", "abcdefghijklmnopqrstuv"}));
    EXPECT_FALSE(validate_credentials({"a+/9", "ABCDEFGHIJKLMNOPQRST+/"}));
    EXPECT_FALSE(validate_credentials({std::string(256, 'u'), std::string(256, 'p')}));

    const auto bad = make_error_code(Errc::invalid_credentials);
    EXPECT_EQ(validate_credentials({"abc", "abcdefghijklmnopqrstuv"}), bad);  // ufrag too short
    EXPECT_EQ(validate_credentials({"abcd", "abcdefghijklmnopqrstu"}), bad);  // pwd too short
    EXPECT_EQ(validate_credentials({std::string(257, 'u'), std::string(22, 'p')}), bad);
    EXPECT_EQ(validate_credentials({"abcd", std::string(257, 'p')}), bad);
    EXPECT_EQ(validate_credentials({"ab:d", "abcdefghijklmnopqrstuv"}), bad);  // ':' not ice-char
    EXPECT_EQ(validate_credentials({"abcd", "abcdefghijklmnopqrstu="}), bad);  // '=' not ice-char
    EXPECT_EQ(validate_credentials({"ab d", "abcdefghijklmnopqrstuv"}), bad);
    EXPECT_EQ(validate_credentials({}), bad);
}

TEST(IceCredentials, IceChars) {
    EXPECT_TRUE(is_ice_chars("azAZ09+/"));
    EXPECT_FALSE(is_ice_chars("a-b"));
    EXPECT_FALSE(is_ice_chars("\xc3\xa9"));
}

}  // namespace
}  // namespace p2psip::nat
