#include "p2psip/sip/registrar.hpp"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <random>

#include "p2psip/sip/digest.hpp"
#include "text.hpp"

namespace p2psip::sip {

namespace {

using Clock = std::chrono::steady_clock;

std::string to_hex(const unsigned char* p, std::size_t n) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string s;
    s.reserve(2 * n);
    for (std::size_t i = 0; i < n; ++i) {
        s += kHex[p[i] >> 4];
        s += kHex[p[i] & 15];
    }
    return s;
}

// Delta-seconds (RFC 3261 §25.1), saturated at 2^32-1; nullopt when not a number.
std::optional<uint64_t> parse_seconds(std::string_view v) {
    v = detail::trim(v);
    uint64_t n = 0;
    auto [p, ec] = std::from_chars(v.data(), v.data() + v.size(), n);
    if (ec == std::errc::result_out_of_range) return 0xffffffffu;
    if (ec != std::errc() || p != v.data() + v.size()) return std::nullopt;
    return std::min<uint64_t>(n, 0xffffffffu);
}

// Key of a contact URI for "the same binding" (RFC 3261 §10.3 step 7 compares URIs with
// §19.1.4 rules; host case does not matter, the rest is compared as written).
std::string uri_key(Uri u) {
    for (auto& c : u.host) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (auto& c : u.scheme) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return u.to_string();
}

std::string unquote(std::string v) {
    if (v.size() >= 2 && v.front() == '"' && v.back() == '"') return v.substr(1, v.size() - 2);
    return v;
}

// RFC 1123 date in GMT (RFC 3261 §20.17).
std::string http_date() {
    std::time_t t = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&t, &tm);
    static constexpr const char* kDay[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr const char* kMon[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                           "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    char buf[64];
    std::snprintf(buf, sizeof buf, "%s, %02d %s %04d %02d:%02d:%02d GMT", kDay[tm.tm_wday % 7],
                  tm.tm_mday, kMon[tm.tm_mon % 12], tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    return buf;
}

// What a binding set looks like to the outside (on_change fires when this differs).
std::vector<std::string> shape(const std::vector<Registration>& regs) {
    std::vector<std::string> s;
    for (const auto& r : regs) {
        s.push_back(r.contact + "|" + r.source.endpoint.address().to_string() + ":" +
                    std::to_string(r.source.endpoint.port()) + "|" +
                    std::string(to_string(r.source.transport)) + "|" + r.instance);
    }
    std::sort(s.begin(), s.end());
    return s;
}

enum class Auth { ok, challenge, stale, forbidden, blocked };

}  // namespace

struct Registrar::State : std::enable_shared_from_this<Registrar::State> {
    State(asio::io_context& io, RegistrarConfig cfg) : io(io), cfg(std::move(cfg)), timer(io) {
        if (gnutls_rnd(GNUTLS_RND_KEY, secret.data(), secret.size()) != 0) {
            // Should not happen; fall back to a less good but still unpredictable source.
            std::random_device rd;
            for (auto& b : secret) b = static_cast<unsigned char>(rd());
        }
        for (std::size_t i = 0; i < this->cfg.accounts.size(); ++i)
            by_aor[this->cfg.accounts[i].aor] = i;
    }

    struct Failures {
        unsigned count = 0;
        Clock::time_point window_start{};
        Clock::time_point blocked_until{};
    };

    asio::io_context& io;
    RegistrarConfig cfg;
    std::array<unsigned char, 32> secret{};
    std::map<std::string, std::size_t> by_aor;
    std::map<std::string, std::vector<Registration>> bindings;
    std::map<asio::ip::address, Failures> failures;
    asio::steady_timer timer;
    std::function<void(const std::string&, const std::vector<Registration>&)> on_change;
    Stats stats;

    const Account* account(const std::string& aor) const {
        auto it = by_aor.find(aor);
        return it == by_aor.end() ? nullptr : &cfg.accounts[it->second];
    }

    // ------------------------------------------------------------ nonces
    // Self-validating: hex(ms timestamp) + HMAC-SHA256(secret, timestamp:realm) truncated
    // to 128 bits. Nothing is stored per challenge (RFC 7616 §3.3 leaves the form open).
    std::string mac(std::string_view ts) const {
        std::string text = std::string(ts) + ":" + cfg.realm;
        std::array<unsigned char, 32> out{};
        if (gnutls_hmac_fast(GNUTLS_MAC_SHA256, secret.data(), secret.size(), text.data(),
                             text.size(), out.data()) < 0)
            return {};
        return to_hex(out.data(), 16);
    }
    std::string make_nonce() const {
        const auto ms =
            std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now().time_since_epoch())
                .count();
        char buf[17];
        std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(ms));
        return std::string(buf) + mac(buf);
    }
    enum class Nonce { invalid, fresh, stale };
    Nonce check_nonce(std::string_view n) const {
        if (n.size() != 48) return Nonce::invalid;
        const std::string expect = mac(n.substr(0, 16));
        if (expect.empty() || !detail::iequals(expect, n.substr(16))) return Nonce::invalid;
        unsigned long long ms = 0;
        auto [p, ec] = std::from_chars(n.data(), n.data() + 16, ms, 16);
        if (ec != std::errc() || p != n.data() + 16) return Nonce::invalid;
        const auto issued = Clock::time_point(std::chrono::milliseconds(ms));
        if (issued > Clock::now() || Clock::now() - issued > cfg.nonce_lifetime)
            return Nonce::stale;
        return Nonce::fresh;
    }

    // ------------------------------------------------------------ failures per IP
    bool is_blocked(const asio::ip::address& a) {
        auto it = failures.find(a);
        return it != failures.end() && it->second.blocked_until > Clock::now();
    }
    // Counts a failed attempt; true when the address is now blocked.
    bool fail(const asio::ip::address& a) {
        ++stats.auth_failures;
        const auto now = Clock::now();
        if (failures.size() > 4096) {
            for (auto it = failures.begin(); it != failures.end();)
                it = it->second.blocked_until < now &&
                             now - it->second.window_start > cfg.failure_window
                         ? failures.erase(it)
                         : std::next(it);
        }
        auto& f = failures[a];
        if (f.count == 0 || now - f.window_start > cfg.failure_window) {
            f.count = 0;
            f.window_start = now;
        }
        if (++f.count >= cfg.max_failures) {
            f.count = 0;
            f.blocked_until = now + cfg.block_time;
            return true;
        }
        return false;
    }

    // RFC 3261 §22.2 / §22.3: checks the Digest credentials of `req` (in `header`) for
    // the account of `aor`.
    Auth check(const Message& req, const Destination& src, std::string_view header,
               const std::string& aor, const Account*& acct) {
        const auto addr = src.endpoint.address();
        if (is_blocked(addr)) return Auth::blocked;
        std::optional<DigestCredentials> creds;
        for (auto v : req.headers(header)) {
            DigestCredentials c;
            if (!parse_credentials(v, c) && c.realm == cfg.realm) {
                creds = std::move(c);
                break;
            }
        }
        if (!creds) return Auth::challenge;  // §22.4: credentials for another realm ignored
        const Auth on_fail = Auth::challenge;
        acct = account(aor);
        // §10.3 step 4 / §22.3: the authenticated user must own the AOR.
        if (!acct || acct->username != creds->username)
            return fail(addr) ? Auth::blocked : Auth::forbidden;
        const Nonce n = check_nonce(creds->nonce);
        // RFC 7616 §3.4.6: the digest-uri must be the Request-URI.
        bool uri_ok = creds->uri == req.request_uri();
        if (!uri_ok) {
            Uri a, b;
            uri_ok = !parse_uri(creds->uri, a) && !parse_uri(req.request_uri(), b) &&
                     uri_key(a) == uri_key(b);
        }
        if (n == Nonce::invalid || !uri_ok ||
            !verify_credentials(*creds, req.method(), acct->password))
            return fail(addr) ? Auth::blocked : on_fail;
        if (n == Nonce::stale) return Auth::stale;  // right password, old nonce
        return Auth::ok;
    }

    ResponseSpec answer(Auth a, bool proxy) {
        ResponseSpec r;
        switch (a) {
            case Auth::blocked:
                ++stats.blocked;
                r.status = 403;
                r.reason = "Too many failed attempts";
                break;
            case Auth::forbidden:
                r.status = 403;
                r.reason = "Forbidden";
                break;
            default: {
                ++stats.challenges;
                r.status = proxy ? 407 : 401;
                // RFC 8760 §2.4: one challenge per algorithm, the preferred (SHA-256) first.
                DigestChallenge c;
                c.realm = cfg.realm;
                c.nonce = make_nonce();
                c.stale = a == Auth::stale;
                const char* name = proxy ? "Proxy-Authenticate" : "WWW-Authenticate";
                for (auto alg : cfg.algorithms) {
                    c.algorithm = alg;
                    r.headers.emplace_back(name, format_challenge(c));
                }
                break;
            }
        }
        return r;
    }

    // ------------------------------------------------------------ bindings
    void notify(const std::string& aor, const std::vector<Registration>& regs) {
        auto h = on_change;  // may replace itself
        if (h) h(aor, regs);
    }

    // Drops lapsed bindings (firing on_change) and re-arms the timer for the next one.
    void expire() {
        const auto now = Clock::now();
        std::vector<std::pair<std::string, std::vector<Registration>>> changed;
        for (auto it = bindings.begin(); it != bindings.end();) {
            auto& v = it->second;
            const auto before = v.size();
            std::erase_if(v, [&](const Registration& r) { return r.expires_at <= now; });
            if (v.size() != before) changed.emplace_back(it->first, v);
            it = v.empty() ? bindings.erase(it) : std::next(it);
        }
        arm();
        auto self = shared_from_this();
        for (const auto& [aor, regs] : changed) notify(aor, regs);
    }

    void arm() {
        std::optional<Clock::time_point> next;
        for (const auto& [aor, v] : bindings)
            for (const auto& r : v)
                if (!next || r.expires_at < *next) next = r.expires_at;
        timer.cancel();
        if (!next) return;
        timer.expires_at(*next);
        timer.async_wait([w = weak_from_this()](const boost::system::error_code& ec) {
            auto s = w.lock();
            if (!ec && s) s->expire();
        });
    }

    std::vector<Registration> current(const std::string& aor) const {
        std::vector<Registration> out;
        auto it = bindings.find(aor);
        if (it == bindings.end()) return out;
        const auto now = Clock::now();
        for (const auto& r : it->second)
            if (r.expires_at > now) out.push_back(r);
        return out;
    }

    // 200 OK to a REGISTER: every current binding with its remaining time (§10.3 step 8).
    ResponseSpec ok(const std::string& aor) const {
        ResponseSpec r;
        r.status = 200;
        const auto now = Clock::now();
        for (const auto& b : current(aor)) {
            const auto left = std::chrono::ceil<std::chrono::seconds>(b.expires_at - now).count();
            std::string v = "<" + b.contact + ">;expires=" + std::to_string(left);
            if (!b.instance.empty()) v += ";+sip.instance=\"" + b.instance + "\"";
            r.headers.emplace_back("Contact", std::move(v));
        }
        r.headers.emplace_back("Date", http_date());
        return r;
    }

    void on_register(const Message& req, const Destination& src,
                     const std::function<void(ResponseSpec)>& respond);
};

void Registrar::State::on_register(const Message& req, const Destination& src,
                                   const std::function<void(ResponseSpec)>& respond) {
    ++stats.registers;
    expire();  // lapsed bindings are gone before this request is looked at
    auto fail_with = [&](int code, std::string reason) {
        ResponseSpec r;
        r.status = code;
        r.reason = std::move(reason);
        respond(std::move(r));
    };
    // §10.3 step 4-5: the To header field holds the AOR being registered.
    const NameAddr to = req.to();
    const std::string aor = canonical_aor(to.uri);
    const Account* acct = nullptr;
    const Auth a = check(req, src, "Authorization", aor, acct);
    if (a != Auth::ok) {
        respond(answer(a, false));
        return;
    }

    // Expiration per contact: its expires param, else Expires, else the default (§10.3
    // step 7).
    std::optional<uint64_t> header_expires;
    if (auto e = req.header("Expires")) {
        header_expires = parse_seconds(*e);
        if (!header_expires) return fail_with(400, "Bad Expires");
    }
    const auto contacts = req.headers("Contact");
    if (contacts.empty()) {  // §10.3 step 8 (query): the current bindings
        respond(ok(aor));
        return;
    }

    auto old = current(aor);
    auto next = old;
    const auto now = Clock::now();
    // §10.3 step 6: "*" removes every binding; only alone and with Expires: 0.
    bool star = false;
    for (auto c : contacts) star = star || detail::trim(c) == "*";
    if (star) {
        if (contacts.size() != 1 || header_expires != 0u)
            return fail_with(400, "Invalid wildcard Contact");
        // A binding made by this Call-ID with a higher or equal CSeq stays (step 6).
        std::erase_if(next, [&](const Registration& r) {
            return r.call_id != req.call_id() || req.cseq().number > r.cseq;
        });
    } else {
        struct Wanted {
            NameAddr na;
            uint64_t expires;
            std::string instance;
        };
        std::vector<Wanted> wanted;
        for (auto c : contacts) {
            Wanted w;
            if (parse_name_addr(c, w.na) || !w.na.uri.is_sip())
                return fail_with(400, "Bad Contact");
            std::optional<uint64_t> e = header_expires;
            if (auto p = w.na.param("expires")) {
                e = parse_seconds(*p);
                if (!e) return fail_with(400, "Bad Contact expires");
            }
            w.expires = e.value_or(static_cast<uint64_t>(cfg.default_expires.count()));
            // §10.3 step 7: a non-zero expiration below the minimum gets 423.
            if (w.expires != 0 && w.expires < static_cast<uint64_t>(cfg.min_expires.count())) {
                ResponseSpec r;
                r.status = 423;
                r.reason = "Interval Too Brief";
                r.headers.emplace_back("Min-Expires", std::to_string(cfg.min_expires.count()));
                respond(std::move(r));
                return;
            }
            w.expires = std::min<uint64_t>(w.expires, cfg.max_expires.count());
            if (auto i = w.na.param("+sip.instance")) w.instance = unquote(*i);
            wanted.push_back(std::move(w));
        }
        // §10.3 step 7, applied to a copy: committed only if every contact succeeds (step 8).
        for (auto& w : wanted) {
            const std::string key = uri_key(w.na.uri);
            auto it = std::find_if(next.begin(), next.end(), [&](const Registration& r) {
                return (!w.instance.empty() && r.instance == w.instance) ||
                       uri_key(r.contact_uri) == key;
            });
            if (it != next.end() && it->call_id == req.call_id() && req.cseq().number <= it->cseq)
                return fail_with(500, "Out of order");  // an older or repeated REGISTER
            if (w.expires == 0) {
                if (it != next.end()) next.erase(it);
                continue;
            }
            Registration r;
            r.contact_uri = w.na.uri;
            r.contact = w.na.uri.to_string();
            r.source = src;
            r.call_id = std::string(req.call_id());
            r.cseq = req.cseq().number;
            r.instance = w.instance;
            r.expires_at = now + std::chrono::seconds(w.expires);
            if (it != next.end()) {
                *it = std::move(r);
            } else {
                next.push_back(std::move(r));
            }
        }
        if (next.size() > cfg.max_contacts_per_aor) return fail_with(403, "Too many contacts");
    }
    const bool changed = shape(old) != shape(next);
    if (next.empty()) {
        bindings.erase(aor);
    } else {
        bindings[aor] = next;
    }
    arm();
    respond(ok(aor));
    auto self = shared_from_this();
    if (changed) notify(aor, next);
}

// ================================================================ Registrar

Registrar::Registrar(asio::io_context& io, UserAgent& ua, RegistrarConfig config)
    : ua_(ua), state_(std::make_shared<State>(io, std::move(config))) {
    std::weak_ptr<State> w = state_;
    ua_.on_request("REGISTER", [w](const Message& req, const Destination& src,
                                   std::function<void(ResponseSpec)> respond) {
        if (auto s = w.lock()) {
            s->on_register(req, src, respond);
        } else {
            ResponseSpec r;
            r.status = 503;
            respond(std::move(r));
        }
    });
}

Registrar::~Registrar() {
    ua_.on_request("REGISTER", nullptr);
    state_->timer.cancel();
    state_->on_change = nullptr;
}

std::vector<Registration> Registrar::registrations(const std::string& aor) const {
    return state_->current(aor);
}

const Account* Registrar::account_for(const std::string& aor) const {
    return state_->account(aor);
}

void Registrar::on_change(
    std::function<void(const std::string& aor, const std::vector<Registration>& contacts)>
        handler) {
    state_->on_change = std::move(handler);
}

const Account* Registrar::authenticate(const Message& request, const Destination& source,
                                       ResponseSpec& challenge) {
    const std::string aor = canonical_aor(request.from().uri);
    const Account* acct = nullptr;
    const Auth a = state_->check(request, source, "Proxy-Authorization", aor, acct);
    if (a == Auth::ok) return acct;
    challenge = state_->answer(a, true);
    return nullptr;
}

Registrar::Stats Registrar::stats() const {
    return state_->stats;
}

}  // namespace p2psip::sip
