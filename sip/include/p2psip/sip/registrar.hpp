#pragma once

#include <utility>  // before Boost.Asio (project convention)

#include <boost/asio.hpp>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "p2psip/sip/digest.hpp"
#include "p2psip/sip/message.hpp"
#include "p2psip/sip/transport.hpp"
#include "p2psip/sip/ua.hpp"
#include "p2psip/sip/uri.hpp"

namespace p2psip::sip {

// A SIP phone allowed to register: its AOR (canonical, e.g. sip:alice@example.org, see
// canonical_aor()) and the Digest username / password it authenticates with.
struct Account {
    std::string aor;
    std::string username;
    std::string password;
};

struct RegistrarConfig {
    std::string realm = "p2psip";
    std::vector<Account> accounts;
    // RFC 3261 §10.3 step 7: shorter requested expirations get 423 + Min-Expires, longer
    // ones are cut to max_expires; no Expires at all means default_expires.
    std::chrono::seconds min_expires{60}, max_expires{3600}, default_expires{3600};
    std::chrono::seconds nonce_lifetime{300};  // older nonces are answered stale=true
    // One challenge per algorithm, in this order (RFC 8760 §2.4: the preferred first).
    // Some phones give up on a challenge list naming an algorithm they lack instead of
    // skipping it (baresip 1.0 / libre: "Function not implemented" on SHA-256): {md5}
    // serves them. Credentials of either algorithm are accepted whatever the list.
    std::vector<DigestAlgorithm> algorithms{DigestAlgorithm::sha256, DigestAlgorithm::md5};
    unsigned max_failures = 5;                // failed auth attempts per source IP ...
    std::chrono::seconds failure_window{60};  // ... within this window, then:
    std::chrono::seconds block_time{300};     // requests from that IP get 403 this long
    std::size_t max_contacts_per_aor = 10;    // more -> 403 "Too many contacts"
};

// One binding of an AOR to a contact (RFC 3261 §10).
struct Registration {
    std::string contact;  // the Contact URI as registered (string)
    Uri contact_uri;
    Destination source;  // where the REGISTER came from (for NAT'd phones: send there)
    std::string call_id;
    uint32_t cseq = 0;
    std::string instance;  // +sip.instance (RFC 5626) if present, quotes removed
    std::chrono::steady_clock::time_point expires_at;
};

// Registrar (RFC 3261 §10.3) with Digest authentication (§22, RFC 8760) for the accounts
// of its configuration, on a UserAgent's REGISTER hook. Knows nothing of the DHT: the
// node watches on_change(). Only configured AORs can ever be bound. All calls and
// callbacks on the io_context thread; the UserAgent must outlive the Registrar.
//
// REGISTER handling, in order:
//   source IP blocked                        -> 403 "Too many failed attempts"
//   no credentials for our realm             -> 401, WWW-Authenticate SHA-256 then MD5
//   stale nonce (right password)             -> 401 with stale=true
//   To AOR not an account / other username   -> 403 (a failure of that IP)
//   wrong password or forged nonce           -> 401 again (a failure of that IP); the
//                                               max_failures-th failure in failure_window
//                                               -> 403 and the IP is blocked block_time
//   Contact: * with Expires: 0               -> all bindings removed (§10.3 step 6);
//                                               * with other contacts or Expires != 0: 400
//   expiration below min_expires             -> 423 + Min-Expires, nothing changed
//   same Call-ID, CSeq not higher            -> 500 "Out of order", nothing changed (step 7)
//   no Contact                               -> query: 200 with the current bindings
//   otherwise bindings added/refreshed/removed (all or nothing, step 8) -> 200 listing
//   every current binding with its expires param (+ Date).
// A binding is identified by its +sip.instance when it has one, else by its URI.
class Registrar {
  public:
    Registrar(asio::io_context& io, UserAgent& ua, RegistrarConfig config);
    ~Registrar();  // removes the REGISTER hook, cancels the timers
    Registrar(const Registrar&) = delete;
    Registrar& operator=(const Registrar&) = delete;

    // Current, unexpired registrations of an AOR (canonical AOR string).
    std::vector<Registration> registrations(const std::string& aor) const;
    // The account of a canonical AOR, nullptr if none. Valid until the Registrar dies.
    const Account* account_for(const std::string& aor) const;
    // Called whenever the set of contacts of an AOR changes: added, refreshed with a
    // change (other source, URI or instance), removed, expired. `contacts` is the new set
    // (may be empty). Not called for a plain refresh.
    void on_change(
        std::function<void(const std::string& aor, const std::vector<Registration>& contacts)>
            handler);
    // Authentication of any other request from a phone (INVITE, MESSAGE...) by its
    // Proxy-Authorization (RFC 3261 §22.3). Returns the Account whose AOR equals the
    // request's From AOR; else nullptr with `challenge` filled: 407 with Proxy-Authenticate
    // for SHA-256 and MD5 (stale=true on an expired nonce), or 403 when the IP is blocked
    // or the credentials' user does not own the From AOR. Failures count towards the
    // source IP's block like for REGISTER.
    const Account* authenticate(const Message& request, const Destination& source,
                                ResponseSpec& challenge);

    struct Stats {
        uint64_t registers = 0;      // REGISTER requests handled
        uint64_t challenges = 0;     // 401/407 sent (incl. stale)
        uint64_t auth_failures = 0;  // wrong password / user, forged nonce
        uint64_t blocked = 0;        // requests refused because their IP was blocked
    };
    Stats stats() const;

    struct State;

  private:
    UserAgent& ua_;
    std::shared_ptr<State> state_;
};

}  // namespace p2psip::sip
