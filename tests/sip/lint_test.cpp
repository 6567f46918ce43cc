#include "p2psip/sip/lint.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace p2psip::sip;
using sip_test::crlf;

namespace {

const std::string kBye = crlf(
    "BYE sip:bob@192.0.2.4 SIP/2.0\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnashds7\n"
    "Max-Forwards: 70\n"
    "From: <sip:alice@example.com>;tag=1928301774\n"
    "To: <sip:bob@example.com>;tag=a6c85cf\n"
    "Call-ID: a84b4c76e66710\n"
    "CSeq: 231 BYE\n"
    "Content-Length: 0\n"
    "\n");

const std::string kOk = crlf(
    "SIP/2.0 200 OK\n"
    "Via: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKnashds7\n"
    "From: <sip:alice@example.com>;tag=1928301774\n"
    "To: <sip:bob@example.com>;tag=a6c85cf\n"
    "Call-ID: a84b4c76e66710\n"
    "CSeq: 231 BYE\n"
    "Content-Type: application/sdp\n"
    "Content-Length: 43\n"
    "\n"
    "v=0\n"
    "o=- 1 1 IN IP4 192.0.2.4\n"
    "s=-\n"
    "t=0 0\n");

std::string torture(const std::string& name) {
    return sip_test::read_file("../shared/testdata/sip/rfc4475/" + name + ".dat");
}

}  // namespace

TEST(Lint, SummaryOfRequestAndResponse) {
    auto r = lint(kBye, Framing::datagram);
    EXPECT_TRUE(r.ok) << r.reason;
    EXPECT_EQ(r.summary, "BYE call-id=a84b4c76e66710 body=0");
    EXPECT_EQ(r.reason, "");
    ASSERT_EQ(kOk.size() - kOk.find("\r\n\r\n") - 4, 43u);
    r = lint(kOk, Framing::stream);
    EXPECT_TRUE(r.ok) << r.reason;
    EXPECT_EQ(r.summary, "200 call-id=a84b4c76e66710 body=43");
}

TEST(Lint, InvalidMessagesSayWhy) {
    std::string bad = kBye;
    bad.replace(bad.find("231 BYE"), 7, "231 INVITE");
    auto r = lint(bad, Framing::datagram);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.reason, "CSeq method does not match request method");
    EXPECT_EQ(r.summary, "BYE call-id=a84b4c76e66710 body=0");  // as far as it parsed
    r = lint("", Framing::datagram);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.reason, "Empty message");
    r = lint("\r\n\r\n", Framing::stream);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.reason, "Empty message");
    r = lint("hello\r\n\r\n", Framing::datagram);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.reason, "Malformed start line");
}

TEST(Lint, SummaryIsPrintable) {
    std::string odd = kBye;
    odd.replace(odd.find("a84b4c76e66710"), 14, "a\x1b[2Jb\xff");
    auto r = lint(odd, Framing::datagram);
    EXPECT_TRUE(r.ok) << r.reason;
    EXPECT_EQ(r.summary, "BYE call-id=a\\x1b[2Jb\\xff body=0");
}

TEST(Lint, SdpBodyIsChecked) {
    std::string bad = kOk;
    bad.replace(bad.find("s=-"), 3, "s -");
    auto r = lint(bad, Framing::datagram);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.reason.substr(0, 10), "SDP body: ");
}

TEST(Lint, DatagramFraming) {
    // §18.3: no Content-Length means the rest of the datagram; extra octets are discarded.
    std::string no_cl = kBye;
    no_cl.erase(no_cl.find("Content-Length: 0\r\n"), 19);
    auto r = lint(no_cl + "abc", Framing::datagram);
    EXPECT_TRUE(r.ok) << r.reason;
    EXPECT_EQ(r.summary, "BYE call-id=a84b4c76e66710 body=3");
    r = lint(kBye + "junk", Framing::datagram);
    EXPECT_TRUE(r.ok) << r.reason;
    EXPECT_EQ(r.summary,
              "BYE call-id=a84b4c76e66710 body=0 (4 octets after Content-Length discarded)");
    std::string longer = kBye;
    longer.replace(longer.find("Content-Length: 0"), 17, "Content-Length: 10");
    r = lint(longer, Framing::datagram);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.reason, "Body shorter than Content-Length");
}

TEST(Lint, StreamFraming) {
    // Back-to-back messages with keep-alives in between.
    auto r = lint(kBye + "\r\n\r\n" + kOk + "\r\n", Framing::stream);
    EXPECT_TRUE(r.ok) << r.reason;
    EXPECT_EQ(r.summary, "BYE call-id=a84b4c76e66710 body=0; 200 call-id=a84b4c76e66710 body=43");
    // §20.14: Content-Length is mandatory on a stream.
    std::string no_cl = kBye;
    no_cl.erase(no_cl.find("Content-Length: 0\r\n"), 19);
    r = lint(no_cl, Framing::stream);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.reason, "Missing Content-Length header");
    EXPECT_EQ(r.summary, "BYE call-id=a84b4c76e66710 body=0");
    EXPECT_TRUE(lint(no_cl, Framing::datagram).ok);
    // A second message cut short.
    r = lint(kBye + kOk.substr(0, kOk.size() - 5), Framing::stream);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.reason, "message 2: Incomplete message");
}

TEST(Lint, Rfc4475Messages) {
    // dblreq: one REGISTER as a datagram; over a stream, a second message whose SDP has
    // "m =video" (RFC 4475 §3.1.1.8).
    std::string dblreq = torture("dblreq");
    ASSERT_FALSE(dblreq.empty());
    auto r = lint(dblreq, Framing::datagram);
    EXPECT_TRUE(r.ok) << r.reason;
    EXPECT_EQ(r.summary.substr(0, 62),
              "REGISTER call-id=dblreq.0ha0isndaksdj99sdfafnl3lk233412 body=0");
    EXPECT_NE(r.summary.find("octets after Content-Length discarded"), std::string::npos);
    r = lint(dblreq, Framing::stream);
    EXPECT_FALSE(r.ok);
    EXPECT_EQ(r.reason, "message 2: SDP body: Malformed SDP line");
    // inv2543 has no Content-Length: fine in a datagram, not on a stream.
    EXPECT_TRUE(lint(torture("inv2543"), Framing::datagram).ok);
    EXPECT_EQ(lint(torture("inv2543"), Framing::stream).reason, "Missing Content-Length header");
    // mcl01: two Content-Length values break stream framing too.
    EXPECT_EQ(lint(torture("mcl01"), Framing::stream).reason, "Duplicate single-valued header");
    EXPECT_EQ(lint(torture("baddate"), Framing::datagram).reason, "Malformed Date header");
    for (std::string name :
         {"wsinv", "intmeth", "esc01", "escnull", "esc02", "lwsdisp", "longreq", "semiuri",
          "transports", "mpart01", "unreason", "noreason", "sdp01", "zeromf", "bcast"}) {
        auto v = lint(torture(name), Framing::datagram);
        EXPECT_TRUE(v.ok) << name << ": " << v.reason;
    }
}
