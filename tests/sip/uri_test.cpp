#include "p2psip/sip/uri.hpp"

#include <gtest/gtest.h>

#include "p2psip/sip/error.hpp"

using namespace p2psip::sip;

TEST(Uri, ParsesFullUri) {
    Uri u;
    ASSERT_FALSE(parse_uri("sip:alice:secret@Example.ORG:5070;transport=udp;lr?subject=hi&x=y", u));
    EXPECT_EQ(u.scheme, "sip");
    EXPECT_EQ(u.user, "alice");
    EXPECT_EQ(u.password, "secret");
    EXPECT_EQ(u.host, "Example.ORG");
    EXPECT_EQ(u.port, 5070);
    ASSERT_EQ(u.params.size(), 2u);
    EXPECT_EQ(u.param("TRANSPORT"), "udp");
    EXPECT_EQ(u.param("lr"), "");
    EXPECT_FALSE(u.param("maddr"));
    ASSERT_EQ(u.headers.size(), 2u);
    EXPECT_EQ(u.headers[0].first, "subject");
    EXPECT_EQ(u.headers[1].second, "y");
    EXPECT_EQ(u.to_string(), "sip:alice:secret@Example.ORG:5070;transport=udp;lr?subject=hi&x=y");
}

TEST(Uri, HostOnlyAndSips) {
    Uri u;
    ASSERT_FALSE(parse_uri("SIPS:example.com", u));
    EXPECT_EQ(u.scheme, "sips");
    EXPECT_TRUE(u.user.empty());
    EXPECT_EQ(u.host, "example.com");
    EXPECT_EQ(u.port, 0);
    EXPECT_EQ(u.to_string(), "sips:example.com");
}

TEST(Uri, Ipv6Reference) {
    Uri u;
    ASSERT_FALSE(parse_uri("sip:bob@[::1]:5062;transport=udp", u));
    EXPECT_EQ(u.host, "::1");
    EXPECT_EQ(u.port, 5062);
    EXPECT_EQ(u.host_port(), "[::1]:5062");
    EXPECT_EQ(u.to_string(), "sip:bob@[::1]:5062;transport=udp");
    ASSERT_FALSE(parse_uri("sip:[2001:db8::10]", u));
    EXPECT_EQ(u.host, "2001:db8::10");
    EXPECT_EQ(parse_uri("sip:bob@[::1", u), Errc::bad_host);
}

TEST(Uri, EscapesInUser) {
    Uri u;
    ASSERT_FALSE(parse_uri("sip:%61lice@example.org", u));
    EXPECT_EQ(u.user, "%61lice");  // kept as written
    EXPECT_EQ(canonical_aor(u), "sip:alice@example.org");
    ASSERT_FALSE(parse_uri("sip:I%20have%20spaces@example.net", u));
    EXPECT_EQ(canonical_aor(u), "sip:I%20have%20spaces@example.net");
    // RFC 4475 esc01: user part that is itself an escaped URI.
    ASSERT_FALSE(parse_uri("sip:sips%3Auser%40example.com@example.net", u));
    EXPECT_EQ(u.host, "example.net");
    EXPECT_EQ(canonical_aor(u), "sip:sips%3Auser%40example.com@example.net");  // ":" stays escaped
    EXPECT_EQ(parse_uri("sip:%zzice@example.org", u), Errc::bad_escape);
    EXPECT_EQ(parse_uri("sip:al%6@example.org", u), Errc::bad_escape);
}

TEST(Uri, UserWithSemicolonAndQuestionMark) {
    Uri u;
    ASSERT_FALSE(parse_uri("sip:user;par=u%40example.net@example.com", u));
    EXPECT_EQ(u.user, "user;par=u%40example.net");
    EXPECT_EQ(u.host, "example.com");
    EXPECT_TRUE(u.params.empty());
}

TEST(Uri, CanonicalAor) {
    EXPECT_EQ(canonical_aor("sip:Alice@EXAMPLE.org:5060;transport=udp?x=1"),
              "sip:Alice@example.org");
    EXPECT_EQ(canonical_aor("sip:alice@example.org"), canonical_aor("sip:%61lice@Example.Org"));
    // user part is case-sensitive (RFC 3261 §19.1.4)
    EXPECT_NE(canonical_aor("sip:alice@example.org"), canonical_aor("sip:ALICE@example.org"));
    EXPECT_EQ(canonical_aor("sip:bob@[::1]:5060"), "sip:bob@[::1]");
    EXPECT_EQ(canonical_aor("tel:+123"), "");
}

TEST(Uri, Rejects) {
    Uri u;
    EXPECT_EQ(parse_uri("tel:+1-201-555-0123", u), Errc::unsupported_scheme);
    EXPECT_EQ(parse_uri("alice@example.org", u), Errc::bad_uri);
    EXPECT_EQ(parse_uri("sip:", u), Errc::bad_host);
    EXPECT_EQ(parse_uri("sip:alice@", u), Errc::bad_host);
    EXPECT_EQ(parse_uri("sip:alice@example.org:99999", u), Errc::bad_port);
    EXPECT_EQ(parse_uri("sip:alice@example.org:", u), Errc::bad_port);
    EXPECT_EQ(parse_uri("sip:alice@exa mple.org", u), Errc::bad_uri);
    EXPECT_EQ(parse_uri("sip:@example.org", u), Errc::bad_uri_user);
    EXPECT_EQ(parse_uri("sip:a@example.org;=x", u), Errc::bad_uri_param);
    EXPECT_EQ(parse_uri("sip:a@example.org?noequals", u), Errc::bad_uri);
}

TEST(NameAddr, Forms) {
    NameAddr na;
    ASSERT_FALSE(
        parse_name_addr("\"Alice \\\"A\\\" Liddell\" <sip:alice@example.org>;tag=abc", na));
    EXPECT_EQ(na.display, "Alice \"A\" Liddell");
    EXPECT_EQ(na.uri.user, "alice");
    EXPECT_EQ(na.tag(), "abc");

    ASSERT_FALSE(
        parse_name_addr("Bob  Smith <sip:bob@example.org;transport=udp> ; tag = x1 ;q=0.5", na));
    EXPECT_EQ(na.display, "Bob Smith");
    EXPECT_EQ(na.uri.param("transport"), "udp");
    EXPECT_EQ(na.tag(), "x1");
    EXPECT_EQ(na.param("q"), "0.5");

    // addr-spec: the parameters belong to the header, not to the URI (§20.10)
    ASSERT_FALSE(parse_name_addr("sip:carol@example.org;tag=zz", na));
    EXPECT_TRUE(na.display.empty());
    EXPECT_TRUE(na.uri.params.empty());
    EXPECT_EQ(na.tag(), "zz");

    ASSERT_FALSE(parse_name_addr("<sip:dave@[::1]:5060>", na));
    EXPECT_FALSE(na.tag());
    EXPECT_EQ(na.uri.host, "::1");
}

TEST(NameAddr, RoundTrip) {
    NameAddr na;
    na.display = "Eve \"E\"";
    ASSERT_FALSE(parse_uri("sip:eve@example.org", na.uri));
    na.params.emplace_back("tag", "t1");
    std::string s = na.to_string();
    EXPECT_EQ(s, "\"Eve \\\"E\\\"\" <sip:eve@example.org>;tag=t1");
    NameAddr back;
    ASSERT_FALSE(parse_name_addr(s, back));
    EXPECT_EQ(back.display, na.display);
    EXPECT_EQ(back.tag(), "t1");
}

TEST(NameAddr, Rejects) {
    NameAddr na;
    EXPECT_TRUE(parse_name_addr("", na));
    EXPECT_TRUE(parse_name_addr("\"unterminated <sip:a@b>", na));
    EXPECT_TRUE(parse_name_addr("<sip:a@b", na));
    EXPECT_TRUE(parse_name_addr("Bell, Alexander <sip:a.g.bell@bell-tel.com>", na));
    EXPECT_TRUE(parse_name_addr("<sip:a@b>;tag", na) == std::error_code{});  // flag param ok
    EXPECT_TRUE(parse_name_addr("<sip:a@b>;;", na));
    EXPECT_EQ(parse_name_addr("<tel:123>", na), Errc::unsupported_scheme);
}

TEST(Uri, OtherSchemesKeepTheirText) {
    // RFC 3261 §19.1 / §25.1 absoluteURI; RFC 4475 §3.3.2-3.3.4.
    Uri u;
    EXPECT_EQ(parse_uri("tel:+1-201-555-0123;phone-context=x", u), Errc::unsupported_scheme);
    EXPECT_EQ(u.scheme, "tel");
    EXPECT_EQ(u.opaque, "+1-201-555-0123;phone-context=x");
    EXPECT_FALSE(u.is_sip());
    EXPECT_EQ(u.to_string(), "tel:+1-201-555-0123;phone-context=x");
    EXPECT_EQ(canonical_aor(u), "tel:+1-201-555-0123;phone-context=x");
    EXPECT_EQ(parse_uri("HTTP://www.example.com/a?b=c", u), Errc::unsupported_scheme);
    EXPECT_EQ(u.scheme, "http");
    EXPECT_EQ(parse_uri("urn:%zz", u), Errc::bad_escape);
    EXPECT_EQ(parse_uri("urn:", u), Errc::bad_uri);
    EXPECT_EQ(parse_uri("urn:a{b}", u), Errc::bad_uri);
    NameAddr na;
    EXPECT_EQ(parse_name_addr("\"Info\" <http://example.com/x>;tag=9", na),
              Errc::unsupported_scheme);
    EXPECT_EQ(na.display, "Info");
    EXPECT_EQ(na.uri.opaque, "//example.com/x");
    EXPECT_EQ(na.tag(), "9");
    EXPECT_EQ(na.to_string(), "\"Info\" <http://example.com/x>;tag=9");
    EXPECT_EQ(parse_name_addr("isbn:2983792873;tag=1", na), Errc::unsupported_scheme);
    EXPECT_EQ(na.uri.opaque, "2983792873");
    EXPECT_EQ(na.tag(), "1");
}
