#pragma once
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "p2psip/overlay/dht_access.hpp"
#include "p2psip/overlay/keys.hpp"

namespace p2psip::overlay {

struct PublishConfig {
    std::string aor;                    // canonical
    std::vector<std::string> contacts;  // SIP URIs of this instance
    std::string instance_id;            // 16 bytes, see load_or_create_instance_id
    std::chrono::seconds ttl{600};      // record lifetime; refreshed at ttl/2
    bool inbox = false;                 // this instance listens on its DHT inbox (Inbox)
    // Keys the records go under: aor_key(aor, 0 .. replicas-1) (protocol.md §3). Only the
    // first key's puts decide success; the others are best effort.
    unsigned replicas = aor_replicas;
    // The OpenDHT sequence number (dht::Value::seq) for each publish or withdrawal, called
    // once per put round. Storage nodes keep a record they hold unless the new copy has a
    // higher one (SecureDht's edit policy), and the announcer then only refreshes the old
    // copy; so a restarted instance must continue its previous run's sequence. Give a
    // counter kept on disk (the phone) or across sessions (the simulator); unset, every run
    // starts at 0 and relies on SecureDht::putSigned finding its previous copies, which under
    // churn it often does not (protocol.md §3, "Sequence numbers").
    std::function<std::uint16_t()> next_value_seq = {};
    // true (the default): OpenDHT permanent puts, which OpenDHT itself keeps announced to
    // the key's closest nodes as they change, through a search per key kept busy for good.
    // false: plain puts, which only this publisher's refreshes keep alive and follow: it
    // refreshes at least every storage_lifetime / 2, and soon after its start. Less memory
    // in a steady overlay, fewer lookups answered under churn (protocol.md §3, "Plain puts").
    bool permanent = true;
    // How long a storage node keeps a value: OpenDHT's default value type, 10 minutes.
    std::chrono::seconds storage_lifetime{600};
    // With plain puts, the delay to the first refresh; each next one doubles it, up to the
    // regular interval.
    std::chrono::milliseconds first_refresh{30'000};
};

// Holds an AOR in the DHT while it lives: checks the name is not held by another key,
// puts the claim and this instance's binding, and refreshes both before they expire.
class BindingPublisher : public std::enable_shared_from_this<BindingPublisher> {
  public:
    static std::shared_ptr<BindingPublisher> create(DhtAccess& dht, PublishConfig config);
    ~BindingPublisher();

    // `done` gets {} once claim and binding are stored, errc::name_taken if another key
    // holds the AOR, errc::dht_failure if no node accepted the put.
    void start(std::function<void(std::error_code)> done);
    void set_contacts(std::vector<std::string> contacts);  // republishes now
    // Replaces the binding by a withdrawn one (no contacts, already expired) and stops
    // refreshing; the claim is left to expire so a restart keeps the name.
    void withdraw(std::function<void()> done);
    std::uint64_t seq() const { return seq_; }
    std::size_t refreshes() const { return refreshes_; }

  private:
    BindingPublisher(DhtAccess& dht, PublishConfig config);
    void publish(std::function<void(std::error_code)> done);
    void schedule_refresh();
    std::uint64_t next_seq();
    std::uint16_t next_value_seq();
    // put_numbered when the config gives a counter, put_signed (which numbers) otherwise.
    void put(const dht::InfoHash& key, std::shared_ptr<dht::Value> value,
             std::function<void(bool)> done, bool permanent);

    DhtAccess& dht_;
    PublishConfig config_;
    std::uint64_t seq_ = 0;
    std::uint16_t value_seq_ = 0;  // without PublishConfig::next_value_seq
    std::uint16_t last_value_seq_ = 0;  // highest OpenDHT number used or seen on our copies
    std::uint64_t claim_created_ = 0;
    std::size_t refreshes_ = 0;
    DhtAccess::TimerId refresh_timer_ = 0;
    bool stopped_ = false;
};

}  // namespace p2psip::overlay
