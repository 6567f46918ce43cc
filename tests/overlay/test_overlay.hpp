#pragma once
// Shared fixture pieces for overlay tests: a small real OpenDHT overlay on 127.0.0.1.
#include <boost/asio.hpp>
#include <utility>

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <random>
#include <vector>

#include "p2psip/overlay/identity.hpp"
#include "p2psip/overlay/runner_dht.hpp"

namespace p2psip::overlay::test {

namespace asio = boost::asio;

// A fresh directory under /tmp, removed with everything in it when the test ends, whether
// or not its assertions held.
struct TempDir {
    explicit TempDir(const std::string& tag) {
        std::random_device rd;
        path = std::filesystem::temp_directory_path() /
               ("p2psip-" + tag + "-" + std::to_string(rd()) + std::to_string(rd()));
        std::filesystem::create_directories(path);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::filesystem::path path;
};

inline Identity make_identity(const std::string& name) {
    Identity id;
    id.dht = dht::crypto::generateIdentity(name, {}, 2048);  // smaller key: test speed only
    return id;
}

// Runs the io_context until pred() holds or the timeout passes.
inline bool run_until(asio::io_context& io, const std::function<bool()>& pred,
                      std::chrono::milliseconds timeout = std::chrono::seconds(30)) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    while (!pred()) {
        if (std::chrono::steady_clock::now() > deadline) return false;
        io.restart();
        io.run_for(std::chrono::milliseconds(20));
    }
    return true;
}

// n RunnerDht nodes on a private network id, all bootstrapped from the first.
struct Overlay {
    asio::io_context io;
    std::vector<std::unique_ptr<RunnerDht>> nodes;
    std::uint64_t network_id = 0;

    explicit Overlay(std::size_t n) {
        std::random_device rd;
        network_id = (static_cast<std::uint64_t>(rd()) << 16) | 7;
        for (std::size_t i = 0; i < n; ++i) {
            auto node = std::make_unique<RunnerDht>(io, make_identity("node" + std::to_string(i)));
            RunnerConfig cfg;
            cfg.network_id = network_id;
            if (i > 0) cfg.bootstrap = {"127.0.0.1:" + std::to_string(nodes[0]->bound_port())};
            EXPECT_FALSE(node->start(cfg));
            nodes.push_back(std::move(node));
        }
        // Wait until every node knows at least one other.
        EXPECT_TRUE(run_until(io, [&] {
            for (auto& n : nodes)
                if (n->good_nodes() == 0) return false;
            return true;
        }));
    }
    RunnerDht& add(Identity id) {
        auto node = std::make_unique<RunnerDht>(io, std::move(id));
        RunnerConfig cfg;
        cfg.network_id = network_id;
        cfg.bootstrap = {"127.0.0.1:" + std::to_string(nodes[0]->bound_port())};
        EXPECT_FALSE(node->start(cfg));
        nodes.push_back(std::move(node));
        EXPECT_TRUE(run_until(io, [&] { return nodes.back()->good_nodes() > 0; }));
        return *nodes.back();
    }
};

}  // namespace p2psip::overlay::test
