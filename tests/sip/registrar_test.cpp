#include "p2psip/sip/registrar.hpp"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>

#include "p2psip/sip/digest.hpp"
#include "test_util.hpp"

extern char** environ;

using namespace p2psip::sip;
using namespace sip_test;
using std::chrono::milliseconds;
using std::chrono::seconds;

namespace {

const Account kAlice{"sip:alice@example.org", "alice", "secret-a"};
const Account kBob{"sip:bob@example.org", "bob", "secret-b"};

UaConfig ua_config() {
    UaConfig c;
    c.aor = "sip:registrar@127.0.0.1";
    c.t1 = milliseconds(50);
    c.t2 = milliseconds(200);
    c.t4 = milliseconds(250);
    return c;
}

RegistrarConfig reg_config() {
    RegistrarConfig c;
    c.realm = "test.realm";
    c.accounts = {kAlice, kBob};
    return c;
}

std::vector<std::string> values(const Message& m, std::string_view name) {
    std::vector<std::string> out;
    for (auto v : m.headers(name)) out.emplace_back(v);
    return out;
}

// A SIP phone on a raw UDP socket: REGISTERs written by hand, the Digest answer computed
// with digest.hpp from the challenge it received.
class Phone {
  public:
    Phone(asio::io_context& io, uint16_t registrar_port)
        : io_(io), registrar_(asio::ip::make_address("127.0.0.1"), registrar_port), peer_(io) {}

    std::string ruri() const { return "sip:127.0.0.1:" + std::to_string(registrar_.port()); }
    uint16_t port() const { return peer_.port(); }
    std::string contact(const std::string& user, const std::string& params = "") const {
        return "sip:" + user + "@127.0.0.1:" + std::to_string(port()) + params;
    }

    // One REGISTER (CSeq = `cseq` or the next number); the final response.
    std::optional<Message> send_register(const std::string& aor,
                                         const std::vector<std::string>& contacts,
                                         std::optional<int> expires,
                                         const std::string& authorization = "",
                                         std::optional<uint32_t> cseq = std::nullopt) {
        const uint32_t n = cseq ? *cseq : ++cseq_;
        std::string m = "REGISTER " + ruri() + " SIP/2.0\r\n";
        m += "Via: SIP/2.0/UDP 127.0.0.1:" + std::to_string(port()) + ";branch=z9hG4bK" +
             std::to_string(++branch_) + "x" + call_id_ + ";rport\r\n";
        m += "Max-Forwards: 70\r\n";
        m += "From: <" + aor + ">;tag=ph" + call_id_ + "\r\n";
        m += "To: <" + aor + ">\r\n";
        m += "Call-ID: " + call_id_ + "\r\n";
        m += "CSeq: " + std::to_string(n) + " REGISTER\r\n";
        for (const auto& c : contacts) m += "Contact: " + c + "\r\n";
        if (expires) m += "Expires: " + std::to_string(*expires) + "\r\n";
        if (!authorization.empty()) m += "Authorization: " + authorization + "\r\n";
        m += "Content-Length: 0\r\n\r\n";
        return transact(m, n);
    }

    // Sends `text` and waits for the final response with CSeq `n`.
    std::optional<Message> transact(const std::string& text, uint32_t n) {
        const std::size_t first = peer_.received.size();
        peer_.send(text, registrar_);
        std::optional<Message> got;
        run_until(io_, [&] {
            for (std::size_t i = first; i < peer_.received.size() && !got; ++i) {
                Message r;
                if (!parse_message(peer_.received[i].data, r) && !r.is_request() &&
                    r.status() >= 200 && r.cseq().number == n)
                    got = r;
            }
            return got.has_value();
        });
        return got;
    }

    // Keeps the challenge of `r` for `algorithm`; false if it has none.
    bool take_challenge(const Message& r, DigestAlgorithm algorithm,
                        std::string_view header = "WWW-Authenticate") {
        for (auto v : r.headers(header)) {
            DigestChallenge c;
            if (!parse_challenge(v, c) && c.algorithm == algorithm) {
                challenge_ = c;
                return true;
            }
        }
        return false;
    }
    std::string authorization(const std::string& user, const std::string& password,
                              const std::string& method = "REGISTER") {
        return format_credentials(
            answer_challenge(challenge_, user, password, method, ruri(), "c0ffee", ++nc_));
    }

    // REGISTER, 401, REGISTER with credentials: the final response to the second one.
    std::optional<Message> register_auth(const Account& who, const std::string& aor,
                                         const std::vector<std::string>& contacts,
                                         std::optional<int> expires,
                                         DigestAlgorithm algorithm = DigestAlgorithm::sha256,
                                         const std::string& password = "") {
        auto r = send_register(aor, contacts, expires);
        if (!r || r->status() != 401 || !take_challenge(*r, algorithm)) return r;
        return send_register(
            aor, contacts, expires,
            authorization(who.username, password.empty() ? who.password : password));
    }

    void new_call_id() { call_id_ = "cid" + std::to_string(++branch_) + call_id_; }
    uint32_t cseq() const { return cseq_; }
    const DigestChallenge& challenge() const { return challenge_; }

  private:
    asio::io_context& io_;
    UdpEndpoint registrar_;
    RawPeer peer_;
    std::string call_id_ = "phone-" + std::to_string(::getpid()) + "-call";
    uint32_t cseq_ = 0;
    unsigned branch_ = 0;
    unsigned nc_ = 0;
    DigestChallenge challenge_;
};

struct Fixture {
    explicit Fixture(RegistrarConfig cfg = reg_config()) : cfg(std::move(cfg)) {
        EXPECT_FALSE(ua.start());
        registrar.emplace(io, ua, this->cfg);
        registrar->on_change([this](const std::string& aor, const std::vector<Registration>& c) {
            changes.emplace_back(aor, c);
        });
        phone.emplace(io, ua.port());
    }
    RegistrarConfig cfg;
    asio::io_context io;
    UserAgent ua{io, ua_config()};
    std::optional<Registrar> registrar;
    std::optional<Phone> phone;
    std::vector<std::pair<std::string, std::vector<Registration>>> changes;
};

}  // namespace

TEST(Registrar, ChallengeListsSha256ThenMd5) {
    Fixture f;
    auto r = f.phone->send_register(kAlice.aor, {"<" + f.phone->contact("alice") + ">"}, 600);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 401);
    EXPECT_FALSE(r->to_tag().empty());
    auto ch = values(*r, "WWW-Authenticate");
    ASSERT_EQ(ch.size(), 2u);  // RFC 8760 §2.4: preferred algorithm first
    DigestChallenge a, b;
    ASSERT_FALSE(parse_challenge(ch[0], a));
    ASSERT_FALSE(parse_challenge(ch[1], b));
    EXPECT_EQ(a.algorithm, DigestAlgorithm::sha256);
    EXPECT_EQ(b.algorithm, DigestAlgorithm::md5);
    EXPECT_EQ(a.realm, "test.realm");
    EXPECT_FALSE(a.stale);
    EXPECT_TRUE(f.registrar->registrations(kAlice.aor).empty());
    EXPECT_EQ(f.registrar->stats().challenges, 1u);
    EXPECT_EQ(f.registrar->stats().registers, 1u);
    // With a hook installed, REGISTER is allowed.
    auto allow = values(*r, "Allow");
    EXPECT_TRUE(allow.empty() || std::find(allow.begin(), allow.end(), "REGISTER") != allow.end());
}

TEST(Registrar, RegisterWithSha256QueryAndRefresh) {
    Fixture f;
    const std::string contact = f.phone->contact("alice-x1", ";transport=udp");
    auto r = f.phone->register_auth(kAlice, kAlice.aor, {"<" + contact + ">"}, 600);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status(), 200);
    auto listed = values(*r, "Contact");
    ASSERT_EQ(listed.size(), 1u);
    NameAddr na;
    ASSERT_FALSE(parse_name_addr(listed[0], na));
    EXPECT_EQ(na.uri.to_string(), contact);
    ASSERT_TRUE(na.param("expires"));
    const int left = std::stoi(*na.param("expires"));
    EXPECT_GT(left, 590);
    EXPECT_LE(left, 600);
    EXPECT_TRUE(r->header("Date"));

    auto regs = f.registrar->registrations(kAlice.aor);
    ASSERT_EQ(regs.size(), 1u);
    EXPECT_EQ(regs[0].contact, contact);
    EXPECT_EQ(regs[0].contact_uri.user, "alice-x1");
    EXPECT_EQ(regs[0].source.endpoint.port(), f.phone->port());
    EXPECT_EQ(regs[0].source.transport, TransportKind::udp);
    ASSERT_EQ(f.changes.size(), 1u);
    EXPECT_EQ(f.changes[0].first, kAlice.aor);
    EXPECT_EQ(f.changes[0].second.size(), 1u);
    ASSERT_NE(f.registrar->account_for(kAlice.aor), nullptr);
    EXPECT_EQ(f.registrar->account_for(kAlice.aor)->username, "alice");
    EXPECT_EQ(f.registrar->account_for("sip:carol@example.org"), nullptr);

    // Query: no Contact -> the current list, nothing changed.
    auto q = f.phone->send_register(kAlice.aor, {}, std::nullopt,
                                    f.phone->authorization("alice", kAlice.password));
    ASSERT_TRUE(q);
    EXPECT_EQ(q->status(), 200);
    EXPECT_EQ(values(*q, "Contact").size(), 1u);
    // Refresh with the same contact and a higher CSeq: no change event.
    auto again = f.phone->send_register(kAlice.aor, {"<" + contact + ">"}, 300,
                                        f.phone->authorization("alice", kAlice.password));
    ASSERT_TRUE(again);
    EXPECT_EQ(again->status(), 200);
    EXPECT_EQ(f.changes.size(), 1u);
    EXPECT_EQ(f.registrar->registrations(kAlice.aor).size(), 1u);
}

TEST(Registrar, RegisterWithMd5AndContactExpiresParam) {
    Fixture f;
    auto r =
        f.phone->register_auth(kBob, kBob.aor, {"<" + f.phone->contact("bob") + ">;expires=120"},
                               std::nullopt, DigestAlgorithm::md5);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status(), 200);
    auto regs = f.registrar->registrations(kBob.aor);
    ASSERT_EQ(regs.size(), 1u);
    const auto left = regs[0].expires_at - std::chrono::steady_clock::now();
    EXPECT_GT(left, seconds(100));
    EXPECT_LE(left, seconds(120));
    EXPECT_TRUE(f.registrar->registrations(kAlice.aor).empty());
}

TEST(Registrar, ExpiresIsCappedAtMaximum) {
    auto cfg = reg_config();
    cfg.max_expires = seconds(200);
    Fixture f(cfg);
    auto r =
        f.phone->register_auth(kAlice, kAlice.aor, {"<" + f.phone->contact("a") + ">"}, 100000);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status(), 200);
    NameAddr na;
    ASSERT_FALSE(parse_name_addr(values(*r, "Contact").at(0), na));
    EXPECT_LE(std::stoi(*na.param("expires")), 200);
}

TEST(Registrar, WrongPasswordIsChallengedAgainAndCounted) {
    Fixture f;
    auto r = f.phone->register_auth(kAlice, kAlice.aor, {"<" + f.phone->contact("alice") + ">"},
                                    600, DigestAlgorithm::sha256, "wrong");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 401);
    EXPECT_EQ(values(*r, "WWW-Authenticate").size(), 2u);
    EXPECT_TRUE(f.registrar->registrations(kAlice.aor).empty());
    EXPECT_TRUE(f.changes.empty());
    EXPECT_EQ(f.registrar->stats().auth_failures, 1u);
    EXPECT_EQ(f.registrar->stats().challenges, 2u);
}

TEST(Registrar, UnknownAorOrOtherUserIsForbidden) {
    Fixture f;
    // An AOR that is not configured: nothing can create it.
    const Account mallory{"sip:mallory@example.org", "mallory", "pw"};
    auto r = f.phone->register_auth(mallory, mallory.aor, {"<" + f.phone->contact("m") + ">"}, 600);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 403);
    EXPECT_TRUE(f.registrar->registrations(mallory.aor).empty());
    // Bob's valid credentials for Alice's AOR.
    r = f.phone->register_auth(kBob, kAlice.aor, {"<" + f.phone->contact("m") + ">"}, 600);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 403);
    EXPECT_TRUE(f.registrar->registrations(kAlice.aor).empty());
    EXPECT_TRUE(f.registrar->registrations(kBob.aor).empty());
    EXPECT_TRUE(f.changes.empty());
    EXPECT_EQ(f.registrar->stats().auth_failures, 2u);
}

TEST(Registrar, SourceIsBlockedAfterTooManyFailures) {
    auto cfg = reg_config();
    cfg.max_failures = 3;
    Fixture f(cfg);
    const std::vector<std::string> c{"<" + f.phone->contact("alice") + ">"};
    for (int i = 0; i < 2; ++i) {
        auto r = f.phone->register_auth(kAlice, kAlice.aor, c, 600, DigestAlgorithm::sha256,
                                        "guess" + std::to_string(i));
        ASSERT_TRUE(r);
        EXPECT_EQ(r->status(), 401);
    }
    auto r = f.phone->register_auth(kAlice, kAlice.aor, c, 600, DigestAlgorithm::sha256, "guess2");
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 403);
    EXPECT_EQ(r->reason(), "Too many failed attempts");
    // Now even a request without credentials, and the right password, are refused.
    auto plain = f.phone->send_register(kAlice.aor, c, 600);
    ASSERT_TRUE(plain);
    EXPECT_EQ(plain->status(), 403);
    auto right =
        f.phone->send_register(kAlice.aor, c, 600, f.phone->authorization("alice", "secret-a"));
    ASSERT_TRUE(right);
    EXPECT_EQ(right->status(), 403);
    EXPECT_TRUE(f.registrar->registrations(kAlice.aor).empty());
    EXPECT_EQ(f.registrar->stats().auth_failures, 3u);
    EXPECT_GE(f.registrar->stats().blocked, 3u);
    // INVITEs from that address too.
    Message inv;
    ASSERT_FALSE(parse_message(crlf("INVITE sip:bob@127.0.0.1 SIP/2.0\n"
                                    "Via: SIP/2.0/UDP 127.0.0.1:5099;branch=z9hG4bKblk\n"
                                    "From: <sip:alice@example.org>;tag=1\n"
                                    "To: <sip:bob@example.org>\nCall-ID: blk\n"
                                    "CSeq: 1 INVITE\nContent-Length: 0\n\n"),
                               inv));
    ResponseSpec ch;
    EXPECT_EQ(
        f.registrar->authenticate(inv, UdpEndpoint(asio::ip::make_address("127.0.0.1"), 5099), ch),
        nullptr);
    EXPECT_EQ(ch.status, 403);
    // Another address is not affected.
    EXPECT_EQ(
        f.registrar->authenticate(inv, UdpEndpoint(asio::ip::make_address("127.0.0.9"), 5099), ch),
        nullptr);
    EXPECT_EQ(ch.status, 407);
}

TEST(Registrar, StaleNonceIsRechallengedWithStaleTrue) {
    auto cfg = reg_config();
    cfg.nonce_lifetime = seconds(1);
    Fixture f(cfg);
    const std::vector<std::string> c{"<" + f.phone->contact("alice") + ">"};
    auto r = f.phone->send_register(kAlice.aor, c, 600);
    ASSERT_TRUE(r);
    ASSERT_TRUE(f.phone->take_challenge(*r, DigestAlgorithm::sha256));
    run_for(f.io, milliseconds(1300));
    r = f.phone->send_register(kAlice.aor, c, 600, f.phone->authorization("alice", "secret-a"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 401);
    ASSERT_TRUE(f.phone->take_challenge(*r, DigestAlgorithm::sha256));
    EXPECT_TRUE(f.phone->challenge().stale);
    EXPECT_EQ(f.registrar->stats().auth_failures, 0u);
    // The fresh nonce works.
    r = f.phone->send_register(kAlice.aor, c, 600, f.phone->authorization("alice", "secret-a"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 200);
}

TEST(Registrar, ForgedNonceFails) {
    Fixture f;
    const std::vector<std::string> c{"<" + f.phone->contact("alice") + ">"};
    DigestChallenge fake;
    fake.realm = "test.realm";
    fake.nonce = std::string(48, 'a');
    auto creds = answer_challenge(fake, "alice", "secret-a", "REGISTER", f.phone->ruri(), "x");
    auto r = f.phone->send_register(kAlice.aor, c, 600, format_credentials(creds));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 401);
    EXPECT_EQ(f.registrar->stats().auth_failures, 1u);
    EXPECT_TRUE(f.registrar->registrations(kAlice.aor).empty());
}

TEST(Registrar, IntervalTooBrief) {
    Fixture f;  // min_expires 60
    auto r =
        f.phone->register_auth(kAlice, kAlice.aor, {"<" + f.phone->contact("alice") + ">"}, 10);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 423);
    EXPECT_EQ(r->header("Min-Expires").value_or(""), "60");
    EXPECT_TRUE(f.registrar->registrations(kAlice.aor).empty());
    EXPECT_TRUE(f.changes.empty());
}

TEST(Registrar, RegistrationsLapse) {
    auto cfg = reg_config();
    cfg.min_expires = seconds(1);
    Fixture f(cfg);
    auto r = f.phone->register_auth(kAlice, kAlice.aor, {"<" + f.phone->contact("alice") + ">"}, 1);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status(), 200);
    EXPECT_EQ(f.registrar->registrations(kAlice.aor).size(), 1u);
    ASSERT_TRUE(run_until(
        f.io, [&] { return f.changes.size() == 2; }, seconds(10)));
    EXPECT_EQ(f.changes[0].second.size(), 1u);
    EXPECT_EQ(f.changes[1].first, kAlice.aor);
    EXPECT_TRUE(f.changes[1].second.empty());
    EXPECT_TRUE(f.registrar->registrations(kAlice.aor).empty());
}

TEST(Registrar, UnregisterOneThenWildcard) {
    Fixture f;
    const std::string c1 = "<" + f.phone->contact("one") + ">";
    const std::string c2 = "<" + f.phone->contact("two", ";line=abc") + ">";
    auto r = f.phone->register_auth(kAlice, kAlice.aor, {c1, c2}, 600);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status(), 200);
    EXPECT_EQ(values(*r, "Contact").size(), 2u);
    ASSERT_EQ(f.registrar->registrations(kAlice.aor).size(), 2u);
    const std::string auth = f.phone->authorization("alice", "secret-a");
    // Expires: 0 on one contact removes it.
    r = f.phone->send_register(kAlice.aor, {c1}, 0, auth);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 200);
    auto regs = f.registrar->registrations(kAlice.aor);
    ASSERT_EQ(regs.size(), 1u);
    EXPECT_EQ(regs[0].contact_uri.user, "two");
    EXPECT_EQ(regs[0].contact_uri.param("line").value_or(""), "abc");
    ASSERT_EQ(f.changes.size(), 2u);
    EXPECT_EQ(f.changes[1].second.size(), 1u);
    // "*" needs Expires: 0 and no other contact (RFC 3261 §10.3 step 6).
    r = f.phone->send_register(kAlice.aor, {"*"}, 60, f.phone->authorization("alice", "secret-a"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 400);
    // From another Call-ID (e.g. another device of the user): removes all.
    f.phone->new_call_id();
    r = f.phone->send_register(kAlice.aor, {"*"}, 0, f.phone->authorization("alice", "secret-a"));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 200);
    EXPECT_TRUE(values(*r, "Contact").empty());
    EXPECT_TRUE(f.registrar->registrations(kAlice.aor).empty());
    ASSERT_EQ(f.changes.size(), 3u);
    EXPECT_TRUE(f.changes[2].second.empty());
}

TEST(Registrar, OutOfOrderCSeqIsRefused) {
    Fixture f;
    const std::string c = "<" + f.phone->contact("alice") + ">";
    auto r = f.phone->register_auth(kAlice, kAlice.aor, {c}, 600);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status(), 200);
    const uint32_t n = f.phone->cseq();
    // Until Timer J ends (64*T1) the UA core would take it for a merged request (482).
    run_for(f.io, milliseconds(64 * 50 + 500));
    // Same Call-ID, lower CSeq, trying to remove: refused and nothing changes (§10.3 step 7).
    r = f.phone->send_register(kAlice.aor, {c}, 0, f.phone->authorization("alice", "secret-a"),
                               n - 1);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 500);
    EXPECT_EQ(f.registrar->registrations(kAlice.aor).size(), 1u);
    EXPECT_EQ(f.changes.size(), 1u);
}

TEST(Registrar, InstanceReplacesTheOldContact) {
    Fixture f;
    const std::string inst = ";+sip.instance=\"<urn:uuid:00000000-0000-1000-8000-000A95A0E128>\"";
    auto r = f.phone->register_auth(kAlice, kAlice.aor,
                                    {"<" + f.phone->contact("old") + ">" + inst}, 600);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status(), 200);
    // The phone came back on another contact (e.g. a new NAT mapping): same instance.
    r = f.phone->send_register(kAlice.aor, {"<" + f.phone->contact("new") + ">" + inst}, 600,
                               f.phone->authorization("alice", "secret-a"));
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status(), 200);
    auto regs = f.registrar->registrations(kAlice.aor);
    ASSERT_EQ(regs.size(), 1u);
    EXPECT_EQ(regs[0].contact_uri.user, "new");
    EXPECT_EQ(regs[0].instance, "<urn:uuid:00000000-0000-1000-8000-000A95A0E128>");
    EXPECT_EQ(f.changes.size(), 2u);
}

TEST(Registrar, TooManyContacts) {
    auto cfg = reg_config();
    cfg.max_contacts_per_aor = 2;
    Fixture f(cfg);
    auto r = f.phone->register_auth(
        kAlice, kAlice.aor,
        {"<" + f.phone->contact("a") + ">", "<" + f.phone->contact("b") + ">",
         "<" + f.phone->contact("c") + ">"},
        600);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 403);
    EXPECT_TRUE(f.registrar->registrations(kAlice.aor).empty());
}

TEST(Registrar, HookIsRemovedWithTheRegistrar) {
    Fixture f;
    f.registrar.reset();
    auto r = f.phone->send_register(kAlice.aor, {"<" + f.phone->contact("alice") + ">"}, 600);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->status(), 405);  // a plain UA again
    auto allow = r->header("Allow").value_or("");
    EXPECT_EQ(allow.find("REGISTER"), std::string_view::npos);
}

TEST(Registrar, AuthenticateRequestsByProxyAuthorization) {
    Fixture f;
    const UdpEndpoint src(asio::ip::make_address("127.0.0.1"), 5070);
    auto invite = [](const std::string& from, const std::string& proxy_auth) {
        std::string t =
            "INVITE sip:bob@example.org SIP/2.0\r\n"
            "Via: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bKauth\r\n"
            "Max-Forwards: 70\r\n"
            "From: \"A\" <" +
            from +
            ">;tag=1\r\n"
            "To: <sip:bob@example.org>\r\nCall-ID: auth1\r\nCSeq: 1 INVITE\r\n";
        if (!proxy_auth.empty()) t += "Proxy-Authorization: " + proxy_auth + "\r\n";
        t += "Content-Length: 0\r\n\r\n";
        Message m;
        EXPECT_FALSE(parse_message(t, m));
        return m;
    };
    ResponseSpec ch;
    EXPECT_EQ(f.registrar->authenticate(invite(kAlice.aor, ""), src, ch), nullptr);
    EXPECT_EQ(ch.status, 407);
    ASSERT_EQ(ch.headers.size(), 2u);
    EXPECT_EQ(ch.headers[0].first, "Proxy-Authenticate");
    DigestChallenge sha, md5;
    ASSERT_FALSE(parse_challenge(ch.headers[0].second, sha));
    ASSERT_FALSE(parse_challenge(ch.headers[1].second, md5));
    EXPECT_EQ(sha.algorithm, DigestAlgorithm::sha256);
    EXPECT_EQ(md5.algorithm, DigestAlgorithm::md5);

    auto creds = [](const DigestChallenge& c, const Account& a, const std::string& pw = "") {
        return format_credentials(answer_challenge(c, a.username, pw.empty() ? a.password : pw,
                                                   "INVITE", "sip:bob@example.org", "abc"));
    };
    const Account* who = f.registrar->authenticate(invite(kAlice.aor, creds(sha, kAlice)), src, ch);
    ASSERT_NE(who, nullptr);
    EXPECT_EQ(who->aor, kAlice.aor);
    who = f.registrar->authenticate(invite(kAlice.aor, creds(md5, kAlice)), src, ch);
    ASSERT_NE(who, nullptr);
    // Wrong password: challenged again; Bob's credentials on Alice's From: 403.
    ch = {};
    EXPECT_EQ(f.registrar->authenticate(invite(kAlice.aor, creds(sha, kAlice, "x")), src, ch),
              nullptr);
    EXPECT_EQ(ch.status, 407);
    EXPECT_EQ(f.registrar->authenticate(invite(kAlice.aor, creds(sha, kBob)), src, ch), nullptr);
    EXPECT_EQ(ch.status, 403);
    // An AOR that is not an account.
    EXPECT_EQ(f.registrar->authenticate(invite("sip:eve@example.org", creds(sha, kAlice)), src, ch),
              nullptr);
    EXPECT_EQ(ch.status, 403);
    EXPECT_EQ(f.registrar->stats().auth_failures, 3u);
}

// A phone calling through the registrar's UserAgent: 407 with Proxy-Authenticate sent by
// Session::reject(), then the INVITE again with Proxy-Authorization (InviteOptions).
TEST(Registrar, InviteChallengedThenAccepted) {
    Fixture f;
    std::vector<int> results;
    ResponseSpec last_challenge;
    std::shared_ptr<Session> accepted;
    f.ua.on_incoming([&](std::shared_ptr<Session> s) {
        ResponseSpec ch;
        const Account* who = f.registrar->authenticate(*s->request(), s->remote_endpoint(), ch);
        if (!who) {
            last_challenge = ch;
            s->reject(ch.status, ch.reason, ch.headers);
            return;
        }
        accepted = s;
        s->accept("v=0\r\n");
    });
    asio::io_context& io = f.io;
    UaConfig pc = ua_config();
    pc.aor = kAlice.aor;
    UserAgent phone(io, pc);
    ASSERT_FALSE(phone.start());
    Uri target;
    ASSERT_FALSE(parse_uri("sip:bob@127.0.0.1:" + std::to_string(f.ua.port()), target));
    int closed = -1;
    bool established = false;
    SessionHandlers h;
    h.on_closed = [&](int st, std::string) { closed = st; };
    h.on_established = [&](std::string_view) { established = true; };
    phone.invite(target, "sip:bob@example.org", "v=0\r\n", h);
    ASSERT_TRUE(run_until(io, [&] { return closed >= 0; }));
    EXPECT_EQ(closed, 407);
    DigestChallenge c;
    ASSERT_FALSE(last_challenge.headers.empty());
    ASSERT_FALSE(parse_challenge(last_challenge.headers[0].second, c));
    closed = -1;
    InviteOptions opt;
    opt.headers.emplace_back("Proxy-Authorization", format_credentials(answer_challenge(
                                                        c, "alice", kAlice.password, "INVITE",
                                                        target.to_string(), "cn1")));
    auto call = phone.invite(target, "sip:bob@example.org", "v=0\r\n", h, opt);
    ASSERT_TRUE(run_until(io, [&] { return established; }));
    ASSERT_NE(accepted, nullptr);
    EXPECT_EQ(accepted->from_aor(), kAlice.aor);
    call->hangup();
    ASSERT_TRUE(run_until(io, [&] { return closed >= 0; }));
}

// ---------------------------------------------------------------- a real phone: baresip

// Debian's baresip (skipped when missing) registers with SHA-256 or MD5 Digest through its
// outbound proxy setting, then unregisters when it quits (-t).
TEST(Registrar, BaresipRegistersAndUnregisters) {
    if (::access("/usr/bin/baresip", X_OK) != 0) GTEST_SKIP() << "baresip not installed";
    auto rc = reg_config();
    rc.algorithms = {DigestAlgorithm::md5};  // libre 1.0 fails on any SHA-256 challenge
    // baresip does not take port 0 in sip_listen: a port that was free a moment ago, for
    // all it opens there: UDP and TCP on the port, TLS on the next one.
    auto free_port = [] {
        asio::io_context tmp;
        const auto lo = asio::ip::make_address("127.0.0.1");
        for (;;) {
            asio::ip::udp::socket s(tmp, UdpEndpoint(lo, 0));
            const auto port = s.local_endpoint().port();
            if (port == 65535) continue;
            boost::system::error_code ec, ec2;
            asio::ip::tcp::acceptor tcp(tmp), tls(tmp);
            tcp.open(asio::ip::tcp::v4());
            tls.open(asio::ip::tcp::v4());
            tcp.bind({lo, port}, ec);
            tls.bind({lo, static_cast<std::uint16_t>(port + 1)}, ec2);
            if (!ec && !ec2) return port;
        }
    };
    Fixture f(rc);
    namespace fs = std::filesystem;
    const fs::path dir =
        fs::temp_directory_path() / ("p2psip-baresip-" + std::to_string(::getpid()));
    fs::create_directories(dir);
    {
        std::ofstream cfg(dir / "config");
        cfg << "module_path\t/usr/lib/baresip/modules\n"
               "sip_listen\t127.0.0.1:"
            << free_port()
            << "\n"
               "module\tg711.so\n"
               "module_app\taccount.so\n"
               "audio_player\taufile,/dev/null\n"
               "audio_source\taufile,/dev/null\n";
        std::ofstream acc(dir / "accounts");
        acc << "<sip:alice@example.org>;auth_user=alice;auth_pass=secret-a;outbound=\"sip:"
               "127.0.0.1:"
            << f.ua.port() << "\";regint=600\n";
    }
    const std::string conf = dir.string();
    std::vector<std::string> args{"baresip", "-s", "-f", conf, "-t", "4"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
    const std::string log = (dir / "log").string();
    posix_spawn_file_actions_addopen(&fa, 1, log.c_str(), O_WRONLY | O_CREAT, 0600);
    posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
    pid_t pid = 0;
    ASSERT_EQ(posix_spawn(&pid, "/usr/bin/baresip", &fa, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&fa);
    int status = 0;
    bool reaped = false;
    const bool registered =
        run_until(f.io, [&] { return !f.registrar->registrations(kAlice.aor).empty(); });
    const auto regs = f.registrar->registrations(kAlice.aor);
    // -t 4: baresip quits by itself and removes its binding on the way out.
    const bool gone = run_until(f.io, [&] {
        if (!reaped) reaped = ::waitpid(pid, &status, WNOHANG) == pid;
        return reaped && f.registrar->registrations(kAlice.aor).empty();
    });
    if (!reaped) {
        ::kill(pid, SIGKILL);
        ::waitpid(pid, &status, 0);
    }
    const std::string output = read_file(log);
    fs::remove_all(dir);
    ASSERT_TRUE(registered) << output;
    ASSERT_EQ(regs.size(), 1u);
    EXPECT_EQ(regs[0].source.endpoint.address().to_string(), "127.0.0.1");
    EXPECT_EQ(regs[0].contact_uri.host, "127.0.0.1");
    EXPECT_GE(f.registrar->stats().challenges, 1u);
    EXPECT_EQ(f.registrar->stats().auth_failures, 0u);
    EXPECT_TRUE(gone) << output;
    ASSERT_GE(f.changes.size(), 2u);
    EXPECT_TRUE(f.changes.back().second.empty());
}
