#include "p2psip/sip/transport.hpp"

#include <gtest/gtest.h>

#include "p2psip/sip/error.hpp"
#include "test_util.hpp"

using namespace p2psip::sip;
using namespace sip_test;

namespace {

std::string options(const std::string& via, bool with_call_id = true) {
    std::string s =
        "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\n"
        "Via: " +
        via +
        "\r\n"
        "Max-Forwards: 70\r\n"
        "To: <sip:bob@example.org>\r\n"
        "From: <sip:alice@example.org>;tag=a1\r\n";
    if (with_call_id) s += "Call-ID: call-1\r\n";
    s += "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    return s;
}

}  // namespace

TEST(UdpTransport, BindsEphemeralPort) {
    asio::io_context io;
    UdpTransport t(io);
    EXPECT_FALSE(t.is_open());
    EXPECT_EQ(t.send("x", UdpEndpoint()), Errc::not_open);
    ASSERT_FALSE(t.open("127.0.0.1", 0));
    EXPECT_TRUE(t.is_open());
    EXPECT_NE(t.local_port(), 0);
    EXPECT_EQ(t.local_endpoint().address().to_string(), "127.0.0.1");
    EXPECT_EQ(t.open("127.0.0.1", 0), Errc::already_open);
    UdpTransport bad(io);
    EXPECT_EQ(bad.open("not-an-address", 0), Errc::bad_address);
    t.close();
    EXPECT_FALSE(t.is_open());
}

TEST(UdpTransport, DeliversRequestsWithReceivedAndRport) {
    asio::io_context io;
    UdpTransport t(io);
    ASSERT_FALSE(t.open("127.0.0.1", 0));
    std::vector<Message> got;
    std::vector<UdpEndpoint> from;
    t.set_handler([&](const Message& m, const UdpEndpoint& f) {
        got.push_back(m);
        from.push_back(f);
    });
    RawPeer peer(io);
    // sent-by differs from the source and rport asks for the port (RFC 3581).
    peer.send(options("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK1;rport"), t.local_endpoint());
    ASSERT_TRUE(run_until(io, [&] { return got.size() == 1; }));
    EXPECT_EQ(from[0].port(), peer.port());
    EXPECT_EQ(got[0].via().received, "127.0.0.1");
    EXPECT_EQ(got[0].via().rport, peer.port());
    EXPECT_EQ(got[0].via().branch, "z9hG4bK1");
    EXPECT_EQ(got[0].call_id(), "call-1");

    // sent-by equals the source: nothing added.
    peer.send(options("SIP/2.0/UDP 127.0.0.1:" + std::to_string(peer.port()) + ";branch=z9hG4bK2"),
              t.local_endpoint());
    ASSERT_TRUE(run_until(io, [&] { return got.size() == 2; }));
    EXPECT_FALSE(got[1].via().received);
    EXPECT_FALSE(got[1].via().has_rport);

    // A response to the top Via goes to received:rport, i.e. back to the peer.
    ASSERT_FALSE(t.send_response(make_response(got[0], 200), got[0], UdpEndpoint()));
    ASSERT_TRUE(run_until(io, [&] { return peer.received.size() == 1; }));
    EXPECT_EQ(peer.received[0].data.substr(0, 14), "SIP/2.0 200 OK");
    EXPECT_EQ(t.stats().delivered, 2u);
}

TEST(UdpTransport, MalformedRequestGets400AndMalformedResponseIsDropped) {
    asio::io_context io;
    UdpTransport t(io);
    ASSERT_FALSE(t.open("127.0.0.1", 0));
    int delivered = 0;
    t.set_handler([&](const Message&, const UdpEndpoint&) { ++delivered; });
    RawPeer peer(io);
    // Missing Call-ID: still answered 400 with what the request has (RFC 4475 §3.3.1).
    peer.send(options("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK3;rport", false), t.local_endpoint());
    // Bad CSeq method: answered 400 with the reason, sent back via received/rport.
    std::string bad = options("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK4;rport");
    bad.replace(bad.find("1 OPTIONS"), 9, "1 INVITE");
    peer.send(bad, t.local_endpoint());
    // Unsupported version -> 505
    std::string v = options("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK5;rport");
    v.replace(v.find("SIP/2.0\r\n"), 7, "SIP/3.0");
    peer.send(v, t.local_endpoint());
    // Malformed response -> dropped
    peer.send("SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK6\r\n\r\n",
              t.local_endpoint());
    // A response with two Vias is not for a UAC (§8.1.3.3) -> dropped
    std::string two =
        "SIP/2.0 200 OK\r\nVia: SIP/2.0/UDP 127.0.0.1;branch=z9hG4bK7\r\n"
        "Via: SIP/2.0/UDP 192.0.2.9;branch=z9hG4bK8\r\n"
        "From: <sip:a@b>;tag=1\r\nTo: <sip:c@d>;tag=2\r\nCall-ID: x\r\n"
        "CSeq: 1 OPTIONS\r\nContent-Length: 0\r\n\r\n";
    peer.send(two, t.local_endpoint());
    // keep-alive CRLFs are ignored
    peer.send("\r\n\r\n", t.local_endpoint());
    ASSERT_TRUE(
        run_until(io, [&] { return peer.received.size() == 3 && t.stats().received == 6; }));
    run_for(io, std::chrono::milliseconds(100));
    EXPECT_EQ(delivered, 0);
    ASSERT_EQ(peer.received.size(), 3u);
    Message r0, r1, r2;
    // The 400 to the request without Call-ID has no Call-ID either.
    EXPECT_EQ(parse_message(peer.received[0].data, r0), Errc::missing_call_id);
    EXPECT_EQ(r0.status(), 400);
    EXPECT_EQ(r0.reason(), "Missing Call-ID header");
    ASSERT_FALSE(parse_message(peer.received[1].data, r1));
    ASSERT_FALSE(parse_message(peer.received[2].data, r2));
    EXPECT_EQ(r1.status(), 400);
    EXPECT_EQ(r1.reason(), "CSeq method does not match request method");
    EXPECT_EQ(r1.via().branch, "z9hG4bK4");
    EXPECT_EQ(r2.status(), 505);
    EXPECT_EQ(t.stats().rejected, 3u);
    EXPECT_EQ(t.stats().dropped, 2u);
}

TEST(UdpTransport, ResponseDestination) {
    Via v;
    UdpEndpoint ep;
    ASSERT_FALSE(parse_via("SIP/2.0/UDP 192.0.2.1:5070;branch=z9hG4bK1", v));
    ASSERT_FALSE(response_destination(v, ep));
    EXPECT_EQ(ep, UdpEndpoint(asio::ip::make_address("192.0.2.1"), 5070));
    ASSERT_FALSE(parse_via("SIP/2.0/UDP 192.0.2.1;branch=z9hG4bK1", v));
    ASSERT_FALSE(response_destination(v, ep));
    EXPECT_EQ(ep.port(), 5060);
    ASSERT_FALSE(parse_via("SIP/2.0/UDP host.example;branch=z9hG4bK1;received=10.1.1.1", v));
    ASSERT_FALSE(response_destination(v, ep));
    EXPECT_EQ(ep, UdpEndpoint(asio::ip::make_address("10.1.1.1"), 5060));
    ASSERT_FALSE(parse_via("SIP/2.0/UDP h;branch=z9hG4bK1;received=10.1.1.1;rport=4000", v));
    ASSERT_FALSE(response_destination(v, ep));
    EXPECT_EQ(ep.port(), 4000);
    ASSERT_FALSE(parse_via("SIP/2.0/UDP [::1]:5080;branch=z9hG4bK1", v));
    ASSERT_FALSE(response_destination(v, ep));
    EXPECT_EQ(ep, UdpEndpoint(asio::ip::make_address("::1"), 5080));
    ASSERT_FALSE(parse_via("SIP/2.0/UDP host.example;branch=z9hG4bK1", v));
    EXPECT_EQ(response_destination(v, ep), Errc::bad_address);
}

TEST(UdpTransport, StampReceived) {
    Message m;
    ASSERT_FALSE(parse_message(
        options("SIP/2.0/UDP host.example;rport;branch=z9hG4bK9, SIP/2.0/UDP b;branch=z9hG4bKx"),
        m));
    ASSERT_FALSE(stamp_received(m, UdpEndpoint(asio::ip::make_address("10.0.0.7"), 6000)));
    EXPECT_EQ(m.via().received, "10.0.0.7");
    EXPECT_EQ(m.via().rport, 6000);
    EXPECT_EQ(m.via().branch, "z9hG4bK9");
    EXPECT_EQ(m.headers("Via").size(), 2u);
    EXPECT_EQ(m.headers("Via")[1], "SIP/2.0/UDP b;branch=z9hG4bKx");
}

TEST(UdpTransport, RawHandlerSeesDatagramsFirstAndCanConsumeThem) {
    asio::io_context io;
    UdpTransport t(io);
    ASSERT_FALSE(t.open("127.0.0.1", 0));
    std::size_t sip_messages = 0, raw_seen = 0, consumed = 0;
    t.set_handler([&](const Message&, const UdpEndpoint&) { ++sip_messages; });
    t.set_raw_handler([&](std::span<const uint8_t> d, const UdpEndpoint&) {
        ++raw_seen;
        // STUN: first two bits zero (RFC 7983 §7 demultiplexing); SIP starts with a letter.
        const bool stun = !d.empty() && d[0] < 4;
        consumed += stun;
        return stun;
    });
    RawPeer peer(io);
    peer.send(std::string("\x00\x01\x00\x00", 4) + std::string(16, 'x'), t.local_endpoint());
    peer.send(options("SIP/2.0/UDP 127.0.0.1:9;branch=z9hG4bK7"), t.local_endpoint());
    ASSERT_TRUE(run_until(io, [&] { return sip_messages == 1 && raw_seen == 2; }));
    EXPECT_EQ(consumed, 1u);
    EXPECT_TRUE(peer.received.empty()) << "the consumed datagram must not be answered as bad SIP";
}

TEST(UdpTransport, InjectedMessageIsHandledLikeAReceivedOneAndSendsAreObserved) {
    asio::io_context io;
    UdpTransport t(io);
    ASSERT_FALSE(t.open("127.0.0.1", 0));
    std::vector<Message> got;
    std::vector<UdpEndpoint> from;
    t.set_handler([&](const Message& m, const UdpEndpoint& f) {
        got.push_back(m);
        from.push_back(f);
    });
    std::vector<std::pair<std::string, UdpEndpoint>> observed;
    t.set_send_observer([&](std::string_view d, const UdpEndpoint& to) {
        observed.emplace_back(std::string(d), to);
    });
    RawPeer peer(io);
    // As if it came from the peer's socket (e.g. carried through the DHT): received/rport
    // are stamped from the claimed source, so the response goes there directly.
    t.inject(options("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK8;rport"), peer.endpoint());
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(from[0], peer.endpoint());
    EXPECT_EQ(got[0].via().rport, peer.port());
    ASSERT_FALSE(t.send_response(make_response(got[0], 200), got[0], UdpEndpoint()));
    ASSERT_TRUE(run_until(io, [&] { return peer.received.size() == 1; }));
    ASSERT_EQ(observed.size(), 1u);
    EXPECT_EQ(observed[0].second, peer.endpoint());
    EXPECT_EQ(observed[0].first, peer.received[0].data);
    // Malformed injected requests are rejected like received ones.
    t.inject("INVITE nothing\r\nVia: SIP/2.0/UDP 127.0.0.1:9;rport\r\n\r\n", peer.endpoint());
    EXPECT_EQ(t.stats().rejected, 1u);
    t.close();
    t.inject(options("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK9"), peer.endpoint());
    EXPECT_EQ(got.size(), 1u);
}
