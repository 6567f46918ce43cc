#include "p2psip/overlay/routing_refresh.hpp"

namespace p2psip::overlay {

void RoutingRefresh::start() {
    stop();
    if (interval_.count() > 0) arm();
}

void RoutingRefresh::stop() {
    if (timer_ != 0) dht_.cancel(timer_);
    timer_ = 0;
}

void RoutingRefresh::arm() {
    timer_ = dht_.call_after(interval_, [this] {
        timer_ = 0;
        if (before_each_) before_each_();
        if (!dht_.refresh_routing()) return;  // unsupported or stopped: no more ticks
        ++refreshes_;
        arm();
    });
}

}  // namespace p2psip::overlay
