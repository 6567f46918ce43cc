#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "p2psip/overlay/lookup.hpp"
#include "p2psip/overlay/routing_refresh.hpp"

namespace p2psip::sim {

// One simulation run, read from a TOML file (docs/simulations.md lists every key).
struct Scenario {
    std::string name = "unnamed";
    std::uint32_t nodes = 1000;
    double duration_s = 600;    // simulated seconds
    double join_period_s = 60;  // nodes join spread over this time
    double warmup_s = 120;      // metrics start here
    std::uint64_t seed = 1;
    // Worker threads. Nodes are split among them and run in parallel in windows of virtual
    // time no longer than the shortest one-way delay; the outputs are byte-identical for
    // any count (docs/simulations.md, "Engine").
    std::uint32_t threads = 1;

    // network
    double median_rtt_ms = 100;
    // Floor of every pair's RTT: no two hosts on the Internet are closer. Half of it is the
    // lookahead that lets worker threads run in parallel.
    double min_rtt_ms = 10;
    double loss = 0;          // per-packet loss probability on every link
    double nat_fraction = 0;  // nodes that drop unsolicited packets

    // churn
    bool churn = false;
    std::string session_distribution = "exponential";  // or "weibull"
    double median_session_s = 600;
    double weibull_shape = 0.5;
    double median_offline_s = 600;
    double graceful_fraction = 0.5;  // leaves that withdraw first; the rest crash

    // workload
    double lookups_per_second = 10;
    // Call attempts: a lookup, then INVITE/200/ACK with the callee (simulations.md).
    double calls_per_second = 0;
    // false: nodes only run the DHT (no bindings, and so no lookups): the bare-DHT baseline
    // that shows what the workload itself costs.
    bool publish = true;
    std::uint32_t binding_ttl_s = 600;
    double lookup_timeout_s = 10;
    // overlay::LookupOptions::quorum: end a lookup once this many of the 8 closest storage
    // nodes answered (5, a majority, is the phone's default); 0: wait for OpenDHT's whole get.
    std::uint32_t lookup_quorum = 5;
    // Share of lookups whose caller already holds the callee's key (a contact added by key,
    // or called before: the phone's known_peers). Those lookups pin the owner and end at
    // its claim and first live binding (protocol.md §4, rule 1); the rest are first contacts.
    double known_callee_fraction = 0;
    // overlay::PublishConfig::replicas and LookupOptions::replicas: the keys each AOR's
    // records go under, and that a lookup asks in turn (protocol.md §2, §4).
    std::uint32_t replicas = overlay::aor_replicas;
    // overlay::LookupOptions::retries: gets after the first when one ends with nothing.
    std::uint32_t lookup_retries = overlay::LookupOptions{}.retries;
    // Phones continue their OpenDHT sequence numbers across sessions, as the phone does with
    // its value-seq file; false: each session starts again at 1 (the rule before).
    bool keep_value_seq = true;
    // Phones keep their OpenDHT node id across sessions (the phone's dht-node-id file);
    // false: each session draws a new one, as before session 16.
    bool keep_node_id = true;
    // overlay::LookupOptions::replicas_together: a lookup asks all replica keys at once.
    bool replicas_together = false;
    // overlay::PublishConfig::permanent: OpenDHT permanent puts, as the phone; false: plain
    // puts kept alive and placed by the publisher's own refreshes (session 12).
    bool permanent_puts = true;
    // overlay::RoutingRefresh: every this many seconds each node has OpenDHT recheck its
    // whole routing table (connectivityChanged()). Default: the phone's; 0: never.
    double routing_refresh_s = static_cast<double>(overlay::kDefaultRoutingRefresh.count());
    // overlay::RoutingRefreshOptions::probes: good contacts each check pings; it refreshes
    // only when one does not answer (or every 10 minutes). 0: refresh at every check.
    std::uint32_t routing_probes = overlay::kDefaultRoutingProbes;

    // identities: a deterministic pool of RSA keys shared round-robin by the nodes
    std::uint32_t identity_pool = 32;
    std::uint32_t identity_bits = 1024;

    double report_interval_s = 10;  // time-series resolution
};

// Reads `path`; on error returns false and sets `error` to "FILE:LINE: key 'K': problem".
bool load_scenario(const std::filesystem::path& path, Scenario& out, std::string& error);

}  // namespace p2psip::sim
