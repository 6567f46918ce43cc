#pragma once
#include <opendht/crypto.h>
#include <opendht/infohash.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <system_error>

#include "p2psip/overlay/dht_access.hpp"

namespace p2psip::overlay {

// One SIP message that came through the DHT, already decrypted and signature-checked.
struct Signal {
    dht::InfoHash key;          // the rendezvous key it was put under (answer there)
    std::string from_instance;  // sender's instance id
    std::string from_contact;   // "IP:PORT" the sender says its SIP socket is reachable at
    std::string lan_contact;    // "IP:PORT" of that socket itself (same as above without NAT)
    std::uint64_t sent_ms = 0;  // sender's clock, unix ms
    std::string sip;            // the SIP message bytes
    std::shared_ptr<const dht::crypto::PublicKey> sender;  // verified signer
};

struct InboxStats {
    std::uint64_t sent = 0, send_failed = 0;
    std::uint64_t received = 0;   // accepted and delivered
    std::uint64_t stale = 0;      // older than kMaxAgeMs (e.g. left over from a previous run)
    std::uint64_t duplicate = 0;  // same value seen twice
    std::uint64_t invalid = 0;    // not a signed Signal readable by us (e.g. for someone else)
};

// SIP carried through the DHT (docs/protocol.md §5). A dialog's messages, both ways, are
// put under the callee's AOR key, encrypted to the recipient: both ends already have a
// DHT search on that key (the callee publishes there, the caller just looked it up), so
// a put reaches the storing nodes in one round trip and they notify the listeners at
// once. It is how a request reaches a node whose NAT drops unsolicited datagrams.
class Inbox : public std::enable_shared_from_this<Inbox> {
  public:
    // Signals older than this (by the sender's clock) are ignored: a SIP transaction is
    // over after 64*T1 = 32 s (RFC 3261 §17.1.1.2); allow some clock skew on top.
    static constexpr std::uint64_t kMaxAgeMs = 40'000;
    // Signals sent more than this before we started listening on their key are leftovers
    // of earlier dialogs (a listen first returns what the key holds): allowed clock skew.
    static constexpr std::uint64_t kSkewMs = 2'000;

    static std::shared_ptr<Inbox> create(DhtAccess& dht, std::string instance_id);
    ~Inbox();

    void on_signal(std::function<void(const Signal&)> handler) { on_signal_ = std::move(handler); }
    // Starts taking signals put under `key`; errc::dht_failure if the DHT cannot listen.
    // Idempotent per key.
    std::error_code listen(const dht::InfoHash& key);
    void unlisten(const dht::InfoHash& key);
    bool listening(const dht::InfoHash& key) const { return listens_.count(key) > 0; }
    void stop();  // all keys
    const std::string& instance_id() const { return instance_id_; }

    // Puts `sip` under `key`, readable by `to` only. `done` (optional) gets whether a DHT
    // node stored it.
    void send(const dht::InfoHash& key, std::shared_ptr<const dht::crypto::PublicKey> to,
              const std::string& from_contact, const std::string& lan_contact, std::string sip,
              std::function<void(bool)> done = {});

    const InboxStats& stats() const { return stats_; }

  private:
    Inbox(DhtAccess& dht, std::string instance_id);
    void on_values(const dht::InfoHash& key, const DhtAccess::Values& values);

    DhtAccess& dht_;
    std::string instance_id_;
    struct Listening {
        std::uint64_t token = 0;
        std::uint64_t since_ms = 0;  // when we started: older signals are leftovers
    };
    std::map<dht::InfoHash, Listening> listens_;
    std::function<void(const Signal&)> on_signal_;
    std::set<std::uint64_t> seen_;          // value ids already handled
    std::deque<std::uint64_t> seen_order_;  // oldest first, to bound seen_
    InboxStats stats_;
};

}  // namespace p2psip::overlay
