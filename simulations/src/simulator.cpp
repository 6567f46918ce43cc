#include "simulator.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <cmath>

#include "node.hpp"
#include "p2psip/overlay/error.hpp"
#include "p2psip/overlay/lookup.hpp"
#include "virtual_clock.hpp"

namespace p2psip::sim {

namespace {
constexpr std::int64_t ns_per_s = 1'000'000'000;
constexpr std::int64_t nat_mapping_ns = 120 * ns_per_s;  // how long a NAT keeps a mapping open
constexpr std::int64_t publish_delay_ns = 2 * ns_per_s;  // after joining, as a phone does
std::int64_t to_ns(double s) {
    return static_cast<std::int64_t>(s * 1e9);
}

// Percentile of a sorted vector (nearest rank).
double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(sorted.size())));
    return sorted[std::min(sorted.size(), std::max<std::size_t>(rank, 1)) - 1];
}
}  // namespace

Simulator::Simulator(const Scenario& scenario, std::vector<dht::crypto::Identity> pool)
    : scenario_(scenario), pool_(std::move(pool)), rng_(scenario.seed) {
    seed_random_device(scenario.seed * 0x9E3779B97F4A7C15ULL + 1);
    now_ = start_ = virtual_time_ns();
    std::uniform_real_distribution<double> unit(0, 1);
    std::exponential_distribution<double> access(20.0);  // mean 0.05 of the unit square
    nodes_.reserve(scenario_.nodes);
    for (std::uint32_t i = 0; i < scenario_.nodes; ++i) {
        auto n = std::make_unique<Node>(*this, i, pool_[i % pool_.size()]);
        n->x = unit(rng_);
        n->y = unit(rng_);
        n->access = access(rng_);
        n->nat = unit(rng_) < scenario_.nat_fraction;
        n->aor = "sip:user" + std::to_string(i) + "@sim.example";
        n->instance_id.resize(16);
        for (auto& c : n->instance_id) c = static_cast<char>(rng_() & 0xff);
        nodes_.push_back(std::move(n));
    }
    // Scale the coordinate model so the median RTT between random pairs is the target.
    std::vector<double> raw;
    std::uniform_int_distribution<std::uint32_t> pick(0, scenario_.nodes - 1);
    for (int i = 0; i < 20000; ++i) {
        const auto& a = *nodes_[pick(rng_)];
        const auto& b = *nodes_[pick(rng_)];
        raw.push_back(std::hypot(a.x - b.x, a.y - b.y) + a.access + b.access);
    }
    std::nth_element(raw.begin(), raw.begin() + raw.size() / 2, raw.end());
    rtt_scale_ = raw[raw.size() / 2] > 0 ? scenario_.median_rtt_ms / raw[raw.size() / 2] : 0;

    for (auto& n : nodes_)
        push(start_ + to_ns(unit(rng_) * scenario_.join_period_s), Kind::join, n->index);
    if (scenario_.lookups_per_second > 0) push(start_ + to_ns(scenario_.warmup_s), Kind::lookup, 0);
    push(start_ + to_ns(scenario_.report_interval_s), Kind::report, 0);
}

Simulator::~Simulator() {
    // Destroy DHTs while the simulator (their sockets' target) still exists.
    for (auto& n : nodes_) {
        n->publisher.reset();
        n->dht.reset();
    }
}

void Simulator::push(std::int64_t t, Kind kind, std::uint32_t node, std::uint64_t arg) {
    queue_.push(Event{t, seq_++, kind, node, arg});
}

bool Simulator::after_warmup() const {
    return now_ >= start_ + to_ns(scenario_.warmup_s);
}

double Simulator::one_way_ms(const Node& a, const Node& b) {
    const double rtt = rtt_scale_ * (std::hypot(a.x - b.x, a.y - b.y) + a.access + b.access);
    return rtt / 2;
}

void Simulator::run(const Progress& progress) {
    const std::int64_t end = start_ + to_ns(scenario_.duration_s);
    double last_progress = real_seconds();
    while (!queue_.empty() && queue_.top().t <= end) {
        const Event e = queue_.top();
        queue_.pop();
        now_ = std::max(now_, e.t);
        set_virtual_time_ns(now_);
        dispatch(e);
        if (progress && (seq_ & 0x3ff) == 0) {
            const double r = real_seconds();
            if (r - last_progress >= 1.0) {
                last_progress = r;
                progress(static_cast<double>(now_ - start_) / 1e9, results_,
                         static_cast<std::uint32_t>(online_.size()));
            }
        }
    }
    now_ = end;
    set_virtual_time_ns(now_);
    results_.simulated_s = scenario_.duration_s;
    if (progress)
        progress(scenario_.duration_s, results_, static_cast<std::uint32_t>(online_.size()));
}

void Simulator::dispatch(const Event& e) {
    switch (e.kind) {
        case Kind::packet: {
            ++results_.events_packet;
            auto& to = *nodes_[e.node];
            deliver(to, static_cast<std::uint32_t>(e.arg));
            packets_[e.arg].data.clear();
            free_packets_.push_back(static_cast<std::uint32_t>(e.arg));
            break;
        }
        case Kind::wake: {
            auto& n = *nodes_[e.node];
            ++results_.events_wake;
            if (n.online && e.arg == n.wake_gen) {
                n.next_wake = INT64_MAX;
                n.drive(nullptr, 0, {});
            }
            break;
        }
        case Kind::timer: {
            auto it = timers_.find(e.arg);
            if (it == timers_.end()) break;
            ++results_.events_timer;
            Timer t = std::move(it->second);
            timers_.erase(it);
            auto& n = *nodes_[t.node];
            if (n.online && n.session == t.session) t.fn();
            break;
        }
        case Kind::join:
            join(*nodes_[e.node]);
            break;
        case Kind::leave:
            leave(*nodes_[e.node]);
            break;
        case Kind::offline:
            go_offline(*nodes_[e.node]);
            break;
        case Kind::lookup: {
            start_lookup();
            std::exponential_distribution<double> gap(scenario_.lookups_per_second);
            push(now_ + std::max<std::int64_t>(1, to_ns(gap(rng_))), Kind::lookup, 0);
            break;
        }
        case Kind::report:
            close_interval();
            push(now_ + to_ns(scenario_.report_interval_s), Kind::report, 0);
            break;
    }
}

// ---- network --------------------------------------------------------------------------

void Simulator::send(Node& from, const dht::SockAddr& to, const std::uint8_t* data,
                     std::size_t size) {
    if (to.getFamily() != AF_INET) return;
    const std::uint32_t addr = ntohl(to.getIPv4().sin_addr.s_addr);
    const std::uint32_t index = addr - from.addr + from.index;  // addresses are base + index
    if (index >= nodes_.size()) return;
    if (after_warmup()) {
        ++results_.messages;
        results_.bytes += size + 28;  // IPv4 + UDP headers
    }
    ++interval_.messages;
    interval_.bytes += size + 28;
    if (from.nat) from.nat_opened[addr] = now_;
    if (scenario_.loss > 0 && std::uniform_real_distribution<double>(0, 1)(rng_) < scenario_.loss)
        return;
    auto& dest = *nodes_[index];
    // ±5 % per-packet variation around the pair's latency.
    const double ms =
        one_way_ms(from, dest) * std::uniform_real_distribution<double>(0.95, 1.05)(rng_);
    std::uint32_t slot;
    if (!free_packets_.empty()) {
        slot = free_packets_.back();
        free_packets_.pop_back();
    } else {
        slot = static_cast<std::uint32_t>(packets_.size());
        packets_.emplace_back();
    }
    packets_[slot].from = from.index;
    packets_[slot].data.assign(data, data + size);
    push(now_ + std::max<std::int64_t>(1000, static_cast<std::int64_t>(ms * 1e6)), Kind::packet,
         dest.index, slot);
}

void Simulator::deliver(Node& to, std::uint32_t slot) {
    if (!to.online) return;
    const auto& p = packets_[slot];
    const auto& from = *nodes_[p.from];
    if (to.nat) {
        // Endpoint-dependent filtering: only peers this node sent to recently get in.
        auto it = to.nat_opened.find(from.addr);
        if (it == to.nat_opened.end() || now_ - it->second > nat_mapping_ns) return;
    }
    to.drive(p.data.data(), p.data.size(), from.sockaddr);
}

void Simulator::schedule_wake(Node& n, std::int64_t at) {
    if (!n.online || at == INT64_MAX || at >= n.next_wake) return;
    n.next_wake = std::max(at, now_);
    push(n.next_wake, Kind::wake, n.index, ++n.wake_gen);
}

std::uint64_t Simulator::add_timer(Node& node, std::int64_t delay_ns, std::function<void()> fn) {
    const auto id = next_timer_++;
    timers_.emplace(id, Timer{node.index, node.session, std::move(fn)});
    push(now_ + std::max<std::int64_t>(0, delay_ns), Kind::timer, node.index, id);
    return id;
}

void Simulator::cancel_timer(std::uint64_t id) {
    timers_.erase(id);
}

// ---- membership -----------------------------------------------------------------------

double Simulator::sample_session() {
    std::uniform_real_distribution<double> u(1e-12, 1);
    const double m = scenario_.median_session_s;
    if (scenario_.session_distribution == "weibull") {
        const double k = scenario_.weibull_shape;
        const double scale = m / std::pow(std::log(2.0), 1.0 / k);
        return scale * std::pow(-std::log(u(rng_)), 1.0 / k);
    }
    return -std::log(u(rng_)) * m / std::log(2.0);
}

double Simulator::sample_offline() {
    std::uniform_real_distribution<double> u(1e-12, 1);
    return -std::log(u(rng_)) * scenario_.median_offline_s / std::log(2.0);
}

Node* Simulator::random_online(const std::function<bool(const Node&)>& accept) {
    if (online_.empty()) return nullptr;
    std::uniform_int_distribution<std::size_t> pick(0, online_.size() - 1);
    for (int tries = 0; tries < 16; ++tries) {
        auto& n = *nodes_[online_[pick(rng_)]];
        if (accept(n)) return &n;
    }
    return nullptr;
}

void Simulator::join(Node& n) {
    if (n.online) return;
    ++n.session;
    n.online = true;
    n.leaving = false;
    n.online_since = now_;
    n.published_at = -1;
    n.nat_opened.clear();
    n.online_pos = online_.size();
    online_.push_back(n.index);
    ++results_.joins;
    n.start_dht(0x5349);
    // Bootstrap from up to three nodes already online, as a phone would from its list.
    for (int i = 0; i < 3; ++i) {
        auto* b =
            random_online([&](const Node& c) { return c.index != n.index && c.dht && !c.nat; });
        if (b) n.dht->insertNode(b->dht->getNodeId(), b->sockaddr);
    }
    n.drive(nullptr, 0, {});

    const std::uint32_t session = n.session;
    if (scenario_.publish)
        add_timer(n, publish_delay_ns, [this, &n, session] {
            n.publisher = overlay::BindingPublisher::create(
                n, overlay::PublishConfig{n.aor,
                                          {n.contact()},
                                          n.instance_id,
                                          std::chrono::seconds(scenario_.binding_ttl_s)});
            n.publisher->start([this, &n, session](std::error_code ec) {
                if (n.session != session || !n.online) return;
                if (ec) {
                    ++results_.publish_failures;
                    return;
                }
                if (n.published_at < 0) ++results_.publishes;
                n.published_at = now_;
            });
        });
    if (scenario_.churn) push(now_ + to_ns(sample_session()), Kind::leave, n.index);
}

void Simulator::leave(Node& n) {
    if (!n.online || n.leaving) return;
    ++results_.leaves;
    const bool graceful =
        std::uniform_real_distribution<double>(0, 1)(rng_) < scenario_.graceful_fraction;
    if (graceful && n.publisher) {
        n.leaving = true;
        n.publisher->withdraw({});
        push(now_ + ns_per_s, Kind::offline, n.index);  // one second to get the withdrawal out
    } else {
        ++results_.crashes;
        go_offline(n);
    }
}

void Simulator::go_offline(Node& n) {
    if (!n.online) return;
    n.online = false;
    n.leaving = false;
    n.published_at = -1;
    n.publisher.reset();
    n.stop_dht();
    // Swap-remove from the online list.
    const auto pos = n.online_pos;
    online_[pos] = online_.back();
    nodes_[online_[pos]]->online_pos = pos;
    online_.pop_back();
    if (scenario_.churn) push(now_ + to_ns(sample_offline()), Kind::join, n.index);
}

// ---- workload -------------------------------------------------------------------------

void Simulator::start_lookup() {
    const std::int64_t settled = 5 * ns_per_s;
    auto* src =
        random_online([&](const Node& c) { return !c.leaving && now_ - c.online_since > settled; });
    auto* dst = random_online([&](const Node& c) { return !c.leaving && c.published_at >= 0; });
    if (!src || !dst || src == dst) return;
    ++results_.lookups;
    ++interval_.lookups;
    const std::string want = dst->contact();
    const std::uint32_t dst_index = dst->index, dst_session = dst->session;
    const std::int64_t started = now_;
    overlay::LookupOptions opts;
    opts.timeout = std::chrono::milliseconds(static_cast<long>(scenario_.lookup_timeout_s * 1000));
    opts.quorum = scenario_.lookup_quorum;
    overlay::lookup(
        *src, dst->aor, opts,
        [this, want, started, dst_index, dst_session](std::error_code ec, overlay::LookupResult r) {
            const auto& dst = *nodes_[dst_index];
            bool ok = false;
            if (!ec)
                for (const auto& b : r.bindings)
                    for (const auto& c : b.contacts) ok = ok || c == want;
            if (ok) {
                ++results_.successes;
                ++interval_.successes;
                const double ms = static_cast<double>(now_ - started) / 1e6;
                results_.latencies_ms.push_back(ms);
                results_.first_ms.push_back(static_cast<double>(r.first_complete.count()));
                if (r.early) ++results_.early;
                interval_latencies_.push_back(ms);
            } else if (ec == overlay::errc::name_conflict) {
                ++results_.conflicts;
                ++results_.not_found;
            } else if (ec == overlay::errc::timeout) {
                ++results_.timeouts;
            } else if (ec) {
                ++results_.not_found;
            } else {
                ++results_.wrong;  // found only a stale binding
            }
            (void)dst;
            (void)dst_session;
        });
}

void Simulator::close_interval() {
    interval_.t_s = static_cast<double>(now_ - start_) / 1e9;
    interval_.online = static_cast<std::uint32_t>(online_.size());
    std::sort(interval_latencies_.begin(), interval_latencies_.end());
    interval_.p50_ms = percentile(interval_latencies_, 0.5);
    results_.series.push_back(interval_);
    if (after_warmup())
        results_.node_seconds += static_cast<double>(online_.size()) * scenario_.report_interval_s;
    interval_ = {};
    interval_latencies_.clear();
}

}  // namespace p2psip::sim
