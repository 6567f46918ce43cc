#include "simulator.hpp"

#include <arpa/inet.h>
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <string_view>
#include <tuple>

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
// What the running thread is doing: its worker (-1 on the main thread between windows,
// where every worker is idle) and the node it runs, whose generator feeds random_device.
thread_local int tl_worker = -1;
thread_local Node* tl_node = nullptr;

// Runs the enclosed code as node `n`: its random_device draws come from n's generator.
class ActAs {
  public:
    explicit ActAs(Node& n) : prev_(tl_node) { set(&n); }
    ~ActAs() { set(prev_); }
    ActAs(const ActAs&) = delete;
    ActAs& operator=(const ActAs&) = delete;

  private:
    static void set(Node* n) {
        tl_node = n;
        set_random_source(n ? &n->rd : nullptr);
    }
    Node* prev_;
};

std::uint64_t mix(std::uint64_t a, std::uint64_t b) {
    return a * 0x9E3779B97F4A7C15ULL ^ (b + 0x632BE59BD9B4E019ULL + (a << 6) + (a >> 2));
}
}  // namespace

Simulator::Simulator(const Scenario& scenario, std::vector<dht::crypto::Identity> pool)
    : scenario_(scenario), rng_(scenario.seed) {
    seed_random_device(scenario.seed * 0x9E3779B97F4A7C15ULL + 1);
    start_ = virtual_time_ns();
    const std::size_t threads = std::max<std::uint32_t>(1, scenario_.threads);
    workers_.resize(threads);
    for (auto& w : workers_) w.outbox.resize(threads);
    // Each thread signs with its own copy of the keys: GnuTLS key objects are not meant to
    // be used from two threads at once. Same keys, same signatures.
    workers_[0].identities = pool;
    for (std::size_t t = 1; t < threads; ++t)
        for (const auto& id : pool)
            workers_[t].identities.emplace_back(
                std::make_shared<dht::crypto::PrivateKey>(id.first->serialize()),
                std::make_shared<dht::crypto::Certificate>(id.second->getPacked()));

    std::uniform_real_distribution<double> unit(0, 1);
    std::exponential_distribution<double> access(20.0);  // mean 0.05 of the unit square
    nodes_.reserve(scenario_.nodes);
    for (std::uint32_t i = 0; i < scenario_.nodes; ++i) {
        auto& w = workers_[i % threads];
        auto n = std::make_unique<Node>(*this, i, w.identities[i % w.identities.size()]);
        n->worker = static_cast<std::uint32_t>(i % threads);
        n->rng.seed(mix(scenario_.seed, 2 * static_cast<std::uint64_t>(i)));
        n->rd.seed(mix(scenario_.seed, 2 * static_cast<std::uint64_t>(i) + 1));
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
    min_one_way_ns_ = std::max<std::int64_t>(1000, to_ns(scenario_.min_rtt_ms / 2000.0));

    for (auto& n : nodes_)
        push_global(start_ + to_ns(unit(rng_) * scenario_.join_period_s), Kind::join, n->index);
    if (scenario_.lookups_per_second > 0)
        push_global(start_ + to_ns(scenario_.warmup_s), Kind::lookup, 0);
    if (scenario_.calls_per_second > 0)
        push_global(start_ + to_ns(scenario_.warmup_s), Kind::call, 0);
    push_global(start_ + to_ns(scenario_.report_interval_s), Kind::report, 0);

    if (threads > 1) {
        start_barrier_ = std::make_unique<SpinBarrier>(static_cast<int>(threads));
        end_barrier_ = std::make_unique<SpinBarrier>(static_cast<int>(threads));
        for (std::size_t t = 1; t < threads; ++t)
            threads_.emplace_back([this, t] { worker_main(t); });
    }
}

void Simulator::stop_workers() {
    if (threads_.empty()) return;
    stopping_ = true;
    start_barrier_->arrive_and_wait();
    for (auto& t : threads_) t.join();
    threads_.clear();
}

Simulator::~Simulator() {
    stop_workers();
    // Destroy DHTs while the simulator (their sockets' target) still exists.
    for (auto& n : nodes_) {
        ActAs as(*n);
        n->publisher.reset();
        n->routing_refresh.reset();
        n->dht.reset();
    }
}

void SpinBarrier::arrive_and_wait() {
    const auto generation = generation_.load(std::memory_order_acquire);
    if (arrived_.fetch_add(1, std::memory_order_acq_rel) + 1 == parties_) {
        arrived_.store(0, std::memory_order_relaxed);
        generation_.fetch_add(1, std::memory_order_release);
        generation_.notify_all();
        return;
    }
    // Spin first: the other threads usually arrive within microseconds. Then sleep (a
    // futex), so a thread left waiting through a long serial phase frees its core.
    for (unsigned spins = 0; spins < 4000; ++spins) {
        if (generation_.load(std::memory_order_acquire) != generation) return;
#if defined(__x86_64__) || defined(__i386__)
        __builtin_ia32_pause();
#endif
    }
    while (generation_.load(std::memory_order_acquire) == generation)
        generation_.wait(generation, std::memory_order_acquire);
}

std::int64_t Simulator::now_ns() const {
    return virtual_time_ns();
}

Simulator::Worker& Simulator::worker_of(const Node& n) {
    return workers_[n.worker];
}

Simulator::Worker& Simulator::acc() {
    return workers_[tl_worker < 0 ? 0 : static_cast<std::size_t>(tl_worker)];
}

void Simulator::push_global(std::int64_t t, Kind kind, std::uint32_t node) {
    global_.push(Event{t, 0, kind, node, global_seq_++, 0});
}

void Simulator::push_node(Node& origin, Node& target, std::int64_t t, Kind kind,
                          std::uint64_t arg) {
    worker_of(target).queue.push(
        Event{t, origin.index + 1, kind, target.index, origin.event_seq++, arg});
}

bool Simulator::after_warmup() const {
    return virtual_time_ns() >= start_ + to_ns(scenario_.warmup_s);
}

double Simulator::one_way_ms(const Node& a, const Node& b) {
    const double rtt = rtt_scale_ * (std::hypot(a.x - b.x, a.y - b.y) + a.access + b.access);
    return rtt / 2;
}

Results Simulator::merged() const {
    Results r = results_;
    for (const auto& w : workers_) {
        const auto& x = w.results;
        r.successes += x.successes;
        r.timeouts += x.timeouts;
        r.not_found += x.not_found;
        r.wrong += x.wrong;
        r.aborted += x.aborted;
        r.early += x.early;
        r.conflicts += x.conflicts;
        r.messages += x.messages;
        r.bytes += x.bytes;
        r.publishes += x.publishes;
        r.publish_failures += x.publish_failures;
        r.events_packet += x.events_packet;
        r.events_wake += x.events_wake;
        r.events_timer += x.events_timer;
        r.calls_answered += x.calls_answered;
        r.calls_lookup_failed += x.calls_lookup_failed;
        r.calls_no_answer += x.calls_no_answer;
        r.calls_rejected += x.calls_rejected;
        r.sip_messages += x.sip_messages;
        r.sip_bytes += x.sip_bytes;
        r.sip_retransmissions += x.sip_retransmissions;
        r.call_setup_ms.insert(r.call_setup_ms.end(), x.call_setup_ms.begin(),
                               x.call_setup_ms.end());
        r.latencies_ms.insert(r.latencies_ms.end(), x.latencies_ms.begin(), x.latencies_ms.end());
        r.first_ms.insert(r.first_ms.end(), x.first_ms.begin(), x.first_ms.end());
        r.lookup_log.insert(r.lookup_log.end(), x.lookup_log.begin(), x.lookup_log.end());
        r.known_finished += x.known_finished;
        r.found_under_replica += x.found_under_replica;
        r.known_successes += x.known_successes;
        r.known_latencies_ms.insert(r.known_latencies_ms.end(), x.known_latencies_ms.begin(),
                                    x.known_latencies_ms.end());
        r.first_contact_latencies_ms.insert(r.first_contact_latencies_ms.end(),
                                            x.first_contact_latencies_ms.begin(),
                                            x.first_contact_latencies_ms.end());
    }
    // Sorted, so the order the workers finished lookups in does not show.
    std::sort(r.latencies_ms.begin(), r.latencies_ms.end());
    std::sort(r.first_ms.begin(), r.first_ms.end());
    std::sort(r.known_latencies_ms.begin(), r.known_latencies_ms.end());
    std::sort(r.first_contact_latencies_ms.begin(), r.first_contact_latencies_ms.end());
    std::sort(r.call_setup_ms.begin(), r.call_setup_ms.end());
    // A caller starts at most one lookup per instant, so (start, caller) orders them all.
    std::sort(r.lookup_log.begin(), r.lookup_log.end(),
              [](const LookupRecord& a, const LookupRecord& b) {
                  return std::tie(a.started_ns, a.caller) < std::tie(b.started_ns, b.caller);
              });
    return r;
}

// ---- engine ---------------------------------------------------------------------------

void Simulator::run(const Progress& progress) {
    const std::int64_t end = start_ + to_ns(scenario_.duration_s);
    double last_progress = real_seconds();
    std::uint64_t steps = 0;
    const auto report = [&] {
        if (!progress || (++steps & 0xff) != 0) return;
        const double r = real_seconds();
        if (r - last_progress < 1.0) return;
        last_progress = r;
        Results m = merged();
        progress(static_cast<double>(virtual_time_ns() - start_) / 1e9, m,
                 static_cast<std::uint32_t>(online_.size()));
    };
    for (;;) {
        drain_outboxes();
        std::int64_t next_node = INT64_MAX;
        for (const auto& w : workers_)
            if (!w.queue.empty()) next_node = std::min(next_node, w.queue.top().t);
        const std::int64_t next_global = global_.empty() ? INT64_MAX : global_.top().t;
        if (std::min(next_node, next_global) > end) break;
        if (next_global <= next_node) {
            // Global events at this instant, before any node event of the same instant.
            while (!global_.empty() && global_.top().t == next_global) {
                const Event e = global_.top();
                global_.pop();
                set_virtual_time_ns(e.t);
                dispatch_global(e);
            }
            report();
            continue;
        }
        // Nothing sent from now on can arrive before next_node + min_one_way_ns_; alone,
        // the main thread can run on up to the next global event.
        const std::int64_t window_end =
            threads_.empty() ? std::min(next_global, end + 1)
                             : std::min({next_node + min_one_way_ns_, next_global, end + 1});
        if (threads_.empty()) {
            run_window(0, window_end);
        } else {
            window_end_ = window_end;
            start_barrier_->arrive_and_wait();
            run_window(0, window_end);
            end_barrier_->arrive_and_wait();
        }
        report();
    }
    stop_workers();  // nothing left for them; do not keep cores busy while outputs are written
    set_virtual_time_ns(end);
    for (auto i : online_) count_routing_refresh(*nodes_[i]);
    results_ = merged();
    results_.simulated_s = scenario_.duration_s;
    if (progress)
        progress(scenario_.duration_s, results_, static_cast<std::uint32_t>(online_.size()));
}

void Simulator::worker_main(std::size_t w) {
    for (;;) {
        start_barrier_->arrive_and_wait();
        if (stopping_) return;
        run_window(w, window_end_);
        end_barrier_->arrive_and_wait();
    }
}

void Simulator::run_window(std::size_t index, std::int64_t end) {
    auto& w = workers_[index];
    tl_worker = static_cast<int>(index);
    while (!w.queue.empty() && w.queue.top().t < end) {
        const Event e = w.queue.top();
        w.queue.pop();
        set_virtual_time_ns(e.t);
        dispatch_node(w, e);
    }
    tl_worker = -1;
}

void Simulator::drain_outboxes() {
    for (auto& from : workers_)
        for (std::size_t to = 0; to < from.outbox.size(); ++to) {
            auto& box = from.outbox[to];
            if (box.empty()) continue;
            auto& dest = workers_[to];
            for (auto& cp : box) {
                const auto slot = alloc_packet(dest);
                dest.packets[slot].from = cp.packet.from;
                dest.packets[slot].sip = cp.packet.sip;
                dest.packets[slot].data.swap(cp.packet.data);
                cp.event.arg = slot;
                dest.queue.push(cp.event);
            }
            box.clear();
        }
}

void Simulator::dispatch_node(Worker& w, const Event& e) {
    auto& n = *nodes_[e.node];
    ActAs as(n);
    switch (e.kind) {
        case Kind::packet:
            ++w.results.events_packet;
            deliver(w, n, static_cast<std::uint32_t>(e.arg));
            w.packets[e.arg].data.clear();
            w.free_packets.push_back(static_cast<std::uint32_t>(e.arg));
            break;
        case Kind::wake:
            ++w.results.events_wake;
            if (n.online && e.arg == n.wake_gen) {
                n.next_wake = INT64_MAX;
                n.drive(nullptr, 0, {});
            }
            break;
        case Kind::timer: {
            auto it = w.timers.find(e.arg);
            if (it == w.timers.end()) break;
            ++w.results.events_timer;
            Timer t = std::move(it->second);
            w.timers.erase(it);
            if (n.online && n.session == t.session) t.fn();
            break;
        }
        default:
            break;
    }
}

void Simulator::dispatch_global(const Event& e) {
    switch (e.kind) {
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
            push_global(virtual_time_ns() + std::max<std::int64_t>(1, to_ns(gap(rng_))),
                        Kind::lookup, 0);
            break;
        }
        case Kind::call: {
            start_call();
            std::exponential_distribution<double> gap(scenario_.calls_per_second);
            push_global(virtual_time_ns() + std::max<std::int64_t>(1, to_ns(gap(rng_))), Kind::call,
                        0);
            break;
        }
        case Kind::report:
            close_interval();
            push_global(virtual_time_ns() + to_ns(scenario_.report_interval_s), Kind::report, 0);
            break;
        default:
            break;
    }
}

// ---- network --------------------------------------------------------------------------

std::uint32_t Simulator::alloc_packet(Worker& w) {
    if (!w.free_packets.empty()) {
        const auto slot = w.free_packets.back();
        w.free_packets.pop_back();
        return slot;
    }
    w.packets.emplace_back();
    return static_cast<std::uint32_t>(w.packets.size() - 1);
}

void Simulator::send(Node& from, const dht::SockAddr& to, const std::uint8_t* data,
                     std::size_t size) {
    if (to.getFamily() != AF_INET) return;
    const auto index = index_of(ntohl(to.getIPv4().sin_addr.s_addr));
    if (!index) return;
    auto& counters = acc();
    if (after_warmup()) {
        ++counters.results.messages;
        counters.results.bytes += size + 28;  // IPv4 + UDP headers
    }
    ++counters.interval.messages;
    counters.interval.bytes += size + 28;
    route(from, *nodes_[*index], data, size, false);
}

void Simulator::send_sip(Node& from, std::uint32_t to, const std::string& datagram,
                         bool retransmission) {
    if (to >= nodes_.size()) return;
    if (after_warmup()) {
        auto& r = acc().results;
        ++r.sip_messages;
        if (retransmission) ++r.sip_retransmissions;
        r.sip_bytes += datagram.size() + 28;
    }
    route(from, *nodes_[to], reinterpret_cast<const std::uint8_t*>(datagram.data()),
          datagram.size(), true);
}

std::optional<std::uint32_t> Simulator::index_of(std::uint32_t addr) const {
    if (nodes_.empty()) return std::nullopt;
    const std::uint32_t i = addr - nodes_.front()->addr;  // addresses are base + index
    if (i >= nodes_.size()) return std::nullopt;
    return i;
}

bool Simulator::node_at(std::string_view host, std::uint32_t& index) const {
    in_addr a{};
    if (inet_pton(AF_INET, std::string(host).c_str(), &a) != 1) return false;
    const auto i = index_of(ntohl(a.s_addr));
    if (i) index = *i;
    return i.has_value();
}

void Simulator::route(Node& from, Node& dest, const std::uint8_t* data, std::size_t size,
                      bool sip) {
    const std::int64_t now = virtual_time_ns();
    if (from.nat) from.nat_opened[dest.addr] = now;
    if (scenario_.loss > 0 && from.rng.unit() < scenario_.loss) return;
    // ±5 % per-packet variation around the pair's latency, never under the floor.
    const double ms = one_way_ms(from, dest) * (0.95 + 0.1 * from.rng.unit());
    const std::int64_t at = now + std::max(min_one_way_ns_, static_cast<std::int64_t>(ms * 1e6));
    auto& target = worker_of(dest);
    if (tl_worker < 0 || &target == &workers_[static_cast<std::size_t>(tl_worker)]) {
        // Between windows (every worker idle) or within this thread: straight in.
        const auto slot = alloc_packet(target);
        auto& p = target.packets[slot];
        p.from = from.index;
        p.sip = sip;
        p.data.assign(data, data + size);
        push_node(from, dest, at, Kind::packet, slot);
        return;
    }
    auto& box = workers_[static_cast<std::size_t>(tl_worker)].outbox[dest.worker];
    box.emplace_back();
    auto& cp = box.back();
    cp.event = Event{at, from.index + 1, Kind::packet, dest.index, from.event_seq++, 0};
    cp.packet.from = from.index;
    cp.packet.sip = sip;
    cp.packet.data.assign(data, data + size);
}

void Simulator::deliver(Worker& w, Node& to, std::uint32_t slot) {
    if (!to.online) return;
    const auto& p = w.packets[slot];
    const auto& from = *nodes_[p.from];
    if (to.nat) {
        // Endpoint-dependent filtering: only peers this node sent to recently get in.
        auto it = to.nat_opened.find(from.addr);
        if (it == to.nat_opened.end() || virtual_time_ns() - it->second > nat_mapping_ns) return;
    }
    if (p.sip)
        to.sip().on_datagram(p.data.data(), p.data.size(), from);
    else
        to.drive(p.data.data(), p.data.size(), from.sockaddr);
}

void Simulator::schedule_wake(Node& n, std::int64_t at) {
    if (!n.online || at == INT64_MAX || at >= n.next_wake) return;
    n.next_wake = std::max(at, virtual_time_ns());
    push_node(n, n, n.next_wake, Kind::wake, ++n.wake_gen);
}

std::uint64_t Simulator::add_timer(Node& node, std::int64_t delay_ns, std::function<void()> fn) {
    auto& w = worker_of(node);
    const auto id = w.next_timer++;
    w.timers.emplace(id, Timer{node.index, node.session, std::move(fn)});
    push_node(node, node, virtual_time_ns() + std::max<std::int64_t>(0, delay_ns), Kind::timer, id);
    return id;
}

void Simulator::cancel_timer(Node& node, std::uint64_t id) {
    worker_of(node).timers.erase(id);
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

// The sim-session parameter of a contact (Node::contact), 0 if it has none.
static std::uint32_t session_of(std::string_view contact) {
    const auto at = contact.rfind(";sim-session=");
    if (at == std::string_view::npos) return 0;
    const auto digits = contact.substr(at + 13);
    std::uint32_t session = 0;
    std::from_chars(digits.data(), digits.data() + digits.size(), session);
    return session;
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
    ActAs as(n);
    const std::int64_t now = virtual_time_ns();
    ++n.session;
    n.online = true;
    n.leaving = false;
    n.online_since = now;
    n.published_at = -1;
    n.nat_opened.clear();
    n.online_pos = online_.size();
    online_.push_back(n.index);
    ++results_.joins;
    // The phone keeps its DHT node id in its data dir (workload.keep_node_id), so a
    // node comes back under the id its old contacts still hold for it.
    n.start_dht(0x5349, scenario_.keep_node_id
                            ? dht::InfoHash::get(fmt::format("p2psip-sim node {} seed {}", n.index,
                                                             scenario_.seed))
                            : dht::InfoHash{});
    // Bootstrap from up to three nodes already online, as a phone would from its list.
    for (int i = 0; i < 3; ++i) {
        auto* b =
            random_online([&](const Node& c) { return c.index != n.index && c.dht && !c.nat; });
        if (b) n.dht->insertNode(b->dht->getNodeId(), b->sockaddr);
    }
    n.drive(nullptr, 0, {});
    // The phone's RoutingRefresh (workload.routing_refresh).
    if (scenario_.routing_refresh_s > 0) {
        overlay::RoutingRefreshOptions options;
        options.interval =
            std::chrono::milliseconds(std::llround(scenario_.routing_refresh_s * 1000));
        options.probes = scenario_.routing_probes;
        n.routing_refresh = std::make_unique<overlay::RoutingRefresh>(n, options);
        n.routing_refresh->start();
    }

    const std::uint32_t session = n.session;
    if (scenario_.publish)
        add_timer(n, publish_delay_ns, [this, &n, session] {
            overlay::PublishConfig pcfg{n.aor,
                                        {n.contact()},
                                        n.instance_id,
                                        std::chrono::seconds(scenario_.binding_ttl_s),
                                        false,
                                        scenario_.replicas,
                                        {}};
            if (scenario_.keep_value_seq)
                pcfg.next_value_seq = [&n] { return ++n.value_seq; };
            pcfg.permanent = scenario_.permanent_puts;
            n.publisher = overlay::BindingPublisher::create(n, std::move(pcfg));
            n.publisher->start([this, &n, session](std::error_code ec) {
                if (n.session != session || !n.online) return;
                auto& r = acc().results;
                if (ec) {
                    ++r.publish_failures;
                    return;
                }
                if (n.published_at < 0) ++r.publishes;
                n.published_at = virtual_time_ns();
            });
        });
    if (scenario_.churn) push_global(now + to_ns(sample_session()), Kind::leave, n.index);
}

void Simulator::leave(Node& n) {
    if (!n.online || n.leaving) return;
    ActAs as(n);
    ++results_.leaves;
    const bool graceful =
        std::uniform_real_distribution<double>(0, 1)(rng_) < scenario_.graceful_fraction;
    if (graceful && n.publisher) {
        n.leaving = true;
        n.publisher->withdraw({});
        // One second to get the withdrawal out.
        push_global(virtual_time_ns() + ns_per_s, Kind::offline, n.index);
    } else {
        ++results_.crashes;
        go_offline(n);
    }
}

void Simulator::count_routing_refresh(const Node& n) {
    if (!n.routing_refresh) return;
    results_.routing_checks += n.routing_refresh->checks();
    results_.routing_refreshes += n.routing_refresh->refreshes();
}

void Simulator::go_offline(Node& n) {
    if (!n.online) return;
    ActAs as(n);
    n.online = false;
    n.leaving = false;
    n.published_at = -1;
    n.publisher.reset();
    count_routing_refresh(n);
    n.routing_refresh.reset();
    n.sip_endpoint.reset();  // calls in progress die with the phone
    n.stop_dht();
    // Swap-remove from the online list.
    const auto pos = n.online_pos;
    online_[pos] = online_.back();
    nodes_[online_[pos]]->online_pos = pos;
    online_.pop_back();
    if (scenario_.churn)
        push_global(virtual_time_ns() + to_ns(sample_offline()), Kind::join, n.index);
}

// ---- workload -------------------------------------------------------------------------

bool Simulator::pick_caller_callee(Node*& src, Node*& dst) {
    // A caller that has been online for a while, a callee that has published.
    const std::int64_t settled = 5 * ns_per_s;
    const std::int64_t now = virtual_time_ns();
    src =
        random_online([&](const Node& c) { return !c.leaving && now - c.online_since > settled; });
    dst = random_online([&](const Node& c) { return !c.leaving && c.published_at >= 0; });
    return src && dst && src != dst;
}

overlay::LookupOptions Simulator::lookup_options() const {
    overlay::LookupOptions opts;
    opts.timeout = std::chrono::milliseconds(static_cast<long>(scenario_.lookup_timeout_s * 1000));
    opts.quorum = scenario_.lookup_quorum;
    opts.replicas = scenario_.replicas;
    opts.retries = scenario_.lookup_retries;
    opts.replicas_together = scenario_.replicas_together;
    return opts;
}

void Simulator::start_lookup() {
    Node *src = nullptr, *dst = nullptr;
    if (!pick_caller_callee(src, dst)) return;
    const std::int64_t now = virtual_time_ns();
    ++results_.lookups;
    ++interval_.lookups;
    auto opts = lookup_options();
    // Drawn only when asked for, so scenarios without known callees keep their outputs.
    const bool known = scenario_.known_callee_fraction > 0 &&
                       std::uniform_real_distribution<double>(0, 1)(rng_) <
                           scenario_.known_callee_fraction;
    if (known) {
        opts.pinned_owner = dst->identity().second->getId();  // as BindingPublisher claims
        ++results_.known_lookups;
    }
    ActAs as(*src);
    const std::string want = dst->contact();
    LookupRecord rec;
    rec.started_ns = now - start_;
    rec.caller = src->index;
    rec.callee = dst->index;
    rec.caller_online_s = static_cast<double>(now - src->online_since) / 1e9;
    rec.callee_online_s = static_cast<double>(now - dst->online_since) / 1e9;
    rec.callee_published_s = static_cast<double>(now - dst->published_at) / 1e9;
    rec.callee_session = dst->session;
    rec.known = known;
    // The callback runs on the source node's thread: it only touches that thread's counters.
    overlay::lookup(
        *src, dst->aor, opts,
        [this, want, rec, known](std::error_code ec, overlay::LookupResult r) mutable {
            auto& w = acc();
            auto& res = w.results;
            bool ok = false;
            if (!ec)
                for (const auto& b : r.bindings)
                    for (const auto& c : b.contacts) {
                        ok = ok || c == want;
                        rec.found_session = std::max(rec.found_session, session_of(c));
                    }
            ++w.interval.finished;
            if (known) ++res.known_finished;
            const double ms =
                static_cast<double>(virtual_time_ns() - start_ - rec.started_ns) / 1e6;
            rec.ms = ms;
            rec.replica = r.replica;
            rec.gets = r.gets;
            if (ok) {
                rec.outcome = "ok";
                ++res.successes;
                ++w.interval.successes;
                res.latencies_ms.push_back(ms);
                (known ? res.known_latencies_ms : res.first_contact_latencies_ms).push_back(ms);
                if (known) ++res.known_successes;
                if (r.replica > 0) ++res.found_under_replica;
                res.first_ms.push_back(static_cast<double>(r.first_complete.count()));
                if (r.early) ++res.early;
                w.interval_latencies.push_back(ms);
            } else if (ec == overlay::errc::name_conflict) {
                rec.outcome = "conflict";
                ++res.conflicts;
                ++res.not_found;
            } else if (ec == overlay::errc::timeout) {
                rec.outcome = "timeout";
                ++res.timeouts;
            } else if (ec) {
                rec.outcome = "not_found";
                ++res.not_found;
            } else {
                rec.outcome = "stale";
                ++res.wrong;  // found only a stale binding
            }
            res.lookup_log.push_back(rec);
        });
}

void Simulator::start_call() {
    Node *src = nullptr, *dst = nullptr;
    if (!pick_caller_callee(src, dst)) return;
    const std::int64_t now = virtual_time_ns();
    ++results_.calls;
    ActAs as(*src);
    const auto opts = lookup_options();
    // As a phone dials: look the AOR up, then INVITE the first contact of the first binding.
    overlay::lookup(*src, dst->aor, opts,
                    [this, src_index = src->index, aor = dst->aor, started = now](
                        std::error_code ec, overlay::LookupResult r) {
                        if (ec || r.bindings.empty() || r.bindings.front().contacts.empty()) {
                            ++acc().results.calls_lookup_failed;
                            return;
                        }
                        nodes_[src_index]->sip().invite(
                            r.bindings.front().contacts.front(), aor, [this, started](int status) {
                                auto& res = acc().results;
                                if (status >= 200 && status < 300) {
                                    ++res.calls_answered;
                                    res.call_setup_ms.push_back(
                                        static_cast<double>(virtual_time_ns() - started) / 1e6);
                                } else if (status == 408) {
                                    ++res.calls_no_answer;
                                } else {
                                    ++res.calls_rejected;
                                }
                            });
                    });
}

void Simulator::close_interval() {
    IntervalStats s = interval_;
    std::vector<double> latencies;
    for (auto& w : workers_) {
        s.successes += w.interval.successes;
        s.finished += w.interval.finished;
        s.messages += w.interval.messages;
        s.bytes += w.interval.bytes;
        latencies.insert(latencies.end(), w.interval_latencies.begin(), w.interval_latencies.end());
        w.interval = {};
        w.interval_latencies.clear();
    }
    s.t_s = static_cast<double>(virtual_time_ns() - start_) / 1e9;
    s.online = static_cast<std::uint32_t>(online_.size());
    for (const auto index : online_)
        if (const auto& dht = nodes_[index]->dht) {
            const auto [bytes, values] = dht->getStoreSize();
            s.stored_bytes += bytes;
            s.stored_values += values;
        }
    std::sort(latencies.begin(), latencies.end());
    s.p50_ms = percentile(latencies, 0.5);
    results_.series.push_back(s);
    if (after_warmup())
        results_.node_seconds += static_cast<double>(online_.size()) * scenario_.report_interval_s;
    interval_ = {};
}

}  // namespace p2psip::sim
