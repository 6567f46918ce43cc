#include "p2psip/overlay/routing_refresh.hpp"

#include <algorithm>

namespace p2psip::overlay {

void RoutingRefresh::start() {
    stop();
    since_refresh_ = std::chrono::milliseconds{0};
    if (options_.interval.count() > 0) arm();
}

void RoutingRefresh::stop() {
    if (timer_ != 0) dht_.cancel(timer_);
    if (deadline_ != 0) dht_.cancel(deadline_);
    timer_ = deadline_ = 0;
    self_ = std::make_shared<RoutingRefresh*>(this);  // outstanding pings now report to no one
}

void RoutingRefresh::arm() {
    timer_ = dht_.call_after(options_.interval, [this] {
        timer_ = 0;
        check();
    });
}

void RoutingRefresh::check() {
    ++checks_;
    since_refresh_ += options_.interval;
    arm();                 // the next check keeps its time whatever the probes take
    if (deadline_ != 0) return;  // the last check's pings are still out (interval under a few s)
    const auto contacts = options_.probes > 0 && since_refresh_ < options_.max_interval
                              ? dht_.good_contacts()
                              : std::nullopt;
    if (!contacts || contacts->empty()) {
        refresh();
        return;
    }
    // Consecutive contacts from where the last check stopped: over a few checks every one
    // is asked, where random picks would ask some twice and others never.
    const auto n = std::min<std::size_t>(options_.probes, contacts->size());
    if (next_contact_ >= contacts->size()) next_contact_ = 0;
    // One round: it ends when every ping has answered (no refresh), or at the first one
    // that failed, or at the deadline with some unanswered (refresh). OpenDHT 2.4 never
    // reports a ping to an address that does not answer (pingNode's expiry callback does
    // not fire for a node it knows no id of), so the deadline is what sees the dead ones.
    struct Round {
        std::size_t left;
        bool open = true;
    };
    auto round = std::make_shared<Round>(Round{n});
    std::weak_ptr<RoutingRefresh*> self = self_;
    // `dead`: a probe failed or the deadline passed; `by_deadline`: the deadline's own timer.
    auto close = [self, round](bool dead, bool by_deadline) {
        if (!round->open) return;
        round->open = false;
        auto owner = self.lock();
        if (!owner) return;
        auto& me = **owner;
        // An answered round leaves no timer behind (in the simulator, an event per check).
        if (me.deadline_ != 0 && !by_deadline) me.dht_.cancel(me.deadline_);
        me.deadline_ = 0;
        if (!dead) return;
        // Not from inside the DHT's callback: it may be running the DHT right now.
        me.dht_.call_after(std::chrono::milliseconds(0), [self] {
            if (auto o = self.lock()) (**o).refresh();
        });
    };
    // Armed before the pings, which a DhtAccess may answer at once.
    deadline_ = dht_.call_after(kRoutingProbeDeadline, [close] { close(true, true); });
    for (std::size_t i = 0; i < n; ++i) {
        const auto& address = (*contacts)[(next_contact_ + i) % contacts->size()];
        ++probes_sent_;
        dht_.ping(address, [round, close](bool answered) {
            if (!answered) return close(true, false);
            if (--round->left == 0) close(false, false);
        });
    }
    next_contact_ = (next_contact_ + n) % contacts->size();
}

void RoutingRefresh::refresh() {
    if (before_each_) before_each_();
    if (!dht_.refresh_routing()) {  // unsupported or stopped: no more checks
        stop();
        return;
    }
    ++refreshes_;
    since_refresh_ = std::chrono::milliseconds{0};
}

}  // namespace p2psip::overlay
