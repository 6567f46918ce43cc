#pragma once
#include <boost/asio.hpp>
#include <utility>

#include <opendht/dhtrunner.h>

#include <future>
#include <map>
#include <memory>
#include <string>
#include <system_error>
#include <vector>

#include "p2psip/overlay/dht_access.hpp"
#include "p2psip/overlay/identity.hpp"

namespace p2psip::overlay {

namespace asio = boost::asio;

struct RunnerConfig {
    std::string bind_address = "127.0.0.1";  // IPv4 address the DHT socket binds
    std::uint16_t port = 0;                  // 0 = any free port
    std::uint64_t network_id = 0;            // 0 is the public OpenDHT network
    std::vector<std::string> bootstrap;      // "HOST:PORT" entries
    dht::InfoHash node_id{};                 // zero: OpenDHT draws one (load_or_create_dht_node_id)
};

// Parses "HOST:PORT" (and "[v6]:PORT"); errc::bad_address on anything else.
std::error_code parse_host_port(std::string_view s, std::string& host, std::string& port);

// The phone's DHT: an OpenDHT DhtRunner on its own thread; every callback is posted
// into the node's io_context.
class RunnerDht final : public DhtAccess {
  public:
    RunnerDht(asio::io_context& io, Identity identity);
    ~RunnerDht() override;
    RunnerDht(const RunnerDht&) = delete;
    RunnerDht& operator=(const RunnerDht&) = delete;

    std::error_code start(const RunnerConfig& config);
    void stop();  // idempotent; joins OpenDHT's threads
    std::uint16_t bound_port() const;
    dht::InfoHash node_id() const;
    std::size_t good_nodes() const;  // IPv4 routing-table nodes that answered recently

    void put_signed(const dht::InfoHash& key, std::shared_ptr<dht::Value> value,
                    std::function<void(bool)> done, bool permanent) override;
    // Signs on a thread of its own (an RSA-3072 signature takes milliseconds, too long for
    // the io_context that also paces media), then hands the value to DhtRunner::put.
    void put_numbered(const dht::InfoHash& key, std::shared_ptr<dht::Value> value,
                      std::function<void(bool)> done, bool permanent) override;
    void resync(const dht::InfoHash& key, std::function<void()> done) override;
    void cancel_put(const dht::InfoHash& key, dht::Value::Id id) override;
    void get(const dht::InfoHash& key, std::function<bool(const Values&)> on_values,
             std::function<void(bool)> done) override;
    const dht::crypto::Identity& identity() const override { return identity_.dht; }
    void put_encrypted(const dht::InfoHash& key, std::shared_ptr<const dht::crypto::PublicKey> to,
                       std::shared_ptr<dht::Value> value, std::function<void(bool)> done) override;
    std::uint64_t listen(const dht::InfoHash& key,
                         std::function<void(const Values&)> on_values) override;
    void cancel_listen(std::uint64_t token) override;
    void search_progress(const dht::InfoHash& key,
                         std::function<void(std::optional<SearchProgress>)> done) override;
    // DhtRunner::connectivityChanged(), run on OpenDHT's thread; false once stopped.
    bool refresh_routing() override;
    std::optional<std::vector<dht::SockAddr>> good_contacts() const override;
    // DhtRunner::bootstrap(address, cb), which is OpenDHT's ping.
    void ping(const dht::SockAddr& address, std::function<void(bool)> done) override;
    std::chrono::system_clock::time_point now() const override;
    TimerId call_after(std::chrono::milliseconds delay, std::function<void()> fn) override;
    void cancel(TimerId id) override;

  private:
    // `done` wrapped to run on the io_context, and not at all once this is stopped.
    std::function<void(bool)> on_io(std::function<void(bool)> done);

    asio::io_context& io_;
    Identity identity_;
    dht::DhtRunner runner_;
    asio::thread_pool signer_{1};  // put_numbered's signatures; every put and cancel, in order
    bool running_ = false;
    // Callbacks from OpenDHT's thread check this before touching the io_context side.
    std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
    TimerId next_timer_ = 1;
    std::map<TimerId, std::unique_ptr<asio::steady_timer>> timers_;
    struct Listening {
        dht::InfoHash key;
        std::shared_future<std::size_t> token;
        std::shared_ptr<bool> wanted;
    };
    std::uint64_t next_listen_ = 1;
    std::map<std::uint64_t, Listening> listens_;
};

}  // namespace p2psip::overlay
