#include "p2psip/media/dtls_srtp.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <utility>
#include <vector>

#include <boost/asio/post.hpp>

#include "p2psip/media/error.hpp"
#include "p2psip/media/rtp.hpp"

namespace p2psip::media {
namespace {

using namespace std::chrono_literals;

const DtlsCredentials& ecdsa_creds(int which) {
    static const std::vector<DtlsCredentials> creds = [] {
        std::vector<DtlsCredentials> v(3);
        for (size_t i = 0; i < v.size(); ++i)
            EXPECT_FALSE(make_self_signed_credentials("peer" + std::to_string(i), v[i]));
        return v;
    }();
    return creds.at(static_cast<size_t>(which));
}

const DtlsCredentials& rsa_creds(int which) {
    static const std::vector<DtlsCredentials> creds = [] {
        std::vector<DtlsCredentials> v(2);
        for (size_t i = 0; i < v.size(); ++i)
            EXPECT_FALSE(make_self_signed_credentials("rsa" + std::to_string(i), v[i],
                                                      DtlsKeyType::rsa_3072));
        return v;
    }();
    return creds.at(static_cast<size_t>(which));
}

std::string fingerprint_of(const DtlsCredentials& c) {
    std::string fp;
    EXPECT_FALSE(fingerprint_attribute_of_pem(c.certificate_pem, fp));
    return fp;
}

DtlsSrtpConfig config_for(DtlsRole role, const DtlsCredentials& mine, const DtlsCredentials& peer) {
    DtlsSrtpConfig c;
    c.role = role;
    c.credentials = mine;
    c.peer_fingerprint = fingerprint_of(peer);
    c.handshake_timeout = 30s;
    return c;
}

struct Peer {
    std::unique_ptr<DtlsSrtpSession> session;
    std::optional<std::error_code> ec;
    DtlsSrtpResult result;
    int done_calls = 0;
    size_t sent = 0;
    std::set<size_t> drop;  // indices of our outgoing datagrams that get lost
    bool mute = false;      // nothing we send arrives
    bool destroy_in_done = false;
};

// Two sessions in one io_context; datagrams are delivered with asio::post, like a socket would.
struct Pair {
    asio::io_context io;
    Peer a, b;  // a is the DTLS client, b the server

    Pair(DtlsSrtpConfig ca, DtlsSrtpConfig cb) {
        a.session = make(std::move(ca), a, b);
        b.session = make(std::move(cb), b, a);
    }

    std::unique_ptr<DtlsSrtpSession> make(DtlsSrtpConfig c, Peer& self, Peer& other) {
        return std::make_unique<DtlsSrtpSession>(
            io, std::move(c),
            [this, &self, &other](std::span<const uint8_t> d) {
                EXPECT_EQ(classify_packet(d), PacketClass::dtls);
                EXPECT_LE(d.size(), 1200u);  // config.mtu
                const size_t index = self.sent++;
                if (self.mute || self.drop.count(index)) return;
                asio::post(io, [&other, pkt = std::vector<uint8_t>(d.begin(), d.end())] {
                    if (other.session) other.session->on_packet(pkt);
                });
            },
            [&self](std::error_code ec, const DtlsSrtpResult& r) {
                ++self.done_calls;
                self.ec = ec;
                self.result = r;
                if (self.destroy_in_done) self.session.reset();
            });
    }

    void start() {
        ASSERT_FALSE(b.session->start());
        ASSERT_FALSE(a.session->start());
    }

    void run_until(const std::function<bool()>& pred, std::chrono::seconds limit = 40s) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (!pred() && std::chrono::steady_clock::now() < deadline) {
            io.restart();
            io.run_for(20ms);
        }
    }
    void run_until_both_done() {
        run_until([this] { return a.ec.has_value() && b.ec.has_value(); });
    }
    // Runs until no datagram has been sent for `quiet`.
    void run_until_quiet(std::chrono::milliseconds quiet = 500ms) {
        size_t last = a.sent + b.sent;
        auto since = std::chrono::steady_clock::now();
        const auto deadline = since + 30s;
        while (std::chrono::steady_clock::now() < deadline) {
            io.restart();
            io.run_for(20ms);
            if (a.sent + b.sent != last) {
                last = a.sent + b.sent;
                since = std::chrono::steady_clock::now();
            } else if (std::chrono::steady_clock::now() - since > quiet) {
                return;
            }
        }
    }
};

struct Packet {
    std::array<uint8_t, 512> buf{};
    size_t len = 0;
};

Packet make_rtp(uint16_t seq) {
    Packet p;
    RtpHeader h;
    h.payload_type = 111;
    h.sequence = seq;
    h.timestamp = 960u * seq;
    h.ssrc = 0x5eed;
    std::vector<uint8_t> payload(60, static_cast<uint8_t>(seq));
    EXPECT_FALSE(write_rtp(h, payload, p.buf, p.len));
    return p;
}

// SRTP and SRTCP from `from` decrypt at `to` with the DTLS-derived keys.
void expect_srtp_works(const DtlsSrtpResult& from, const DtlsSrtpResult& to) {
    SrtpContext tx, rx;
    ASSERT_FALSE(SrtpContext::create(from.tx_key, SrtpDirection::outbound, tx));
    ASSERT_FALSE(SrtpContext::create(to.rx_key, SrtpDirection::inbound, rx));
    for (uint16_t seq = 1; seq < 20; ++seq) {
        const Packet plain = make_rtp(seq);
        Packet p = plain;
        ASSERT_FALSE(tx.protect(p.buf.data(), p.len, p.buf.size()));
        EXPECT_GT(p.len, plain.len);
        ASSERT_FALSE(rx.unprotect(p.buf.data(), p.len)) << seq;
        ASSERT_EQ(p.len, plain.len);
        EXPECT_TRUE(std::equal(plain.buf.begin(), plain.buf.begin() + p.len, p.buf.begin()));
    }
    std::array<uint8_t, 256> rtcp{0x80, 201, 0, 1, 0, 0, 0x5e, 0xed};
    size_t len = 8;
    ASSERT_FALSE(tx.protect_rtcp(rtcp.data(), len, rtcp.size()));
    ASSERT_FALSE(rx.unprotect_rtcp(rtcp.data(), len));
    EXPECT_EQ(len, 8u);
    // The reverse key does not decrypt this direction.
    SrtpContext wrong;
    ASSERT_FALSE(SrtpContext::create(to.tx_key, SrtpDirection::inbound, wrong));
    Packet p = make_rtp(100);
    ASSERT_FALSE(tx.protect(p.buf.data(), p.len, p.buf.size()));
    EXPECT_EQ(wrong.unprotect(p.buf.data(), p.len), errc::srtp_auth_failed);
}

void expect_success(Pair& pair, const DtlsCredentials& ca, const DtlsCredentials& cb,
                    std::string_view suite) {
    ASSERT_TRUE(pair.a.ec && pair.b.ec);
    ASSERT_FALSE(*pair.a.ec) << pair.a.ec->message();
    ASSERT_FALSE(*pair.b.ec) << pair.b.ec->message();
    EXPECT_EQ(pair.a.done_calls, 1);
    EXPECT_EQ(pair.b.done_calls, 1);
    const DtlsSrtpResult& a = pair.a.result;
    const DtlsSrtpResult& b = pair.b.result;
    EXPECT_EQ(a.suite, suite);
    EXPECT_EQ(b.suite, suite);
    EXPECT_EQ(a.tx_key.suite, suite);
    EXPECT_EQ(a.tx_key.key_salt_size(), srtp_key_salt_size(suite));
    EXPECT_EQ(a.tx_key, b.rx_key);
    EXPECT_EQ(a.rx_key, b.tx_key);
    EXPECT_NE(a.tx_key, a.rx_key);
    EXPECT_NE(a.tx_key.key_salt, (std::array<uint8_t, kSrtpKeySaltSize>{}));
    // Each side sees the other's certificate and public key.
    EXPECT_EQ(fingerprint_attribute(a.peer_certificate_der), fingerprint_of(cb));
    EXPECT_EQ(fingerprint_attribute(b.peer_certificate_der), fingerprint_of(ca));
    std::vector<uint8_t> spki_a, spki_b;
    ASSERT_FALSE(public_key_der_of_pem(ca.certificate_pem, spki_a));
    ASSERT_FALSE(public_key_der_of_pem(cb.certificate_pem, spki_b));
    EXPECT_EQ(a.peer_public_key_der, spki_b);
    EXPECT_EQ(b.peer_public_key_der, spki_a);
    EXPECT_NE(spki_a, spki_b);
    EXPECT_TRUE(pair.a.session->connected());
    EXPECT_TRUE(pair.b.session->connected());
    EXPECT_TRUE(pair.a.session->done());
    expect_srtp_works(a, b);
    expect_srtp_works(b, a);
}

}  // namespace

TEST(DtlsSrtp, HandshakeEcdsaNegotiatesGcm) {
    const auto& ca = ecdsa_creds(0);
    const auto& cb = ecdsa_creds(1);
    Pair pair(config_for(DtlsRole::client, ca, cb), config_for(DtlsRole::server, cb, ca));
    EXPECT_FALSE(pair.a.session->done());
    pair.start();
    pair.run_until_both_done();
    expect_success(pair, ca, cb, kSuiteAeadAes128Gcm);
}

TEST(DtlsSrtp, HandshakeRsa3072) {
    const auto& ca = rsa_creds(0);
    const auto& cb = rsa_creds(1);
    EXPECT_NE(ca.private_key_pem.find("RSA"), std::string::npos);
    Pair pair(config_for(DtlsRole::client, ca, cb), config_for(DtlsRole::server, cb, ca));
    pair.start();
    pair.run_until_both_done();
    expect_success(pair, ca, cb, kSuiteAeadAes128Gcm);
}

TEST(DtlsSrtp, HandshakeMixedRsaServerEcdsaClient) {
    const auto& ca = ecdsa_creds(0);
    const auto& cb = rsa_creds(0);
    Pair pair(config_for(DtlsRole::client, ca, cb), config_for(DtlsRole::server, cb, ca));
    pair.start();
    pair.run_until_both_done();
    expect_success(pair, ca, cb, kSuiteAeadAes128Gcm);
}

// A node's identity is an RSA CA certificate; its DTLS certificate is a fast ECDSA one issued
// by it. The peer gets both and can tie the handshake to the identity key.
TEST(DtlsSrtp, IssuedCertificateCarriesItsIssuer) {
    DtlsCredentials identity, other_identity, leaf;
    ASSERT_FALSE(make_self_signed_credentials("identity", identity, DtlsKeyType::rsa_3072, true));
    ASSERT_FALSE(
        make_self_signed_credentials("other", other_identity, DtlsKeyType::ecdsa_p256, true));
    ASSERT_FALSE(issue_credentials(identity, "p2psip-dtls", leaf));
    // The chain: the leaf first (its fingerprint is what a=fingerprint names), then the issuer.
    EXPECT_EQ(leaf.certificate_pem.find("-----BEGIN CERTIFICATE-----"), 0u);
    EXPECT_NE(leaf.certificate_pem.find("-----BEGIN CERTIFICATE-----", 10), std::string::npos);
    EXPECT_NE(leaf.private_key_pem.find("PRIVATE KEY"), std::string::npos);
    EXPECT_NE(fingerprint_of(leaf), fingerprint_of(identity));

    const auto& cb = ecdsa_creds(1);
    Pair pair(config_for(DtlsRole::client, leaf, cb), config_for(DtlsRole::server, cb, leaf));
    pair.start();
    pair.run_until_both_done();
    ASSERT_TRUE(pair.a.ec && pair.b.ec);
    ASSERT_FALSE(*pair.a.ec) << pair.a.ec->message();
    ASSERT_FALSE(*pair.b.ec) << pair.b.ec->message();
    const auto& seen = pair.b.result;  // the server's view of the client
    ASSERT_FALSE(seen.peer_issuer_der.empty());
    EXPECT_FALSE(verify_issued_by(seen.peer_certificate_der, seen.peer_issuer_der));
    std::vector<uint8_t> identity_key, issuer_key;
    ASSERT_FALSE(public_key_der_of_pem(identity.certificate_pem, identity_key));
    // The issuer sent is the identity: its key is the one a DHT binding would carry.
    DtlsCredentials issuer_only{
        leaf.certificate_pem.substr(leaf.certificate_pem.find("-----BEGIN CERTIFICATE-----", 10)),
        ""};
    ASSERT_FALSE(public_key_der_of_pem(issuer_only.certificate_pem, issuer_key));
    EXPECT_EQ(issuer_key, identity_key);
    // A self-signed peer sends no issuer.
    EXPECT_TRUE(pair.a.result.peer_issuer_der.empty());

    // Signature checks: not issued by another key, not by itself.
    DtlsCredentials other_leaf;
    ASSERT_FALSE(issue_credentials(other_identity, "x", other_leaf));
    std::vector<uint8_t> der;
    {
        // DER of other_identity's certificate via a handshake-free path: its leaf's issuer.
        Pair p2(config_for(DtlsRole::client, other_leaf, cb),
                config_for(DtlsRole::server, cb, other_leaf));
        p2.start();
        p2.run_until_both_done();
        ASSERT_TRUE(p2.b.ec && !*p2.b.ec);
        der = p2.b.result.peer_issuer_der;
        ASSERT_FALSE(der.empty());
        EXPECT_FALSE(verify_issued_by(p2.b.result.peer_certificate_der, der));
    }
    EXPECT_EQ(verify_issued_by(seen.peer_certificate_der, der), errc::dtls_bad_chain);
    EXPECT_EQ(verify_issued_by(seen.peer_certificate_der, seen.peer_certificate_der),
              errc::dtls_bad_chain);
    EXPECT_EQ(verify_issued_by({}, seen.peer_issuer_der), errc::dtls_bad_chain);
}

TEST(DtlsSrtp, Sha1_80WhenServerOffersOnlyThat) {
    const auto& ca = ecdsa_creds(0);
    const auto& cb = ecdsa_creds(1);
    auto cfg_b = config_for(DtlsRole::server, cb, ca);
    cfg_b.suites = {std::string(kSuiteAesCm128Sha1_80)};
    Pair pair(config_for(DtlsRole::client, ca, cb), std::move(cfg_b));
    pair.start();
    pair.run_until_both_done();
    expect_success(pair, ca, cb, kSuiteAesCm128Sha1_80);
}

TEST(DtlsSrtp, Sha1_80WhenClientOffersOnlyThat) {
    const auto& ca = ecdsa_creds(0);
    const auto& cb = ecdsa_creds(1);
    auto cfg_a = config_for(DtlsRole::client, ca, cb);
    cfg_a.suites = {std::string(kSuiteAesCm128Sha1_80)};
    Pair pair(std::move(cfg_a), config_for(DtlsRole::server, cb, ca));
    pair.start();
    pair.run_until_both_done();
    expect_success(pair, ca, cb, kSuiteAesCm128Sha1_80);
}

TEST(DtlsSrtp, ServerPreferenceWins) {
    // RFC 5764 §4.1.1: the server selects. The client prefers GCM, the server SHA1_32.
    const auto& ca = ecdsa_creds(0);
    const auto& cb = ecdsa_creds(1);
    auto cfg_a = config_for(DtlsRole::client, ca, cb);
    cfg_a.suites = {std::string(kSuiteAeadAes128Gcm), std::string(kSuiteAesCm128Sha1_80),
                    std::string(kSuiteAesCm128Sha1_32)};
    auto cfg_b = config_for(DtlsRole::server, cb, ca);
    cfg_b.suites = {std::string(kSuiteAesCm128Sha1_32), std::string(kSuiteAeadAes128Gcm)};
    Pair pair(std::move(cfg_a), std::move(cfg_b));
    pair.start();
    pair.run_until_both_done();
    expect_success(pair, ca, cb, kSuiteAesCm128Sha1_32);
}

TEST(DtlsSrtp, NoCommonProfileFails) {
    const auto& ca = ecdsa_creds(0);
    const auto& cb = ecdsa_creds(1);
    auto cfg_a = config_for(DtlsRole::client, ca, cb);
    cfg_a.suites = {std::string(kSuiteAesCm128Sha1_32)};
    auto cfg_b = config_for(DtlsRole::server, cb, ca);
    cfg_b.suites = {std::string(kSuiteAeadAes128Gcm)};
    Pair pair(std::move(cfg_a), std::move(cfg_b));
    pair.start();
    pair.run_until_both_done();
    ASSERT_TRUE(pair.a.ec && pair.b.ec);
    EXPECT_EQ(*pair.b.ec, errc::dtls_no_srtp_profile);
    EXPECT_TRUE(*pair.a.ec);
    EXPECT_TRUE(pair.a.result.suite.empty());
    EXPECT_FALSE(pair.a.session->connected());
    EXPECT_FALSE(pair.b.session->connected());
}

TEST(DtlsSrtp, WrongFingerprintAtClient) {
    const auto& ca = ecdsa_creds(0);
    const auto& cb = ecdsa_creds(1);
    auto cfg_a = config_for(DtlsRole::client, ca, ecdsa_creds(2));  // expects someone else
    Pair pair(std::move(cfg_a), config_for(DtlsRole::server, cb, ca));
    pair.start();
    pair.run_until_both_done();
    ASSERT_TRUE(pair.a.ec && pair.b.ec);
    EXPECT_EQ(*pair.a.ec, errc::dtls_fingerprint_mismatch);
    EXPECT_TRUE(*pair.b.ec);  // the alert makes the server fail, no hang
    EXPECT_EQ(pair.a.done_calls, 1);
    EXPECT_EQ(pair.b.done_calls, 1);
    EXPECT_TRUE(pair.a.result.suite.empty());
    EXPECT_FALSE(pair.a.session->connected());
}

TEST(DtlsSrtp, WrongFingerprintAtServer) {
    const auto& ca = ecdsa_creds(0);
    const auto& cb = ecdsa_creds(1);
    auto cfg_b = config_for(DtlsRole::server, cb, ecdsa_creds(2));
    Pair pair(config_for(DtlsRole::client, ca, cb), std::move(cfg_b));
    pair.start();
    pair.run_until_both_done();
    ASSERT_TRUE(pair.a.ec && pair.b.ec);
    EXPECT_EQ(*pair.b.ec, errc::dtls_fingerprint_mismatch);
    EXPECT_TRUE(*pair.a.ec);
    EXPECT_FALSE(pair.b.session->connected());
}

TEST(DtlsSrtp, MalformedFingerprintFailsHandshake) {
    const auto& ca = ecdsa_creds(0);
    const auto& cb = ecdsa_creds(1);
    auto cfg_a = config_for(DtlsRole::client, ca, cb);
    cfg_a.peer_fingerprint = "sha-256 not-hex";
    Pair pair(std::move(cfg_a), config_for(DtlsRole::server, cb, ca));
    pair.start();
    pair.run_until_both_done();
    ASSERT_TRUE(pair.a.ec && pair.b.ec);
    EXPECT_EQ(*pair.a.ec, errc::bad_fingerprint_attribute);
    EXPECT_TRUE(*pair.b.ec);
}

TEST(DtlsSrtp, FingerprintSetLateStillVerifies) {
    const auto& ca = ecdsa_creds(0);
    const auto& cb = ecdsa_creds(1);
    auto cfg_a = config_for(DtlsRole::client, ca, cb);
    auto cfg_b = config_for(DtlsRole::server, cb, ca);
    cfg_a.peer_fingerprint.clear();
    cfg_b.peer_fingerprint.clear();
    Pair pair(std::move(cfg_a), std::move(cfg_b));
    pair.start();
    pair.run_until_quiet();  // the handshake is over, verification waits
    EXPECT_GT(pair.a.sent, 0u);
    EXPECT_GT(pair.b.sent, 0u);
    EXPECT_FALSE(pair.a.ec);
    EXPECT_FALSE(pair.b.ec);
    EXPECT_FALSE(pair.a.session->done());
    EXPECT_FALSE(pair.a.session->connected());
    pair.a.session->set_peer_fingerprint(fingerprint_of(cb));
    EXPECT_TRUE(pair.a.ec.has_value());  // reported right away
    pair.b.session->set_peer_fingerprint("a=fingerprint:" + fingerprint_of(ca) + "\r\n");
    pair.run_until_both_done();
    expect_success(pair, ca, cb, kSuiteAeadAes128Gcm);
}

TEST(DtlsSrtp, FingerprintSetLateMismatch) {
    const auto& ca = ecdsa_creds(0);
    const auto& cb = ecdsa_creds(1);
    auto cfg_a = config_for(DtlsRole::client, ca, cb);
    auto cfg_b = config_for(DtlsRole::server, cb, ca);
    cfg_a.peer_fingerprint.clear();
    cfg_b.peer_fingerprint.clear();
    Pair pair(std::move(cfg_a), std::move(cfg_b));
    pair.start();
    pair.run_until_quiet();
    EXPECT_FALSE(pair.a.ec);
    pair.a.session->set_peer_fingerprint(fingerprint_of(ecdsa_creds(2)));
    ASSERT_TRUE(pair.a.ec.has_value());
    EXPECT_EQ(*pair.a.ec, errc::dtls_fingerprint_mismatch);
    // b learns through the fatal alert while it still waits for its fingerprint.
    pair.run_until_both_done();
    ASSERT_TRUE(pair.b.ec.has_value());
    EXPECT_TRUE(*pair.b.ec);
    pair.b.session->set_peer_fingerprint(fingerprint_of(ca));  // too late: no second callback
    pair.run_until_quiet(100ms);
    EXPECT_EQ(pair.b.done_calls, 1);
    EXPECT_EQ(pair.a.done_calls, 1);
}

// Retransmission (RFC 6347 §4.2.4): lost datagrams are resent on the timer.
TEST(DtlsSrtp, SurvivesLostClientHellos) {
    const auto& ca = ecdsa_creds(0);
    const auto& cb = ecdsa_creds(1);
    Pair pair(config_for(DtlsRole::client, ca, cb), config_for(DtlsRole::server, cb, ca));
    pair.a.drop = {0, 1};
    pair.start();
    pair.run_until_both_done();
    expect_success(pair, ca, cb, kSuiteAeadAes128Gcm);
    EXPECT_GE(pair.a.sent, 4u);
}

TEST(DtlsSrtp, SurvivesLostServerFlight) {
    const auto& ca = rsa_creds(0);
    const auto& cb = rsa_creds(1);
    Pair pair(config_for(DtlsRole::client, ca, cb), config_for(DtlsRole::server, cb, ca));
    pair.b.drop = {0, 1};
    pair.start();
    pair.run_until_both_done();
    expect_success(pair, ca, cb, kSuiteAeadAes128Gcm);
}

TEST(DtlsSrtp, SurvivesLostFinalFlight) {
    // The server finishes first; losing its CCS+Finished makes the client retransmit its last
    // flight, which the finished server must answer again.
    const auto& ca = ecdsa_creds(0);
    const auto& cb = ecdsa_creds(1);
    Pair pair(config_for(DtlsRole::client, ca, cb), config_for(DtlsRole::server, cb, ca));
    pair.start();
    pair.run_until_both_done();
    expect_success(pair, ca, cb, kSuiteAeadAes128Gcm);
    const size_t server_total = pair.b.sent;
    // The server's last datagram in a clean run is its final flight; lose it and its first
    // retransmission.
    Pair lossy(config_for(DtlsRole::client, ca, cb), config_for(DtlsRole::server, cb, ca));
    lossy.b.drop = {server_total - 1, server_total};
    lossy.start();
    lossy.run_until_both_done();
    expect_success(lossy, ca, cb, kSuiteAeadAes128Gcm);
    EXPECT_GT(lossy.b.sent, server_total);
}

TEST(DtlsSrtp, PeerNeverAnswersTimesOut) {
    asio::io_context io;
    auto cfg = config_for(DtlsRole::client, ecdsa_creds(0), ecdsa_creds(1));
    cfg.handshake_timeout = 2500ms;
    int calls = 0, sent = 0;
    std::error_code result;
    DtlsSrtpSession s(
        io, cfg, [&](std::span<const uint8_t>) { ++sent; },
        [&](std::error_code ec, const DtlsSrtpResult&) {
            ++calls;
            result = ec;
        });
    ASSERT_FALSE(s.start());
    EXPECT_EQ(sent, 1);  // ClientHello right away
    io.run_for(20s);     // returns once the timers are gone
    EXPECT_EQ(calls, 1);
    EXPECT_EQ(result, errc::dtls_timeout);
    EXPECT_GE(sent, 2);  // retransmitted meanwhile
    EXPECT_TRUE(s.done());
    EXPECT_FALSE(s.connected());

    // A server that never hears a ClientHello times out too.
    asio::io_context io2;
    auto cfg2 = config_for(DtlsRole::server, ecdsa_creds(1), ecdsa_creds(0));
    cfg2.handshake_timeout = 1s;
    DtlsSrtpSession server(
        io2, cfg2, [&](std::span<const uint8_t>) { ADD_FAILURE() << "server sent unprompted"; },
        [&](std::error_code ec, const DtlsSrtpResult&) {
            ++calls;
            result = ec;
        });
    ASSERT_FALSE(server.start());
    io2.run_for(20s);
    EXPECT_EQ(calls, 2);
    EXPECT_EQ(result, errc::dtls_timeout);
}

TEST(DtlsSrtp, CloseAndDestroyStopCallbacks) {
    const auto& ca = ecdsa_creds(0);
    const auto& cb = ecdsa_creds(1);
    {
        Pair pair(config_for(DtlsRole::client, ca, cb), config_for(DtlsRole::server, cb, ca));
        pair.start();
        pair.run_until_both_done();
        ASSERT_TRUE(pair.a.session->connected() && pair.b.session->connected());
        pair.a.session->close();  // close_notify reaches b
        EXPECT_FALSE(pair.a.session->connected());
        EXPECT_TRUE(pair.a.session->done());
        pair.run_until([&] { return !pair.b.session->connected(); }, 10s);
        EXPECT_FALSE(pair.b.session->connected());
        EXPECT_EQ(pair.a.done_calls, 1);
        EXPECT_EQ(pair.b.done_calls, 1);
    }
    {
        // Closed mid-handshake: no callback ever, the peer times out.
        Pair pair(config_for(DtlsRole::client, ca, cb), config_for(DtlsRole::server, cb, ca));
        pair.b.session.reset();  // server gone; packets to it vanish
        ASSERT_FALSE(pair.a.session->start());
        pair.a.session->close();
        pair.run_until_quiet(1500ms);
        EXPECT_EQ(pair.a.done_calls, 0);
        EXPECT_EQ(pair.a.sent, 1u);  // no retransmissions after close
    }
    {
        // Destroying the session from inside its DoneFn is safe.
        Pair pair(config_for(DtlsRole::client, ca, cb), config_for(DtlsRole::server, cb, ca));
        pair.a.destroy_in_done = true;
        pair.b.destroy_in_done = true;
        pair.start();
        pair.run_until_both_done();
        EXPECT_FALSE(pair.a.session);
        EXPECT_FALSE(pair.b.session);
        ASSERT_TRUE(pair.a.ec && pair.b.ec);
        EXPECT_FALSE(*pair.a.ec);
        EXPECT_FALSE(*pair.b.ec);
        pair.run_until_quiet(200ms);
    }
}

TEST(DtlsSrtp, StartErrors) {
    asio::io_context io;
    auto noop_send = [](std::span<const uint8_t>) {};
    auto no_done = [](std::error_code, const DtlsSrtpResult&) { ADD_FAILURE(); };
    {
        auto cfg = config_for(DtlsRole::client, ecdsa_creds(0), ecdsa_creds(1));
        cfg.credentials.private_key_pem = ecdsa_creds(1).private_key_pem;  // not this cert's key
        DtlsSrtpSession s(io, cfg, noop_send, no_done);
        EXPECT_EQ(s.start(), errc::dtls_failure);
    }
    {
        auto cfg = config_for(DtlsRole::client, ecdsa_creds(0), ecdsa_creds(1));
        cfg.credentials.certificate_pem = "garbage";
        DtlsSrtpSession s(io, cfg, noop_send, no_done);
        EXPECT_EQ(s.start(), errc::dtls_failure);
    }
    {
        auto cfg = config_for(DtlsRole::client, ecdsa_creds(0), ecdsa_creds(1));
        cfg.suites = {"NULL_HMAC_SHA1_80", "F8_128_HMAC_SHA1_80"};
        DtlsSrtpSession s(io, cfg, noop_send, no_done);
        EXPECT_EQ(s.start(), errc::dtls_no_srtp_profile);
    }
    {
        auto cfg = config_for(DtlsRole::server, ecdsa_creds(0), ecdsa_creds(1));
        DtlsSrtpSession s(io, cfg, noop_send, no_done);
        EXPECT_FALSE(s.start());
        EXPECT_EQ(s.start(), errc::invalid_argument);
        s.close();
    }
    io.run_for(100ms);
}

TEST(DtlsSrtp, SelfSignedCredentials) {
    DtlsCredentials c;
    ASSERT_FALSE(make_self_signed_credentials("alice", c));
    EXPECT_EQ(c.certificate_pem.rfind("-----BEGIN CERTIFICATE-----", 0), 0u);
    EXPECT_NE(c.private_key_pem.find("PRIVATE KEY-----"), std::string::npos);
    DtlsCredentials d;
    ASSERT_FALSE(make_self_signed_credentials("alice", d));
    EXPECT_NE(fingerprint_of(c), fingerprint_of(d));  // fresh key each time
    std::vector<uint8_t> spki;
    ASSERT_FALSE(public_key_der_of_pem(c.certificate_pem, spki));
    EXPECT_GT(spki.size(), 64u);
    EXPECT_EQ(spki[0], 0x30);  // DER SEQUENCE
    std::string fp;
    EXPECT_EQ(fingerprint_attribute_of_pem("not a certificate", fp), errc::dtls_failure);
    EXPECT_TRUE(fp.empty());
    EXPECT_EQ(public_key_der_of_pem("", spki), errc::dtls_failure);
}

TEST(DtlsSrtp, FingerprintFormatAndParse) {
    // SHA-256 of the empty string, a known vector.
    const std::string fp = fingerprint_attribute({});
    EXPECT_EQ(fp,
              "sha-256 E3:B0:C4:42:98:FC:1C:14:9A:FB:F4:C8:99:6F:B9:24:27:AE:41:E4:64:9B:93:4C:"
              "A4:95:99:1B:78:52:B8:55");
    std::string name;
    std::vector<uint8_t> digest;
    ASSERT_FALSE(parse_fingerprint_attribute(fp, name, digest));
    EXPECT_EQ(name, "sha-256");
    ASSERT_EQ(digest.size(), 32u);
    EXPECT_EQ(digest[0], 0xe3);
    EXPECT_EQ(digest[31], 0x55);

    // Prefix, case and line ending are tolerated.
    std::string lower = "a=fingerprint:SHA-256 " + fp.substr(8);
    for (size_t i = 22; i < lower.size(); ++i)
        if (lower[i] >= 'A' && lower[i] <= 'F') lower[i] = static_cast<char>(lower[i] + 32);
    std::vector<uint8_t> digest2;
    ASSERT_FALSE(parse_fingerprint_attribute(lower + "\r\n", name, digest2)) << lower;
    EXPECT_EQ(name, "sha-256");
    EXPECT_EQ(digest2, digest);

    // Other hashes by length.
    const std::string sha1 = "sha-1 " + fp.substr(8, 20 * 3 - 1);
    ASSERT_FALSE(parse_fingerprint_attribute(sha1, name, digest2));
    EXPECT_EQ(name, "sha-1");
    EXPECT_EQ(digest2.size(), 20u);
    std::string sha512 = "sha-512 " + fp.substr(8) + ":" + fp.substr(8);
    ASSERT_FALSE(parse_fingerprint_attribute(sha512, name, digest2));
    EXPECT_EQ(name, "sha-512");
    EXPECT_EQ(digest2.size(), 64u);

    // Garbage is refused and outputs stay untouched.
    name = "keep";
    digest2 = {1, 2, 3};
    const std::vector<std::string> bad = {
        "",
        "sha-256",
        "sha-256 ",
        "md5 " + fp.substr(8, 16 * 3 - 1),
        "sha-257 " + fp.substr(8),
        "sha-256 " + fp.substr(8, 31 * 3 - 1),  // too short
        "sha-256 " + fp.substr(8) + ":00",      // too long
        "sha-256 " + fp.substr(8, 20 * 3 - 1),  // sha-1 length under sha-256
        "sha-256 " + std::string(95, 'G'),      // not hex
        "sha-256 E3B0" + fp.substr(13),         // separators missing
        "sha-256 E3-B0" + fp.substr(13),        // wrong separator
        "sha-256" + fp.substr(7).replace(0, 1, ":"),
    };
    for (const auto& text : bad) {
        EXPECT_EQ(parse_fingerprint_attribute(text, name, digest2), errc::bad_fingerprint_attribute)
            << text;
        EXPECT_EQ(name, "keep");
        EXPECT_EQ(digest2, (std::vector<uint8_t>{1, 2, 3}));
    }
}

TEST(DtlsSrtp, ClassifyPacketRfc7983) {
    auto cls = [](uint8_t b) {
        const uint8_t d[1] = {b};
        return classify_packet(d);
    };
    EXPECT_EQ(classify_packet({}), PacketClass::unknown);
    EXPECT_EQ(cls(0), PacketClass::stun);
    EXPECT_EQ(cls(3), PacketClass::stun);
    EXPECT_EQ(cls(4), PacketClass::unknown);
    EXPECT_EQ(cls(15), PacketClass::unknown);
    EXPECT_EQ(cls(16), PacketClass::zrtp);
    EXPECT_EQ(cls(19), PacketClass::zrtp);
    EXPECT_EQ(cls(20), PacketClass::dtls);
    EXPECT_EQ(cls(22), PacketClass::dtls);  // handshake record
    EXPECT_EQ(cls(63), PacketClass::dtls);
    EXPECT_EQ(cls(64), PacketClass::turn_channel);
    EXPECT_EQ(cls(79), PacketClass::turn_channel);
    EXPECT_EQ(cls(80), PacketClass::unknown);
    EXPECT_EQ(cls(127), PacketClass::unknown);
    EXPECT_EQ(cls(128), PacketClass::rtp_rtcp);
    EXPECT_EQ(cls(191), PacketClass::rtp_rtcp);
    EXPECT_EQ(cls(192), PacketClass::unknown);
    EXPECT_EQ(cls(255), PacketClass::unknown);
    const Packet rtp = make_rtp(1);
    EXPECT_EQ(classify_packet(std::span(rtp.buf.data(), rtp.len)), PacketClass::rtp_rtcp);
}

}  // namespace p2psip::media
