#include "p2psip/sip/transaction.hpp"

#include <gtest/gtest.h>

#include "test_util.hpp"

using namespace p2psip::sip;
using namespace sip_test;
using std::chrono::milliseconds;

namespace {

struct Fixture {
    asio::io_context io;
    UdpTransport transport{io};
    std::unique_ptr<TransactionLayer> layer;
    RawPeer peer{io};

    explicit Fixture(milliseconds t1 = milliseconds(10), milliseconds t2 = milliseconds(4000)) {
        EXPECT_FALSE(transport.open("127.0.0.1", 0));
        TimerConfig tc;
        tc.t1 = t1;
        tc.t2 = t2;
        tc.t4 = milliseconds(50);
        tc.timer_d = milliseconds(100);
        tc.trying_delay = milliseconds(20);
        layer = std::make_unique<TransactionLayer>(io, transport, tc);
    }

    OutgoingMessage request(const std::string& method) {
        auto r =
            OutgoingMessage::request(method, "sip:bob@127.0.0.1:" + std::to_string(peer.port()));
        r.add("Max-Forwards", "70");
        r.add("To", "<sip:bob@example.org>");
        r.add("From", "<sip:alice@example.org>;tag=ft");
        r.add("Call-ID", "txn-test");
        r.add("CSeq", "1 " + method);
        return r;
    }

    // Requests the peer received with the given method.
    std::vector<Message> peer_got(std::string_view method) {
        std::vector<Message> r;
        for (auto& d : peer.received) {
            Message m;
            if (!parse_message(d.data, m) && m.is_request() && m.method() == method) r.push_back(m);
        }
        return r;
    }
    std::vector<Message> peer_responses(int status) {
        std::vector<Message> r;
        for (auto& d : peer.received) {
            Message m;
            if (!parse_message(d.data, m) && !m.is_request() && m.status() == status)
                r.push_back(m);
        }
        return r;
    }
    // Response from the peer to a request it received.
    void peer_respond(const Message& req, int code, std::string_view to_tag = "tt") {
        peer.send(make_response(req, code, {}, to_tag).to_string(), transport.local_endpoint());
    }
};

std::string raw_request(const std::string& method, uint16_t peer_port, const std::string& branch,
                        const std::string& cseq_method = {}) {
    return "" + method + " sip:alice@127.0.0.1 SIP/2.0\r\n" +
           "Via: SIP/2.0/UDP 127.0.0.1:" + std::to_string(peer_port) + ";branch=" + branch +
           "\r\n" +
           "Max-Forwards: 70\r\nTo: <sip:alice@example.org>\r\n"
           "From: <sip:bob@example.org>;tag=peer\r\nCall-ID: srv-test\r\n"
           "CSeq: 5 " +
           (cseq_method.empty() ? method : cseq_method) + "\r\nContent-Length: 0\r\n\r\n";
}

}  // namespace

TEST(ClientTransaction, InviteRetransmitsThenTimesOutWith408) {
    Fixture f;
    std::vector<int> statuses;
    auto start = std::chrono::steady_clock::now();
    std::chrono::steady_clock::time_point done;
    auto txn = f.layer->send_request(f.request("INVITE"), f.peer.endpoint(), [&](const Message& r) {
        statuses.push_back(r.status());
        done = std::chrono::steady_clock::now();
    });
    EXPECT_TRUE(txn->is_invite());
    EXPECT_EQ(txn->state(), TransactionState::calling);
    ASSERT_TRUE(run_until(f.io, [&] { return !statuses.empty(); }));
    EXPECT_EQ(statuses, std::vector<int>{408});
    EXPECT_EQ(txn->state(), TransactionState::terminated);
    EXPECT_EQ(f.layer->client_count(), 0u);
    // Timer B = 64*T1 (timers never fire early).
    EXPECT_GE(done - start, milliseconds(640));
    // Timer A: sends at 0, T1, 3T1, 7T1, 15T1, 31T1, 63T1 -> 7 copies of the same request
    // (a loaded machine may merge the last ones, never add more).
    auto invites = f.peer_got("INVITE");
    EXPECT_GE(invites.size(), 5u);
    EXPECT_LE(invites.size(), 7u);
    for (auto& d : f.peer.received) EXPECT_EQ(d.data, f.peer.received[0].data);
    EXPECT_EQ(invites[0].via().branch, txn->branch());
    EXPECT_TRUE(invites[0].via().has_rport);
    // Gaps double: the last gap is much longer than the first.
    auto& rx = f.peer.received;
    EXPECT_GT(rx.back().at - rx[rx.size() - 2].at, rx[1].at - rx[0].at);
    run_for(f.io, milliseconds(100));
    EXPECT_EQ(statuses.size(), 1u);
}

TEST(ClientTransaction, InviteNon2xxIsAckedInsideTheTransaction) {
    Fixture f;
    std::vector<int> statuses;
    auto txn = f.layer->send_request(f.request("INVITE"), f.peer.endpoint(),
                                     [&](const Message& r) { statuses.push_back(r.status()); });
    ASSERT_TRUE(run_until(f.io, [&] { return !f.peer_got("INVITE").empty(); }));
    Message inv = f.peer_got("INVITE")[0];
    f.peer_respond(inv, 180);
    ASSERT_TRUE(run_until(f.io, [&] { return statuses.size() == 1; }));
    EXPECT_EQ(txn->state(), TransactionState::proceeding);
    std::size_t invites = f.peer_got("INVITE").size();
    run_for(f.io, milliseconds(200));
    EXPECT_EQ(f.peer_got("INVITE").size(), invites);  // 1xx stops Timer A

    f.peer_respond(inv, 486);
    ASSERT_TRUE(run_until(f.io, [&] { return f.peer_got("ACK").size() == 1; }));
    EXPECT_EQ(statuses, (std::vector<int>{180, 486}));
    EXPECT_EQ(txn->state(), TransactionState::completed);
    Message ack = f.peer_got("ACK")[0];
    EXPECT_EQ(ack.via().branch, inv.via().branch);  // §17.1.1.3
    EXPECT_EQ(ack.cseq().number, inv.cseq().number);
    EXPECT_EQ(ack.cseq().method, "ACK");
    EXPECT_EQ(ack.to_tag(), "tt");
    EXPECT_EQ(ack.request_uri(), inv.request_uri());
    // A retransmitted 486 is ACKed again and not passed up.
    f.peer_respond(inv, 486);
    ASSERT_TRUE(run_until(f.io, [&] { return f.peer_got("ACK").size() == 2; }));
    EXPECT_EQ(statuses.size(), 2u);
    // Timer D ends the transaction.
    ASSERT_TRUE(run_until(f.io, [&] { return txn->state() == TransactionState::terminated; }));
    EXPECT_EQ(f.layer->client_count(), 0u);
}

TEST(ClientTransaction, Invite2xxGoesToAcceptedAndRetransmissionsReachTheTu) {
    Fixture f;
    std::vector<int> statuses;
    auto txn = f.layer->send_request(f.request("INVITE"), f.peer.endpoint(),
                                     [&](const Message& r) { statuses.push_back(r.status()); });
    ASSERT_TRUE(run_until(f.io, [&] { return !f.peer_got("INVITE").empty(); }));
    Message inv = f.peer_got("INVITE")[0];
    f.peer_respond(inv, 200);
    ASSERT_TRUE(run_until(f.io, [&] { return statuses.size() == 1; }));
    EXPECT_EQ(txn->state(), TransactionState::accepted);
    f.peer_respond(inv, 200);
    ASSERT_TRUE(run_until(f.io, [&] { return statuses.size() == 2; }));
    EXPECT_EQ(statuses, (std::vector<int>{200, 200}));
    EXPECT_TRUE(f.peer_got("ACK").empty());  // the TU ACKs a 2xx, not the transaction
    // Timer M
    ASSERT_TRUE(run_until(f.io, [&] { return txn->state() == TransactionState::terminated; }));
}

TEST(ClientTransaction, NonInviteRetransmitsCappedAtT2AndTimesOut) {
    Fixture f(milliseconds(10), milliseconds(40));
    std::vector<int> statuses;
    auto txn = f.layer->send_request(f.request("OPTIONS"), f.peer.endpoint(),
                                     [&](const Message& r) { statuses.push_back(r.status()); });
    EXPECT_EQ(txn->state(), TransactionState::trying);
    ASSERT_TRUE(run_until(f.io, [&] { return !statuses.empty(); }));
    EXPECT_EQ(statuses, std::vector<int>{408});
    // E: 10, 20, 40, 40, ... until F at 640 ms: about 1 + 3 + 14 sends; at least more than an
    // INVITE would send in the same time, at most one per T1.
    auto n = f.peer_got("OPTIONS").size();
    EXPECT_GE(n, 8u);
    EXPECT_LE(n, 64u);
}

TEST(ClientTransaction, NonInviteFinalResponseCompletes) {
    Fixture f;
    std::vector<int> statuses;
    auto txn = f.layer->send_request(f.request("BYE"), f.peer.endpoint(),
                                     [&](const Message& r) { statuses.push_back(r.status()); });
    ASSERT_TRUE(run_until(f.io, [&] { return !f.peer_got("BYE").empty(); }));
    Message bye = f.peer_got("BYE")[0];
    f.peer_respond(bye, 200);
    ASSERT_TRUE(run_until(f.io, [&] { return statuses.size() == 1; }));
    EXPECT_EQ(txn->state(), TransactionState::completed);
    f.peer_respond(bye, 200);  // absorbed
    ASSERT_TRUE(run_until(f.io, [&] { return txn->state() == TransactionState::terminated; }));
    EXPECT_EQ(statuses, std::vector<int>{200});
}

TEST(ServerTransaction, InviteSends100ThenRetransmitsFinalUntilAck) {
    Fixture f;
    std::shared_ptr<ServerTransaction> txn;
    int requests = 0;
    f.layer->set_request_handler([&](const std::shared_ptr<ServerTransaction>& t, const Message&) {
        txn = t;
        ++requests;
    });
    f.peer.send(raw_request("INVITE", f.peer.port(), "z9hG4bKinv1"), f.transport.local_endpoint());
    // §17.2.1: 100 Trying when the TU stays silent.
    ASSERT_TRUE(run_until(f.io, [&] { return f.peer_responses(100).size() == 1; }));
    ASSERT_TRUE(txn);
    EXPECT_EQ(txn->state(), TransactionState::proceeding);
    // A retransmitted INVITE gets the last provisional again; the TU is not called again.
    f.peer.send(raw_request("INVITE", f.peer.port(), "z9hG4bKinv1"), f.transport.local_endpoint());
    ASSERT_TRUE(run_until(f.io, [&] { return f.peer_responses(100).size() == 2; }));
    EXPECT_EQ(requests, 1);

    txn->respond(make_response(txn->request(), 486, {}, "srvtag"));
    EXPECT_EQ(txn->state(), TransactionState::completed);
    // Timer G retransmits the 486 until the ACK arrives.
    ASSERT_TRUE(run_until(f.io, [&] { return f.peer_responses(486).size() >= 3; }));
    f.peer.send(raw_request("ACK", f.peer.port(), "z9hG4bKinv1"), f.transport.local_endpoint());
    ASSERT_TRUE(run_until(f.io, [&] { return txn->state() == TransactionState::confirmed; }));
    std::size_t n = f.peer_responses(486).size();
    run_for(f.io, milliseconds(200));
    EXPECT_LE(f.peer_responses(486).size(), n + 1);  // one may have been in flight
    ASSERT_TRUE(run_until(f.io, [&] { return txn->state() == TransactionState::terminated; }));
    EXPECT_EQ(f.layer->server_count(), 0u);
    EXPECT_EQ(requests, 1);
}

TEST(ServerTransaction, InviteTimerHWithoutAck) {
    Fixture f;
    std::shared_ptr<ServerTransaction> txn;
    f.layer->set_request_handler(
        [&](const std::shared_ptr<ServerTransaction>& t, const Message&) { txn = t; });
    f.peer.send(raw_request("INVITE", f.peer.port(), "z9hG4bKinv2"), f.transport.local_endpoint());
    ASSERT_TRUE(run_until(f.io, [&] { return txn != nullptr; }));
    txn->respond(make_response(txn->request(), 603, {}, "x"));
    ASSERT_TRUE(run_until(f.io, [&] { return txn->state() == TransactionState::terminated; }));
    EXPECT_GE(f.peer_responses(603).size(), 5u);
}

TEST(ServerTransaction, Invite2xxAcceptedAndAckGoesToTu) {
    Fixture f;
    std::shared_ptr<ServerTransaction> txn;
    std::vector<std::string> unmatched;
    f.layer->set_request_handler(
        [&](const std::shared_ptr<ServerTransaction>& t, const Message&) { txn = t; });
    f.layer->set_unmatched_handler(
        [&](const Message& m, const UdpEndpoint&) { unmatched.emplace_back(m.method()); });
    f.peer.send(raw_request("INVITE", f.peer.port(), "z9hG4bKinv3"), f.transport.local_endpoint());
    ASSERT_TRUE(run_until(f.io, [&] { return txn != nullptr; }));
    txn->respond(make_response(txn->request(), 200, {}, "x"));
    EXPECT_EQ(txn->state(), TransactionState::accepted);
    ASSERT_TRUE(run_until(f.io, [&] { return f.peer_responses(200).size() == 1; }));
    // INVITE retransmissions are absorbed in Accepted (RFC 6026)
    f.peer.send(raw_request("INVITE", f.peer.port(), "z9hG4bKinv3"), f.transport.local_endpoint());
    // TU retransmission of the 2xx passes through
    txn->respond(make_response(txn->request(), 200, {}, "x"));
    ASSERT_TRUE(run_until(f.io, [&] { return f.peer_responses(200).size() == 2; }));
    // ACK for a 2xx has its own branch: no transaction, handed to the TU.
    f.peer.send(raw_request("ACK", f.peer.port(), "z9hG4bKack3"), f.transport.local_endpoint());
    ASSERT_TRUE(run_until(f.io, [&] { return unmatched.size() == 1; }));
    EXPECT_EQ(unmatched[0], "ACK");
    run_for(f.io, milliseconds(50));
    EXPECT_EQ(f.peer_responses(200).size(), 2u);
}

TEST(ServerTransaction, NonInviteAbsorbsAndRepeatsFinal) {
    Fixture f;
    int requests = 0;
    f.layer->set_request_handler(
        [&](const std::shared_ptr<ServerTransaction>& t, const Message& m) {
            ++requests;
            EXPECT_FALSE(t->is_invite());
            EXPECT_EQ(t->state(), TransactionState::trying);
            t->respond(make_response(m, 200, {}, "x"));
            EXPECT_EQ(t->state(), TransactionState::completed);
        });
    f.peer.send(raw_request("OPTIONS", f.peer.port(), "z9hG4bKopt"), f.transport.local_endpoint());
    ASSERT_TRUE(run_until(f.io, [&] { return f.peer_responses(200).size() == 1; }));
    f.peer.send(raw_request("OPTIONS", f.peer.port(), "z9hG4bKopt"), f.transport.local_endpoint());
    ASSERT_TRUE(run_until(f.io, [&] { return f.peer_responses(200).size() == 2; }));
    EXPECT_EQ(requests, 1);
    // Timer J
    ASSERT_TRUE(run_until(f.io, [&] { return f.layer->server_count() == 0; }));
}

TEST(ServerTransaction, CancelFindsTheInvite) {
    Fixture f;
    std::vector<std::shared_ptr<ServerTransaction>> txns;
    f.layer->set_request_handler(
        [&](const std::shared_ptr<ServerTransaction>& t, const Message&) { txns.push_back(t); });
    f.peer.send(raw_request("INVITE", f.peer.port(), "z9hG4bKcx"), f.transport.local_endpoint());
    f.peer.send(raw_request("CANCEL", f.peer.port(), "z9hG4bKcx"), f.transport.local_endpoint());
    ASSERT_TRUE(run_until(f.io, [&] { return txns.size() == 2; }));
    EXPECT_TRUE(txns[0]->is_invite());
    EXPECT_EQ(txns[1]->request().method(), "CANCEL");  // separate transaction (§9.2)
    EXPECT_EQ(f.layer->find_invite_server(txns[1]->request()), txns[0]);
    Message other;
    ASSERT_FALSE(parse_message(raw_request("CANCEL", f.peer.port(), "z9hG4bKnone"), other));
    EXPECT_EQ(f.layer->find_invite_server(other), nullptr);
}
