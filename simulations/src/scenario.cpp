#include "scenario.hpp"

#include <fmt/format.h>

#include <toml++/toml.h>
#include <set>

namespace p2psip::sim {

namespace {

struct Reader {
    const std::filesystem::path& path;
    std::string& error;

    std::string where(const toml::node& n, const std::string& key) const {
        return fmt::format("{}:{}: key '{}'", path.string(), n.source().begin.line, key);
    }

    template <typename T>
    bool number(const toml::table& t, const std::string& prefix, const char* key, T& out,
                double min, double max) {
        const auto* n = t.get(key);
        if (!n) return true;
        const std::string full = prefix.empty() ? key : prefix + "." + key;
        double v;
        if (auto i = n->value<std::int64_t>(); i && n->is_integer())
            v = static_cast<double>(*i);
        else if (auto d = n->value<double>(); d && n->is_floating_point())
            v = *d;
        else {
            error = where(*n, full) + ": expected a number";
            return false;
        }
        if (v < min || v > max) {
            error = where(*n, full) + fmt::format(": {} is outside {}..{}", v, min, max);
            return false;
        }
        out = static_cast<T>(v);
        return true;
    }

    bool boolean(const toml::table& t, const std::string& prefix, const char* key, bool& out) {
        const auto* n = t.get(key);
        if (!n) return true;
        if (!n->is_boolean()) {
            error = where(*n, prefix + "." + key) + ": expected true or false";
            return false;
        }
        out = *n->value<bool>();
        return true;
    }

    bool string(const toml::table& t, const std::string& prefix, const char* key, std::string& out,
                const std::set<std::string>& allowed = {}) {
        const auto* n = t.get(key);
        if (!n) return true;
        const std::string full = prefix.empty() ? key : prefix + "." + key;
        if (!n->is_string()) {
            error = where(*n, full) + ": expected a string";
            return false;
        }
        out = *n->value<std::string>();
        if (!allowed.empty() && !allowed.count(out)) {
            error = where(*n, full) + fmt::format(": '{}' is not one of the allowed values", out);
            return false;
        }
        return true;
    }

    // A typo must not be silently ignored.
    bool only(const toml::table& t, const std::string& prefix, const std::set<std::string>& keys) {
        for (const auto& [k, v] : t) {
            if (!keys.count(std::string(k.str()))) {
                error = where(v, prefix.empty() ? std::string(k.str())
                                                : prefix + "." + std::string(k.str())) +
                        ": unknown key";
                return false;
            }
        }
        return true;
    }

    const toml::table* section(const toml::table& root, const char* name) {
        const auto* n = root.get(name);
        if (!n) return nullptr;
        if (!n->is_table()) {
            error = where(*n, name) + ": expected a [section]";
            return nullptr;
        }
        return n->as_table();
    }
};

}  // namespace

bool load_scenario(const std::filesystem::path& path, Scenario& s, std::string& error) {
    toml::table root;
    try {  // toml++ reports parse errors by exception: turn them into the message here.
        root = toml::parse_file(path.string());
    } catch (const toml::parse_error& e) {
        error = fmt::format("{}:{}: {}", path.string(), e.source().begin.line, e.description());
        return false;
    }
    Reader r{path, error};
    if (!r.only(root, "",
                {"name", "nodes", "duration", "join_period", "warmup", "seed", "network", "churn",
                 "workload", "identities", "report_interval", "threads"}))
        return false;
    if (!r.string(root, "", "name", s.name) || !r.number(root, "", "nodes", s.nodes, 2, 1e7) ||
        !r.number(root, "", "duration", s.duration_s, 1, 1e7) ||
        !r.number(root, "", "join_period", s.join_period_s, 0, 1e6) ||
        !r.number(root, "", "warmup", s.warmup_s, 0, 1e7) ||
        !r.number(root, "", "seed", s.seed, 0, 9e15) ||
        !r.number(root, "", "report_interval", s.report_interval_s, 0.1, 1e6) ||
        !r.number(root, "", "threads", s.threads, 1, 64))
        return false;
    if (s.warmup_s >= s.duration_s) {
        error = fmt::format("{}: key 'warmup' must be less than 'duration'", path.string());
        return false;
    }
    bool failed = false;
    if (auto* t = r.section(root, "network")) {
        failed = !r.only(*t, "network", {"median_rtt_ms", "min_rtt_ms", "loss", "nat_fraction"}) ||
                 !r.number(*t, "network", "median_rtt_ms", s.median_rtt_ms, 0, 10000) ||
                 !r.number(*t, "network", "min_rtt_ms", s.min_rtt_ms, 0.01, 10000) ||
                 !r.number(*t, "network", "loss", s.loss, 0, 0.9) ||
                 !r.number(*t, "network", "nat_fraction", s.nat_fraction, 0, 1);
    } else if (!error.empty()) {
        return false;
    }
    if (failed) return false;
    if (auto* t = r.section(root, "churn")) {
        failed = !r.only(*t, "churn",
                         {"enabled", "distribution", "median_session_s", "weibull_shape",
                          "median_offline_s", "graceful_fraction"}) ||
                 !r.boolean(*t, "churn", "enabled", s.churn) ||
                 !r.string(*t, "churn", "distribution", s.session_distribution,
                           {"exponential", "weibull"}) ||
                 !r.number(*t, "churn", "median_session_s", s.median_session_s, 1, 1e7) ||
                 !r.number(*t, "churn", "weibull_shape", s.weibull_shape, 0.05, 20) ||
                 !r.number(*t, "churn", "median_offline_s", s.median_offline_s, 1, 1e7) ||
                 !r.number(*t, "churn", "graceful_fraction", s.graceful_fraction, 0, 1);
    } else if (!error.empty()) {
        return false;
    }
    if (failed) return false;
    if (auto* t = r.section(root, "workload")) {
        failed =
            !r.only(*t, "workload",
                    {"lookups_per_second", "calls_per_second", "binding_ttl", "lookup_timeout",
                     "publish", "lookup_quorum", "known_callee_fraction", "replicas",
                     "lookup_retries", "keep_value_seq", "keep_node_id", "replicas_together",
                     "permanent_puts", "routing_refresh", "routing_probes"}) ||
            !r.boolean(*t, "workload", "keep_value_seq", s.keep_value_seq) ||
            !r.boolean(*t, "workload", "keep_node_id", s.keep_node_id) ||
            !r.boolean(*t, "workload", "permanent_puts", s.permanent_puts) ||
            !r.boolean(*t, "workload", "replicas_together", s.replicas_together) ||
            !r.number(*t, "workload", "replicas", s.replicas, 1, 8) ||
            !r.number(*t, "workload", "lookup_retries", s.lookup_retries, 0, 16) ||
            !r.boolean(*t, "workload", "publish", s.publish) ||
            !r.number(*t, "workload", "lookup_quorum", s.lookup_quorum, 0, 8) ||
            !r.number(*t, "workload", "known_callee_fraction", s.known_callee_fraction, 0, 1) ||
            !r.number(*t, "workload", "lookups_per_second", s.lookups_per_second, 0, 1e6) ||
            !r.number(*t, "workload", "calls_per_second", s.calls_per_second, 0, 1e6) ||
            !r.number(*t, "workload", "binding_ttl", s.binding_ttl_s, 10, 86400) ||
            !r.number(*t, "workload", "lookup_timeout", s.lookup_timeout_s, 0.1, 600) ||
            !r.number(*t, "workload", "routing_refresh", s.routing_refresh_s, 0, 86400) ||
            !r.number(*t, "workload", "routing_probes", s.routing_probes, 0, 64);
    } else if (!error.empty()) {
        return false;
    }
    if (failed) return false;
    if (auto* t = r.section(root, "identities")) {
        failed = !r.only(*t, "identities", {"pool", "bits"}) ||
                 !r.number(*t, "identities", "pool", s.identity_pool, 1, 100000) ||
                 !r.number(*t, "identities", "bits", s.identity_bits, 1024, 4096);
    } else if (!error.empty()) {
        return false;
    }
    return !failed;
}

}  // namespace p2psip::sim
