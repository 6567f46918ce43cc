#include "p2psip/sip/dialog.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace p2psip::sip;
using sip_test::crlf;

namespace {
const std::string kInvite = crlf(
    "INVITE sip:bob@192.0.2.2 SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa\n"
    "Max-Forwards: 70\n"
    "Record-Route: <sip:p1.example.org;lr>, <sip:p2.example.org;lr>\n"
    "To: Bob <sip:bob@example.org>\n"
    "From: \"Alice\" <sip:alice@example.org>;tag=alicetag\n"
    "Call-ID: dlg-1\n"
    "CSeq: 10 INVITE\n"
    "Contact: <sip:alice@192.0.2.1:5060>\n"
    "Content-Length: 0\n\n");
const std::string k200 = crlf(
    "SIP/2.0 200 OK\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKa\n"
    "Record-Route: <sip:p1.example.org;lr>, <sip:p2.example.org;lr>\n"
    "To: Bob <sip:bob@example.org>;tag=bobtag\n"
    "From: \"Alice\" <sip:alice@example.org>;tag=alicetag\n"
    "Call-ID: dlg-1\n"
    "CSeq: 10 INVITE\n"
    "Contact: <sip:bob@192.0.2.2:5070>\n"
    "Content-Length: 0\n\n");
}  // namespace

TEST(Dialog, UacFrom2xx) {
    Message ok;
    ASSERT_FALSE(parse_message(k200, ok));
    Dialog d;
    ASSERT_FALSE(Dialog::from_uac(ok, "sip:alice@192.0.2.1:5060", d));
    EXPECT_EQ(d.state, Dialog::State::confirmed);
    EXPECT_EQ(d.call_id, "dlg-1");
    EXPECT_EQ(d.local_tag, "alicetag");
    EXPECT_EQ(d.remote_tag, "bobtag");
    EXPECT_EQ(d.local_cseq, 10u);
    EXPECT_EQ(d.remote_target.to_string(), "sip:bob@192.0.2.2:5070");
    // §12.1.2: reversed Record-Route
    ASSERT_EQ(d.route_set.size(), 2u);
    EXPECT_EQ(d.route_set[0], "<sip:p2.example.org;lr>");
    EXPECT_EQ(d.next_hop().host, "p2.example.org");
    EXPECT_EQ(d.id(), "dlg-1;alicetag;bobtag");

    auto bye = d.make_request("BYE");
    EXPECT_EQ(d.local_cseq, 11u);
    Message m;
    bye.add("Via", "SIP/2.0/UDP 192.0.2.1;branch=z9hG4bKb");
    ASSERT_FALSE(parse_message(bye.to_string(), m));
    EXPECT_EQ(m.request_uri(), "sip:bob@192.0.2.2:5070");  // loose routing
    EXPECT_EQ(m.headers("Route").size(), 2u);
    EXPECT_EQ(m.from_tag(), "alicetag");
    EXPECT_EQ(m.to_tag(), "bobtag");
    EXPECT_EQ(m.cseq().number, 11u);
    EXPECT_EQ(m.from().display, "Alice");

    auto ack = d.make_ack(10);
    EXPECT_EQ(ack.header("CSeq"), "10 ACK");
    EXPECT_EQ(d.local_cseq, 11u);
}

TEST(Dialog, UasFromInvite) {
    Message inv;
    ASSERT_FALSE(parse_message(kInvite, inv));
    Dialog d;
    ASSERT_FALSE(Dialog::from_uas(inv, "bobtag", "sip:bob@192.0.2.2:5070", d));
    EXPECT_EQ(d.state, Dialog::State::early);
    EXPECT_EQ(d.local_tag, "bobtag");
    EXPECT_EQ(d.remote_tag, "alicetag");
    EXPECT_EQ(d.remote_cseq, 10u);
    EXPECT_EQ(d.remote_target.to_string(), "sip:alice@192.0.2.1:5060");
    EXPECT_EQ(d.route_set[0], "<sip:p1.example.org;lr>");  // in order
    EXPECT_EQ(d.local_cseq, 0u);
    auto bye = d.make_request("BYE");
    EXPECT_EQ(bye.header("CSeq"), "1 BYE");
    EXPECT_EQ(bye.header("To"), "\"Alice\" <sip:alice@example.org>;tag=alicetag");

    // In-dialog request matching and CSeq ordering (§12.2.2)
    std::string s = kInvite;
    s.replace(s.find("To: Bob <sip:bob@example.org>"), 29, "To: <sip:bob@example.org>;tag=bobtag");
    s.replace(s.find("INVITE sip"), 6, "BYE   ");
    s.replace(s.find("BYE    sip"), 10, "BYE sip");
    s.replace(s.find("10 INVITE"), 9, "11 BYE");
    Message bye_in;
    ASSERT_FALSE(parse_message(s, bye_in)) << s;
    EXPECT_TRUE(d.matches(bye_in));
    EXPECT_TRUE(d.accept_remote_cseq(bye_in));
    EXPECT_EQ(d.remote_cseq, 11u);
    s.replace(s.find("11 BYE"), 6, "9 BYE");
    Message old;
    ASSERT_FALSE(parse_message(s, old));
    EXPECT_FALSE(d.accept_remote_cseq(old));
    EXPECT_FALSE(d.matches(inv));  // no To tag
}

TEST(Dialog, StrictRouting) {
    Message ok;
    std::string s = k200;
    s.replace(s.find("<sip:p1.example.org;lr>, <sip:p2.example.org;lr>"), 48,
              "<sip:p1.example.org;lr>, <sip:strict.example.org>");
    ASSERT_FALSE(parse_message(s, ok));
    Dialog d;
    ASSERT_FALSE(Dialog::from_uac(ok, "sip:alice@192.0.2.1", d));
    auto bye = d.make_request("BYE");
    EXPECT_EQ(bye.request_uri(), "sip:strict.example.org");
    int routes = 0;
    for (auto& [n, v] : bye.header_list())
        if (n == "Route") ++routes;
    EXPECT_EQ(routes, 2);  // p1 + the remote target
}
