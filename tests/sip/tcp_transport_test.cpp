#include "p2psip/sip/tcp_transport.hpp"

#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "p2psip/sip/error.hpp"
#include "p2psip/sip/transaction.hpp"
#include "p2psip/sip/ua.hpp"
#include "test_util.hpp"

using namespace p2psip::sip;
using namespace sip_test;
using std::chrono::milliseconds;
using tcp = asio::ip::tcp;

namespace {

const auto kLoopback = asio::ip::make_address("127.0.0.1");

std::string request(const std::string& method, int cseq, const std::string& body = {},
                    bool with_length = true) {
    std::string m = method +
                    " sip:bob@127.0.0.1 SIP/2.0\r\n"
                    "Via: SIP/2.0/TCP 127.0.0.1:5999;branch=z9hG4bK-" +
                    std::to_string(cseq) +
                    "\r\n"
                    "Max-Forwards: 70\r\n"
                    "From: <sip:alice@127.0.0.1>;tag=a1\r\n"
                    "To: <sip:bob@127.0.0.1>\r\n"
                    "Call-ID: call-" +
                    std::to_string(cseq) +
                    "\r\n"
                    "CSeq: " +
                    std::to_string(cseq) + " " + method + "\r\n";
    if (!body.empty()) m += "Content-Type: application/sdp\r\n";
    if (with_length) m += "Content-Length: " + std::to_string(body.size()) + "\r\n";
    return m + "\r\n" + body;
}

// A plain TCP client socket on the test's io_context that records what it receives.
class RawTcp {
  public:
    RawTcp(asio::io_context& io, uint16_t port) : socket_(io) {
        socket_.connect(tcp::endpoint(kLoopback, port));
        socket_.set_option(tcp::no_delay(true));
        read();
    }
    explicit RawTcp(tcp::socket s) : socket_(std::move(s)) {
        socket_.set_option(tcp::no_delay(true));
        read();
    }
    void send(const std::string& data) { asio::write(socket_, asio::buffer(data)); }
    UdpEndpoint local() const {
        auto ep = socket_.local_endpoint();
        return UdpEndpoint(ep.address(), ep.port());
    }
    std::string received;
    bool eof = false;

  private:
    void read() {
        socket_.async_read_some(asio::buffer(buf_),
                                [this](const boost::system::error_code& ec, std::size_t n) {
                                    if (ec) {
                                        eof = true;
                                        return;
                                    }
                                    received.append(buf_.data(), n);
                                    read();
                                });
    }
    tcp::socket socket_;
    std::array<char, 4096> buf_{};
};

// A listening socket that keeps every connection it accepts.
class RawServer {
  public:
    explicit RawServer(asio::io_context& io) : acceptor_(io, tcp::endpoint(kLoopback, 0)) {
        accept();
    }
    uint16_t port() const { return acceptor_.local_endpoint().port(); }
    std::vector<std::unique_ptr<RawTcp>> conns;

  private:
    void accept() {
        acceptor_.async_accept([this](const boost::system::error_code& ec, tcp::socket s) {
            if (ec) return;
            conns.push_back(std::make_unique<RawTcp>(std::move(s)));
            accept();
        });
    }
    tcp::acceptor acceptor_;
};

std::size_t count(const std::string& hay, const std::string& needle) {
    std::size_t n = 0;
    for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
    return n;
}

struct Server {
    explicit Server(TcpConfig cfg = {}) : tr(io, cfg) {
        EXPECT_FALSE(tr.open("127.0.0.1", 0));
        tr.set_handler([this](const Message& m, const UdpEndpoint& from) {
            msgs.push_back(m);
            froms.push_back(from);
        });
    }
    asio::io_context io;
    TcpTransport tr;
    std::vector<Message> msgs;
    std::vector<UdpEndpoint> froms;
};

}  // namespace

TEST(TcpTransport, ListensOnEphemeralPort) {
    asio::io_context io;
    TcpTransport tr(io);
    EXPECT_FALSE(tr.is_open());
    EXPECT_EQ(tr.send("x", UdpEndpoint(kLoopback, 1)), Errc::not_open);
    ASSERT_FALSE(tr.open("127.0.0.1", 0));
    EXPECT_TRUE(tr.is_open());
    EXPECT_NE(tr.local_port(), 0);
    EXPECT_EQ(tr.open("127.0.0.1", 0), Errc::already_open);
    EXPECT_EQ(tr.connection_count(), 0u);
    tr.close();
    EXPECT_FALSE(tr.is_open());
}

TEST(TcpTransport, TwoMessagesInOneSegment) {
    Server s;
    RawTcp c(s.io, s.tr.local_port());
    c.send(request("OPTIONS", 1) + request("OPTIONS", 2));
    ASSERT_TRUE(run_until(s.io, [&] { return s.msgs.size() == 2; }));
    EXPECT_EQ(s.msgs[0].cseq().number, 1u);
    EXPECT_EQ(s.msgs[1].cseq().number, 2u);
    // §18.2.1: the source is recorded in received= and the connection's endpoint given.
    EXPECT_EQ(s.froms[0], c.local());
    EXPECT_EQ(s.tr.stats().accepted, 1u);
    EXPECT_EQ(s.tr.connection_count(), 1u);
    EXPECT_TRUE(s.tr.has_connection(c.local()));
}

TEST(TcpTransport, MessageSplitByteByByteWithBody) {
    Server s;
    RawTcp c(s.io, s.tr.local_port());
    const std::string body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n";
    // A body followed by the next message: only Content-Length separates them.
    const std::string wire = request("INVITE", 7, body) + request("OPTIONS", 8);
    for (char ch : wire) {
        c.send(std::string(1, ch));
        s.io.run_for(std::chrono::microseconds(200));
    }
    ASSERT_TRUE(run_until(s.io, [&] { return s.msgs.size() == 2; }));
    EXPECT_EQ(s.msgs[0].method(), "INVITE");
    EXPECT_EQ(s.msgs[0].body(), body);
    EXPECT_EQ(s.msgs[1].method(), "OPTIONS");
    EXPECT_TRUE(s.msgs[1].body().empty());
    EXPECT_EQ(s.tr.stats().framing_errors, 0u);
}

TEST(TcpTransport, MissingContentLengthGets400AndClose) {
    Server s;
    RawTcp c(s.io, s.tr.local_port());
    c.send(request("OPTIONS", 3, {}, /*with_length=*/false));
    // §18.3 / §20.14: on a stream the message cannot be delimited.
    ASSERT_TRUE(run_until(s.io, [&] { return c.eof; }));
    EXPECT_TRUE(c.received.starts_with("SIP/2.0 400 Missing Content-Length header\r\n"))
        << c.received;
    EXPECT_TRUE(s.msgs.empty());
    EXPECT_EQ(s.tr.stats().framing_errors, 1u);
    EXPECT_EQ(s.tr.connection_count(), 0u);
}

TEST(TcpTransport, OversizeMessageGets513AndClose) {
    TcpConfig cfg;
    cfg.max_message_size = 1024;
    Server s(cfg);
    RawTcp c(s.io, s.tr.local_port());
    c.send(request("MESSAGE", 4, std::string(2000, 'x')));
    ASSERT_TRUE(run_until(s.io, [&] { return c.eof; }));
    EXPECT_TRUE(c.received.starts_with("SIP/2.0 513 ")) << c.received;
    EXPECT_TRUE(s.msgs.empty());
    // A message within the limit still goes through on a new connection; sending one
    // above it is refused locally.
    RawTcp c2(s.io, s.tr.local_port());
    c2.send(request("MESSAGE", 5, std::string(500, 'y')));
    ASSERT_TRUE(run_until(s.io, [&] { return s.msgs.size() == 1; }));
    EXPECT_EQ(s.msgs[0].body().size(), 500u);
    EXPECT_EQ(s.tr.send(std::string(2000, 'z'), s.froms[0]), Errc::message_too_large);
}

TEST(TcpTransport, MalformedButFramedRequestGets400AndConnectionStays) {
    Server s;
    RawTcp c(s.io, s.tr.local_port());
    std::string bad = request("OPTIONS", 6);
    bad.replace(bad.find("CSeq: 6 OPTIONS"), 15, "CSeq: 6 INVITE ");  // method mismatch
    c.send(bad);
    ASSERT_TRUE(run_until(s.io, [&] { return c.received.find("\r\n\r\n") != std::string::npos; }));
    EXPECT_TRUE(c.received.starts_with("SIP/2.0 400 ")) << c.received;
    c.send(request("OPTIONS", 9));
    ASSERT_TRUE(run_until(s.io, [&] { return s.msgs.size() == 1; }));
    EXPECT_FALSE(c.eof);
}

TEST(TcpTransport, CrlfKeepAlive) {
    Server s;
    RawTcp c(s.io, s.tr.local_port());
    // RFC 5626 §3.5.1: a double-CRLF ping gets a single-CRLF pong.
    c.send("\r\n\r\n");
    ASSERT_TRUE(run_until(s.io, [&] { return c.received == "\r\n"; }));
    EXPECT_EQ(s.tr.stats().pings, 1u);
    // A lone CRLF before a message is ignored and not answered.
    c.send("\r\n" + request("OPTIONS", 10));
    ASSERT_TRUE(run_until(s.io, [&] { return s.msgs.size() == 1; }));
    run_for(s.io, milliseconds(100));
    EXPECT_EQ(c.received, "\r\n");
    EXPECT_FALSE(c.eof);

    // ping() from the transport side, on an existing connection only.
    EXPECT_FALSE(s.tr.ping(s.froms[0]));
    ASSERT_TRUE(run_until(s.io, [&] { return c.received == "\r\n\r\n\r\n"; }));
    EXPECT_EQ(s.tr.ping(UdpEndpoint(kLoopback, 9)), Errc::no_route);
}

TEST(TcpTransport, ConnectionReusedBothWays) {
    Server b;
    TcpTransport a(b.io);
    ASSERT_FALSE(a.open("127.0.0.1", 0));
    std::vector<Message> at_a;
    a.set_handler([&](const Message& m, const UdpEndpoint&) { at_a.push_back(m); });
    const UdpEndpoint b_ep(kLoopback, b.tr.local_port());
    ASSERT_FALSE(a.send(request("OPTIONS", 11), b_ep));
    ASSERT_FALSE(a.send(request("OPTIONS", 12), b_ep));  // queued while connecting
    ASSERT_TRUE(run_until(b.io, [&] { return b.msgs.size() == 2; }));
    EXPECT_EQ(b.froms[0], b.froms[1]);
    // §18.2.2: the responses go back over the connection the requests came on.
    for (const auto& m : b.msgs)
        ASSERT_FALSE(b.tr.send_response(make_response(m, 200), m, b.froms[0]));
    ASSERT_TRUE(run_until(b.io, [&] { return at_a.size() == 2; }));
    EXPECT_EQ(at_a[0].status(), 200);
    EXPECT_EQ(a.stats().connected, 1u);
    EXPECT_EQ(b.tr.stats().accepted, 1u);
    EXPECT_EQ(a.connection_count(), 1u);
    EXPECT_EQ(b.tr.connection_count(), 1u);
    // And B's requests to A's endpoint on that connection use it too.
    ASSERT_FALSE(b.tr.send(request("OPTIONS", 13), b.froms[0]));
    ASSERT_TRUE(run_until(b.io, [&] { return at_a.size() == 3; }));
    EXPECT_EQ(a.stats().accepted, 0u);

    // Once that connection is gone, a response goes to the Via sent-by (5999 here, nobody
    // listening): the new connection fails and that is reported.
    std::vector<std::error_code> errors;
    b.tr.set_error_handler([&](const UdpEndpoint&, std::error_code ec) { errors.push_back(ec); });
    b.tr.close_connection(b.froms[0]);
    EXPECT_EQ(stream_response_destination(b.msgs[0].via(), b.froms[0], false),
              UdpEndpoint(kLoopback, 5999));
    ASSERT_FALSE(b.tr.send_response(make_response(b.msgs[0], 200), b.msgs[0], b.froms[0]));
    ASSERT_TRUE(run_until(b.io, [&] { return !errors.empty(); }));
    EXPECT_EQ(errors[0], Errc::connection_failed);
}

TEST(TcpTransport, IdleConnectionsAreClosed) {
    TcpConfig cfg;
    cfg.idle_timeout = milliseconds(300);
    Server s(cfg);
    RawTcp c(s.io, s.tr.local_port());
    c.send(request("OPTIONS", 14));
    ASSERT_TRUE(run_until(s.io, [&] { return s.msgs.size() == 1; }));
    EXPECT_EQ(s.tr.connection_count(), 1u);
    ASSERT_TRUE(run_until(s.io, [&] { return c.eof; }));
    EXPECT_EQ(s.tr.connection_count(), 0u);
    EXPECT_EQ(s.tr.stats().idle_closed, 1u);
}

TEST(TcpTransport, ConnectFailureIsReported) {
    asio::io_context io;
    // A port nobody listens on: bind a socket and close it.
    uint16_t dead_port;
    {
        tcp::acceptor tmp(io, tcp::endpoint(kLoopback, 0));
        dead_port = tmp.local_endpoint().port();
    }
    TcpTransport tr(io);
    ASSERT_FALSE(tr.open("127.0.0.1", 0));
    std::vector<UdpEndpoint> failed;
    tr.set_error_handler([&](const UdpEndpoint& peer, std::error_code ec) {
        EXPECT_EQ(ec, Errc::connection_failed);
        failed.push_back(peer);
    });
    ASSERT_FALSE(tr.send(request("OPTIONS", 15), UdpEndpoint(kLoopback, dead_port)));
    ASSERT_TRUE(run_until(io, [&] { return !failed.empty(); }));
    EXPECT_EQ(failed[0], UdpEndpoint(kLoopback, dead_port));
    EXPECT_EQ(tr.connection_count(), 0u);
    EXPECT_EQ(tr.stats().connect_failed, 1u);
}

// ---------------------------------------------------------------- transactions over TCP

namespace {
TimerConfig fast_timers() {
    TimerConfig t;
    t.t1 = milliseconds(50);
    t.t2 = milliseconds(200);
    t.t4 = milliseconds(250);
    t.timer_d = milliseconds(2000);
    return t;
}
}  // namespace

TEST(TcpTransactions, ClientDoesNotRetransmitOverTcp) {
    asio::io_context io;
    UdpTransport udp(io);
    TcpTransport tcpt(io);
    ASSERT_FALSE(tcpt.open("127.0.0.1", 0));
    ASSERT_FALSE(udp.open("127.0.0.1", tcpt.local_port()));
    TransactionLayer layer(io, udp, &tcpt, fast_timers());
    RawServer peer(io);
    const Destination dest(UdpEndpoint(kLoopback, peer.port()), TransportKind::tcp);

    std::vector<int> inv_status, opt_status;
    auto req = [](const std::string& method) {
        auto r = OutgoingMessage::request(method, "sip:bob@127.0.0.1;transport=tcp");
        r.add("Max-Forwards", "70");
        r.add("From", "<sip:alice@127.0.0.1>;tag=x");
        r.add("To", "<sip:bob@127.0.0.1>");
        r.add("Call-ID", "c-" + method);
        r.add("CSeq", "1 " + method);
        return r;
    };
    auto inv = layer.send_request(req("INVITE"), dest,
                                  [&](const Message& m) { inv_status.push_back(m.status()); });
    auto opt = layer.send_request(req("OPTIONS"), dest,
                                  [&](const Message& m) { opt_status.push_back(m.status()); });
    EXPECT_TRUE(inv->reliable());
    // Timer B / F (64*T1 = 3.2 s) still run; Timers A / E (from 50 ms) do not.
    ASSERT_TRUE(run_until(io, [&] { return !inv_status.empty() && !opt_status.empty(); }));
    EXPECT_EQ(inv_status, std::vector<int>{408});
    EXPECT_EQ(opt_status, std::vector<int>{408});
    ASSERT_EQ(peer.conns.size(), 1u);  // one connection for both
    const std::string& got = peer.conns[0]->received;
    EXPECT_EQ(count(got, "INVITE sip:"), 1u) << got;
    EXPECT_EQ(count(got, "OPTIONS sip:"), 1u) << got;
    EXPECT_EQ(count(got, "Via: SIP/2.0/TCP 127.0.0.1:" + std::to_string(tcpt.local_port())), 2u);
    EXPECT_EQ(udp.stats().sent, 0u);
}

TEST(TcpTransactions, ServerSendsFinalOnceAndTimersIJAreZero) {
    asio::io_context io;
    UdpTransport udp(io);
    TcpTransport tcpt(io);
    ASSERT_FALSE(tcpt.open("127.0.0.1", 0));
    ASSERT_FALSE(udp.open("127.0.0.1", tcpt.local_port()));
    TimerConfig t = fast_timers();
    t.trying_delay = milliseconds(10000);  // no 100 Trying in the count below
    TransactionLayer layer(io, udp, &tcpt, t);
    std::vector<std::shared_ptr<ServerTransaction>> txns;
    layer.set_request_handler([&](const std::shared_ptr<ServerTransaction>& txn, const Message&) {
        txns.push_back(txn);
        txn->respond(make_response(txn->request(), txn->is_invite() ? 486 : 200, {}, "bt"));
    });
    RawTcp c(io, tcpt.local_port());
    c.send(request("INVITE", 20));
    ASSERT_TRUE(run_until(io, [&] { return count(c.received, "SIP/2.0 486") == 1; }));
    ASSERT_EQ(txns.size(), 1u);
    EXPECT_TRUE(txns[0]->reliable());
    EXPECT_EQ(txns[0]->origin().transport, TransportKind::tcp);
    // Timer G (from T1 = 50 ms) is not used over TCP: still a single 486 later.
    run_for(io, milliseconds(600));
    EXPECT_EQ(count(c.received, "SIP/2.0 486"), 1u);
    EXPECT_EQ(txns[0]->state(), TransactionState::completed);
    // The ACK confirms it and Timer I = 0 ends it at once.
    std::string ack = request("ACK", 20);
    ack.replace(ack.find("To: <sip:bob@127.0.0.1>"), 23, "To: <sip:bob@127.0.0.1>;tag=bt");
    c.send(ack);
    ASSERT_TRUE(run_until(
        io, [&] { return layer.server_count() == 0; }, milliseconds(2000)));
    // Non-INVITE: Timer J = 0, the transaction is gone as soon as it answered.
    c.send(request("OPTIONS", 21));
    ASSERT_TRUE(run_until(io, [&] { return count(c.received, "SIP/2.0 200") == 1; }));
    ASSERT_TRUE(run_until(
        io, [&] { return layer.server_count() == 0; }, milliseconds(2000)));
    EXPECT_EQ(udp.stats().sent, 0u);
}

TEST(TcpTransactions, ConnectionFailureGives503) {
    asio::io_context io;
    uint16_t dead_port;
    {
        tcp::acceptor tmp(io, tcp::endpoint(kLoopback, 0));
        dead_port = tmp.local_endpoint().port();
    }
    UdpTransport udp(io);
    TcpTransport tcpt(io);
    ASSERT_FALSE(tcpt.open("127.0.0.1", 0));
    ASSERT_FALSE(udp.open("127.0.0.1", tcpt.local_port()));
    TransactionLayer layer(io, udp, &tcpt, fast_timers());
    std::vector<int> status;
    auto r = OutgoingMessage::request("OPTIONS", "sip:bob@127.0.0.1");
    r.add("From", "<sip:alice@127.0.0.1>;tag=x");
    r.add("To", "<sip:bob@127.0.0.1>");
    r.add("Call-ID", "c-503");
    r.add("CSeq", "1 OPTIONS");
    layer.send_request(r, Destination(UdpEndpoint(kLoopback, dead_port), TransportKind::tcp),
                       [&](const Message& m) { status.push_back(m.status()); });
    // §8.1.3.1: a transport failure is a 503, well before Timer F.
    ASSERT_TRUE(run_until(
        io, [&] { return !status.empty(); }, milliseconds(2000)));
    EXPECT_EQ(status, std::vector<int>{503});
    EXPECT_EQ(layer.client_count(), 0u);
}

TEST(TransportKind, NamesAndUriParameters) {
    EXPECT_EQ(to_string(TransportKind::udp), "UDP");
    EXPECT_EQ(to_string(TransportKind::tcp), "TCP");
    EXPECT_EQ(to_string(TransportKind::tls), "TLS");
    EXPECT_FALSE(is_reliable(TransportKind::udp));
    EXPECT_TRUE(is_reliable(TransportKind::tcp));
    Uri u;
    ASSERT_FALSE(parse_uri("sip:bob@127.0.0.1:5070;transport=TCP", u));
    EXPECT_EQ(uri_transport(u), TransportKind::tcp);
    ASSERT_FALSE(parse_uri("sip:bob@127.0.0.1:5070", u));
    EXPECT_EQ(uri_transport(u), std::nullopt);
    ASSERT_FALSE(parse_uri("sips:bob@127.0.0.1", u));
    EXPECT_EQ(uri_transport(u), TransportKind::tls);
    ASSERT_FALSE(parse_uri("sip:bob@127.0.0.1;transport=sctp", u));
    EXPECT_EQ(uri_transport(u), std::nullopt);
    EXPECT_EQ(uri_transport_param(TransportKind::tcp), "tcp");
    EXPECT_EQ(uri_transport_param(TransportKind::udp), "");
    // A UDP endpoint converts to a UDP destination.
    Destination d = UdpEndpoint(kLoopback, 5060);
    EXPECT_EQ(d.transport, TransportKind::udp);
}

// ---------------------------------------------------------------- TLS

namespace {

// A self-signed certificate (ECDSA P-256) and its SubjectPublicKeyInfo, made with GnuTLS.
struct SelfSigned {
    TlsCredentials creds;
    std::string spki;
};

gnutls_x509_privkey_t new_key() {
    gnutls_x509_privkey_t key;
    EXPECT_EQ(gnutls_x509_privkey_init(&key), 0);
    EXPECT_EQ(gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                           GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0),
              0);
    return key;
}

gnutls_x509_crt_t new_cert(const std::string& cn, gnutls_x509_privkey_t key, unsigned char sn) {
    gnutls_x509_crt_t crt;
    EXPECT_EQ(gnutls_x509_crt_init(&crt), 0);
    gnutls_x509_crt_set_version(crt, 3);
    unsigned char serial[4] = {9, 8, 7, sn};
    gnutls_x509_crt_set_serial(crt, serial, sizeof serial);
    gnutls_x509_crt_set_activation_time(crt, time(nullptr) - 3600);
    gnutls_x509_crt_set_expiration_time(crt, time(nullptr) + 86400);
    gnutls_x509_crt_set_dn_by_oid(crt, GNUTLS_OID_X520_COMMON_NAME, 0, cn.data(),
                                  static_cast<unsigned>(cn.size()));
    EXPECT_EQ(gnutls_x509_crt_set_key(crt, key), 0);
    return crt;
}

std::string export_crt(gnutls_x509_crt_t crt, gnutls_x509_crt_fmt_t fmt) {
    gnutls_datum_t d{};
    EXPECT_EQ(gnutls_x509_crt_export2(crt, fmt, &d), 0);
    std::string s(reinterpret_cast<char*>(d.data), d.size);
    gnutls_free(d.data);
    return s;
}

std::string export_key_pem(gnutls_x509_privkey_t key) {
    gnutls_datum_t d{};
    EXPECT_EQ(gnutls_x509_privkey_export2(key, GNUTLS_X509_FMT_PEM, &d), 0);
    std::string s(reinterpret_cast<char*>(d.data), d.size);
    gnutls_free(d.data);
    return s;
}

// DER SubjectPublicKeyInfo of a certificate's key.
std::string spki_of(gnutls_x509_crt_t crt) {
    gnutls_pubkey_t pk;
    gnutls_pubkey_init(&pk);
    gnutls_datum_t d{};
    EXPECT_EQ(gnutls_pubkey_import_x509(pk, crt, 0), 0);
    EXPECT_EQ(gnutls_pubkey_export2(pk, GNUTLS_X509_FMT_DER, &d), 0);
    std::string s(reinterpret_cast<char*>(d.data), d.size);
    gnutls_free(d.data);
    gnutls_pubkey_deinit(pk);
    return s;
}

SelfSigned make_self_signed(const std::string& cn) {
    SelfSigned out;
    auto key = new_key();
    auto crt = new_cert(cn, key, 1);
    EXPECT_EQ(gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0), 0);
    out.creds.certificate_pem = export_crt(crt, GNUTLS_X509_FMT_PEM);
    out.creds.private_key_pem = export_key_pem(key);
    out.spki = spki_of(crt);
    gnutls_x509_crt_deinit(crt);
    gnutls_x509_privkey_deinit(key);
    return out;
}

}  // namespace

TEST(TlsTransport, BadCredentialsAreRefused) {
    asio::io_context io;
    TlsTransport tr(io, TlsCredentials{"not a certificate", "not a key"});
    EXPECT_EQ(tr.open("127.0.0.1", 0), Errc::tls_failed);
    EXPECT_FALSE(tr.is_open());
}

TEST(TlsTransport, MutualHandshakeFramingAndPeerKeys) {
    const auto alice_id = make_self_signed("alice");
    const auto bob_id = make_self_signed("bob");
    ASSERT_NE(alice_id.spki, bob_id.spki);
    asio::io_context io;
    TlsTransport a(io, alice_id.creds), b(io, bob_id.creds);
    ASSERT_FALSE(a.open("127.0.0.1", 0));
    ASSERT_FALSE(b.open("127.0.0.1", 0));
    std::vector<Message> at_a, at_b;
    std::vector<std::string> key_seen_by_b;
    UdpEndpoint from_a;
    a.set_handler([&](const Message& m, const UdpEndpoint&) { at_a.push_back(m); });
    b.set_handler([&](const Message& m, const UdpEndpoint& from) {
        at_b.push_back(m);
        from_a = from;
        key_seen_by_b.push_back(b.peer_public_key(from));  // per message
    });
    const UdpEndpoint b_ep(kLoopback, b.local_port());
    const std::string body = "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n";
    // Queued before the handshake; two messages, one with a body.
    ASSERT_FALSE(a.send(request("INVITE", 30, body), b_ep));
    ASSERT_FALSE(a.send(request("OPTIONS", 31), b_ep));
    ASSERT_TRUE(run_until(io, [&] { return at_b.size() == 2; }));
    EXPECT_EQ(at_b[0].body(), body);
    EXPECT_EQ(at_b[1].method(), "OPTIONS");
    // Self-signed peers: each side sees exactly the other's key.
    EXPECT_EQ(key_seen_by_b[0], alice_id.spki);
    EXPECT_EQ(a.peer_public_key(b_ep), bob_id.spki);
    EXPECT_EQ(a.peer_public_key(UdpEndpoint(kLoopback, 9)), "");
    // The response goes back over the same TLS connection.
    ASSERT_FALSE(b.send_response(make_response(at_b[1], 200), at_b[1], from_a));
    ASSERT_TRUE(run_until(io, [&] { return at_a.size() == 1; }));
    EXPECT_EQ(at_a[0].status(), 200);
    EXPECT_EQ(a.connection_count(), 1u);
    EXPECT_EQ(b.stats().accepted, 1u);
    // Keep-alive through TLS too.
    ASSERT_FALSE(a.ping(b_ep));
    ASSERT_TRUE(run_until(io, [&] { return b.stats().pings == 1; }));
}

TEST(TlsTransport, PlainTcpClientFailsTheHandshake) {
    const auto id = make_self_signed("bob");
    asio::io_context io;
    TlsTransport b(io, id.creds);
    ASSERT_FALSE(b.open("127.0.0.1", 0));
    std::vector<Message> got;
    b.set_handler([&](const Message& m, const UdpEndpoint&) { got.push_back(m); });
    RawTcp c(io, b.local_port());
    c.send(request("OPTIONS", 32));
    ASSERT_TRUE(run_until(io, [&] { return c.eof; }));
    EXPECT_TRUE(got.empty());
    EXPECT_EQ(b.connection_count(), 0u);
}

// A call between two UserAgents over TLS, each seeing the other's key.
TEST(TlsTransport, UserAgentCallOverTls) {
    const auto alice_id = make_self_signed("alice");
    const auto bob_id = make_self_signed("bob");
    asio::io_context io;
    auto cfg = [](const std::string& aor, const SelfSigned& id) {
        UaConfig c;
        c.aor = aor;
        c.t1 = milliseconds(100);
        c.t2 = milliseconds(400);
        c.t4 = milliseconds(500);
        c.tls = id.creds;
        return c;
    };
    UserAgent alice(io, cfg("sip:alice@example.org", alice_id));
    UserAgent bob(io, cfg("sip:bob@example.org", bob_id));
    ASSERT_FALSE(alice.start());
    ASSERT_FALSE(bob.start());
    ASSERT_NE(bob.tls_transport(), nullptr);
    std::shared_ptr<Session> in;
    bool bob_established = false, bob_closed = false;
    std::string key_at_bob;
    bob.on_incoming([&](std::shared_ptr<Session> s) {
        in = s;
        key_at_bob = bob.tls_transport()->peer_public_key(s->remote_endpoint());
        SessionHandlers h;
        h.on_established = [&](std::string_view) { bob_established = true; };
        h.on_closed = [&](int, std::string) { bob_closed = true; };
        s->set_handlers(h);
        s->accept("v=0\r\n");
    });
    bool established = false;
    int closed_status = -1;
    SessionHandlers h;
    h.on_established = [&](std::string_view) { established = true; };
    h.on_closed = [&](int st, std::string) { closed_status = st; };
    Uri target;
    ASSERT_FALSE(parse_uri(
        "sip:bob@127.0.0.1:" + std::to_string(bob.tls_transport()->local_port()) + ";transport=tls",
        target));
    auto call = alice.invite(target, "sip:bob@example.org", "v=0\r\n", h);
    EXPECT_EQ(call->transport_kind(), TransportKind::tls);
    ASSERT_TRUE(run_until(io, [&] { return established && bob_established; }));
    EXPECT_EQ(in->transport_kind(), TransportKind::tls);
    EXPECT_EQ(in->request()->via().transport, "TLS");
    EXPECT_EQ(key_at_bob, alice_id.spki);
    EXPECT_EQ(alice.tls_transport()->peer_public_key(call->remote_endpoint()), bob_id.spki);
    call->hangup();
    ASSERT_TRUE(run_until(io, [&] { return closed_status >= 0 && bob_closed; }));
    EXPECT_EQ(closed_status, 200);
    EXPECT_EQ(alice.transport()->stats().received, 0u);
    EXPECT_EQ(alice.tcp_transport()->stats().received, 0u);
    EXPECT_EQ(bob.tcp_transport()->stats().received, 0u);
}

namespace {

// A leaf (ECDSA P-256) signed by its own CA (ECDSA P-256, self-signed): credentials with
// the chain leaf + CA in certificate_pem, and both certificates in DER.
struct Chain {
    TlsCredentials creds;
    std::string leaf_der, ca_der, leaf_spki;
};

Chain make_chain(const std::string& name) {
    Chain out;
    auto ca_key = new_key();
    auto ca = new_cert(name + " CA", ca_key, 1);
    gnutls_x509_crt_set_basic_constraints(ca, 1, -1);
    gnutls_x509_crt_set_key_usage(ca, GNUTLS_KEY_KEY_CERT_SIGN | GNUTLS_KEY_CRL_SIGN);
    EXPECT_EQ(gnutls_x509_crt_sign2(ca, ca, ca_key, GNUTLS_DIG_SHA256, 0), 0);
    auto leaf_key = new_key();
    auto leaf = new_cert(name, leaf_key, 2);
    gnutls_x509_crt_set_basic_constraints(leaf, 0, -1);
    EXPECT_EQ(gnutls_x509_crt_sign2(leaf, ca, ca_key, GNUTLS_DIG_SHA256, 0), 0);
    out.creds.certificate_pem =
        export_crt(leaf, GNUTLS_X509_FMT_PEM) + export_crt(ca, GNUTLS_X509_FMT_PEM);
    out.creds.private_key_pem = export_key_pem(leaf_key);
    out.leaf_der = export_crt(leaf, GNUTLS_X509_FMT_DER);
    out.ca_der = export_crt(ca, GNUTLS_X509_FMT_DER);
    out.leaf_spki = spki_of(leaf);
    gnutls_x509_crt_deinit(leaf);
    gnutls_x509_crt_deinit(ca);
    gnutls_x509_privkey_deinit(leaf_key);
    gnutls_x509_privkey_deinit(ca_key);
    return out;
}

}  // namespace

// A certificate chain in certificate_pem is sent in full, both ways; the peer sees it leaf
// first (peer_certificates) and the leaf's key (peer_public_key).
TEST(TlsTransport, CertificateChainArrivesInFull) {
    const auto alice = make_chain("alice");
    const auto bob = make_chain("bob");
    const auto carol = make_self_signed("carol");
    asio::io_context io;
    TlsTransport a(io, alice.creds), b(io, bob.creds), c(io, carol.creds);
    ASSERT_FALSE(a.open("127.0.0.1", 0));
    ASSERT_FALSE(b.open("127.0.0.1", 0));
    ASSERT_FALSE(c.open("127.0.0.1", 0));
    std::vector<std::vector<std::string>> chains_at_b;
    std::vector<std::string> keys_at_b;
    b.set_handler([&](const Message&, const UdpEndpoint& from) {
        chains_at_b.push_back(b.peer_certificates(from));
        keys_at_b.push_back(b.peer_public_key(from));
    });
    const UdpEndpoint b_ep(kLoopback, b.local_port());
    ASSERT_FALSE(a.send(request("OPTIONS", 40), b_ep));
    ASSERT_FALSE(c.send(request("OPTIONS", 41), b_ep));
    ASSERT_TRUE(run_until(io, [&] { return chains_at_b.size() == 2; }));
    // Alice's or Carol's may come first.
    const auto& from_alice = chains_at_b[0].size() == 2 ? chains_at_b[0] : chains_at_b[1];
    const auto& from_carol = chains_at_b[0].size() == 2 ? chains_at_b[1] : chains_at_b[0];
    ASSERT_EQ(from_alice.size(), 2u);
    EXPECT_EQ(from_alice[0], alice.leaf_der);
    EXPECT_EQ(from_alice[1], alice.ca_der);
    EXPECT_NE(std::find(keys_at_b.begin(), keys_at_b.end(), alice.leaf_spki), keys_at_b.end());
    ASSERT_EQ(from_carol.size(), 1u);  // a self-signed peer: just its certificate
    // The server side's chain reached the client too.
    auto at_a = a.peer_certificates(b_ep);
    ASSERT_EQ(at_a.size(), 2u);
    EXPECT_EQ(at_a[0], bob.leaf_der);
    EXPECT_EQ(at_a[1], bob.ca_der);
    EXPECT_EQ(a.peer_public_key(b_ep), bob.leaf_spki);
    EXPECT_TRUE(a.peer_certificates(UdpEndpoint(kLoopback, 9)).empty());
}

// The owner's verifier refuses the server's chain: the connection closes before the queued
// request is sent, the server never sees it, and the client's error handler is told.
TEST(TlsTransport, RefusedPeerSeesNothing) {
    const auto alice = make_self_signed("alice");
    const auto bob = make_chain("bob");
    const auto mallory = make_chain("mallory");
    asio::io_context io;
    TlsTransport a(io, alice.creds), b(io, bob.creds), m(io, mallory.creds);
    ASSERT_FALSE(a.open("127.0.0.1", 0));
    ASSERT_FALSE(b.open("127.0.0.1", 0));
    ASSERT_FALSE(m.open("127.0.0.1", 0));
    const UdpEndpoint b_ep(kLoopback, b.local_port()), m_ep(kLoopback, m.local_port());
    std::vector<std::vector<std::string>> judged;
    a.set_peer_verifier([&](const UdpEndpoint&, const std::vector<std::string>& chain) {
        judged.push_back(chain);
        // Only a chain issued by bob's CA is acceptable.
        return chain.size() == 2 && chain[1] == bob.ca_der
                   ? std::error_code{}
                   : std::make_error_code(std::errc::permission_denied);
    });
    std::vector<UdpEndpoint> failed;
    a.set_error_handler([&](const UdpEndpoint& peer, std::error_code) { failed.push_back(peer); });
    int at_b = 0, at_m = 0;
    b.set_handler([&](const Message&, const UdpEndpoint&) { ++at_b; });
    m.set_handler([&](const Message&, const UdpEndpoint&) { ++at_m; });
    ASSERT_FALSE(a.send(request("OPTIONS", 50), m_ep));
    ASSERT_FALSE(a.send(request("OPTIONS", 51), b_ep));
    ASSERT_TRUE(run_until(io, [&] { return at_b == 1 && failed.size() == 1; }));
    // Give a leaked message time to arrive, then check none did.
    run_until(
        io, [] { return false; }, std::chrono::milliseconds(300));
    EXPECT_EQ(at_m, 0);
    EXPECT_EQ(failed[0], m_ep);
    EXPECT_EQ(judged.size(), 2u);
    EXPECT_EQ(a.stats().tls_refused, 1u);
    EXPECT_FALSE(a.has_connection(m_ep));
}
