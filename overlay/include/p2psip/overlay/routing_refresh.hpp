#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <utility>

#include "p2psip/overlay/dht_access.hpp"

namespace p2psip::overlay {

// The phone's defaults, measured in simulations.md ("Routing refresh", sessions 15 and 16).
inline constexpr std::chrono::seconds kDefaultRoutingRefresh{60};
// How many good contacts each check pings.
inline constexpr unsigned kDefaultRoutingProbes = 8;
// A probe not answered by then counts as a departed contact (OpenDHT tries three times).
inline constexpr std::chrono::seconds kRoutingProbeDeadline{10};
// A refresh at least this often, even when every probe answers: OpenDHT's own period for
// a bucket it has not heard from (Dht::bucketMaintenance).
inline constexpr std::chrono::seconds kDefaultRoutingRefreshMax{600};

struct RoutingRefreshOptions {
    std::chrono::milliseconds interval = kDefaultRoutingRefresh;  // 0: never
    // Contacts pinged per check; 0 refreshes at every check without asking.
    unsigned probes = kDefaultRoutingProbes;
    std::chrono::milliseconds max_interval = kDefaultRoutingRefreshMax;
};

// Has the DHT recheck its whole routing table (DhtAccess::refresh_routing(), OpenDHT's
// connectivityChanged()) when its contacts are dying, on the DHT's own timers, the same way
// in the phone (RunnerDht) and in the simulator.
//
// OpenDHT counts a contact good for ten minutes after it last heard from it and does not
// ask it again meanwhile, so under churn its table fills with departed nodes that still
// count as good, and searches end short of the key (simulations.md, session 14). Nothing
// in the table shows which have gone without asking them, and asking all of them (the
// refresh) costs a datagram and its answer per contact. So every `interval` this pings a
// few good contacts, taken in turn through the table, and refreshes only when one of them
// does not answer, or when `max_interval` has passed since the last refresh. A steady
// overlay is spared nearly all the refreshes; a churning one refreshes about as often as
// every interval. A DHT that cannot list its contacts is refreshed every interval.
// Destroying it or stop() ends the checks; the DhtAccess must outlive it.
class RoutingRefresh {
  public:
    // `before_each`, if set, runs just before each refresh (e.g. to log the table's state).
    RoutingRefresh(DhtAccess& dht, RoutingRefreshOptions options,
                   std::function<void()> before_each = {})
        : dht_(dht), options_(options), before_each_(std::move(before_each)) {}
    ~RoutingRefresh() { stop(); }
    RoutingRefresh(const RoutingRefresh&) = delete;
    RoutingRefresh& operator=(const RoutingRefresh&) = delete;

    // The first check comes one interval after start: a node that has just joined has
    // nothing to refresh yet. A DHT without refresh_routing() ends the checks at the first
    // refresh.
    void start();
    void stop();
    bool running() const { return timer_ != 0 || deadline_ != 0; }
    std::uint64_t checks() const { return checks_; }
    std::uint64_t refreshes() const { return refreshes_; }
    std::uint64_t probes_sent() const { return probes_sent_; }

  private:
    void arm();
    void check();
    void refresh();  // false from refresh_routing() stops the checks

    DhtAccess& dht_;
    RoutingRefreshOptions options_;
    std::function<void()> before_each_;
    DhtAccess::TimerId timer_ = 0;
    DhtAccess::TimerId deadline_ = 0;  // the open round's; 0 while no round is open
    std::size_t next_contact_ = 0;  // where the next check's probes start in the table
    std::chrono::milliseconds since_refresh_{0};
    std::uint64_t checks_ = 0, refreshes_ = 0, probes_sent_ = 0;
    // Ping answers after stop() or destruction find this reset.
    std::shared_ptr<RoutingRefresh*> self_ = std::make_shared<RoutingRefresh*>(this);
};

}  // namespace p2psip::overlay
