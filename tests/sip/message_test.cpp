#include "p2psip/sip/message.hpp"

#include <gtest/gtest.h>

#include "p2psip/sip/error.hpp"
#include "test_util.hpp"

using namespace p2psip::sip;
using sip_test::crlf;

namespace {

const std::string kInvite = crlf(
    "INVITE sip:bob@biloxi.example.com SIP/2.0\n"
    "Via: SIP/2.0/UDP pc33.atlanta.example.com:5066;branch=z9hG4bK776asdhds;rport\n"
    "Via: SIP/2.0/UDP proxy.example.com;branch=z9hG4bKaaa, SIP/2.0/UDP "
    "10.0.0.1;branch=z9hG4bKbbb;received=192.0.2.9\n"
    "Max-Forwards: 70\n"
    "To: Bob <sip:bob@biloxi.example.com>\n"
    "From: Alice <sip:alice@atlanta.example.com>;tag=1928301774\n"
    "Call-ID: a84b4c76e66710@pc33.atlanta.example.com\n"
    "CSeq: 314159 INVITE\n"
    "Contact: <sip:alice@pc33.atlanta.example.com>\n"
    "Content-Type: application/sdp\n"
    "Content-Length: 4\n"
    "\n"
    "v=0\n");

}  // namespace

TEST(Message, ParsesRequest) {
    Message m;
    ASSERT_FALSE(parse_message(kInvite, m));
    EXPECT_TRUE(m.valid());
    EXPECT_TRUE(m.is_request());
    EXPECT_EQ(m.method(), "INVITE");
    EXPECT_EQ(m.request_uri(), "sip:bob@biloxi.example.com");
    EXPECT_EQ(m.call_id(), "a84b4c76e66710@pc33.atlanta.example.com");
    EXPECT_EQ(m.cseq().number, 314159u);
    EXPECT_EQ(m.cseq().method, "INVITE");
    EXPECT_EQ(m.max_forwards(), 70);
    EXPECT_EQ(m.body(), "v=0\r");  // Content-Length 4 cuts the datagram (§18.3)
    EXPECT_EQ(m.header("content-type"), "application/sdp");
    EXPECT_FALSE(m.header("Subject"));
    EXPECT_EQ(m.from().display, "Alice");
    EXPECT_EQ(m.from_tag(), "1928301774");
    EXPECT_EQ(m.to_tag(), "");
    EXPECT_EQ(m.to().uri.user, "bob");
    ASSERT_TRUE(m.contact());
    EXPECT_EQ(m.contact()->uri.host, "pc33.atlanta.example.com");

    const Via& v = m.via();
    EXPECT_EQ(v.transport, "UDP");
    EXPECT_EQ(v.host, "pc33.atlanta.example.com");
    EXPECT_EQ(v.port, 5066);
    EXPECT_EQ(v.branch, "z9hG4bK776asdhds");
    EXPECT_TRUE(v.rfc3261_branch());
    EXPECT_TRUE(v.has_rport);
    EXPECT_FALSE(v.rport);
    EXPECT_FALSE(v.received);
    EXPECT_EQ(v.sent_by(), "pc33.atlanta.example.com:5066");

    auto vias = m.headers("v");  // compact form, comma lists split
    ASSERT_EQ(vias.size(), 3u);
    EXPECT_EQ(vias[1], "SIP/2.0/UDP proxy.example.com;branch=z9hG4bKaaa");
    Via third;
    ASSERT_FALSE(parse_via(vias[2], third));
    EXPECT_EQ(third.received, "192.0.2.9");
}

TEST(Message, CopiesShareTheBuffer) {
    Message copy;
    {
        Message m;
        ASSERT_FALSE(parse_message(kInvite, m));
        copy = m;
    }
    EXPECT_EQ(copy.call_id(), "a84b4c76e66710@pc33.atlanta.example.com");
    EXPECT_EQ(copy.via().branch, "z9hG4bK776asdhds");
    Message moved = std::move(copy);
    EXPECT_EQ(moved.method(), "INVITE");
}

TEST(Message, ParsesResponseWithCompactHeadersAndFolding) {
    Message m;
    ASSERT_FALSE(parse_message(
        crlf("SIP/2.0 180 Ringing\n"
             "v: SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bKx;received=10.0.0.1;rport=5999\n"
             "f: <sip:a@example.org>;tag=1\n"
             "t: <sip:b@example.org>\n"
             "  ;tag=2\n"
             "i: cid-1\n"
             "CSeq: 7\n"
             "\tINVITE\n"
             "m: <sip:b@192.0.2.2>\n"
             "l: 0\n"
             "\n"),
        m));
    EXPECT_FALSE(m.is_request());
    EXPECT_EQ(m.status(), 180);
    EXPECT_EQ(m.reason(), "Ringing");
    EXPECT_EQ(m.call_id(), "cid-1");
    EXPECT_EQ(m.to_tag(), "2");
    EXPECT_EQ(m.cseq().number, 7u);
    EXPECT_EQ(m.cseq().method, "INVITE");
    EXPECT_EQ(m.via().received, "10.0.0.1");
    EXPECT_EQ(m.via().rport, 5999);
    EXPECT_EQ(m.header("Contact"), "<sip:b@192.0.2.2>");
    EXPECT_EQ(m.header("Content-Length"), "0");
    EXPECT_EQ(m.max_forwards(), -1);
    EXPECT_TRUE(m.body().empty());
}

TEST(Message, MissingContentLengthTakesRestOfDatagram) {
    std::string s = kInvite;
    s.replace(s.find("Content-Length: 4\r\n"), 19, "");
    Message m;
    ASSERT_FALSE(parse_message(s, m));
    EXPECT_EQ(m.body(), "v=0\r\n");
}

TEST(Message, ContentLengthLargerThanDatagram) {
    std::string s = kInvite;
    s.replace(s.find("Content-Length: 4"), 17, "Content-Length: 40");
    Message m;
    EXPECT_EQ(parse_message(s, m), Errc::body_truncated);
    s.replace(s.find("Content-Length: 40"), 18, "Content-Length: -4");
    EXPECT_EQ(parse_message(s, m), Errc::bad_content_length);
}

TEST(Message, PreciseErrors) {
    auto without = [](std::string_view header) {
        std::string s = kInvite;
        auto p = s.find(std::string(header) + ":");
        s.erase(p, s.find("\r\n", p) + 2 - p);
        return s;
    };
    Message m;
    EXPECT_EQ(parse_message(without("To"), m), Errc::missing_to);
    EXPECT_EQ(parse_message(without("From"), m), Errc::missing_from);
    EXPECT_EQ(parse_message(without("Call-ID"), m), Errc::missing_call_id);
    EXPECT_EQ(parse_message(without("CSeq"), m), Errc::missing_cseq);
    // RFC 2543 requests lack Max-Forwards; accepted as if it passed (RFC 4475 §3.4.1).
    EXPECT_FALSE(parse_message(without("Max-Forwards"), m));
    EXPECT_EQ(m.max_forwards(), -1);
    std::string noVia = without("Via");
    noVia = [&] {
        auto p = noVia.find("Via:");
        noVia.erase(p, noVia.find("\r\n", p) + 2 - p);
        return noVia;
    }();
    EXPECT_EQ(parse_message(noVia, m), Errc::missing_via);
    // The partial message is still available for a 400.
    EXPECT_TRUE(m.is_request());
    EXPECT_FALSE(m.valid());
    EXPECT_EQ(m.header("Call-ID"), "a84b4c76e66710@pc33.atlanta.example.com");

    std::string s = kInvite;
    s.replace(s.find("CSeq: 314159 INVITE"), 19, "CSeq: 314159 BYE");
    EXPECT_EQ(parse_message(s, m), Errc::cseq_method_mismatch);
    s = kInvite;
    s.replace(s.find("SIP/2.0\r\n"), 7, "SIP/7.0");
    EXPECT_EQ(parse_message(s, m), Errc::unsupported_version);
    EXPECT_EQ(m.header("CSeq"), "314159 INVITE");
    s = kInvite;
    s.replace(0, 6, "INV@TE");
    EXPECT_EQ(parse_message(s, m), Errc::bad_method);
    s = kInvite;
    s.replace(s.find("Max-Forwards: 70"), 16, "Max-Forwards: 300");
    EXPECT_EQ(parse_message(s, m), Errc::bad_max_forwards);
    s = kInvite;
    s.insert(s.find("Call-ID"), "this line has no colon\r\n");
    EXPECT_EQ(parse_message(s, m), Errc::bad_header);
    s = kInvite;
    s.insert(s.find("Call-ID"), "i: another-call-id\r\n");
    EXPECT_EQ(parse_message(s, m), Errc::duplicate_header);
    s = kInvite;
    s.replace(s.find("SIP/2.0/UDP pc33"), 16, "SIP/2.0/UDP ;;pc33");
    EXPECT_EQ(parse_message(s, m), Errc::bad_via);
    EXPECT_EQ(parse_message("", m), Errc::empty_message);
    EXPECT_EQ(parse_message("\r\n\r\n", m), Errc::empty_message);
    EXPECT_EQ(parse_message(crlf("SIP/2.0 1000 Big\nVia: SIP/2.0/UDP a;branch=z9hG4bK1\n\n"), m),
              Errc::bad_status_code);
    EXPECT_EQ(parse_message(crlf("INVITE sip:a@b?Route=x SIP/2.0\n\n"), m), Errc::bad_request_uri);
}

TEST(Message, ResponseAndRequestBuilders) {
    auto req = OutgoingMessage::request("OPTIONS", "sip:bob@example.org");
    req.add("Via", "SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK1")
        .add("Max-Forwards", "70")
        .add("To", "<sip:bob@example.org>")
        .add("From", "<sip:alice@example.org>;tag=a")
        .add("Call-ID", "c1")
        .add("CSeq", "1 OPTIONS")
        .add("Content-Length", "999");  // replaced by the computed value
    req.set_body("hello", "text/plain");
    req.add_front("Via", "SIP/2.0/UDP 10.0.0.1;branch=z9hG4bK0");
    req.set("Max-Forwards", "69");
    EXPECT_EQ(req.header("max-forwards"), "69");
    std::string wire = req.to_string();
    EXPECT_EQ(wire.find("Content-Length: 999"), std::string::npos);
    Message m;
    ASSERT_FALSE(parse_message(wire, m));
    EXPECT_EQ(m.body(), "hello");
    EXPECT_EQ(m.via().host, "10.0.0.1");
    EXPECT_EQ(m.headers("Via").size(), 2u);
    EXPECT_EQ(m.header("Content-Type"), "text/plain");
    EXPECT_EQ(req.remove("via"), 2u);

    auto resp = make_response(m, 486, {}, "totag");
    EXPECT_EQ(resp.status(), 486);
    EXPECT_EQ(resp.reason(), "Busy Here");
    Message r;
    ASSERT_FALSE(parse_message(resp.to_string(), r));
    EXPECT_EQ(r.status(), 486);
    EXPECT_EQ(r.headers("Via").size(), 2u);
    EXPECT_EQ(r.via().host, "10.0.0.1");
    EXPECT_EQ(r.call_id(), "c1");
    EXPECT_EQ(r.cseq().method, "OPTIONS");
    EXPECT_EQ(r.to_tag(), "totag");
    EXPECT_EQ(r.from_tag(), "a");
    EXPECT_TRUE(r.body().empty());
    // 100 Trying does not get a To tag (§8.2.6.2)
    Message t;
    ASSERT_FALSE(parse_message(make_response(m, 100, {}, "x").to_string(), t));
    EXPECT_EQ(t.to_tag(), "");
    EXPECT_EQ(t.reason(), "Trying");
}

TEST(Message, FoldedValuesReadAsOneLine) {
    std::string s = kInvite;
    s.replace(s.find("Content-Type"), 0, "X-Folded: first\r\n \t second  \r\n\tthird\r\n");
    Message m;
    ASSERT_FALSE(parse_message(s, m));
    EXPECT_EQ(m.header("X-Folded"), "first second third");  // §7.3.1
    EXPECT_EQ(m.body().size(), 4u);  // the body moved with the shorter header section
}

TEST(Message, DateMustBeGmt) {
    std::string s = kInvite;
    s.replace(s.find("Content-Type"), 0, "Date: Sat, 13 Nov 2010 23:29:00 GMT\r\n");
    Message m;
    EXPECT_FALSE(parse_message(s, m));
    s.replace(s.find(" GMT"), 4, " EST");  // RFC 4475 §3.1.2.12
    EXPECT_EQ(parse_message(s, m), Errc::bad_date);
    s.replace(s.find("Sat, 13"), 7, "Sat,13 ");
    EXPECT_EQ(parse_message(s, m), Errc::bad_date);
}

TEST(Message, ContactForms) {
    auto with_contact = [](std::string_view c) {
        std::string s = kInvite;
        auto p = s.find("Contact:");
        s.replace(p, s.find("\r\n", p) - p, "Contact: " + std::string(c));
        return s;
    };
    Message m;
    EXPECT_FALSE(parse_message(with_contact("*"), m));
    EXPECT_FALSE(parse_message(with_contact("<sip:a@b>, \"x, y\" <sip:c@d>;q=0.1"), m));
    EXPECT_EQ(m.headers("Contact").size(), 2u);
    EXPECT_FALSE(parse_message(with_contact("<tel:+1-555-0100>"), m));  // any scheme
    EXPECT_FALSE(m.contact());                                          // but not a SIP target
    EXPECT_EQ(parse_message(with_contact("sip:a@b?x=y"), m), Errc::bad_contact);
    EXPECT_EQ(parse_message(with_contact("<sip:a@b"), m), Errc::bad_contact);
}

TEST(Message, StreamFraming) {
    // RFC 3261 §18.3: over a stream Content-Length delimits the message.
    std::string inv = kInvite;
    inv.replace(inv.find("Content-Length: 4"), 17, "Content-Length: 5");  // all of "v=0\r\n"
    std::string two = "\r\n\r\n" + inv + inv;
    std::size_t len = 0;
    ASSERT_FALSE(frame_stream_message(two, len));
    EXPECT_EQ(len, 4 + inv.size());  // keep-alive CRLFs included
    ASSERT_FALSE(frame_stream_message(std::string_view(two).substr(len), len));
    EXPECT_EQ(len, inv.size());
    // Not all there yet.
    EXPECT_EQ(frame_stream_message(inv.substr(0, 40), len), Errc::incomplete_message);
    EXPECT_EQ(frame_stream_message(inv.substr(0, inv.size() - 1), len), Errc::incomplete_message);
    // Unrecoverable.
    std::string s = kInvite;
    auto p = s.find("Content-Length");
    std::string no_cl = s;
    no_cl.erase(p, s.find("\r\n", p) + 2 - p);
    EXPECT_EQ(frame_stream_message(no_cl, len), Errc::missing_content_length);
    std::string two_cl = s;
    two_cl.replace(p, 0, "l: 4\r\n");
    EXPECT_EQ(frame_stream_message(two_cl, len), Errc::duplicate_header);
    std::string neg = s;
    neg.replace(neg.find("Content-Length: 4"), 17, "Content-Length: -4");
    EXPECT_EQ(frame_stream_message(neg, len), Errc::bad_content_length);

    Message m;
    EXPECT_EQ(parse_message(no_cl, m, Framing::stream), Errc::missing_content_length);
    EXPECT_FALSE(parse_message(no_cl, m, Framing::datagram));  // rest of the datagram
    ASSERT_FALSE(parse_message(two, m, Framing::stream));
    EXPECT_EQ(m.body(), "v=0\r\n");
}
