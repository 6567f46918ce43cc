#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <utility>

#include "p2psip/overlay/dht_access.hpp"

namespace p2psip::overlay {

// The phone's default interval: measured in simulations.md ("Routing refresh").
inline constexpr std::chrono::seconds kDefaultRoutingRefresh{60};

// Calls DhtAccess::refresh_routing() every `interval` on the DHT's own timers, the same
// way in the phone (RunnerDht) and in the simulator. A zero interval does nothing.
// Destroying it or stop() ends the ticks; the DhtAccess must outlive it.
class RoutingRefresh {
  public:
    // `before_each`, if set, runs just before each refresh (e.g. to log the table's state).
    RoutingRefresh(DhtAccess& dht, std::chrono::milliseconds interval,
                   std::function<void()> before_each = {})
        : dht_(dht), interval_(interval), before_each_(std::move(before_each)) {}
    ~RoutingRefresh() { stop(); }
    RoutingRefresh(const RoutingRefresh&) = delete;
    RoutingRefresh& operator=(const RoutingRefresh&) = delete;

    // The first refresh comes one interval after start: a node that has just joined has
    // nothing to refresh yet. A DHT without refresh_routing() ends the ticks at the first.
    void start();
    void stop();
    bool running() const { return timer_ != 0; }
    std::uint64_t refreshes() const { return refreshes_; }

  private:
    void arm();

    DhtAccess& dht_;
    std::chrono::milliseconds interval_;
    std::function<void()> before_each_;
    DhtAccess::TimerId timer_ = 0;
    std::uint64_t refreshes_ = 0;
};

}  // namespace p2psip::overlay
