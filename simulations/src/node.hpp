#pragma once
#include <opendht/network_utils.h>
#include <opendht/securedht.h>

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>

#include "p2psip/overlay/dht_access.hpp"
#include "p2psip/overlay/publisher.hpp"
#include "p2psip/overlay/routing_refresh.hpp"
#include "rng.hpp"
#include "simulator.hpp"
#include "sip_endpoint.hpp"

namespace p2psip::sim {

// One simulated peer. Its DhtAccess is what the phone's RunnerDht is in real life, so the
// overlay code on top (BindingPublisher, lookup) is the same code.
class Node final : public overlay::DhtAccess {
  public:
    Node(Simulator& sim, std::uint32_t index, const dht::crypto::Identity& identity);

    // DhtAccess
    void put_signed(const dht::InfoHash& key, std::shared_ptr<dht::Value> value,
                    std::function<void(bool)> done, bool permanent) override;
    void resync(const dht::InfoHash& key, std::function<void()> done) override;
    void put_numbered(const dht::InfoHash& key, std::shared_ptr<dht::Value> value,
                      std::function<void(bool)> done, bool permanent) override;
    void cancel_put(const dht::InfoHash& key, dht::Value::Id id) override;
    void get(const dht::InfoHash& key, std::function<bool(const Values&)> on_values,
             std::function<void(bool)> done) override;
    const dht::crypto::Identity& identity() const override { return identity_; }
    std::chrono::system_clock::time_point now() const override;
    TimerId call_after(std::chrono::milliseconds delay, std::function<void()> fn) override;
    void cancel(TimerId id) override;
    void search_progress(const dht::InfoHash& key,
                         std::function<void(std::optional<overlay::SearchProgress>)> done) override;
    // Dht::connectivityChanged(AF_INET), then runs what it scheduled.
    bool refresh_routing() override;
    std::optional<std::vector<dht::SockAddr>> good_contacts() const override;
    void ping(const dht::SockAddr& address, std::function<void(bool)> done) override;

    // A zero `node_id` lets OpenDHT draw one (a new id every session).
    void start_dht(std::uint64_t network_id, const dht::InfoHash& node_id);
    void stop_dht();
    void drive(const std::uint8_t* data, std::size_t size, const dht::SockAddr& from);

    std::string contact() const;
    SipEndpoint& sip() {
        if (!sip_endpoint) sip_endpoint = std::make_unique<SipEndpoint>(*this);
        return *sip_endpoint;
    }

    Simulator& sim;
    const std::uint32_t index;
    const std::uint32_t addr;  // IPv4, host order
    dht::SockAddr sockaddr;
    double x = 0, y = 0, access = 0;  // latency model
    bool nat = false;
    bool online = false, leaving = false;
    std::uint32_t session = 0;
    // The OpenDHT sequence number of this phone's last put, kept across sessions as the
    // phone keeps it on disk (PublishConfig::next_value_seq).
    std::uint16_t value_seq = 0;
    std::size_t online_pos = 0;  // position in Simulator::online_
    std::int64_t online_since = 0;
    std::int64_t published_at = -1;  // virtual ns, -1 while not published this session
    std::uint64_t wake_gen = 0;
    std::int64_t next_wake = INT64_MAX;
    std::string aor, instance_id;
    std::unique_ptr<dht::SecureDht> dht;
    std::shared_ptr<overlay::BindingPublisher> publisher;
    std::unique_ptr<overlay::RoutingRefresh> routing_refresh;    // workload.routing_refresh
    std::unique_ptr<SipEndpoint> sip_endpoint;                   // made at the first call in or out
    std::unordered_map<std::uint32_t, std::int64_t> nat_opened;  // peer addr -> last send
    std::uint32_t worker = 0;                                    // the thread that runs this node
    std::uint64_t event_seq = 0;  // events this node has caused: their order at equal times
    Rng rng;                      // link jitter and loss of what this node sends
    Rng rd;                       // std::random_device while this node runs

  private:
    const dht::crypto::Identity& identity_;
};

}  // namespace p2psip::sim
