#pragma once
#include <opendht/crypto.h>
#include <opendht/infohash.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <system_error>

#include "p2psip/overlay/dht_access.hpp"

namespace p2psip::overlay {

// One SIP message that came through the DHT, already decrypted and signature-checked.
struct Signal {
    std::string from_instance;  // sender's instance id
    std::string from_contact;   // "IP:PORT" the sender says its SIP socket is reachable at
    std::uint64_t sent_ms = 0;  // sender's clock, unix ms
    std::string sip;            // the SIP message bytes
    std::shared_ptr<const dht::crypto::PublicKey> sender;  // verified signer
};

struct InboxStats {
    std::uint64_t sent = 0, send_failed = 0;
    std::uint64_t received = 0;   // accepted and delivered
    std::uint64_t stale = 0;      // older than max_age (e.g. left over from a previous run)
    std::uint64_t duplicate = 0;  // same value seen twice
    std::uint64_t invalid = 0;    // not a signed, decrypted Signal
};

// An instance's mailbox in the DHT (docs/protocol.md §5): others put SIP messages
// encrypted to our key at inbox_key(our key, our instance); we listen there. It is how a
// request reaches a node whose NAT drops unsolicited datagrams.
class Inbox : public std::enable_shared_from_this<Inbox> {
  public:
    // Signals older than this (by the sender's clock) are ignored: a SIP transaction is
    // over after 64*T1 = 32 s (RFC 3261 §17.1.1.2); allow some clock skew on top.
    static constexpr std::uint64_t kMaxAgeMs = 40'000;

    static std::shared_ptr<Inbox> create(DhtAccess& dht, std::string instance_id);
    ~Inbox();

    // Starts listening; errc::dht_failure if the DHT cannot listen.
    std::error_code start(std::function<void(const Signal&)> on_signal);
    void stop();
    dht::InfoHash key() const { return key_; }
    const std::string& instance_id() const { return instance_id_; }

    // Puts `sip` into the inbox of (to, to_instance). `done` (optional) gets whether a
    // DHT node stored it.
    void send(std::shared_ptr<const dht::crypto::PublicKey> to, const std::string& to_instance,
              const std::string& from_contact, std::string sip,
              std::function<void(bool)> done = {});

    const InboxStats& stats() const { return stats_; }

  private:
    Inbox(DhtAccess& dht, std::string instance_id);
    void on_values(const DhtAccess::Values& values);

    DhtAccess& dht_;
    std::string instance_id_;
    dht::InfoHash key_;
    std::uint64_t listen_token_ = 0;
    std::function<void(const Signal&)> on_signal_;
    std::set<std::uint64_t> seen_;       // value ids already handled
    std::deque<std::uint64_t> seen_order_;  // oldest first, to bound seen_
    InboxStats stats_;
};

}  // namespace p2psip::overlay
