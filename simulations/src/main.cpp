// p2psip-sim SCENARIO.toml [--seed N] [--nodes N] [--duration S] [--quorum N] [--replicas N]
//            [--replicas-together | --replicas-one-by-one] [--retries N] [--threads N]
//            [--out DIR]
// (also reached as `p2psip sim ...`). Writes summary.json, timeseries.csv, latency.csv and
// lookups.csv (with known callees also latency_known.csv and latency_first_contact.csv),
// deterministic for a scenario and seed, perf.json (wall-clock figures) and PNG plots.
#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <numeric>

#include "crypto_cache.hpp"
#include "identity_pool.hpp"
#include "scenario.hpp"
#include "simulator.hpp"
#include "virtual_clock.hpp"

namespace fs = std::filesystem;
using namespace p2psip::sim;

namespace {

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    auto rank = static_cast<std::size_t>(std::ceil(p * static_cast<double>(v.size())));
    return v[std::min(v.size(), std::max<std::size_t>(rank, 1)) - 1];
}

// CPU time of this process: on a shared machine the honest single-core speed figure.
double cpu_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

long peak_rss_kib() {
    std::ifstream in("/proc/self/status");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("VmHWM:", 0) == 0) return std::stol(line.substr(6));
    return 0;
}

// A CDF of `ms` (sorted here) as CSV: at most ~500 points, and the last one.
void write_cdf(const fs::path& file, std::vector<double> ms) {
    std::sort(ms.begin(), ms.end());
    std::ofstream lc(file);
    lc << "latency_ms,cdf\n";
    const std::size_t step = std::max<std::size_t>(1, ms.size() / 500);
    for (std::size_t i = 0; i < ms.size(); i += step)
        lc << fmt::format("{:.1f},{:.4f}\n", ms[i],
                          static_cast<double>(i + 1) / static_cast<double>(ms.size()));
    if (!ms.empty()) lc << fmt::format("{:.1f},1.0000\n", ms.back());
}

// by_kind: latency_known.csv and latency_first_contact.csv exist and get their own curves.
void write_plots(const fs::path& out, const std::string& name, std::uint32_t nodes,
                 bool have_latencies, bool by_kind) {
    if (std::system("command -v gnuplot >/dev/null 2>&1") != 0) {
        std::fprintf(stderr, "gnuplot not found: no PNG plots (apt-get install gnuplot-nox)\n");
        return;
    }
    const auto script = out / "plots.gp";
    const auto series = "'" + (out / "timeseries.csv").string() + "'";
    std::ofstream gp(script);
    gp << "set terminal pngcairo size 900,500 noenhanced\nset datafile separator ','\n"
          "set key autotitle columnhead\nset grid\n"
       << "set output '" << (out / "success.png").string() << "'\n"
       << "set title '" << name
       << ": lookup success and online nodes'\n"
          "set xlabel 'simulated time (s)'\nset ylabel 'success (% of the lookups that ended)'\n"
          "set y2label 'online nodes'\nset ytics nomirror\nset y2tics\nset yrange [0:105]\n"
       // The online line tops out at 80 % of the height, below the success line at 100 %.
       << "set y2range [0:" << nodes + nodes / 4 + 1
       << "]\nset key bottom right\n"
       // Success per report interval: found the live binding / ended (column 11); an
       // interval in which no lookup ended has no point.
       << "plot " << series
       << " using 1:(column(11)>0 ? 100*column(5)/column(11) : 1/0) with linespoints title "
          "'success %', '' using 1:2 axes x1y2 with lines title 'online nodes'\n"
       << "unset y2tics\nunset y2label\nset ytics mirror\nset autoscale y\nset autoscale y2\n"
          "set key top right\n";
    if (have_latencies) {  // gnuplot stops at a plot without data
        gp << "set output '" << (out / "latency_cdf.png").string() << "'\n"
           << "set title '" << name
           << ": lookup latency CDF'\nset xlabel 'lookup latency (ms)'\n"
              "set ylabel 'fraction of lookups'\nset yrange [0:1]\nset key bottom right\n"
           << "plot '" << (out / "latency.csv").string() << "' using 1:2 with lines title 'all'";
        if (by_kind)
            gp << ", '" << (out / "latency_known.csv").string()
               << "' using 1:2 with lines title 'known callees (pinned key)', '"
               << (out / "latency_first_contact.csv").string()
               << "' using 1:2 with lines title 'first contacts'";
        gp << "\nset key top right\n";
    }
    gp << "set autoscale y\nset output '" << (out / "traffic.png").string() << "'\n"
       << "set title '" << name
       << ": traffic and storage per online node'\nset xlabel 'simulated time (s)'\n"
          "set ylabel 'messages per node per second (log scale)'\n"
          "set y2label 'values stored per node'\nset ytics nomirror\nset y2tics\n"
          // The joins send tens of messages per node per second, the settled overlay ~1.
          "set logscale y\nset y2range [0:*]\n"
       << "plot " << series
       << " using 1:7 with lines title 'msgs/node/s', '' using 1:9 axes x1y2 with lines "
          "title 'values stored/node'\n";
    gp.close();
    if (std::system(("gnuplot '" + script.string() + "' 2>/dev/null").c_str()) != 0)
        std::fprintf(stderr, "gnuplot failed; data is in %s\n", out.c_str());
}

}  // namespace

// Call attempts: lookup, then INVITE/200/ACK (workload.calls_per_second).
std::string calls_json(const Results& r, double per_node_s) {
    const auto ended =
        r.calls_answered + r.calls_lookup_failed + r.calls_no_answer + r.calls_rejected;
    return fmt::format(
        "  \"calls\": {{\"attempts\": {}, \"ended\": {}, \"answered\": {}, "
        "\"success_rate\": {:.5f}, \"lookup_failed\": {}, \"no_answer\": {}, "
        "\"rejected\": {},\n            \"setup_ms\": {{\"p50\": {:.1f}, \"p95\": {:.1f}, "
        "\"p99\": {:.1f}}}, \"sip_messages\": {}, \"sip_retransmissions\": {}, "
        "\"sip_messages_per_node_s\": {:.4f}}}\n",
        r.calls, ended, r.calls_answered,
        ended ? static_cast<double>(r.calls_answered) / static_cast<double>(ended) : 0.0,
        r.calls_lookup_failed, r.calls_no_answer, r.calls_rejected,
        percentile(r.call_setup_ms, 0.5), percentile(r.call_setup_ms, 0.95),
        percentile(r.call_setup_ms, 0.99), r.sip_messages, r.sip_retransmissions,
        static_cast<double>(r.sip_messages) * per_node_s);
}

// workload.known_callee_fraction: lookups with the callee's key pinned, and the first
// contacts beside them. Only written when the scenario has known callees.
std::string known_callee_json(const Scenario& sc, const Results& r) {
    if (sc.known_callee_fraction <= 0) return {};
    const auto first_finished = r.successes + r.timeouts + r.not_found + r.wrong - r.known_finished;
    const auto first_successes = r.successes - r.known_successes;
    auto rate = [](std::uint64_t ok, std::uint64_t n) {
        return n ? static_cast<double>(ok) / static_cast<double>(n) : 0.0;
    };
    auto part = [&](const char* name, std::uint64_t finished, std::uint64_t ok,
                    const std::vector<double>& lat) {
        return fmt::format(
            "  \"{}\": {{\"finished\": {}, \"successes\": {}, \"success_rate\": {:.5f}, "
            "\"latency_ms\": {{\"p50\": {:.1f}, \"p95\": {:.1f}, \"p99\": {:.1f}}}}},\n",
            name, finished, ok, rate(ok, finished), percentile(lat, 0.5), percentile(lat, 0.95),
            percentile(lat, 0.99));
    };
    return fmt::format("  \"known_callee_fraction\": {},\n", sc.known_callee_fraction) +
           part("known_callee", r.known_finished, r.known_successes, r.known_latencies_ms) +
           part("first_contact", first_finished, first_successes, r.first_contact_latencies_ms);
}

int main(int argc, char** argv) {
    CLI::App app{"p2psip-sim: the p2psip overlay at scale, in virtual time"};
    std::string scenario_path, out_dir = "sim-out";
    std::optional<std::uint64_t> seed;
    std::optional<std::uint32_t> nodes;
    std::optional<double> duration;
    std::optional<std::uint32_t> quorum;
    std::optional<std::uint32_t> threads;
    std::optional<std::uint32_t> replicas, retries;
    bool quiet = false;
    app.add_option("scenario", scenario_path, "scenario TOML file")
        ->required()
        ->check(CLI::ExistingFile);
    app.add_option("--seed", seed, "override the scenario's seed");
    app.add_option("--nodes", nodes, "override the number of nodes");
    app.add_option("--duration", duration, "override the simulated seconds");
    app.add_option("--quorum", quorum,
                   "override workload.lookup_quorum: answers of the 8 closest nodes a lookup "
                   "waits for (0: the whole get)")
        ->check(CLI::Range(0, 8));
    bool fresh_value_seq = false;
    bool fresh_node_id = false;
    app.add_flag("--fresh-node-id", fresh_node_id,
                 "each session draws a new OpenDHT node id (workload.keep_node_id = false)");
    app.add_flag("--fresh-value-seq", fresh_value_seq,
                 "each session starts its OpenDHT sequence numbers at 1 (workload.keep_value_seq = false)");
    app.add_option("--replicas", replicas,
                   "override workload.replicas: keys each AOR is stored under and a lookup asks")
        ->check(CLI::Range(1, 8));
    bool replicas_together = false, replicas_one_by_one = false;
    auto* together = app.add_flag("--replicas-together", replicas_together,
                                  "lookups ask all replica keys at once "
                                  "(workload.replicas_together = true; the phone's "
                                  "--lookup-both-keys)");
    app.add_flag("--replicas-one-by-one", replicas_one_by_one,
                 "lookups ask the replica keys one after the other "
                 "(workload.replicas_together = false, the phone's default)")
        ->excludes(together);
    bool plain_puts = false;
    app.add_flag("--plain-puts", plain_puts,
                 "publishers use plain OpenDHT puts, kept alive by their own refreshes, "
                 "instead of the phone's permanent puts (workload.permanent_puts = false)");
    std::optional<double> routing_refresh;
    app.add_option("--routing-refresh", routing_refresh,
                   "override workload.routing_refresh: seconds between each node's checks "
                   "of its whole routing table (default: the phone's, 60; 0: never)")
        ->check(CLI::Range(0.0, 86400.0));
    std::optional<std::uint32_t> routing_probes;
    app.add_option("--routing-probes", routing_probes,
                   "override workload.routing_probes: contacts each check pings, refreshing "
                   "only when one does not answer (default: the phone's, 8; 0: refresh at "
                   "every check)")
        ->check(CLI::Range(0, 64));
    app.add_option("--retries", retries,
                   "override workload.lookup_retries: gets after a first that found nothing")
        ->check(CLI::Range(0, 16));
    app.add_option("--threads", threads,
                   "worker threads (outputs are identical for any count; default: the "
                   "scenario's, else 1)")
        ->check(CLI::Range(1, 64));
    app.add_option("--out", out_dir, "output directory")->capture_default_str();
    app.add_flag("--quiet", quiet, "no progress line");
    CLI11_PARSE(app, argc, argv);

    Scenario sc;
    std::string error;
    if (!load_scenario(scenario_path, sc, error)) {
        std::fprintf(stderr, "p2psip-sim: %s\n", error.c_str());
        return 1;
    }
    if (seed) sc.seed = *seed;
    if (nodes) sc.nodes = *nodes;
    if (duration) sc.duration_s = *duration;
    if (quorum) sc.lookup_quorum = *quorum;
    if (threads) sc.threads = *threads;
    if (replicas) sc.replicas = *replicas;
    if (fresh_value_seq) sc.keep_value_seq = false;
    if (fresh_node_id) sc.keep_node_id = false;
    if (retries) sc.lookup_retries = *retries;
    if (replicas_together) sc.replicas_together = true;
    if (replicas_one_by_one) sc.replicas_together = false;
    if (plain_puts) sc.permanent_puts = false;
    if (routing_refresh) sc.routing_refresh_s = *routing_refresh;
    if (routing_probes) sc.routing_probes = *routing_probes;
    if (sc.warmup_s >= sc.duration_s) sc.warmup_s = sc.duration_s / 2;

    const double wall0 = real_seconds();
    std::vector<dht::crypto::Identity> pool;
    if (auto ec = make_identity_pool(sc.seed, std::min(sc.identity_pool, sc.nodes),
                                     sc.identity_bits, pool)) {
        std::fprintf(stderr, "p2psip-sim: identity pool: %s\n", ec.message().c_str());
        return 1;
    }
    const double wall_pool = real_seconds() - wall0;

    Simulator sim(sc, std::move(pool));
    const double wall1 = real_seconds();
    const double cpu1 = cpu_seconds();
    sim.run([&](double t, const Results& r, std::uint32_t online) {
        if (quiet) return;
        const auto done = r.successes + r.timeouts + r.not_found + r.wrong;
        std::fprintf(
            stderr, "\r[%s] t=%.0f/%.0fs online=%u lookups=%llu success=%.1f%% speed=%.1fx   ",
            sc.name.c_str(), t, sc.duration_s, online, static_cast<unsigned long long>(r.lookups),
            done ? 100.0 * static_cast<double>(r.successes) / static_cast<double>(done) : 0.0,
            t / std::max(1e-9, real_seconds() - wall1));
    });
    const double wall_run = real_seconds() - wall1;
    const double cpu_run = cpu_seconds() - cpu1;
    if (!quiet) std::fprintf(stderr, "\n");

    const auto& r = sim.results();
    fs::create_directories(out_dir);
    const fs::path out(out_dir);
    const auto finished = r.successes + r.timeouts + r.not_found + r.wrong;
    const double success =
        finished ? static_cast<double>(r.successes) / static_cast<double>(finished) : 0;
    const double per_node_s = r.node_seconds > 0 ? 1.0 / r.node_seconds : 0;

    // OpenDHT storage per online node: at the last report, and the most over the reports.
    double stored_end = 0, stored_peak = 0;
    for (const auto& s : r.series) {
        stored_end = static_cast<double>(s.stored_values) / std::max<std::uint32_t>(1, s.online);
        stored_peak = std::max(stored_peak, stored_end);
    }

    std::ofstream(out / "summary.json") << fmt::format(
        "{{\n  \"scenario\": \"{}\",\n  \"seed\": {},\n  \"nodes\": {},\n  \"simulated_s\": "
        "{:.1f},\n"
        "  \"median_rtt_ms\": {},\n  \"loss\": {},\n  \"nat_fraction\": {},\n  \"churn\": {},\n"
        "  \"lookups\": {},\n  \"lookups_finished\": {},\n  \"successes\": {},\n  "
        "\"success_rate\": {:.5f},\n"
        "  \"timeouts\": {},\n  \"not_found\": {},\n  \"conflicts\": {},\n  \"stale\": {},\n"
        "  \"lookup_quorum\": {},\n  \"early_finishes\": {},\n"
        "  \"replicas\": {},\n  \"replicas_together\": {},\n  \"permanent_puts\": {},\n"
        "  \"lookup_retries\": {},\n  \"routing_refresh_s\": {},\n  \"routing_probes\": {},\n"
        "  \"routing_checks\": {},\n  \"routing_refreshes\": {},\n  \"keep_node_id\": {},\n"
        "  \"found_under_replica\": {},\n"
        "  \"latency_ms\": {{\"p50\": {:.1f}, \"p95\": {:.1f}, \"p99\": {:.1f}, \"mean\": "
        "{:.1f}}},\n"
        "  \"first_binding_ms\": {{\"p50\": {:.1f}, \"p95\": {:.1f}, \"p99\": {:.1f}}},\n"
        "{}"
        "  \"hops\": null,\n"
        "  \"messages_per_node_s\": {:.3f},\n  \"bytes_per_node_s\": {:.1f},\n"
        "  \"stored_values_per_node\": {{\"end\": {:.1f}, \"peak\": {:.1f}}},\n"
        "  \"joins\": {},\n  \"leaves\": {},\n  \"crashes\": {},\n  \"publishes\": {},\n  "
        "\"publish_failures\": {},\n{}}}\n",
        sc.name, sc.seed, sc.nodes, r.simulated_s, sc.median_rtt_ms, sc.loss, sc.nat_fraction,
        sc.churn ? "true" : "false", r.lookups, finished, r.successes, success, r.timeouts,
        r.not_found, r.conflicts, r.wrong, sc.lookup_quorum, r.early, sc.replicas,
        sc.replicas_together ? "true" : "false", sc.permanent_puts ? "true" : "false",
        sc.lookup_retries, sc.routing_refresh_s, sc.routing_probes, r.routing_checks,
        r.routing_refreshes, sc.keep_node_id ? "true" : "false", r.found_under_replica,
        percentile(r.latencies_ms, 0.5), percentile(r.latencies_ms, 0.95),
        percentile(r.latencies_ms, 0.99),
        r.latencies_ms.empty()
            ? 0.0
            : std::accumulate(r.latencies_ms.begin(), r.latencies_ms.end(), 0.0) /
                  static_cast<double>(r.latencies_ms.size()),
        percentile(r.first_ms, 0.5), percentile(r.first_ms, 0.95), percentile(r.first_ms, 0.99),
        known_callee_json(sc, r), static_cast<double>(r.messages) * per_node_s,
        static_cast<double>(r.bytes) * per_node_s, stored_end, stored_peak, r.joins, r.leaves,
        r.crashes, r.publishes, r.publish_failures, calls_json(r, per_node_s));

    {
        std::ofstream ts(out / "timeseries.csv");
        ts << "t_s,online,interval_s,lookups,successes,p50_ms,msgs_per_node_s,bytes_per_node_s,"
              "stored_values_per_node,stored_kib_per_node,finished\n";
        for (const auto& s : r.series) {
            const double denom =
                std::max(1.0, static_cast<double>(s.online) * sc.report_interval_s);
            const double online = std::max(1.0, static_cast<double>(s.online));
            ts << fmt::format("{:.1f},{},{:.1f},{},{},{:.1f},{:.3f},{:.1f},{:.1f},{:.2f},{}\n",
                              s.t_s, s.online, sc.report_interval_s, s.lookups, s.successes,
                              s.p50_ms, static_cast<double>(s.messages) / denom,
                              static_cast<double>(s.bytes) / denom,
                              static_cast<double>(s.stored_values) / online,
                              static_cast<double>(s.stored_bytes) / 1024.0 / online, s.finished);
        }
    }
    write_cdf(out / "latency.csv", r.latencies_ms);
    {
        std::ofstream lk(out / "lookups.csv");
        lk << "t_s,caller,callee,caller_online_s,callee_online_s,callee_published_s,"
              "callee_session,known,outcome,found_session,ms,replica,gets\n";
        for (const auto& l : r.lookup_log)
            lk << fmt::format("{:.3f},{},{},{:.1f},{:.1f},{:.1f},{},{},{},{},{:.1f},{},{}\n",
                              static_cast<double>(l.started_ns) / 1e9, l.caller, l.callee,
                              l.caller_online_s, l.callee_online_s, l.callee_published_s,
                              l.callee_session, l.known ? 1 : 0, l.outcome, l.found_session, l.ms,
                              l.replica, l.gets);
    }
    // Known callees and first contacts apart, when the scenario has both kinds.
    const bool by_kind = !r.known_latencies_ms.empty() && !r.first_contact_latencies_ms.empty();
    if (by_kind) {
        write_cdf(out / "latency_known.csv", r.known_latencies_ms);
        write_cdf(out / "latency_first_contact.csv", r.first_contact_latencies_ms);
    }
    const long rss = peak_rss_kib();
    const auto cc = crypto_cache_stats();
    std::ofstream(out / "perf.json") << fmt::format(
        "{{\n  \"threads\": {},\n  \"wall_s\": {:.2f},\n  \"cpu_s\": {:.2f},\n"
        "  \"identity_pool_s\": {:.2f},\n"
        "  \"speed_x_real_time\": {:.2f},\n  \"speed_x_real_time_per_cpu_s\": {:.2f},\n"
        "  \"peak_rss_mib\": {:.1f},\n  \"rss_kib_per_node\": {:.1f},\n"
        "  \"events\": {{\"packets\": {}, \"wakes\": {}, \"timers\": {}}},\n"
        "  \"crypto_cache\": {{\"signature_checks\": {}, \"rsa_verifications\": {}, "
        "\"keys\": {}}}\n}}\n",
        sc.threads, wall_run, cpu_run, wall_pool, sc.duration_s / std::max(1e-9, wall_run),
        sc.duration_s / std::max(1e-9, cpu_run), static_cast<double>(rss) / 1024.0,
        static_cast<double>(rss) / sc.nodes, r.events_packet, r.events_wake, r.events_timer,
        cc.lookups, cc.verify_calls, cc.keys);
    write_plots(out, sc.name, sc.nodes, !r.latencies_ms.empty(), by_kind);

    std::printf(
        "%s: %u nodes, %.0f s simulated in %.1f s wall (%.1fx real time), %.1f s CPU (%.1fx per "
        "CPU second), peak RSS %.0f MiB (%.0f KiB/node)\n",
        sc.name.c_str(), sc.nodes, sc.duration_s, wall_run,
        sc.duration_s / std::max(1e-9, wall_run), cpu_run, sc.duration_s / std::max(1e-9, cpu_run),
        static_cast<double>(rss) / 1024.0, static_cast<double>(rss) / sc.nodes);
    std::printf(
        "lookups %llu, success %.2f%%, p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, %.2f msgs/node/s, "
        "%.0f B/node/s\n",
        static_cast<unsigned long long>(finished), 100 * success, percentile(r.latencies_ms, 0.5),
        percentile(r.latencies_ms, 0.95), percentile(r.latencies_ms, 0.99),
        static_cast<double>(r.messages) * per_node_s, static_cast<double>(r.bytes) * per_node_s);
    if (sc.known_callee_fraction > 0)
        std::printf("known callees: %llu lookups, p50 %.0f ms, p95 %.0f ms, p99 %.0f ms; first "
                    "contacts: p50 %.0f ms, p95 %.0f ms, p99 %.0f ms\n",
                    static_cast<unsigned long long>(r.known_finished),
                    percentile(r.known_latencies_ms, 0.5), percentile(r.known_latencies_ms, 0.95),
                    percentile(r.known_latencies_ms, 0.99),
                    percentile(r.first_contact_latencies_ms, 0.5),
                    percentile(r.first_contact_latencies_ms, 0.95),
                    percentile(r.first_contact_latencies_ms, 0.99));
    if (r.calls > 0)
        std::printf("calls %llu, answered %llu, setup p50 %.0f ms, p95 %.0f ms, p99 %.0f ms\n",
                    static_cast<unsigned long long>(r.calls),
                    static_cast<unsigned long long>(r.calls_answered),
                    percentile(r.call_setup_ms, 0.5), percentile(r.call_setup_ms, 0.95),
                    percentile(r.call_setup_ms, 0.99));
    std::printf("results in %s\n", out.c_str());
    // Everything is written; tearing down tens of thousands of DHT nodes one by one would
    // take longer than some runs, so leave that to the kernel.
    std::fflush(nullptr);
    std::_Exit(0);
}
