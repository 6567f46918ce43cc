#include "node.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <opendht/dht.h>

namespace p2psip::sim {

namespace {

constexpr std::uint32_t address_base = 0x0B000001;  // 11.0.0.1: OpenDHT refuses 0.x and >= 224.x
constexpr in_port_t dht_port = 4222;

dht::SockAddr make_sockaddr(std::uint32_t addr) {
    sockaddr_in sin{};
    sin.sin_family = AF_INET;
    sin.sin_port = htons(dht_port);
    sin.sin_addr.s_addr = htonl(addr);
    return dht::SockAddr(reinterpret_cast<const ::sockaddr*>(&sin), sizeof(sin));
}

// The in-memory socket OpenDHT talks through: sendTo hands the datagram to the simulator.
class SimSocket final : public dht::net::DatagramSocket {
  public:
    explicit SimSocket(Node& node) : node_(node), bound_(node.sockaddr) {}
    int sendTo(const dht::SockAddr& dest, const uint8_t* data, size_t size, bool) override {
        node_.sim.send(node_, dest, data, size);
        return 0;
    }
    bool hasIPv4() const override { return true; }
    bool hasIPv6() const override { return false; }
    const dht::SockAddr& getBoundRef(sa_family_t family) const override {
        return family == AF_INET6 ? none_ : bound_;
    }
    void stop() override {}

  private:
    Node& node_;
    dht::SockAddr bound_, none_;
};

}  // namespace

Node::Node(Simulator& s, std::uint32_t i, const dht::crypto::Identity& identity)
    : sim(s),
      index(i),
      addr(address_base + i),
      sockaddr(make_sockaddr(address_base + i)),
      identity_(identity) {}

std::string Node::contact() const {
    // The session number makes a stale binding from an earlier session detectable.
    return fmt::format("sip:user{}@{}.{}.{}.{}:5060;sim-session={}", index, addr >> 24,
                       (addr >> 16) & 255, (addr >> 8) & 255, addr & 255, session);
}

void Node::start_dht(std::uint64_t network_id, const dht::InfoHash& node_id) {
    dht::SecureDhtConfig cfg;
    cfg.node_config.network = static_cast<dht::NetId>(network_id);
    cfg.node_config.node_id = node_id;
    cfg.id = identity_;
    // No per-peer request limiter: OpenDHT keeps one (a std::deque) for every address that
    // sent it a request in the last second, ~45 KiB per simulated node, and no simulated
    // peer comes near its 200 requests/s, so it never drops anything here. The node-wide
    // limit (1,600 requests/s) stays.
    cfg.node_config.max_peer_req_per_sec = -1;
    auto raw = std::make_unique<dht::Dht>(std::make_unique<SimSocket>(*this), cfg.node_config,
                                          std::shared_ptr<dht::Logger>());
    dht = std::make_unique<dht::SecureDht>(std::move(raw), cfg, dht::IdentityAnnouncedCb{},
                                           std::shared_ptr<dht::Logger>());
}

void Node::stop_dht() {
    dht.reset();
    ++wake_gen;
    next_wake = INT64_MAX;
}

bool Node::refresh_routing() {
    if (!dht) return false;
    dht->connectivityChanged(AF_INET);
    drive(nullptr, 0, {});
    return true;
}

std::optional<std::vector<dht::SockAddr>> Node::good_contacts() const {
    if (!dht) return std::nullopt;
    return overlay::ipv4_addresses(dht->exportNodes());
}

void Node::ping(const dht::SockAddr& address, std::function<void(bool)> done) {
    if (!dht) {
        call_after(std::chrono::milliseconds(0), [done] { done(false); });
        return;
    }
    dht->pingNode(address, [done = std::move(done)](bool ok) {
        if (done) done(ok);
    });
    sim.schedule_wake(*this, sim.now_ns());
}

void Node::drive(const std::uint8_t* data, std::size_t size, const dht::SockAddr& from) {
    if (!dht) return;
    const auto now_tp = std::chrono::steady_clock::now();
    const auto next = data ? dht->periodic(data, size, from, now_tp)
                           : dht->periodic(nullptr, 0, dht::SockAddr(), now_tp);
    if (!dht) return;  // a callback inside periodic took the node offline
    if (!data) dht->updateStatus(AF_INET);
    const auto next_ns =
        next == dht::time_point::max()
            ? INT64_MAX
            : std::chrono::duration_cast<std::chrono::nanoseconds>(next.time_since_epoch()).count();
    sim.schedule_wake(*this, next_ns);
}

void Node::cancel_put(const dht::InfoHash& key, dht::Value::Id id) {
    if (dht) dht->cancelPut(key, id);
    // OpenDHT schedules the work for "now"; DhtRunner would wake its loop, so do we.
    sim.schedule_wake(*this, sim.now_ns());
}

void Node::put_signed(const dht::InfoHash& key, std::shared_ptr<dht::Value> value,
                      std::function<void(bool)> done, bool permanent) {
    if (!dht) {
        call_after(std::chrono::milliseconds(0), [done] { done(false); });
        return;
    }
    dht->putSigned(
        key, std::move(value),
        dht::DoneCallback([done](bool ok, const std::vector<std::shared_ptr<dht::Node>>&) {
            if (done) done(ok);
        }),
        permanent);
    sim.schedule_wake(*this, sim.now_ns());
}

void Node::put_numbered(const dht::InfoHash& key, std::shared_ptr<dht::Value> value,
                        std::function<void(bool)> done, bool permanent) {
    bool signed_ok = dht != nullptr;
    try {  // OpenDHT throws on crypto failures
        if (signed_ok && !overlay::signed_by(*value, identity_)) dht->sign(*value);
    } catch (const std::exception&) {
        signed_ok = false;
    }
    if (!signed_ok) {
        call_after(std::chrono::milliseconds(0), [done] {
            if (done) done(false);
        });
        return;
    }
    dht->put(key, std::move(value),
             dht::DoneCallback([done](bool ok, const std::vector<std::shared_ptr<dht::Node>>&) {
                 if (done) done(ok);
             }),
             dht::time_point::max(), permanent);
    sim.schedule_wake(*this, sim.now_ns());
}

void Node::resync(const dht::InfoHash& key, std::function<void()> done) {
    if (!dht) {
        if (done) call_after(std::chrono::milliseconds(0), std::move(done));
        return;
    }
    dht->get(
        key, [](const std::vector<std::shared_ptr<dht::Value>>&) { return true; },
        [done = std::move(done)](bool) {
            if (done) done();
        },
        {}, dht::Where().id(dht::Value::INVALID_ID));
    sim.schedule_wake(*this, sim.now_ns());
}

void Node::get(const dht::InfoHash& key, std::function<bool(const Values&)> on_values,
               std::function<void(bool)> done) {
    if (!dht) {
        call_after(std::chrono::milliseconds(0), [done] { done(false); });
        return;
    }
    dht->get(
        key,
        [on_values](const std::vector<std::shared_ptr<dht::Value>>& v) { return on_values(v); },
        [done](bool ok) {
            if (done) done(ok);
        });
    sim.schedule_wake(*this, sim.now_ns());
}

void Node::search_progress(const dht::InfoHash& key,
                           std::function<void(std::optional<overlay::SearchProgress>)> done) {
    // Synchronous: values reach the get's callback inside the same periodic() that
    // updates the search, so everything the log counts has been delivered already.
    done(dht ? overlay::parse_search_log(dht->getSearchLog(key, AF_INET)) : std::nullopt);
}

std::chrono::system_clock::time_point Node::now() const {
    return std::chrono::system_clock::now();
}

overlay::DhtAccess::TimerId Node::call_after(std::chrono::milliseconds delay,
                                             std::function<void()> fn) {
    return sim.add_timer(*this, std::chrono::nanoseconds(delay).count(), std::move(fn));
}

void Node::cancel(TimerId id) {
    sim.cancel_timer(*this, id);
}

}  // namespace p2psip::sim
