#pragma once
#include <opendht/crypto.h>
#include <opendht/sockaddr.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <queue>
#include <random>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "p2psip/overlay/lookup.hpp"
#include "scenario.hpp"

namespace p2psip::sim {

struct IntervalStats {
    double t_s = 0;
    std::uint32_t online = 0;
    std::uint64_t lookups = 0, successes = 0;  // started, and found the live binding
    std::uint64_t finished = 0;                // lookups that ended, whatever the outcome
    double p50_ms = 0;
    std::uint64_t messages = 0, bytes = 0;
    // Values the online nodes' OpenDHT storages hold at the end of the interval (copies of
    // other nodes' records), and their bytes: most of a node's memory (docs/simulations.md).
    std::uint64_t stored_values = 0, stored_bytes = 0;
};

// One lookup of the workload, for lookups.csv: who asked whom, how long each had been
// online, and how it ended. Lets a researcher split outcomes by session age or time.
struct LookupRecord {
    std::int64_t started_ns = 0;  // since the start of the run
    std::uint32_t caller = 0, callee = 0;
    double caller_online_s = 0, callee_online_s = 0, callee_published_s = 0;
    std::uint32_t callee_session = 0;  // the callee's sessions so far, this one included
    std::uint32_t found_session = 0;   // newest session among the bindings found (0: none)
    bool known = false;                // the caller pinned the callee's key
    const char* outcome = "";          // ok, not_found, conflict, timeout, stale
    double ms = 0;                     // start to end
    unsigned replica = 0, gets = 0;
};

struct Results {
    std::uint64_t lookups = 0, successes = 0, timeouts = 0, not_found = 0, wrong = 0, aborted = 0;
    std::vector<double> latencies_ms;       // successful lookups after warmup
    std::vector<double> first_ms;           // same lookups: claim+binding first in hand
    // The lookups of workload.known_callee_fraction (caller pinned the callee's key), and
    // their latencies; latencies_ms holds these and the first contacts'.
    std::uint64_t known_lookups = 0, known_finished = 0, known_successes = 0;
    std::vector<double> known_latencies_ms, first_contact_latencies_ms;
    std::uint64_t early = 0;                // successful lookups that ended before the get
    std::uint64_t conflicts = 0;            // lookups that ended with name_conflict
    std::uint64_t found_under_replica = 0;  // successful lookups answered by a later key
    std::uint64_t messages = 0, bytes = 0;  // after warmup
    double node_seconds = 0;                // online node-seconds after warmup
    std::uint64_t joins = 0, leaves = 0, crashes = 0, publishes = 0, publish_failures = 0;
    // overlay::RoutingRefresh, summed over every session: looks at a table, refreshes.
    std::uint64_t routing_checks = 0, routing_refreshes = 0;
    std::vector<IntervalStats> series;
    double simulated_s = 0;
    std::uint64_t events_packet = 0, events_wake = 0, events_timer = 0;  // engine load
    // Call attempts (workload.calls_per_second): lookup, then INVITE/200/ACK.
    std::uint64_t calls = 0, calls_answered = 0, calls_lookup_failed = 0, calls_no_answer = 0,
                  calls_rejected = 0;
    std::vector<double> call_setup_ms;              // dial (lookup start) to 200 OK, answered calls
    std::uint64_t sip_messages = 0, sip_bytes = 0;  // after warmup, with IPv4/UDP headers
    std::uint64_t sip_retransmissions = 0;          // of those: repeated INVITE, 2xx, ACK
    std::vector<LookupRecord> lookup_log;           // every finished lookup, by start time
};

class Node;

// Two threads meet here once per window of a few virtual milliseconds, thousands of times
// per wall second: a futex round trip per meeting would cost more than the window's work,
// so the waiters spin a few microseconds before they sleep.
class SpinBarrier {
  public:
    explicit SpinBarrier(int parties) : parties_(parties) {}
    void arrive_and_wait();

  private:
    const int parties_;
    std::atomic<int> arrived_{0};
    std::atomic<std::uint32_t> generation_{0};
};

// A discrete-event simulation of p2psip's overlay: every node is a real OpenDHT dht::Dht
// (under SecureDht) running the project's own BindingPublisher and lookup code, exchanging
// datagrams over an in-memory network in virtual time.
//
// Events are ordered by (time, originating node, that node's event count), which depends
// on nothing but the scenario and the seed. With `threads` > 1 the nodes are split among
// worker threads that run in lockstep windows no longer than the shortest one-way delay:
// nothing sent inside a window can arrive inside it, so each node sees exactly the events,
// in exactly the order, of a single-threaded run. Membership changes, lookups and reports
// ("global" events) run on the main thread between windows.
class Simulator {
  public:
    using Progress = std::function<void(double sim_s, const Results&, std::uint32_t online)>;

    Simulator(const Scenario& scenario, std::vector<dht::crypto::Identity> pool);
    ~Simulator();
    void run(const Progress& progress);
    const Results& results() const { return results_; }

    // Used by nodes, always from the node's own context.
    std::int64_t now_ns() const;
    void send(Node& from, const dht::SockAddr& to, const std::uint8_t* data, std::size_t size);
    // A SIP datagram from `from` to node `to` (port 5060 of its address).
    void send_sip(Node& from, std::uint32_t to, const std::string& datagram,
                  bool retransmission = false);
    // The node whose address is `host` (dotted IPv4), if any.
    bool node_at(std::string_view host, std::uint32_t& index) const;
    std::uint64_t add_timer(Node& node, std::int64_t delay_ns, std::function<void()> fn);
    void cancel_timer(Node& node, std::uint64_t id);
    void schedule_wake(Node& node, std::int64_t at_ns);
    const Scenario& scenario() const { return scenario_; }

  private:
    enum class Kind : std::uint8_t {
        packet,
        wake,
        timer,
        join,
        leave,
        offline,
        lookup,
        call,
        report
    };
    struct Event {
        std::int64_t t;
        std::uint32_t origin;  // node index + 1; 0 for global events
        Kind kind;
        std::uint32_t node;
        std::uint64_t seq;  // the origin's event count
        std::uint64_t arg;
        bool operator>(const Event& o) const {
            if (t != o.t) return t > o.t;
            if (origin != o.origin) return origin > o.origin;
            return seq > o.seq;
        }
    };
    using Queue = std::priority_queue<Event, std::vector<Event>, std::greater<>>;
    struct Packet {
        std::uint32_t from = 0;
        bool sip = false;  // for the node's SIP endpoint, not its DHT
        std::vector<std::uint8_t> data;
    };
    struct Timer {
        std::uint32_t node;
        std::uint32_t session;
        std::function<void()> fn;
    };
    struct CrossPacket {  // sent to a node of another worker during a window
        Event event;
        Packet packet;
    };
    // What one thread owns: its nodes' events, packets and timers, and its share of the
    // counters (summed, and latencies sorted, so the split does not show in the outputs).
    struct Worker {
        Queue queue;
        std::vector<Packet> packets;
        std::vector<std::uint32_t> free_packets;
        std::unordered_map<std::uint64_t, Timer> timers;
        std::uint64_t next_timer = 1;
        std::vector<std::vector<CrossPacket>> outbox;   // by destination worker
        std::vector<dht::crypto::Identity> identities;  // this thread's copy of the pool
        Results results;
        IntervalStats interval;
        std::vector<double> interval_latencies;
    };

    Worker& worker_of(const Node& n);
    Worker& acc();  // the worker whose counters the running code adds to
    std::uint32_t alloc_packet(Worker& w);
    void push_global(std::int64_t t, Kind kind, std::uint32_t node);
    void push_node(Node& origin, Node& target, std::int64_t t, Kind kind, std::uint64_t arg);
    void drain_outboxes();
    void run_window(std::size_t w, std::int64_t end);
    void worker_main(std::size_t w);
    void stop_workers();
    void dispatch_node(Worker& w, const Event& e);
    void dispatch_global(const Event& e);
    void join(Node& n);
    void leave(Node& n);
    void go_offline(Node& n);
    void count_routing_refresh(const Node& n);  // into results_, before its refresh goes
    bool pick_caller_callee(Node*& src, Node*& dst);
    overlay::LookupOptions lookup_options() const;
    void start_lookup();
    void start_call();
    std::optional<std::uint32_t> index_of(std::uint32_t addr) const;  // node at an IPv4 address
    void route(Node& from, Node& dest, const std::uint8_t* data, std::size_t size, bool sip);
    void deliver(Worker& w, Node& to, std::uint32_t packet);
    void close_interval();
    Results merged() const;
    double sample_session();
    double sample_offline();
    double one_way_ms(const Node& a, const Node& b);
    Node* random_online(const std::function<bool(const Node&)>& accept);
    bool after_warmup() const;

    Scenario scenario_;
    std::vector<std::unique_ptr<Node>> nodes_;
    std::vector<std::uint32_t> online_;  // indices, unordered
    std::vector<Worker> workers_;
    Queue global_;
    std::uint64_t global_seq_ = 0;
    std::int64_t start_ = 0;
    std::int64_t min_one_way_ns_ = 0;  // the lookahead of a window
    std::mt19937_64 rng_;              // global decisions, main thread only
    double rtt_scale_ = 1;
    Results results_;
    IntervalStats interval_;  // the global part: lookups started, nodes online
    double last_node_time_s_ = 0;

    // Worker threads (threads - 1 of them; the main thread is worker 0).
    std::vector<std::thread> threads_;
    std::unique_ptr<SpinBarrier> start_barrier_, end_barrier_;
    std::int64_t window_end_ = 0;
    bool stopping_ = false;
};

}  // namespace p2psip::sim
