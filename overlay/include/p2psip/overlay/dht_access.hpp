#pragma once
#include <opendht/crypto.h>
#include <opendht/infohash.h>
#include <opendht/sockaddr.h>
#include <opendht/value.h>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>
#include <vector>

namespace p2psip::overlay {

// How far a get has got, from OpenDHT's search state: of the storage nodes closest to the
// key that the search knows now (at most 8, OpenDHT's TARGET_NODES; expired nodes
// skipped), how many have answered the latest get on the key in full.
struct SearchProgress {
    unsigned closest = 0;
    unsigned answered = 0;
};

// Reads OpenDHT 2.4's getSearchLog(key, AF_INET) text (Dht::dumpSearch: one line per
// search node, closest first). A node counts as answered when its get status is "updated
// since the latest get started" with no request pending. No node line (no search for the
// key yet): {0, 0}. nullopt for a node line in a layout this parser does not know.
std::optional<SearchProgress> parse_search_log(std::string_view log);

// The IPv4 addresses among OpenDHT's exported contacts (exportNodes()), in its order: what
// good_contacts() returns over a DhtRunner and over a bare Dht alike.
std::vector<dht::SockAddr> ipv4_addresses(const std::vector<dht::NodeExport>& nodes);

// Whether `value` carries a valid signature by `identity`'s key (put_numbered's test).
inline bool signed_by(const dht::Value& value, const dht::crypto::Identity& identity) {
    return value.owner && identity.second && value.owner->getId() == identity.second->getId() &&
           value.checkSignature();
}

// The slice of a secure DHT the overlay logic needs. The phone implements it over
// dht::DhtRunner (RunnerDht); the simulator over a bare dht::Dht in virtual time.
// Contract: every callback runs on the owner's single thread (the implementation
// marshals OpenDHT's thread callbacks), so overlay logic needs no locks.
class DhtAccess {
  public:
    using Values = std::vector<std::shared_ptr<dht::Value>>;
    using TimerId = std::uint64_t;

    virtual ~DhtAccess() = default;

    // Signs `value` with this node's key and stores it under `key`. A permanent put is
    // re-announced by OpenDHT to whichever nodes are closest to `key` as the overlay
    // changes, until cancel_put; a later put with the same value id replaces it.
    virtual void put_signed(const dht::InfoHash& key, std::shared_ptr<dht::Value> value,
                            std::function<void(bool ok)> done, bool permanent) = 0;
    // Like put_signed, but the value goes out with the OpenDHT sequence number it carries.
    // put_signed first gets the key to number the value above this owner's copies already
    // stored (SecureDht::putSigned): a whole lookup before every put. A caller that numbers
    // its own puts from a counter it keeps (BindingPublisher with
    // PublishConfig::next_value_seq) needs neither the get nor its traffic. A storage node
    // holding a copy with a higher number keeps that copy (protocol.md §3).
    // A value that already carries a valid signature by this node is not signed again: the
    // same value object can go under several keys for one signature (it must not change
    // after its first put). Implementations without it fall back to put_signed.
    virtual void put_numbered(const dht::InfoHash& key, std::shared_ptr<dht::Value> value,
                              std::function<void(bool ok)> done, bool permanent) {
        put_signed(key, std::move(value), std::move(done), permanent);
    }
    // Asks the nodes closest to `key` again, fetching no value (a get for value id 0, which
    // no value has: one round trip per node), then calls `done`. Their answers name the
    // nodes that have become closest since, and OpenDHT announces this node's puts under
    // `key` to the closest it knows. put_signed's get did that as a side effect; a publisher
    // using put_numbered calls this each round, and puts once it is done, or under churn its
    // records drift away from the closest nodes (simulations.md, sessions 11 and 12).
    // Where unsupported, `done` at once.
    virtual void resync(const dht::InfoHash& key, std::function<void()> done) {
        (void)key;
        if (done) done();
    }
    virtual void cancel_put(const dht::InfoHash& key, dht::Value::Id id) = 0;
    // Values whose signature failed are already dropped by SecureDht.
    virtual void get(const dht::InfoHash& key, std::function<bool(const Values&)> on_values,
                     std::function<void(bool ok)> done) = 0;
    virtual const dht::crypto::Identity& identity() const = 0;

    // Signs `value`, encrypts it to `to` and stores it under `key` (not permanent).
    // Implementations without it report failure.
    virtual void put_encrypted(const dht::InfoHash& key,
                               std::shared_ptr<const dht::crypto::PublicKey> to,
                               std::shared_ptr<dht::Value> value,
                               std::function<void(bool ok)> done) {
        (void)key, (void)to, (void)value;
        if (done) done(false);
    }
    // Calls on_values with the values stored under `key` now and as they arrive (values
    // encrypted to this node come decrypted, with their verified owner) until
    // cancel_listen. Returns 0 when unsupported.
    virtual std::uint64_t listen(const dht::InfoHash& key,
                                 std::function<void(const Values&)> on_values) {
        (void)key, (void)on_values;
        return 0;
    }
    virtual void cancel_listen(std::uint64_t token) { (void)token; }

    // Reports, through `done` on the owner's thread, the progress of the search for `key`
    // (SearchProgress; {0, 0} while there is none), or nullopt when unsupported (the
    // default). The report
    // comes after every value carried by the answers it counts has been passed to the
    // on_values of the get that asked for them: an answer is never counted before its
    // values are seen.
    virtual void search_progress(const dht::InfoHash& key,
                                 std::function<void(std::optional<SearchProgress>)> done) {
        (void)key;
        done(std::nullopt);
    }

    // Has the DHT check its whole routing table again (OpenDHT's connectivityChanged()):
    // every contact must answer anew to count as good, the dead ones expire, and every
    // bucket is searched for live nodes. OpenDHT alone keeps a contact good for ten
    // minutes after it last heard from it, so under churn its tables fill with departed
    // nodes and searches end short of the key (simulations.md, session 14). Returns false
    // when unsupported (the default).
    virtual bool refresh_routing() { return false; }
    // The addresses of the routing table's contacts that OpenDHT counts good (exportNodes:
    // the bucket holding this node's id first, then the others in order), or nullopt when
    // unsupported (the default).
    virtual std::optional<std::vector<dht::SockAddr>> good_contacts() const { return std::nullopt; }
    // Pings `address`; `done(true)` when it answered, `done(false)` when it could not be
    // sent (the default). OpenDHT 2.4 never calls back for a ping nobody answers, so a
    // caller keeps its own deadline (RoutingRefresh does).
    virtual void ping(const dht::SockAddr& address, std::function<void(bool)> done) {
        (void)address;
        if (done) done(false);
    }

    // Wall clock used for record expiry (virtual in the simulator).
    virtual std::chrono::system_clock::time_point now() const = 0;
    virtual TimerId call_after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
    virtual void cancel(TimerId id) = 0;
};

}  // namespace p2psip::overlay
