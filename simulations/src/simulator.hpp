#pragma once
#include <opendht/crypto.h>
#include <opendht/sockaddr.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "scenario.hpp"

namespace p2psip::sim {

struct IntervalStats {
    double t_s = 0;
    std::uint32_t online = 0;
    std::uint64_t lookups = 0, successes = 0;
    double p50_ms = 0;
    std::uint64_t messages = 0, bytes = 0;
};

struct Results {
    std::uint64_t lookups = 0, successes = 0, timeouts = 0, not_found = 0, wrong = 0, aborted = 0;
    std::vector<double> latencies_ms;       // successful lookups after warmup
    std::vector<double> first_ms;           // same lookups: claim+binding first in hand
    std::uint64_t early = 0;                // successful lookups that ended before the get
    std::uint64_t conflicts = 0;            // lookups that ended with name_conflict
    std::uint64_t messages = 0, bytes = 0;  // after warmup
    double node_seconds = 0;                // online node-seconds after warmup
    std::uint64_t joins = 0, leaves = 0, crashes = 0, publishes = 0, publish_failures = 0;
    std::vector<IntervalStats> series;
    double simulated_s = 0;
    std::uint64_t events_packet = 0, events_wake = 0, events_timer = 0;  // engine load
};

class Node;

// A single-threaded discrete-event simulation of p2psip's overlay: every node is a real
// OpenDHT dht::Dht (under SecureDht) running the project's own BindingPublisher and
// lookup code, exchanging datagrams over an in-memory network in virtual time.
class Simulator {
  public:
    using Progress = std::function<void(double sim_s, const Results&, std::uint32_t online)>;

    Simulator(const Scenario& scenario, std::vector<dht::crypto::Identity> pool);
    ~Simulator();
    void run(const Progress& progress);
    const Results& results() const { return results_; }

    // Used by nodes.
    std::int64_t now_ns() const { return now_; }
    void send(Node& from, const dht::SockAddr& to, const std::uint8_t* data, std::size_t size);
    std::uint64_t add_timer(Node& node, std::int64_t delay_ns, std::function<void()> fn);
    void cancel_timer(std::uint64_t id);
    void schedule_wake(Node& node, std::int64_t at_ns);
    const Scenario& scenario() const { return scenario_; }

  private:
    enum class Kind : std::uint8_t { packet, wake, timer, join, leave, offline, lookup, report };
    struct Event {
        std::int64_t t;
        std::uint64_t seq;
        Kind kind;
        std::uint32_t node;
        std::uint64_t arg;
        bool operator>(const Event& o) const { return t != o.t ? t > o.t : seq > o.seq; }
    };
    struct Packet {
        std::uint32_t from = 0;
        std::vector<std::uint8_t> data;
    };
    struct Timer {
        std::uint32_t node;
        std::uint32_t session;
        std::function<void()> fn;
    };

    void push(std::int64_t t, Kind kind, std::uint32_t node, std::uint64_t arg = 0);
    void dispatch(const Event& e);
    void join(Node& n);
    void leave(Node& n);
    void go_offline(Node& n);
    void start_lookup();
    void deliver(Node& to, std::uint32_t packet);
    void close_interval();
    double sample_session();
    double sample_offline();
    double one_way_ms(const Node& a, const Node& b);
    Node* random_online(const std::function<bool(const Node&)>& accept);
    bool after_warmup() const;

    Scenario scenario_;
    std::vector<dht::crypto::Identity> pool_;
    std::vector<std::unique_ptr<Node>> nodes_;
    std::vector<std::uint32_t> online_;  // indices, unordered
    std::priority_queue<Event, std::vector<Event>, std::greater<>> queue_;
    std::uint64_t seq_ = 0;
    std::int64_t now_ = 0, start_ = 0;
    std::vector<Packet> packets_;
    std::vector<std::uint32_t> free_packets_;
    std::unordered_map<std::uint64_t, Timer> timers_;
    std::uint64_t next_timer_ = 1;
    std::mt19937_64 rng_;
    double rtt_scale_ = 1;
    Results results_;
    IntervalStats interval_;
    std::vector<double> interval_latencies_;
    double last_node_time_s_ = 0;
};

}  // namespace p2psip::sim
