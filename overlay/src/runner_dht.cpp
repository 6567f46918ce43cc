#include "p2psip/overlay/runner_dht.hpp"

#include "p2psip/overlay/error.hpp"

namespace p2psip::overlay {

std::error_code parse_host_port(std::string_view s, std::string& host, std::string& port) {
    std::string_view h, p;
    if (!s.empty() && s.front() == '[') {
        const auto close = s.find(']');
        if (close == std::string_view::npos || close + 1 >= s.size() || s[close + 1] != ':')
            return make_error_code(errc::bad_address);
        h = s.substr(1, close - 1);
        p = s.substr(close + 2);
    } else {
        const auto colon = s.rfind(':');
        if (colon == std::string_view::npos) return make_error_code(errc::bad_address);
        h = s.substr(0, colon);
        p = s.substr(colon + 1);
    }
    if (h.empty() || p.empty() || p.size() > 5) return make_error_code(errc::bad_address);
    unsigned value = 0;
    for (char c : p) {
        if (c < '0' || c > '9') return make_error_code(errc::bad_address);
        value = value * 10 + static_cast<unsigned>(c - '0');
    }
    if (value == 0 || value > 65535) return make_error_code(errc::bad_address);
    host = h;
    port = p;
    return {};
}

RunnerDht::RunnerDht(asio::io_context& io, Identity identity)
    : io_(io), identity_(std::move(identity)) {}

RunnerDht::~RunnerDht() {
    stop();
}

std::error_code RunnerDht::start(const RunnerConfig& config) {
    std::vector<std::pair<std::string, std::string>> bootstrap;
    for (const auto& entry : config.bootstrap) {
        std::string host, port;
        if (auto ec = parse_host_port(entry, host, port)) return ec;
        bootstrap.emplace_back(std::move(host), std::move(port));
    }
    dht::DhtRunner::Config cfg;
    cfg.dht_config.node_config.network = static_cast<dht::NetId>(config.network_id);
    cfg.dht_config.id = identity_.dht;
    cfg.dht_config.node_config.node_id = config.node_id;
    cfg.threaded = true;
    try {
        auto addrs = dht::SockAddr::resolve(config.bind_address, std::to_string(config.port));
        for (auto& a : addrs)
            if (a.getFamily() == AF_INET) cfg.bind4 = a;
        if (!cfg.bind4) return make_error_code(errc::bad_address);
        // No IPv6 socket: test overlays live on 127.0.0.1 and the public net is IPv4 too.
        cfg.bind6 = {};
        runner_.run(cfg, {});
        running_ = true;
        for (const auto& [host, port] : bootstrap) runner_.bootstrap(host, port);
    } catch (const std::exception&) {
        return make_error_code(errc::dht_failure);
    }
    return {};
}

void RunnerDht::stop() {
    if (!running_) return;
    running_ = false;
    *alive_ = false;
    for (auto& [id, timer] : timers_) timer->cancel();
    timers_.clear();
    signer_.join();  // its last puts reach the runner before it stops
    runner_.join();
}

std::uint16_t RunnerDht::bound_port() const {
    return running_ ? runner_.getBoundPort(AF_INET) : 0;
}

dht::InfoHash RunnerDht::node_id() const {
    return runner_.getNodeId();
}

std::size_t RunnerDht::good_nodes() const {
    return running_ ? runner_.getNodesStats(AF_INET).good_nodes : 0;
}

void RunnerDht::resync(const dht::InfoHash& key, std::function<void()> done) {
    auto report = on_io([done = std::move(done)](bool) {
        if (done) done();
    });
    if (!running_) {
        report(false);
        return;
    }
    runner_.get(
        key, [](const std::vector<std::shared_ptr<dht::Value>>&) { return true; },
        [report](bool ok, const std::vector<std::shared_ptr<dht::Node>>&) { report(ok); }, {},
        dht::Where().id(dht::Value::INVALID_ID));
}

std::function<void(bool)> RunnerDht::on_io(std::function<void(bool)> done) {
    // Called on OpenDHT's or the signer's thread: only post, and only while we exist.
    return [this, alive = alive_, done = std::move(done)](bool ok) {
        if (!done || !*alive) return;
        asio::post(io_, [alive, done, ok] {
            if (*alive) done(ok);
        });
    };
}

void RunnerDht::cancel_put(const dht::InfoHash& key, dht::Value::Id id) {
    if (!running_) return;
    // Through the signer's queue, in order with the puts (put_signed).
    asio::post(signer_, [this, key, id] { runner_.cancelPut(key, id); });
}

void RunnerDht::put_signed(const dht::InfoHash& key, std::shared_ptr<dht::Value> value,
                           std::function<void(bool)> done, bool permanent) {
    auto report = on_io(std::move(done));
    if (!running_) {
        report(false);
        return;
    }
    // Puts and cancels all pass through the signer's queue, so they reach the runner in
    // the order they were asked (put_numbered's wait there for their signatures).
    asio::post(signer_, [this, key, value = std::move(value), report, permanent]() mutable {
        runner_.putSigned(key, std::move(value), report, permanent);
    });
}

void RunnerDht::put_numbered(const dht::InfoHash& key, std::shared_ptr<dht::Value> value,
                             std::function<void(bool)> done, bool permanent) {
    auto alive = alive_;
    auto report = on_io(std::move(done));
    if (!running_ || !value) {
        report(false);
        return;
    }
    asio::post(signer_, [this, alive, key, value = std::move(value), report, permanent] {
        if (!*alive) return;
        try {  // OpenDHT throws on crypto failures
            if (!signed_by(*value, identity_.dht)) value->sign(*identity_.dht.first);
        } catch (const std::exception&) {
            report(false);
            return;
        }
        runner_.put(
            key, value,
            [report](bool ok, const std::vector<std::shared_ptr<dht::Node>>&) { report(ok); },
            dht::time_point::max(), permanent);
    });
}

void RunnerDht::get(const dht::InfoHash& key, std::function<bool(const Values&)> on_values,
                    std::function<void(bool)> done) {
    auto alive = alive_;
    auto wanted = std::make_shared<bool>(true);
    runner_.get(
        key,
        [this, alive, wanted, on_values = std::move(on_values)](const Values& values) {
            if (!*alive) return false;
            asio::post(io_, [alive, wanted, on_values, values] {
                if (*alive && *wanted && !on_values(values)) *wanted = false;
            });
            return true;
        },
        [this, alive, done = std::move(done)](bool ok) {
            if (!done || !*alive) return;
            asio::post(io_, [alive, done, ok] {
                if (*alive) done(ok);
            });
        });
}

void RunnerDht::put_encrypted(const dht::InfoHash& key,
                              std::shared_ptr<const dht::crypto::PublicKey> to,
                              std::shared_ptr<dht::Value> value, std::function<void(bool)> done) {
    auto alive = alive_;
    if (!running_ || !to) {
        if (done)
            asio::post(io_, [alive, done] {
                if (*alive) done(false);
            });
        return;
    }
    // OpenDHT's signature takes a non-const pointer; it only reads the key.
    runner_.putEncrypted(key, std::const_pointer_cast<dht::crypto::PublicKey>(to), std::move(value),
                         [this, alive, done = std::move(done)](bool ok) {
                             if (!done || !*alive) return;
                             asio::post(io_, [alive, done, ok] {
                                 if (*alive) done(ok);
                             });
                         });
}

std::uint64_t RunnerDht::listen(const dht::InfoHash& key,
                                std::function<void(const Values&)> on_values) {
    if (!running_) return 0;
    auto alive = alive_;
    auto wanted = std::make_shared<bool>(true);
    auto token = runner_.listen(key, [this, alive, wanted, on_values = std::move(on_values)](
                                         const Values& values, bool expired) {
        if (!*alive || !*wanted) return false;
        if (expired) return true;  // only new values matter here
        asio::post(io_, [alive, wanted, on_values, values] {
            if (*alive && *wanted) on_values(values);
        });
        return true;
    });
    const auto id = next_listen_++;
    listens_.emplace(id, Listening{key, token.share(), wanted});
    return id;
}

void RunnerDht::cancel_listen(std::uint64_t token) {
    auto it = listens_.find(token);
    if (it == listens_.end()) return;
    *it->second.wanted = false;
    if (running_) runner_.cancelListen(it->second.key, it->second.token);
    listens_.erase(it);
}

void RunnerDht::search_progress(const dht::InfoHash& key,
                                std::function<void(std::optional<SearchProgress>)> done) {
    std::optional<SearchProgress> progress;
    if (running_) progress = parse_search_log(runner_.getSearchLog(key, AF_INET));
    // OpenDHT's thread posts a get's values while it holds the lock getSearchLog takes,
    // before the answer shows in the log: posting this report puts it after them.
    auto alive = alive_;
    asio::post(io_, [alive, done = std::move(done), progress] {
        if (*alive) done(progress);
    });
}

bool RunnerDht::refresh_routing() {
    if (!running_) return false;
    runner_.connectivityChanged();
    return true;
}

std::optional<std::vector<dht::SockAddr>> RunnerDht::good_contacts() const {
    if (!running_) return std::nullopt;
    return ipv4_addresses(runner_.exportNodes());
}

void RunnerDht::ping(const dht::SockAddr& address, std::function<void(bool)> done) {
    if (!running_) {
        auto alive = alive_;
        asio::post(io_, [alive, done = std::move(done)] {
            if (*alive && done) done(false);
        });
        return;
    }
    runner_.bootstrap(address, on_io(std::move(done)));
}

std::chrono::system_clock::time_point RunnerDht::now() const {
    return std::chrono::system_clock::now();
}

DhtAccess::TimerId RunnerDht::call_after(std::chrono::milliseconds delay,
                                         std::function<void()> fn) {
    const TimerId id = next_timer_++;
    auto timer = std::make_unique<asio::steady_timer>(io_, delay);
    timer->async_wait([this, id, fn = std::move(fn)](const boost::system::error_code& ec) {
        if (ec) return;
        timers_.erase(id);
        fn();
    });
    timers_.emplace(id, std::move(timer));
    return id;
}

void RunnerDht::cancel(TimerId id) {
    if (auto it = timers_.find(id); it != timers_.end()) {
        it->second->cancel();
        timers_.erase(it);
    }
}

}  // namespace p2psip::overlay
