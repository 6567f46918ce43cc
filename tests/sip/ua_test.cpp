#include "p2psip/sip/ua.hpp"

#include <gtest/gtest.h>

#include "p2psip/sip/sdp.hpp"
#include "test_util.hpp"

using namespace p2psip::sip;
using namespace sip_test;
using std::chrono::milliseconds;

namespace {

const std::string kOffer =
    "v=0\r\no=alice 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=sendrecv\r\n";
const std::string kAnswer =
    "v=0\r\no=bob 2 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 50000 RTP/AVP 0\r\na=sendrecv\r\n";

UaConfig config(const std::string& aor, milliseconds t1 = milliseconds(50)) {
    UaConfig c;
    c.aor = aor;
    c.t1 = t1;
    c.t2 = 4 * t1;
    c.t4 = 5 * t1;
    return c;
}

Uri uri_of(const std::string& s) {
    Uri u;
    EXPECT_FALSE(parse_uri(s, u));
    return u;
}

// Records what the callbacks of one session saw.
struct Events {
    std::vector<int> progress;
    bool established = false;
    std::string remote_sdp;
    int closed_status = -1;
    std::string closed_reason;
    int closed_count = 0;

    SessionHandlers handlers() {
        SessionHandlers h;
        h.on_progress = [this](int s, std::string_view) { progress.push_back(s); };
        h.on_established = [this](std::string_view sdp) {
            established = true;
            remote_sdp = sdp;
        };
        h.on_closed = [this](int s, std::string r) {
            closed_status = s;
            closed_reason = std::move(r);
            ++closed_count;
        };
        return h;
    }
    bool closed() const { return closed_count > 0; }
};

struct Pair {
    asio::io_context io;
    UserAgent alice{io, config("sip:alice@example.org")};
    UserAgent bob{io, config("sip:bob@example.org")};
    std::shared_ptr<Session> incoming;
    Events bob_events;

    Pair() {
        EXPECT_FALSE(alice.start());
        EXPECT_FALSE(bob.start());
        bob.on_incoming([this](std::shared_ptr<Session> s) {
            incoming = s;
            s->set_handlers(bob_events.handlers());
        });
    }
};

}  // namespace

TEST(UserAgent, StartAndContact) {
    asio::io_context io;
    UserAgent ua(io, config("sip:carol@example.org"));
    EXPECT_EQ(ua.transactions(), nullptr);
    ASSERT_FALSE(ua.start());
    EXPECT_TRUE(ua.start());  // already started
    EXPECT_NE(ua.port(), 0);
    EXPECT_EQ(ua.contact(), "sip:carol@127.0.0.1:" + std::to_string(ua.port()));
    EXPECT_NE(ua.transactions(), nullptr);
    EXPECT_NE(ua.transport(), nullptr);
    // Behind NAT the phone advertises its public mapping (learnt by STUN) instead.
    ua.set_advertised("203.0.113.2", 40000);
    EXPECT_EQ(ua.contact(), "sip:carol@203.0.113.2:40000");
    ua.set_advertised("", 0);
    EXPECT_EQ(ua.contact(), "sip:carol@127.0.0.1:" + std::to_string(ua.port()));
}

TEST(UserAgent, CallRingAnswerAndCallerHangsUp) {
    Pair p;
    Events a;
    auto call =
        p.alice.invite(uri_of(p.bob.contact()), "sip:bob@example.org", kOffer, a.handlers());
    EXPECT_EQ(call->role(), Session::Role::uac);
    EXPECT_EQ(call->state(), Session::State::calling);
    ASSERT_TRUE(run_until(p.io, [&] { return p.incoming != nullptr; }));
    auto in = p.incoming;
    ASSERT_NE(in->request(), nullptr);
    EXPECT_EQ(in->request()->method(), "INVITE");
    EXPECT_EQ(in->from_aor(), "sip:alice@example.org");
    EXPECT_EQ(in->to_aor(), "sip:bob@example.org");
    EXPECT_EQ(in->remote_sdp(), kOffer);
    EXPECT_EQ(call->to_aor(), "sip:bob@example.org");
    EXPECT_EQ(call->from_aor(), "sip:alice@example.org");
    in->ringing();
    ASSERT_TRUE(run_until(p.io, [&] {
        return std::find(a.progress.begin(), a.progress.end(), 180) != a.progress.end();
    }));
    EXPECT_EQ(call->state(), Session::State::early);
    in->accept(kAnswer);
    ASSERT_TRUE(run_until(p.io, [&] { return a.established && p.bob_events.established; }));
    EXPECT_EQ(a.remote_sdp, kAnswer);
    EXPECT_EQ(p.bob_events.remote_sdp, kOffer);
    EXPECT_EQ(call->state(), Session::State::confirmed);
    EXPECT_EQ(in->state(), Session::State::confirmed);
    ASSERT_TRUE(call->dialog());
    ASSERT_TRUE(in->dialog());
    EXPECT_EQ(call->dialog()->remote_tag, in->dialog()->local_tag);
    EXPECT_EQ(call->dialog()->local_tag, in->dialog()->remote_tag);
    EXPECT_EQ(call->call_id(), in->call_id());

    call->hangup();
    ASSERT_TRUE(run_until(p.io, [&] { return a.closed() && p.bob_events.closed(); }));
    EXPECT_EQ(a.closed_status, 200);
    EXPECT_EQ(a.closed_reason, "Local hangup");
    EXPECT_EQ(p.bob_events.closed_status, 200);
    EXPECT_EQ(p.bob_events.closed_reason, "Remote hangup");
    EXPECT_EQ(p.alice.session_count(), 0u);
    EXPECT_EQ(p.bob.session_count(), 0u);
    run_for(p.io, milliseconds(300));  // no late 2xx retransmission or second callback
    EXPECT_EQ(a.closed_count, 1);
    EXPECT_EQ(p.bob_events.closed_count, 1);
}

TEST(UserAgent, CalleeHangsUp) {
    Pair p;
    Events a;
    auto call =
        p.alice.invite(uri_of(p.bob.contact()), "sip:bob@example.org", kOffer, a.handlers());
    ASSERT_TRUE(run_until(p.io, [&] { return p.incoming != nullptr; }));
    p.incoming->accept(kAnswer);  // no 180 first
    ASSERT_TRUE(run_until(p.io, [&] { return a.established && p.bob_events.established; }));
    p.incoming->hangup();
    ASSERT_TRUE(run_until(p.io, [&] { return a.closed() && p.bob_events.closed(); }));
    EXPECT_EQ(a.closed_status, 200);
    EXPECT_EQ(a.closed_reason, "Remote hangup");
    EXPECT_EQ(p.bob_events.closed_reason, "Local hangup");
}

TEST(UserAgent, CancelBeforeAnswer) {
    Pair p;
    Events a;
    auto call =
        p.alice.invite(uri_of(p.bob.contact()), "sip:bob@example.org", kOffer, a.handlers());
    ASSERT_TRUE(run_until(p.io, [&] { return p.incoming != nullptr; }));
    p.incoming->ringing();
    ASSERT_TRUE(run_until(p.io, [&] { return call->state() == Session::State::early; }));
    call->hangup();  // early -> CANCEL (§9.1)
    ASSERT_TRUE(run_until(p.io, [&] { return a.closed() && p.bob_events.closed(); }));
    EXPECT_EQ(a.closed_status, 487);
    EXPECT_EQ(p.bob_events.closed_status, 487);
    EXPECT_EQ(p.bob_events.closed_reason, "Cancelled by caller");
    EXPECT_FALSE(a.established);
    // Answering after the CANCEL does nothing.
    p.incoming->accept(kAnswer);
    run_for(p.io, milliseconds(200));
    EXPECT_FALSE(a.established);
    EXPECT_EQ(a.closed_count, 1);
}

TEST(UserAgent, HangupBeforeAnyProvisionalCancelsOnFirst1xx) {
    Pair p;
    Events a;
    auto call =
        p.alice.invite(uri_of(p.bob.contact()), "sip:bob@example.org", kOffer, a.handlers());
    call->hangup();  // nothing received yet: CANCEL waits for a provisional response
    ASSERT_TRUE(run_until(p.io, [&] { return a.closed() && p.bob_events.closed(); }));
    EXPECT_EQ(a.closed_status, 487);  // 100 Trying arrived after 200 ms, then CANCEL
    EXPECT_EQ(p.bob_events.closed_status, 487);
}

TEST(UserAgent, RejectBusy) {
    Pair p;
    Events a;
    p.bob.on_incoming([&](std::shared_ptr<Session> s) { s->reject(486, "Busy Here"); });
    auto call =
        p.alice.invite(uri_of(p.bob.contact()), "sip:bob@example.org", kOffer, a.handlers());
    ASSERT_TRUE(run_until(p.io, [&] { return a.closed(); }));
    EXPECT_EQ(a.closed_status, 486);
    EXPECT_EQ(a.closed_reason, "Busy Here");
    EXPECT_EQ(call->state(), Session::State::terminated);
    EXPECT_EQ(p.bob.session_count(), 0u);
}

TEST(UserAgent, NoHandlerAnswers480) {
    asio::io_context io;
    UserAgent alice(io, config("sip:alice@example.org")), bob(io, config("sip:bob@example.org"));
    ASSERT_FALSE(alice.start());
    ASSERT_FALSE(bob.start());
    Events a;
    alice.invite(uri_of(bob.contact()), "sip:bob@example.org", kOffer, a.handlers());
    ASSERT_TRUE(run_until(io, [&] { return a.closed(); }));
    EXPECT_EQ(a.closed_status, 480);
}

TEST(UserAgent, NobodyAnswers408) {
    asio::io_context io;
    UserAgent alice(io, config("sip:alice@example.org", milliseconds(10)));
    ASSERT_FALSE(alice.start());
    RawPeer silent(io);  // receives and never answers
    Events a;
    auto start = std::chrono::steady_clock::now();
    alice.invite(uri_of("sip:bob@127.0.0.1:" + std::to_string(silent.port())),
                 "sip:bob@example.org", kOffer, a.handlers());
    ASSERT_TRUE(run_until(
        io, [&] { return a.closed(); }, std::chrono::seconds(10)));
    EXPECT_EQ(a.closed_status, 408);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
    EXPECT_GE(silent.received.size(), 5u);  // retransmissions
    EXPECT_EQ(alice.session_count(), 0u);
}

TEST(UserAgent, BadDestinationIsReportedAsync) {
    asio::io_context io;
    UserAgent alice(io, config("sip:alice@example.org"));
    ASSERT_FALSE(alice.start());
    Events a;
    alice.invite(uri_of("sip:bob@unresolvable.example"), "sip:bob@example.org", kOffer,
                 a.handlers());
    EXPECT_FALSE(a.closed());
    ASSERT_TRUE(run_until(io, [&] { return a.closed(); }));
    EXPECT_EQ(a.closed_status, 503);
}

TEST(UserAgent, AnswersOptionsAndRejectsOtherRequests) {
    asio::io_context io;
    UserAgent bob(io, config("sip:bob@example.org"));
    ASSERT_FALSE(bob.start());
    RawPeer peer(io);
    auto req = [&](const std::string& method, const std::string& extra = {}) {
        return method + " sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" +
               std::to_string(peer.port()) + ";branch=z9hG4bK" + method +
               "\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.org>" + extra +
               "\r\nFrom: <sip:x@example.org>;tag=1\r\nCall-ID: c-" + method + "\r\nCSeq: 1 " +
               method + "\r\nContent-Length: 0\r\n\r\n";
    };
    UdpEndpoint to(asio::ip::make_address("127.0.0.1"), bob.port());
    peer.send(req("OPTIONS"), to);
    peer.send(req("MESSAGE"), to);
    peer.send(req("FOOBAR"), to);
    peer.send(req("BYE", ";tag=nosuchdialog"), to);
    ASSERT_TRUE(run_until(io, [&] { return peer.received.size() == 4; }));
    std::map<std::string, Message> by_method;
    for (auto& d : peer.received) {
        Message m;
        ASSERT_FALSE(parse_message(d.data, m));
        by_method[std::string(m.cseq().method)] = m;
    }
    EXPECT_EQ(by_method["OPTIONS"].status(), 200);
    EXPECT_NE(by_method["OPTIONS"].header("Allow").value_or("").find("INVITE"), std::string::npos);
    EXPECT_EQ(by_method["MESSAGE"].status(), 405);
    EXPECT_TRUE(by_method["MESSAGE"].header("Allow"));
    EXPECT_EQ(by_method["FOOBAR"].status(), 501);
    EXPECT_EQ(by_method["BYE"].status(), 481);
    EXPECT_FALSE(by_method["OPTIONS"].to_tag().empty());
}

TEST(UserAgent, MergedRequestGets482) {
    // §8.2.2.2: the same request (From tag, Call-ID, CSeq) arriving by a second path while
    // the first transaction is alive is answered 482; a retransmission is not.
    asio::io_context io;
    UserAgent bob(io, config("sip:bob@example.org"));
    ASSERT_FALSE(bob.start());
    RawPeer peer(io);
    auto options = [&](const std::string& branch) {
        return "OPTIONS sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" +
               std::to_string(peer.port()) + ";branch=" + branch +
               "\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.org>\r\n"
               "From: <sip:x@example.org>;tag=f1\r\nCall-ID: merged\r\nCSeq: 7 OPTIONS\r\n"
               "Content-Length: 0\r\n\r\n";
    };
    UdpEndpoint to(asio::ip::make_address("127.0.0.1"), bob.port());
    peer.send(options("z9hG4bKpath1"), to);
    ASSERT_TRUE(run_until(io, [&] { return peer.received.size() == 1; }));
    peer.send(options("z9hG4bKpath1"), to);  // retransmission: same 200 again
    ASSERT_TRUE(run_until(io, [&] { return peer.received.size() == 2; }));
    peer.send(options("z9hG4bKpath2"), to);  // merged
    ASSERT_TRUE(run_until(io, [&] { return peer.received.size() == 3; }));
    Message r1, r2, r3;
    ASSERT_FALSE(parse_message(peer.received[0].data, r1));
    ASSERT_FALSE(parse_message(peer.received[1].data, r2));
    ASSERT_FALSE(parse_message(peer.received[2].data, r3));
    EXPECT_EQ(r1.status(), 200);
    EXPECT_EQ(peer.received[1].data, peer.received[0].data);
    EXPECT_EQ(r3.status(), 482);
    EXPECT_EQ(r3.via().branch, "z9hG4bKpath2");
    // Another CSeq in the same call is a new request, not a merged one.
    std::string next = options("z9hG4bKpath3");
    next.replace(next.find("CSeq: 7"), 7, "CSeq: 8");
    peer.send(next, to);
    ASSERT_TRUE(run_until(io, [&] { return peer.received.size() == 4; }));
    Message r4;
    ASSERT_FALSE(parse_message(peer.received[3].data, r4));
    EXPECT_EQ(r4.status(), 200);
}

TEST(UserAgent, TryingSentWhenProgramIsSlow) {
    Pair p;
    Events a;
    p.alice.invite(uri_of(p.bob.contact()), "sip:bob@example.org", kOffer, a.handlers());
    ASSERT_TRUE(run_until(p.io, [&] { return !a.progress.empty(); }));
    EXPECT_EQ(a.progress[0], 100);  // §17.2.1 after 200 ms
    p.incoming->reject(480, "Temporarily Unavailable");
    ASSERT_TRUE(run_until(p.io, [&] { return a.closed(); }));
    EXPECT_EQ(a.closed_status, 480);
}

TEST(UserAgent, UasWithoutAckSendsBye) {
    asio::io_context io;
    UserAgent bob(io, config("sip:bob@example.org", milliseconds(10)));
    ASSERT_FALSE(bob.start());
    Events b;
    bob.on_incoming([&](std::shared_ptr<Session> s) {
        s->set_handlers(b.handlers());
        s->accept(kAnswer);
    });
    RawPeer peer(io);
    std::string inv = "INVITE sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" +
                      std::to_string(peer.port()) +
                      ";branch=z9hG4bKnoack\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.org>\r\n"
                      "From: <sip:x@example.org>;tag=1\r\nCall-ID: noack\r\nCSeq: 1 INVITE\r\n"
                      "Contact: <sip:x@127.0.0.1:" +
                      std::to_string(peer.port()) + ">\r\nContent-Length: 0\r\n\r\n";
    peer.send(inv, UdpEndpoint(asio::ip::make_address("127.0.0.1"), bob.port()));
    ASSERT_TRUE(run_until(io, [&] { return b.closed(); }));
    EXPECT_EQ(b.closed_status, 408);
    EXPECT_EQ(b.closed_reason, "No ACK received");
    ASSERT_TRUE(run_until(io, [&] {
        for (auto& d : peer.received)
            if (d.data.rfind("BYE ", 0) == 0) return true;
        return false;
    }));
    int oks = 0;
    for (auto& d : peer.received)
        if (d.data.rfind("SIP/2.0 200", 0) == 0) ++oks;
    EXPECT_GE(oks, 3);  // §13.3.1.4 retransmissions
}

TEST(UserAgent, UacAcksRetransmitted2xx) {
    asio::io_context io;
    UserAgent alice(io, config("sip:alice@example.org"));
    ASSERT_FALSE(alice.start());
    RawPeer peer(io);
    Events a;
    alice.invite(uri_of("sip:bob@127.0.0.1:" + std::to_string(peer.port())), "sip:bob@example.org",
                 kOffer, a.handlers());
    ASSERT_TRUE(run_until(io, [&] { return !peer.received.empty(); }));
    Message inv;
    ASSERT_FALSE(parse_message(peer.received[0].data, inv));
    EXPECT_EQ(inv.max_forwards(), 70);
    EXPECT_EQ(inv.header("Content-Type"), "application/sdp");
    EXPECT_EQ(inv.body(), kOffer);
    ASSERT_TRUE(inv.contact());
    EXPECT_EQ(inv.contact()->uri.port, alice.port());
    auto ok = make_response(inv, 200, {}, "peertag");
    ok.add("Contact", "<sip:bob@127.0.0.1:" + std::to_string(peer.port()) + ">");
    ok.set_body(kAnswer, "application/sdp");
    UdpEndpoint to(asio::ip::make_address("127.0.0.1"), alice.port());
    peer.send(ok.to_string(), to);
    auto acks = [&] {
        std::vector<Message> r;
        for (auto& d : peer.received) {
            Message m;
            if (!parse_message(d.data, m) && m.is_request() && m.method() == "ACK") r.push_back(m);
        }
        return r;
    };
    ASSERT_TRUE(run_until(io, [&] { return acks().size() == 1 && a.established; }));
    peer.send(ok.to_string(), to);  // 2xx retransmission -> ACK again (§13.2.2.4)
    ASSERT_TRUE(run_until(io, [&] { return acks().size() == 2; }));
    Message ack = acks()[0];
    EXPECT_EQ(ack.cseq().number, inv.cseq().number);
    EXPECT_EQ(ack.to_tag(), "peertag");
    EXPECT_NE(ack.via().branch, inv.via().branch);  // a new transaction
    EXPECT_EQ(ack.request_uri(), "sip:bob@127.0.0.1:" + std::to_string(peer.port()));
    EXPECT_EQ(a.remote_sdp, kAnswer);
}
