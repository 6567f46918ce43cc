#include "p2psip/sip/ua.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "p2psip/sip/sdp.hpp"
#include "test_util.hpp"

extern char** environ;

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
    // on_reoffer is installed only when set; it records the offers and returns the answer.
    std::optional<std::string> reoffer_answer;
    std::vector<std::string> offers;
    // Order of re-INVITE completions and on_closed ("done:<status>", "closed:<status>").
    std::vector<std::string> order;

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
            order.push_back("closed:" + std::to_string(s));
        };
        if (reoffer_answer) {
            h.on_reoffer = [this](std::string_view offer,
                                  std::function<void(std::string)> respond) {
                offers.emplace_back(offer);
                respond(*reoffer_answer);
            };
        }
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

// ================================================================ re-INVITE (RFC 3261 §14)

namespace {

const std::string kOffer2 =
    "v=0\r\no=alice 1 2 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 40000 RTP/AVP 0\r\na=sendonly\r\n";
const std::string kAnswer2 =
    "v=0\r\no=bob 2 3 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n"
    "m=audio 50000 RTP/AVP 0\r\na=recvonly\r\n";

// Result of one reinvite() call.
struct Done {
    int status = -1;
    std::string answer;
    int count = 0;
    Events* events = nullptr;  // records "done:<status>" in its order list
    std::function<void(int, std::string)> fn() {
        return [this](int s, std::string a) {
            status = s;
            answer = std::move(a);
            ++count;
            if (events) events->order.push_back("done:" + std::to_string(s));
        };
    }
    bool called() const { return count > 0; }
};

// Alice calls Bob, Bob answers; returns Alice's session once both sides are confirmed.
std::shared_ptr<Session> establish(Pair& p, Events& a) {
    auto call =
        p.alice.invite(uri_of(p.bob.contact()), "sip:bob@example.org", kOffer, a.handlers());
    EXPECT_TRUE(run_until(p.io, [&] { return p.incoming != nullptr; }));
    if (!p.incoming) return call;
    p.incoming->accept(kAnswer);
    EXPECT_TRUE(run_until(p.io, [&] { return a.established && p.bob_events.established; }));
    return call;
}

std::vector<Message> parsed(const std::vector<std::string>& datagrams) {
    std::vector<Message> r;
    for (const auto& d : datagrams) {
        Message m;
        if (!parse_message(d, m)) r.push_back(m);
    }
    return r;
}

bool is_request(const Message& m, std::string_view method, uint32_t cseq) {
    return m.is_request() && m.method() == method && m.cseq().number == cseq;
}

bool is_response(const Message& m, int status, uint32_t cseq) {
    return !m.is_request() && m.status() == status && m.cseq().number == cseq &&
           m.cseq().method == "INVITE";
}

void hangup_and_check(Pair& p, Events& a, const std::shared_ptr<Session>& who) {
    who->hangup();
    ASSERT_TRUE(run_until(p.io, [&] { return a.closed() && p.bob_events.closed(); }));
    EXPECT_EQ(a.closed_status, 200);
    EXPECT_EQ(p.bob_events.closed_status, 200);
    EXPECT_EQ(p.alice.session_count(), 0u);
    EXPECT_EQ(p.bob.session_count(), 0u);
}

}  // namespace

TEST(UserAgentReinvite, FromCallerAnsweredByOnReoffer) {
    Pair p;
    p.bob_events.reoffer_answer = kAnswer2;
    Events a;
    auto call = establish(p, a);
    auto in = p.incoming;
    ASSERT_TRUE(in);
    // What reaches Bob's socket and what Bob sends.
    std::vector<std::string> bob_in, bob_out;
    std::size_t oks_when_acked = 0;
    auto count_oks = [&] {
        std::size_t n = 0;
        for (auto& m : parsed(bob_out)) n += is_response(m, 200, 2);
        return n;
    };
    p.bob.transport()->set_raw_handler([&](std::span<const uint8_t> d, const UdpEndpoint&) {
        bob_in.emplace_back(reinterpret_cast<const char*>(d.data()), d.size());
        Message m;
        if (!parse_message(bob_in.back(), m) && is_request(m, "ACK", 2) && !oks_when_acked)
            oks_when_acked = count_oks();
        return false;  // not consumed: the UA handles it as usual
    });
    p.bob.transport()->set_send_observer(
        [&](std::string_view d, const UdpEndpoint&) { bob_out.emplace_back(d); });

    Done done;
    call->reinvite(kOffer2, done.fn());
    EXPECT_FALSE(done.called());
    ASSERT_TRUE(run_until(p.io, [&] { return done.called(); }));
    EXPECT_EQ(done.status, 200);
    EXPECT_EQ(done.answer, kAnswer2);
    ASSERT_EQ(p.bob_events.offers.size(), 1u);
    EXPECT_EQ(p.bob_events.offers[0], kOffer2);
    EXPECT_EQ(call->local_sdp(), kOffer2);
    EXPECT_EQ(call->remote_sdp(), kAnswer2);
    EXPECT_EQ(in->remote_sdp(), kOffer2);
    EXPECT_EQ(in->local_sdp(), kAnswer2);
    EXPECT_EQ(call->state(), Session::State::confirmed);
    EXPECT_EQ(in->state(), Session::State::confirmed);

    // The re-INVITE is in the dialog (§12.2.1.1) and the ACK has its CSeq number (§13.2.2.4).
    ASSERT_TRUE(run_until(p.io, [&] { return oks_when_acked > 0; }));
    auto msgs = parsed(bob_in);
    const Message* reinv = nullptr;
    const Message* ack = nullptr;
    for (auto& m : msgs) {
        if (is_request(m, "INVITE", 2) && !reinv) reinv = &m;
        if (is_request(m, "ACK", 2) && !ack) ack = &m;
    }
    ASSERT_TRUE(reinv);
    ASSERT_TRUE(ack);
    EXPECT_EQ(reinv->call_id(), in->call_id());
    EXPECT_EQ(reinv->from_tag(), call->dialog()->local_tag);
    EXPECT_EQ(reinv->to_tag(), in->dialog()->local_tag);
    EXPECT_EQ(reinv->body(), kOffer2);
    EXPECT_EQ(reinv->header("Content-Type"), "application/sdp");
    ASSERT_TRUE(reinv->contact());
    EXPECT_EQ(reinv->contact()->uri.port, p.alice.port());
    EXPECT_EQ(reinv->request_uri(), p.bob.contact());  // the remote target
    EXPECT_EQ(ack->call_id(), in->call_id());
    EXPECT_EQ(ack->cseq().method, "ACK");
    EXPECT_NE(ack->via().branch, reinv->via().branch);
    EXPECT_EQ(in->dialog()->remote_cseq, 2u);

    // The ACK stopped the 200 retransmissions (T1 = 50 ms: several would have gone by).
    run_for(p.io, milliseconds(800));
    EXPECT_GE(oks_when_acked, 1u);
    EXPECT_EQ(count_oks(), oks_when_acked);
    EXPECT_EQ(done.count, 1);
    EXPECT_FALSE(a.closed());
    EXPECT_FALSE(p.bob_events.closed());
    hangup_and_check(p, a, call);
}

TEST(UserAgentReinvite, FromCallee) {
    Pair p;
    Events a;
    a.reoffer_answer = kAnswer2;
    auto call = establish(p, a);
    auto in = p.incoming;
    ASSERT_TRUE(in);
    Done done;
    in->reinvite(kOffer2, done.fn());
    ASSERT_TRUE(run_until(p.io, [&] { return done.called(); }));
    EXPECT_EQ(done.status, 200);
    EXPECT_EQ(done.answer, kAnswer2);
    ASSERT_EQ(a.offers.size(), 1u);
    EXPECT_EQ(a.offers[0], kOffer2);
    EXPECT_EQ(in->local_sdp(), kOffer2);
    EXPECT_EQ(in->remote_sdp(), kAnswer2);
    EXPECT_EQ(call->remote_sdp(), kOffer2);
    EXPECT_EQ(call->local_sdp(), kAnswer2);
    EXPECT_EQ(in->dialog()->local_cseq, 1u);  // the UAS's first request in the dialog
    EXPECT_EQ(call->dialog()->remote_cseq, 1u);
    // A second one in the same dialog, then the caller hangs up.
    Done again;
    in->reinvite(kOffer, again.fn());
    ASSERT_TRUE(run_until(p.io, [&] { return again.called(); }));
    EXPECT_EQ(again.status, 200);
    EXPECT_EQ(a.offers.size(), 2u);
    EXPECT_EQ(in->local_sdp(), kOffer);
    hangup_and_check(p, a, call);
}

TEST(UserAgentReinvite, NoHandlerAnswers488AndDialogStays) {
    Pair p;  // Bob has no on_reoffer
    Events a;
    auto call = establish(p, a);
    auto in = p.incoming;
    ASSERT_TRUE(in);
    Done done;
    call->reinvite(kOffer2, done.fn());
    ASSERT_TRUE(run_until(p.io, [&] { return done.called(); }));
    EXPECT_EQ(done.status, 488);
    EXPECT_EQ(done.answer, "");
    EXPECT_EQ(call->local_sdp(), kOffer);  // the old session stays (§14.1)
    EXPECT_EQ(call->remote_sdp(), kAnswer);
    EXPECT_EQ(in->remote_sdp(), kOffer);
    EXPECT_EQ(call->state(), Session::State::confirmed);
    EXPECT_EQ(in->state(), Session::State::confirmed);
    run_for(p.io, milliseconds(200));
    EXPECT_FALSE(a.closed());
    EXPECT_FALSE(p.bob_events.closed());
    hangup_and_check(p, a, in);  // BYE in the dialog still works (CSeq ordering included)
    EXPECT_EQ(a.closed_reason, "Remote hangup");
}

TEST(UserAgentReinvite, HandlerReturningEmptyAnswers488) {
    Pair p;
    p.bob_events.reoffer_answer = "";
    Events a;
    auto call = establish(p, a);
    auto in = p.incoming;
    ASSERT_TRUE(in);
    Done done;
    call->reinvite(kOffer2, done.fn());
    ASSERT_TRUE(run_until(p.io, [&] { return done.called(); }));
    EXPECT_EQ(done.status, 488);
    ASSERT_EQ(p.bob_events.offers.size(), 1u);
    EXPECT_EQ(p.bob_events.offers[0], kOffer2);
    EXPECT_EQ(in->remote_sdp(), kOffer);
    EXPECT_EQ(in->local_sdp(), kAnswer);
    EXPECT_EQ(call->local_sdp(), kOffer);
    // The dialog still carries a successful re-INVITE afterwards.
    in->set_handlers([&] {
        p.bob_events.reoffer_answer = kAnswer2;
        return p.bob_events.handlers();
    }());
    Done second;
    call->reinvite(kOffer2, second.fn());
    ASSERT_TRUE(run_until(p.io, [&] { return second.called(); }));
    EXPECT_EQ(second.status, 200);
    EXPECT_EQ(in->local_sdp(), kAnswer2);
    hangup_and_check(p, a, call);
}

TEST(UserAgentReinvite, AnswerCanComeLaterAndIsRefusedIfTheDialogEndedMeanwhile) {
    Pair p;
    Events a;
    auto call = establish(p, a);
    auto in = p.incoming;
    ASSERT_TRUE(in);
    // Bob answers 300 ms later (as a phone that must gather ICE candidates first).
    std::function<void(std::string)> pending;
    SessionHandlers h = p.bob_events.handlers();
    h.on_reoffer = [&](std::string_view, std::function<void(std::string)> respond) {
        pending = std::move(respond);
    };
    in->set_handlers(h);
    Done done;
    call->reinvite(kOffer2, done.fn());
    ASSERT_TRUE(run_until(p.io, [&] { return static_cast<bool>(pending); }));
    run_for(p.io, milliseconds(300));
    EXPECT_FALSE(done.called());
    pending(kAnswer2);
    pending(kAnswer);  // a second call is ignored
    ASSERT_TRUE(run_until(p.io, [&] { return done.called(); }));
    EXPECT_EQ(done.status, 200);
    EXPECT_EQ(done.answer, kAnswer2);
    EXPECT_EQ(in->local_sdp(), kAnswer2);

    // Again, but the caller hangs up before bob answers: the late answer gets 487.
    pending = nullptr;
    Done late;
    run_for(p.io, milliseconds(100));
    call->reinvite(kOffer, late.fn());
    ASSERT_TRUE(run_until(p.io, [&] { return static_cast<bool>(pending); }));
    in->hangup();  // BYE from bob while his answer is pending
    ASSERT_TRUE(run_until(p.io, [&] { return late.called() && a.closed(); }));
    EXPECT_NE(late.status, 200);
    pending(kAnswer2);  // too late: must not revive anything
    run_for(p.io, milliseconds(200));
    EXPECT_EQ(in->state(), Session::State::terminated);
}

TEST(UserAgentReinvite, GlareGets491AndDialogSurvives) {
    Pair p;
    p.bob_events.reoffer_answer = kAnswer2;
    Events a;
    a.reoffer_answer = kAnswer;
    auto call = establish(p, a);
    auto in = p.incoming;
    ASSERT_TRUE(in);
    Done da, db;
    call->reinvite(kOffer2, da.fn());  // both in flight before either arrives
    in->reinvite(kOffer, db.fn());
    ASSERT_TRUE(run_until(p.io, [&] { return da.called() && db.called(); }));
    EXPECT_TRUE(da.status == 491 || db.status == 491) << da.status << " " << db.status;
    EXPECT_EQ(call->state(), Session::State::confirmed);
    EXPECT_EQ(in->state(), Session::State::confirmed);
    EXPECT_FALSE(a.closed());
    EXPECT_FALSE(p.bob_events.closed());
    // The retry (§14.1 says after a random delay; the test does not wait) succeeds.
    Done retry;
    call->reinvite(kOffer2, retry.fn());
    ASSERT_TRUE(run_until(p.io, [&] { return retry.called(); }));
    EXPECT_EQ(retry.status, 200);
    EXPECT_EQ(retry.answer, kAnswer2);
    hangup_and_check(p, a, call);
}

TEST(UserAgentReinvite, RefusedOutsideConfirmedAndWhilePending) {
    Pair p;
    p.bob_events.reoffer_answer = kAnswer2;
    Events a;
    std::vector<std::string> alice_out;
    p.alice.transport()->set_send_observer(
        [&](std::string_view d, const UdpEndpoint&) { alice_out.emplace_back(d); });
    auto sent_cseq2 = [&] {
        for (auto& m : parsed(alice_out))
            if (m.is_request() && m.cseq().number >= 2) return true;
        return false;
    };
    auto call =
        p.alice.invite(uri_of(p.bob.contact()), "sip:bob@example.org", kOffer, a.handlers());
    Done calling;
    call->reinvite(kOffer2, calling.fn());  // state calling
    EXPECT_FALSE(calling.called());         // posted, not run inside reinvite()
    ASSERT_TRUE(run_until(p.io, [&] { return calling.called() && p.incoming != nullptr; }));
    EXPECT_EQ(calling.status, 500);
    EXPECT_EQ(calling.answer, "");
    Done incoming;
    p.incoming->reinvite(kOffer2, incoming.fn());  // UAS not answered yet
    p.incoming->accept(kAnswer);
    ASSERT_TRUE(run_until(p.io, [&] { return a.established && p.bob_events.established; }));
    ASSERT_TRUE(run_until(p.io, [&] { return incoming.called(); }));
    EXPECT_EQ(incoming.status, 500);

    Done empty;
    call->reinvite("", empty.fn());  // an offer is required
    ASSERT_TRUE(run_until(p.io, [&] { return empty.called(); }));
    EXPECT_EQ(empty.status, 500);
    run_for(p.io, milliseconds(100));
    EXPECT_FALSE(sent_cseq2());  // nothing was sent for the refused calls

    // Only one re-INVITE at a time.
    Done first, second;
    call->reinvite(kOffer2, first.fn());
    call->reinvite(kOffer2, second.fn());
    ASSERT_TRUE(run_until(p.io, [&] { return first.called() && second.called(); }));
    EXPECT_EQ(first.status, 200);
    EXPECT_EQ(second.status, 491);
    EXPECT_EQ(p.bob_events.offers.size(), 1u);

    hangup_and_check(p, a, call);
    Done after;
    call->reinvite(kOffer2, after.fn());  // terminated
    ASSERT_TRUE(run_until(p.io, [&] { return after.called(); }));
    EXPECT_EQ(after.status, 500);
}

TEST(UserAgentReinvite, ByeWhileReinvitePending) {
    // Bob (a raw peer) never answers the re-INVITE and hangs up instead: done(487) comes
    // just before on_closed.
    asio::io_context io;
    UserAgent alice(io, config("sip:alice@example.org"));
    ASSERT_FALSE(alice.start());
    RawPeer peer(io);
    Events a;
    auto call = alice.invite(uri_of("sip:bob@127.0.0.1:" + std::to_string(peer.port())),
                             "sip:bob@example.org", kOffer, a.handlers());
    ASSERT_TRUE(run_until(io, [&] { return !peer.received.empty(); }));
    Message inv;
    ASSERT_FALSE(parse_message(peer.received[0].data, inv));
    auto ok = make_response(inv, 200, {}, "peertag");
    ok.add("Contact", "<sip:bob@127.0.0.1:" + std::to_string(peer.port()) + ">");
    ok.set_body(kAnswer, "application/sdp");
    UdpEndpoint to(asio::ip::make_address("127.0.0.1"), alice.port());
    peer.send(ok.to_string(), to);
    ASSERT_TRUE(run_until(io, [&] { return a.established; }));
    Done done;
    done.events = &a;
    call->reinvite(kOffer2, done.fn());
    auto find = [&](std::string_view method, uint32_t cseq) -> std::optional<Message> {
        for (auto& d : peer.received) {
            Message m;
            if (!parse_message(d.data, m) && is_request(m, method, cseq)) return m;
        }
        return std::nullopt;
    };
    ASSERT_TRUE(run_until(io, [&] { return find("INVITE", 2).has_value(); }));
    std::string bye =
        "BYE sip:alice@127.0.0.1:" + std::to_string(alice.port()) +
        " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + std::to_string(peer.port()) +
        ";branch=z9hG4bKbye1\r\nMax-Forwards: 70\r\nFrom: <sip:bob@example.org>;tag=peertag\r\n"
        "To: " +
        std::string(*inv.header("From")) + "\r\nCall-ID: " + std::string(inv.call_id()) +
        "\r\nCSeq: 1 BYE\r\nContent-Length: 0\r\n\r\n";
    peer.send(bye, to);
    ASSERT_TRUE(run_until(io, [&] { return a.closed(); }));
    EXPECT_EQ(a.closed_status, 200);
    EXPECT_EQ(done.status, 487);
    EXPECT_EQ(a.order, (std::vector<std::string>{"done:487", "closed:200"}));
    bool bye_ok = false;
    for (auto& d : peer.received) {
        Message m;
        if (!parse_message(d.data, m) && !m.is_request() && m.cseq().method == "BYE")
            bye_ok = m.status() == 200;
    }
    EXPECT_TRUE(bye_ok);
    run_for(io, milliseconds(300));
    EXPECT_EQ(done.count, 1);
    EXPECT_EQ(a.closed_count, 1);
}

TEST(UserAgentReinvite, Retransmitted2xxReAckedAnd481EndsDialog) {
    asio::io_context io;
    UserAgent alice(io, config("sip:alice@example.org"));
    ASSERT_FALSE(alice.start());
    RawPeer peer(io);
    Events a;
    auto call = alice.invite(uri_of("sip:bob@127.0.0.1:" + std::to_string(peer.port())),
                             "sip:bob@example.org", kOffer, a.handlers());
    ASSERT_TRUE(run_until(io, [&] { return !peer.received.empty(); }));
    Message inv;
    ASSERT_FALSE(parse_message(peer.received[0].data, inv));
    const std::string peer_contact = "<sip:bob@127.0.0.1:" + std::to_string(peer.port()) + ">";
    auto ok = make_response(inv, 200, {}, "peertag");
    ok.add("Contact", peer_contact);
    ok.set_body(kAnswer, "application/sdp");
    UdpEndpoint to(asio::ip::make_address("127.0.0.1"), alice.port());
    peer.send(ok.to_string(), to);
    ASSERT_TRUE(run_until(io, [&] { return a.established; }));
    auto find_all = [&](std::string_view method, uint32_t cseq) {
        std::vector<Message> r;
        for (auto& d : peer.received) {
            Message m;
            if (!parse_message(d.data, m) && is_request(m, method, cseq)) r.push_back(m);
        }
        return r;
    };

    Done done;
    call->reinvite(kOffer2, done.fn());
    ASSERT_TRUE(run_until(io, [&] { return !find_all("INVITE", 2).empty(); }));
    Message reinv = find_all("INVITE", 2)[0];
    EXPECT_EQ(reinv.to_tag(), "peertag");
    EXPECT_EQ(reinv.request_uri(), "sip:bob@127.0.0.1:" + std::to_string(peer.port()));
    auto ok2 = make_response(reinv, 200);
    ok2.add("Contact", peer_contact);
    ok2.set_body(kAnswer2, "application/sdp");
    peer.send(ok2.to_string(), to);
    ASSERT_TRUE(run_until(io, [&] { return done.called() && find_all("ACK", 2).size() == 1; }));
    EXPECT_EQ(done.status, 200);
    EXPECT_EQ(call->remote_sdp(), kAnswer2);
    peer.send(ok2.to_string(), to);  // retransmission -> the same ACK again (§13.2.2.4)
    ASSERT_TRUE(run_until(io, [&] { return find_all("ACK", 2).size() == 2; }));
    EXPECT_EQ(find_all("ACK", 2)[0].raw(), find_all("ACK", 2)[1].raw());
    EXPECT_EQ(done.count, 1);

    // §12.2.1.2: 481 to a request in the dialog ends it; done first, then on_closed.
    Done gone;
    gone.events = &a;
    call->reinvite(kOffer, gone.fn());
    ASSERT_TRUE(run_until(io, [&] { return !find_all("INVITE", 3).empty(); }));
    peer.send(make_response(find_all("INVITE", 3)[0], 481).to_string(), to);
    ASSERT_TRUE(run_until(io, [&] { return a.closed(); }));
    EXPECT_EQ(gone.status, 481);
    EXPECT_EQ(a.closed_status, 481);
    EXPECT_EQ(a.order, (std::vector<std::string>{"done:481", "closed:481"}));
    EXPECT_EQ(call->state(), Session::State::terminated);
    EXPECT_EQ(alice.session_count(), 0u);
    EXPECT_EQ(call->local_sdp(), kOffer2);  // the failed offer did not replace it
}

TEST(UserAgentReinvite, RawPeerWrongTagOverlapAndAck) {
    // A raw UAC: INVITE, ACK, then re-INVITEs to a real UAS.
    asio::io_context io;
    UserAgent bob(io, config("sip:bob@example.org"));
    ASSERT_FALSE(bob.start());
    Events b;
    b.reoffer_answer = kAnswer2;
    std::shared_ptr<Session> in;
    bob.on_incoming([&](std::shared_ptr<Session> s) {
        in = s;
        s->set_handlers(b.handlers());
        s->accept(kAnswer);
    });
    RawPeer peer(io);
    const std::string port = std::to_string(peer.port());
    UdpEndpoint to(asio::ip::make_address("127.0.0.1"), bob.port());
    auto request = [&](std::string_view method, uint32_t cseq, const std::string& to_tag,
                       const std::string& branch, const std::string& body) {
        std::string m = std::string(method) + " sip:bob@127.0.0.1:" + std::to_string(bob.port()) +
                        " SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" + port + ";branch=" + branch +
                        "\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.org>" +
                        (to_tag.empty() ? "" : ";tag=" + to_tag) +
                        "\r\nFrom: <sip:x@example.org>;tag=xtag\r\nCall-ID: raw-reinvite\r\n"
                        "CSeq: " +
                        std::to_string(cseq) + " " + std::string(method) +
                        "\r\nContact: <sip:x@127.0.0.1:" + port + ">\r\n";
        if (!body.empty()) m += "Content-Type: application/sdp\r\n";
        return m + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
    };
    auto responses = [&](int status, uint32_t cseq) {
        std::vector<Message> r;
        for (auto& d : peer.received) {
            Message m;
            if (!parse_message(d.data, m) && is_response(m, status, cseq)) r.push_back(m);
        }
        return r;
    };
    peer.send(request("INVITE", 1, "", "z9hG4bKraw1", kOffer), to);
    ASSERT_TRUE(run_until(io, [&] { return !responses(200, 1).empty(); }));
    const std::string tag = responses(200, 1)[0].to_tag();
    ASSERT_FALSE(tag.empty());
    peer.send(request("ACK", 1, tag, "z9hG4bKraw1ack", ""), to);
    ASSERT_TRUE(run_until(io, [&] { return b.established; }));

    // §12.2.2: a To tag that matches no dialog -> 481.
    peer.send(request("INVITE", 2, "wrongtag", "z9hG4bKraw2", kOffer2), to);
    ASSERT_TRUE(run_until(io, [&] { return !responses(481, 2).empty(); }));
    EXPECT_TRUE(b.offers.empty());
    EXPECT_EQ(in->state(), Session::State::confirmed);

    // A good re-INVITE: 200 with the answer, retransmitted while no ACK comes.
    peer.send(request("INVITE", 3, tag, "z9hG4bKraw3", kOffer2), to);
    ASSERT_TRUE(run_until(io, [&] { return responses(200, 3).size() >= 2; }));
    Message ok3 = responses(200, 3)[0];
    EXPECT_EQ(ok3.body(), kAnswer2);
    EXPECT_EQ(ok3.to_tag(), tag);
    ASSERT_TRUE(ok3.contact());
    EXPECT_EQ(ok3.contact()->uri.port, bob.port());
    EXPECT_EQ(in->remote_sdp(), kOffer2);
    EXPECT_EQ(in->local_sdp(), kAnswer2);

    // Overlap (§14.2): another re-INVITE while that 200 waits for its ACK -> 500 with
    // Retry-After 0-10 s; the handler is not asked.
    peer.send(request("INVITE", 4, tag, "z9hG4bKraw4", kOffer), to);
    ASSERT_TRUE(run_until(io, [&] { return !responses(500, 4).empty(); }));
    auto retry = responses(500, 4)[0].header("Retry-After");
    ASSERT_TRUE(retry);
    int secs = std::stoi(std::string(*retry));
    EXPECT_GE(secs, 0);
    EXPECT_LE(secs, 10);
    EXPECT_EQ(b.offers.size(), 1u);

    // The ACK stops the retransmissions of the 200.
    peer.send(request("ACK", 3, tag, "z9hG4bKraw3ack", ""), to);
    run_for(io, milliseconds(100));
    const std::size_t oks = responses(200, 3).size();
    run_for(io, milliseconds(800));
    EXPECT_EQ(responses(200, 3).size(), oks);

    // Offerless re-INVITE: our 200 carries an offer, the ACK the answer (RFC 3261 §13.2.1).
    peer.send(request("INVITE", 5, tag, "z9hG4bKraw5", ""), to);
    ASSERT_TRUE(run_until(io, [&] { return !responses(200, 5).empty(); }));
    ASSERT_EQ(b.offers.size(), 2u);
    EXPECT_EQ(b.offers[1], "");
    EXPECT_EQ(responses(200, 5)[0].body(), kAnswer2);
    peer.send(request("ACK", 5, tag, "z9hG4bKraw5ack", kOffer), to);
    ASSERT_TRUE(run_until(io, [&] { return in->remote_sdp() == kOffer; }));
    EXPECT_FALSE(b.closed());
    EXPECT_EQ(in->state(), Session::State::confirmed);
}

// ---------------------------------------------------------------- TCP (RFC 3261 §18)

namespace {
Uri tcp_uri(const UserAgent& ua, const std::string& user) {
    return uri_of("sip:" + user + "@127.0.0.1:" + std::to_string(ua.port()) + ";transport=tcp");
}
}  // namespace

// RFC 3428: a pager-mode MESSAGE outside any dialog, over UDP and TCP.
TEST(UserAgentMessage, DeliveredAndAnswered200) {
    Pair p;
    std::vector<InstantMessage> got;
    p.bob.on_message([&](const InstantMessage& m) { got.push_back(m); });
    int status = -1;
    auto send = [&](const std::string& target, std::string body) {
        status = -1;
        p.alice.send_message(uri_of(target), "sip:bob@example.org", "text/plain;charset=utf-8",
                             std::move(body), [&](int s, std::string) { status = s; });
        EXPECT_TRUE(run_until(p.io, [&] { return status != -1; }));
    };
    send(p.bob.contact(), "hello bob");
    EXPECT_EQ(status, 200);
    ASSERT_EQ(got.size(), 1u);
    EXPECT_EQ(got[0].body, "hello bob");
    EXPECT_EQ(got[0].from_aor, "sip:alice@example.org");
    EXPECT_EQ(got[0].content_type, "text/plain;charset=utf-8");

    send(p.bob.contact() + ";transport=tcp", "over tcp");
    EXPECT_EQ(status, 200);
    ASSERT_EQ(got.size(), 2u);
    EXPECT_EQ(got[1].body, "over tcp");

    p.bob.on_message(nullptr);  // nobody takes messages: 405 Method Not Allowed
    send(p.bob.contact(), "nobody home");
    EXPECT_EQ(status, 405);
    EXPECT_EQ(got.size(), 2u);

    // Not sendable: reported, asynchronously.
    status = -1;
    p.alice.send_message(uri_of("sip:bob@not-an-ip"), "sip:bob@example.org", "text/plain", "x",
                         [&](int s, std::string) { status = s; });
    EXPECT_EQ(status, -1);
    EXPECT_TRUE(run_until(p.io, [&] { return status != -1; }));
    EXPECT_EQ(status, 503);
}

// RFC 6086 legacy INFO (no Info-Package) inside a confirmed dialog.
TEST(UserAgentMessage, InfoInDialog) {
    Pair p;
    Events a;
    auto call = establish(p, a);
    ASSERT_TRUE(p.incoming);
    std::string type, body;
    auto h = p.bob_events.handlers();
    h.on_info = [&](std::string_view t, std::string_view b) {
        type = t;
        body = b;
    };
    p.incoming->set_handlers(std::move(h));
    int status = -1;
    call->info("application/dtmf-relay", "Signal=5\r\nDuration=160\r\n",
               [&](int s) { status = s; });
    ASSERT_TRUE(run_until(p.io, [&] { return status != -1; }));
    EXPECT_EQ(status, 200);
    EXPECT_EQ(type, "application/dtmf-relay");
    EXPECT_EQ(body, "Signal=5\r\nDuration=160\r\n");

    hangup_and_check(p, a, call);
    status = -1;
    call->info("text/plain", "too late", [&](int s) { status = s; });
    EXPECT_EQ(status, 0);  // no dialog: nothing sent
}

TEST(UserAgentTcp, ListensOnTcpOnTheUdpPort) {
    asio::io_context io;
    UserAgent ua(io, config("sip:carol@example.org"));
    ASSERT_FALSE(ua.start());
    ASSERT_NE(ua.tcp_transport(), nullptr);
    EXPECT_EQ(ua.tcp_transport()->local_port(), ua.port());
    UaConfig no_tcp = config("sip:dave@example.org");
    no_tcp.tcp = false;
    UserAgent ua2(io, no_tcp);
    ASSERT_FALSE(ua2.start());
    EXPECT_EQ(ua2.tcp_transport(), nullptr);
    // Without TCP, a ;transport=tcp URI cannot be called.
    Events e;
    ua2.invite(tcp_uri(ua, "carol"), "sip:carol@example.org", kOffer, e.handlers());
    ASSERT_TRUE(run_until(io, [&] { return e.closed(); }));
    EXPECT_EQ(e.closed_status, 503);
}

TEST(UserAgentTcp, FullCallReinviteAndByeOverTcp) {
    Pair p;
    Events a;
    a.reoffer_answer = kOffer;
    auto call = p.alice.invite(tcp_uri(p.bob, "bob"), "sip:bob@example.org", kOffer, a.handlers());
    EXPECT_EQ(call->transport_kind(), TransportKind::tcp);
    ASSERT_TRUE(run_until(p.io, [&] { return p.incoming != nullptr; }));
    auto in = p.incoming;
    EXPECT_EQ(in->transport_kind(), TransportKind::tcp);
    ASSERT_NE(in->request(), nullptr);
    EXPECT_EQ(in->request()->via().transport, "TCP");
    // Contact names TCP so that the peer's in-dialog requests come back over TCP.
    auto contact = in->request()->contact();
    ASSERT_TRUE(contact);
    EXPECT_EQ(contact->uri.param("transport"), "tcp");
    in->ringing();
    in->accept(kAnswer);
    ASSERT_TRUE(run_until(p.io, [&] { return a.established && p.bob_events.established; }));
    EXPECT_EQ(a.remote_sdp, kAnswer);
    ASSERT_TRUE(call->dialog());
    EXPECT_EQ(call->dialog()->remote_target.param("transport"), "tcp");

    // re-INVITE from the callee, in the dialog, over TCP.
    std::optional<int> done;
    in->reinvite(kAnswer, [&](int status, std::string) { done = status; });
    ASSERT_TRUE(run_until(p.io, [&] { return done.has_value(); }));
    EXPECT_EQ(*done, 200);
    EXPECT_EQ(a.offers.size(), 1u);

    call->hangup();
    ASSERT_TRUE(run_until(p.io, [&] { return a.closed() && p.bob_events.closed(); }));
    EXPECT_EQ(a.closed_status, 200);
    EXPECT_EQ(p.bob_events.closed_reason, "Remote hangup");
    // Nothing went over UDP; the callee answered on the caller's connection and its own
    // requests (re-INVITE, 2xx ACK) went to the caller's Contact over TCP.
    EXPECT_EQ(p.alice.transport()->stats().received, 0u);
    EXPECT_EQ(p.bob.transport()->stats().received, 0u);
    EXPECT_GE(p.bob.tcp_transport()->stats().delivered, 4u);  // INVITE ACK ACK(re) BYE + 200
    EXPECT_EQ(p.alice.tcp_transport()->stats().connected, 1u);
    run_for(p.io, milliseconds(300));
    EXPECT_EQ(a.closed_count, 1);
}

TEST(UserAgentTcp, CalleeHangsUpOverTcp) {
    Pair p;
    Events a;
    auto call = p.alice.invite(tcp_uri(p.bob, "bob"), "sip:bob@example.org", kOffer, a.handlers());
    ASSERT_TRUE(run_until(p.io, [&] { return p.incoming != nullptr; }));
    p.incoming->accept(kAnswer);
    ASSERT_TRUE(run_until(p.io, [&] { return a.established && p.bob_events.established; }));
    p.incoming->hangup();
    ASSERT_TRUE(run_until(p.io, [&] { return a.closed() && p.bob_events.closed(); }));
    EXPECT_EQ(a.closed_reason, "Remote hangup");
    EXPECT_EQ(p.bob_events.closed_reason, "Local hangup");
    EXPECT_EQ(p.alice.transport()->stats().received, 0u);
    EXPECT_EQ(p.bob.transport()->stats().received, 0u);
}

TEST(UserAgentTcp, RefusedConnectionEndsTheCallWith503) {
    asio::io_context io;
    UserAgent alice(io, config("sip:alice@example.org"));
    ASSERT_FALSE(alice.start());
    uint16_t dead_port;
    {
        asio::ip::tcp::acceptor tmp(
            io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        dead_port = tmp.local_endpoint().port();
    }
    Events a;
    alice.invite(uri_of("sip:bob@127.0.0.1:" + std::to_string(dead_port) + ";transport=tcp"),
                 "sip:bob@example.org", kOffer, a.handlers());
    // §8.1.3.1: the transport failure is a 503 for the TU, long before Timer B.
    ASSERT_TRUE(run_until(
        io, [&] { return a.closed(); }, milliseconds(3000)));
    EXPECT_EQ(a.closed_status, 503);
}

// ---------------------------------------------------------------- sipp over TCP

namespace {

bool have_sipp() {
    return ::access("/usr/bin/sipp", X_OK) == 0;
}

// A port that was free a moment ago (for sipp's own sockets).
uint16_t free_port(asio::io_context& io) {
    asio::ip::tcp::acceptor a(io, asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
    return a.local_endpoint().port();
}

// Runs /usr/bin/sipp with `args` (output discarded) while the io_context turns; returns its
// exit status (0 = every call succeeded), or -1 if it could not be run or did not finish.
int run_sipp(asio::io_context& io, std::vector<std::string> args,
             std::chrono::milliseconds limit = std::chrono::seconds(60)) {
    args.insert(args.begin(), "sipp");
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    int rc = posix_spawn(&pid, "/usr/bin/sipp", &fa, nullptr, argv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    if (rc != 0) return -1;
    int status = 0;
    bool reaped = false;  // waitpid succeeds once; run_until asks again at the end
    bool exited = run_until(
        io,
        [&] {
            if (!reaped) reaped = ::waitpid(pid, &status, WNOHANG) == pid;
            return reaped;
        },
        limit);
    if (!exited) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

std::vector<std::string> sipp_common(asio::io_context& io, uint16_t port) {
    return {"-t",
            "t1",
            "-i",
            "127.0.0.1",
            "-p",
            std::to_string(port),
            "-m",
            "1",
            "-nostdin",
            "-mp",
            std::to_string(free_port(io)),
            "-cp",
            std::to_string(free_port(io)),
            "-timeout",
            "40s",
            "-timeout_error"};
}

}  // namespace

// sipp's built-in UAS answers our INVITE sent with ;transport=tcp; we ACK and hang up.
TEST(UserAgentSipp, SippUasOverTcp) {
    if (!have_sipp()) GTEST_SKIP() << "sipp (Debian sip-tester) not installed";
    asio::io_context io;
    UserAgent alice(io, config("sip:alice@127.0.0.1", milliseconds(500)));
    ASSERT_FALSE(alice.start());
    const uint16_t sipp_port = free_port(io);
    auto args = sipp_common(io, sipp_port);
    args.insert(args.begin(), {"-sn", "uas"});
    std::shared_ptr<Session> call;
    Events a;
    bool hung_up = false;
    // Place the call once sipp listens, then hang up as soon as it is established.
    asio::steady_timer start(io);
    std::function<void()> try_call = [&] {
        boost::system::error_code ec;
        asio::ip::tcp::socket probe(io);
        probe.connect(asio::ip::tcp::endpoint(asio::ip::make_address("127.0.0.1"), sipp_port), ec);
        if (ec) {
            start.expires_after(milliseconds(100));
            start.async_wait([&](const boost::system::error_code& e) {
                if (!e) try_call();
            });
            return;
        }
        probe.close();
        SessionHandlers h = a.handlers();
        h.on_established = [&](std::string_view) {
            a.established = true;
            asio::post(io, [&] {
                hung_up = true;
                call->hangup();
            });
        };
        call = alice.invite(
            uri_of("sip:service@127.0.0.1:" + std::to_string(sipp_port) + ";transport=tcp"),
            "sip:service@127.0.0.1", kOffer, std::move(h));
    };
    try_call();
    int rc = run_sipp(io, args);
    EXPECT_EQ(rc, 0);
    EXPECT_TRUE(a.established);
    EXPECT_TRUE(hung_up);
    ASSERT_TRUE(run_until(
        io, [&] { return a.closed(); }, milliseconds(5000)));
    EXPECT_EQ(a.closed_status, 200);
    EXPECT_EQ(alice.transport()->stats().received, 0u);  // all of it over TCP
}

// sipp's built-in UAC calls a UserAgent over TCP that answers at once; sipp hangs up.
TEST(UserAgentSipp, SippUacOverTcp) {
    if (!have_sipp()) GTEST_SKIP() << "sipp (Debian sip-tester) not installed";
    asio::io_context io;
    UserAgent bob(io, config("sip:svc@127.0.0.1", milliseconds(500)));
    ASSERT_FALSE(bob.start());
    Events b;
    int incoming = 0;
    bob.on_incoming([&](std::shared_ptr<Session> s) {
        ++incoming;
        EXPECT_EQ(s->transport_kind(), TransportKind::tcp);
        s->set_handlers(b.handlers());
        s->accept(kAnswer);
    });
    auto args = sipp_common(io, free_port(io));
    args.insert(args.begin(),
                {"-sn", "uac", "127.0.0.1:" + std::to_string(bob.port()), "-s", "svc"});
    int rc = run_sipp(io, args);
    EXPECT_EQ(rc, 0);
    EXPECT_EQ(incoming, 1);
    ASSERT_TRUE(run_until(
        io, [&] { return b.closed(); }, milliseconds(5000)));
    EXPECT_TRUE(b.established);
    EXPECT_EQ(b.closed_reason, "Remote hangup");
    EXPECT_EQ(bob.transport()->stats().received, 0u);
}

// ---------------------------------------------------------------- on_request hook,
// reject with headers, InviteOptions (for the registrar / B2BUA of the node)

namespace {

// A request from a raw UDP peer to `ua`, written by hand.
std::string raw_request(const RawPeer& peer, const std::string& method, const std::string& id,
                        const std::string& extra = {}, const std::string& body = {}) {
    std::string m = method + " sip:bob@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:" +
                    std::to_string(peer.port()) + ";branch=z9hG4bK" + id +
                    "\r\nMax-Forwards: 70\r\nTo: <sip:bob@example.org>\r\n"
                    "From: <sip:x@example.org>;tag=1\r\nCall-ID: c-" +
                    id + "\r\nCSeq: 1 " + method + "\r\n" + extra;
    if (!body.empty()) m += "Content-Type: application/sdp\r\n";
    return m + "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::optional<Message> response_to(const RawPeer& peer, std::string_view call_id, int min = 200) {
    for (const auto& d : peer.received) {
        Message m;
        if (!parse_message(d.data, m) && !m.is_request() && m.call_id() == call_id &&
            m.status() >= min)
            return m;
    }
    return std::nullopt;
}

}  // namespace

TEST(UserAgent, OnRequestHookAnswersLaterWithHeadersAndBody) {
    asio::io_context io;
    UserAgent bob(io, config("sip:bob@example.org"));
    ASSERT_FALSE(bob.start());
    RawPeer peer(io);
    const UdpEndpoint to(asio::ip::make_address("127.0.0.1"), bob.port());
    // Without a hook REGISTER is 405 and Allow does not name it.
    peer.send(raw_request(peer, "REGISTER", "r0"), to);
    ASSERT_TRUE(run_until(io, [&] { return response_to(peer, "c-r0").has_value(); }));
    EXPECT_EQ(response_to(peer, "c-r0")->status(), 405);
    EXPECT_EQ(response_to(peer, "c-r0")->header("Allow").value_or("").find("REGISTER"),
              std::string_view::npos);

    std::vector<std::string> seen;
    Destination source;
    std::function<void(ResponseSpec)> later;
    bob.on_request("REGISTER", [&](const Message& req, const Destination& src,
                                   std::function<void(ResponseSpec)> respond) {
        seen.emplace_back(req.call_id());
        source = src;
        later = std::move(respond);  // answered after the handler returned
    });
    peer.send(raw_request(peer, "REGISTER", "r1", "Contact: <sip:x@127.0.0.1:1>\r\n"), to);
    ASSERT_TRUE(run_until(io, [&] { return later != nullptr; }));
    EXPECT_EQ(seen, std::vector<std::string>{"c-r1"});
    EXPECT_EQ(source.endpoint, peer.endpoint());
    EXPECT_EQ(source.transport, TransportKind::udp);
    run_for(io, milliseconds(100));
    EXPECT_FALSE(response_to(peer, "c-r1").has_value());
    ResponseSpec spec;
    spec.status = 401;
    spec.headers = {{"WWW-Authenticate", "Digest realm=\"r\", nonce=\"1\""},
                    {"WWW-Authenticate", "Digest realm=\"r\", nonce=\"2\", algorithm=MD5"}};
    spec.content_type = "text/plain";
    spec.body = "hello";
    auto respond = later;
    respond(spec);
    respond(ResponseSpec{});  // only the first answer counts
    ASSERT_TRUE(run_until(io, [&] { return response_to(peer, "c-r1").has_value(); }));
    run_for(io, milliseconds(100));
    auto r = *response_to(peer, "c-r1");
    EXPECT_EQ(r.status(), 401);
    EXPECT_EQ(r.reason(), "Unauthorized");
    EXPECT_FALSE(r.to_tag().empty());
    EXPECT_EQ(r.headers("WWW-Authenticate").size(), 2u);
    EXPECT_EQ(r.body(), "hello");
    EXPECT_EQ(r.header("Content-Type").value_or(""), "text/plain");
    int finals = 0;
    for (const auto& d : peer.received) finals += d.data.find("c-r1") != std::string::npos;
    EXPECT_EQ(finals, 1);

    // Allow lists REGISTER now (OPTIONS, 405s).
    peer.send(raw_request(peer, "OPTIONS", "o1"), to);
    ASSERT_TRUE(run_until(io, [&] { return response_to(peer, "c-o1").has_value(); }));
    EXPECT_NE(response_to(peer, "c-o1")->header("Allow").value_or("").find("REGISTER"),
              std::string_view::npos);
    // The core's checks still come first: Require -> 420, the hook is not called.
    peer.send(raw_request(peer, "REGISTER", "r2", "Require: foo\r\n"), to);
    ASSERT_TRUE(run_until(io, [&] { return response_to(peer, "c-r2").has_value(); }));
    EXPECT_EQ(response_to(peer, "c-r2")->status(), 420);
    EXPECT_EQ(seen.size(), 1u);
    // Another method with a hook, answered at once; an out-of-range status becomes 500.
    bob.on_request("SUBSCRIBE", [](const Message&, const Destination&,
                                   std::function<void(ResponseSpec)> respond) {
        ResponseSpec s;
        s.status = 99;
        respond(s);
    });
    peer.send(raw_request(peer, "SUBSCRIBE", "s1", "Event: presence\r\n"), to);
    ASSERT_TRUE(run_until(io, [&] { return response_to(peer, "c-s1").has_value(); }));
    EXPECT_EQ(response_to(peer, "c-s1")->status(), 500);
    // Removing the hook restores 405.
    bob.on_request("REGISTER", nullptr);
    peer.send(raw_request(peer, "REGISTER", "r3"), to);
    ASSERT_TRUE(run_until(io, [&] { return response_to(peer, "c-r3").has_value(); }));
    EXPECT_EQ(response_to(peer, "c-r3")->status(), 405);
}

TEST(UserAgent, RejectWithExtraHeaders) {
    asio::io_context io;
    UserAgent bob(io, config("sip:bob@example.org"));
    ASSERT_FALSE(bob.start());
    int closed = -1;
    bob.on_incoming([&](std::shared_ptr<Session> s) {
        SessionHandlers h;
        h.on_closed = [&](int st, std::string) { closed = st; };
        s->set_handlers(h);
        s->reject(407, "",
                  {{"Proxy-Authenticate", "Digest realm=\"p2psip\", nonce=\"a\""},
                   {"Proxy-Authenticate", "Digest realm=\"p2psip\", nonce=\"b\""}});
    });
    RawPeer peer(io);
    const UdpEndpoint to(asio::ip::make_address("127.0.0.1"), bob.port());
    peer.send(raw_request(peer, "INVITE", "i1", {}, kOffer), to);
    ASSERT_TRUE(run_until(io, [&] { return response_to(peer, "c-i1").has_value(); }));
    auto r = *response_to(peer, "c-i1");
    EXPECT_EQ(r.status(), 407);
    EXPECT_EQ(r.reason(), "Proxy Authentication Required");
    auto ch = r.headers("Proxy-Authenticate");
    ASSERT_EQ(ch.size(), 2u);
    EXPECT_EQ(ch[1], "Digest realm=\"p2psip\", nonce=\"b\"");
    EXPECT_EQ(closed, 407);
    EXPECT_EQ(bob.session_count(), 0u);
}

TEST(UserAgent, InviteOptionsFromHeadersAndRequestUriParams) {
    Pair p;
    std::string ruri_seen;
    p.bob.on_incoming([&](std::shared_ptr<Session> s) {
        p.incoming = s;
        ruri_seen = std::string(s->request()->request_uri());
        s->set_handlers(p.bob_events.handlers());
        s->accept(kAnswer);
    });
    // A registered phone's contact: user with '-', transport=udp and a private parameter.
    const Uri target =
        uri_of("sip:bob-x1@127.0.0.1:" + std::to_string(p.bob.port()) + ";transport=udp;line=abc");
    InviteOptions opt;
    opt.from_aor = "sip:carol@example.net";
    opt.from_display = "Carol C";
    opt.headers = {{"X-Original-To", "sip:bob@example.org"}, {"Subject", "b2bua leg"}};
    Events alice_events;
    auto call = p.alice.invite(target, "sip:bob@example.org", kOffer, alice_events.handlers(), opt);
    ASSERT_TRUE(
        run_until(p.io, [&] { return alice_events.established && p.bob_events.established; }));
    EXPECT_EQ(ruri_seen, target.to_string());
    EXPECT_NE(ruri_seen.find(";transport=udp;line=abc"), std::string::npos);
    EXPECT_EQ(p.incoming->from_aor(), "sip:carol@example.net");
    EXPECT_EQ(p.incoming->from_display(), "Carol C");
    EXPECT_EQ(p.incoming->request()->header("X-Original-To").value_or(""), "sip:bob@example.org");
    EXPECT_EQ(p.incoming->request()->header("Subject").value_or(""), "b2bua leg");
    EXPECT_EQ(call->from_aor(), "sip:carol@example.net");
    EXPECT_EQ(call->transport_kind(), TransportKind::udp);
    // In-dialog requests work with the changed From (BYE from the callee).
    p.incoming->hangup();
    ASSERT_TRUE(run_until(p.io, [&] { return alice_events.closed() && p.bob_events.closed(); }));
    EXPECT_EQ(alice_events.closed_status, 200);

    // A From AOR that is not a SIP URI: the session ends with 400, nothing is sent.
    InviteOptions bad;
    bad.from_aor = "not a uri";
    Events e;
    p.alice.invite(target, "sip:bob@example.org", kOffer, e.handlers(), bad);
    ASSERT_TRUE(run_until(p.io, [&] { return e.closed(); }));
    EXPECT_EQ(e.closed_status, 400);
}
