#include "p2psip/nat/ice_agent.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <boost/asio.hpp>
#include <chrono>
#include <fstream>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "../common/replace_new.hpp"
#include "p2psip/nat/error.hpp"

// Counts operator new calls made off the test's main thread while enabled: the receive path on
// the GLib thread must not allocate per datagram.
namespace {
std::atomic<bool> g_count_foreign_allocs{false};
std::atomic<int> g_foreign_allocs{0};
std::thread::id g_main_thread = std::this_thread::get_id();
}  // namespace

void on_allocation() noexcept {
    if (g_count_foreign_allocs.load(std::memory_order_relaxed) &&
        std::this_thread::get_id() != g_main_thread)
        g_foreign_allocs.fetch_add(1, std::memory_order_relaxed);
}

namespace p2psip::nat {
namespace {

namespace asio = boost::asio;
using namespace std::chrono_literals;

// Drives one io_context (as node/ does) until a condition holds or the timeout expires.
class Loop {
  public:
    template <class Pred>
    bool run_until(Pred pred, std::chrono::milliseconds timeout) {
        const auto deadline = std::chrono::steady_clock::now() + timeout;
        while (!pred()) {
            if (std::chrono::steady_clock::now() >= deadline) return false;
            io.run_for(10ms);
        }
        return true;
    }
    asio::io_context io;

  private:
    asio::executor_work_guard<asio::io_context::executor_type> guard_{io.get_executor()};
};

IceConfig loopback(bool controlling) {
    IceConfig c;
    c.controlling = controlling;
    c.local_addresses = {"127.0.0.1"};
    return c;
}

std::shared_ptr<IceAgent> make_agent(Loop& loop, IceConfig cfg) {
    std::error_code ec;
    auto a = IceAgent::create(loop.io, std::move(cfg), ec);
    EXPECT_FALSE(ec) << ec.message();
    EXPECT_TRUE(a);
    return a;
}

// Gathers and waits; returns the completion code (nullopt on timeout).
std::optional<std::error_code> gather(Loop& loop, IceAgent& a) {
    std::optional<std::error_code> result;
    a.gather([&](std::error_code ec) { result = ec; });
    loop.run_until([&] { return result.has_value(); }, 10s);
    return result;
}

// Sends the candidates through their SDP attribute form, as a real offer/answer would.
std::vector<Candidate> via_sdp(const std::vector<Candidate>& cands) {
    std::vector<Candidate> out;
    for (const auto& c : cands) {
        const std::string line = "a=candidate:" + to_sdp_attribute_value(c) + "\r\n";
        Candidate parsed;
        EXPECT_FALSE(parse_candidate_attribute(line, parsed)) << line;
        EXPECT_EQ(parsed, c) << line;
        out.push_back(parsed);
    }
    return out;
}

int thread_count() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.rfind("Threads:", 0) == 0) return std::stoi(line.substr(8));
    }
    return -1;
}

std::vector<uint8_t> payload(char from, int i) {
    // Varying sizes and contents so truncation or mixing would be noticed.
    std::vector<uint8_t> p(static_cast<size_t>(20 + i * 17));
    p[0] = static_cast<uint8_t>(from);
    p[1] = static_cast<uint8_t>(i);
    for (size_t k = 2; k < p.size(); ++k) p[k] = static_cast<uint8_t>(k * 31 + i);
    return p;
}

TEST(IceAgent, CreateRejectsBadConfig) {
    Loop loop;
    std::error_code ec;
    IceConfig c = loopback(true);
    c.local_addresses = {"not-an-ip"};
    EXPECT_FALSE(IceAgent::create(loop.io, c, ec));
    EXPECT_EQ(ec, make_error_code(Errc::invalid_address));

    c = loopback(true);
    c.min_port = 5000;
    c.max_port = 4000;
    EXPECT_FALSE(IceAgent::create(loop.io, c, ec));
    EXPECT_EQ(ec, make_error_code(Errc::invalid_config));

    c = loopback(true);
    c.servers.stun_host = "stun.example.org";  // names are not resolved
    EXPECT_FALSE(IceAgent::create(loop.io, c, ec));
    EXPECT_EQ(ec, make_error_code(Errc::invalid_address));
}

TEST(IceAgent, GathersLoopbackHostCandidateInPortRange) {
    Loop loop;
    IceConfig cfg = loopback(false);
    cfg.min_port = 47100;
    cfg.max_port = 47199;
    auto a = make_agent(loop, cfg);
    ASSERT_TRUE(a);
    std::vector<IceState> states;
    a->on_state([&](IceState s) { states.push_back(s); });
    EXPECT_EQ(a->state(), IceState::gathering);

    // Not allowed before gathering finished / before connected.
    EXPECT_EQ(a->set_remote({"abcd", "abcdefghijklmnopqrstuv"}, {}),
              make_error_code(Errc::invalid_state));
    const uint8_t byte = 1;
    EXPECT_EQ(a->send({&byte, 1}), make_error_code(Errc::not_connected));

    auto r = gather(loop, *a);
    ASSERT_TRUE(r.has_value()) << "gathering timed out";
    ASSERT_FALSE(*r) << r->message();
    EXPECT_TRUE(loop.run_until([&] { return !states.empty(); }, 5s));
    EXPECT_EQ(states, std::vector<IceState>{IceState::ready});
    EXPECT_EQ(a->state(), IceState::ready);

    EXPECT_FALSE(validate_credentials(a->local_credentials()));
    const auto cands = a->local_candidates();
    ASSERT_FALSE(cands.empty());
    for (const auto& c : cands) {
        EXPECT_EQ(c.type, "host");
        EXPECT_EQ(c.transport, "UDP");
        EXPECT_EQ(c.component, 1);
        EXPECT_EQ(c.address, "127.0.0.1");
        EXPECT_GE(c.port, 47100);
        EXPECT_LE(c.port, 47199);
        EXPECT_GT(c.priority, 0u);
    }

    // A second gather is refused, still through the callback.
    std::optional<std::error_code> second;
    a->gather([&](std::error_code ec) { second = ec; });
    ASSERT_TRUE(loop.run_until([&] { return second.has_value(); }, 5s));
    EXPECT_EQ(*second, make_error_code(Errc::invalid_state));

    EXPECT_EQ(a->set_remote({"ab", "short"}, {}), make_error_code(Errc::invalid_credentials));
    Candidate tcp = cands.front();
    tcp.transport = "TCP";
    EXPECT_EQ(a->set_remote({"abcd", "abcdefghijklmnopqrstuv"}, {tcp}),
              make_error_code(Errc::unsupported_candidate));

    a->close();
    EXPECT_TRUE(loop.run_until([&] { return states.back() == IceState::closed; }, 5s));
    EXPECT_EQ(a->state(), IceState::closed);
    EXPECT_EQ(a->send({&byte, 1}), make_error_code(Errc::closed));
    EXPECT_EQ(a->set_remote({"abcd", "abcdefghijklmnopqrstuv"}, {}), make_error_code(Errc::closed));
    a->close();  // idempotent
}

TEST(IceAgent, TwoAgentsConnectOnLoopbackAndExchangeDatagrams) {
    Loop loop;
    auto a = make_agent(loop, loopback(true));
    auto b = make_agent(loop, loopback(false));
    ASSERT_TRUE(a && b);

    std::vector<IceState> sa, sb;
    std::vector<std::vector<uint8_t>> ra, rb;
    a->on_state([&](IceState s) { sa.push_back(s); });
    b->on_state([&](IceState s) { sb.push_back(s); });
    a->on_receive([&](std::span<const uint8_t> d) { ra.emplace_back(d.begin(), d.end()); });
    b->on_receive([&](std::span<const uint8_t> d) { rb.emplace_back(d.begin(), d.end()); });

    std::optional<std::error_code> ga, gb;
    a->gather([&](std::error_code ec) { ga = ec; });
    b->gather([&](std::error_code ec) { gb = ec; });
    ASSERT_TRUE(loop.run_until([&] { return ga && gb; }, 10s));
    ASSERT_FALSE(*ga) << ga->message();
    ASSERT_FALSE(*gb) << gb->message();

    ASSERT_FALSE(b->set_remote(a->local_credentials(), via_sdp(a->local_candidates())));
    ASSERT_FALSE(a->set_remote(b->local_credentials(), via_sdp(b->local_candidates())));

    auto connected = [](const std::vector<IceState>& s) {
        return std::find(s.begin(), s.end(), IceState::connected) != s.end();
    };
    ASSERT_TRUE(loop.run_until([&] { return connected(sa) && connected(sb); }, 10s))
        << "a=" << to_string(a->state()) << " b=" << to_string(b->state());
    EXPECT_EQ(sa.front(), IceState::ready);
    EXPECT_EQ(std::count(sa.begin(), sa.end(), IceState::failed), 0);
    EXPECT_EQ(std::count(sb.begin(), sb.end(), IceState::failed), 0);

    std::vector<std::vector<uint8_t>> sent_a, sent_b;
    for (int i = 0; i < 50; ++i) {
        sent_a.push_back(payload('A', i));
        sent_b.push_back(payload('B', i));
    }
    ra.reserve(100);
    rb.reserve(100);
    g_foreign_allocs = 0;
    g_count_foreign_allocs = true;
    for (int i = 0; i < 50; ++i) {
        ASSERT_FALSE(a->send(sent_a[i])) << i;
        ASSERT_FALSE(b->send(sent_b[i])) << i;
    }
    const bool all_received =
        loop.run_until([&] { return ra.size() >= 50 && rb.size() >= 50; }, 10s);
    g_count_foreign_allocs = false;
    ASSERT_TRUE(all_received) << "a got " << ra.size() << ", b got " << rb.size();
    EXPECT_EQ(g_foreign_allocs.load(), 0) << "GLib thread allocated on the receive path";
    loop.io.run_for(100ms);  // catch duplicates
    // Order-insensitive comparison: UDP may reorder.
    std::sort(sent_a.begin(), sent_a.end());
    std::sort(sent_b.begin(), sent_b.end());
    std::sort(ra.begin(), ra.end());
    std::sort(rb.begin(), rb.end());
    EXPECT_EQ(rb, sent_a);
    EXPECT_EQ(ra, sent_b);
    EXPECT_EQ(a->dropped_datagrams(), 0u);
    EXPECT_EQ(b->dropped_datagrams(), 0u);

    // Both see a host/host pair on loopback, mirrored.
    const auto pa = a->selected_pair();
    const auto pb = b->selected_pair();
    EXPECT_EQ(pa.rfind("host 127.0.0.1:", 0), 0u) << pa;
    EXPECT_NE(pa.find(" <-> host 127.0.0.1:"), std::string::npos) << pa;
    const auto sep = std::string(" <-> ");
    const auto la = pa.substr(0, pa.find(sep));
    const auto lb = pb.substr(0, pb.find(sep));
    EXPECT_EQ(pa, la + sep + lb);
    EXPECT_EQ(pb, lb + sep + la);

    a->close();
    b->close();
    EXPECT_TRUE(loop.run_until(
        [&] { return sa.back() == IceState::closed && sb.back() == IceState::closed; }, 5s));
}

TEST(IceAgent, UnreachableRemoteEndsInFailed) {
    Loop loop;
    // A port that was just bound and released: nothing answers there.
    uint16_t dead_port = 0;
    {
        asio::ip::udp::socket s(loop.io,
                                asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
        dead_port = s.local_endpoint().port();
    }
    IceConfig cfg = loopback(true);
    cfg.stun_initial_timeout_ms = 100;  // keep the test short; libnice default is 500 ms
    cfg.stun_max_retransmissions = 2;
    auto a = make_agent(loop, cfg);
    ASSERT_TRUE(a);
    std::vector<IceState> states;
    a->on_state([&](IceState s) { states.push_back(s); });
    auto r = gather(loop, *a);
    ASSERT_TRUE(r && !*r);

    Candidate remote;
    remote.foundation = "1";
    remote.priority = 2130706431;
    remote.address = "127.0.0.1";
    remote.port = dead_port;
    ASSERT_FALSE(a->set_remote({"dead", "deaddeaddeaddeaddeadde"}, {remote}));
    ASSERT_TRUE(
        loop.run_until([&] { return !states.empty() && states.back() == IceState::failed; }, 60s))
        << "state " << to_string(a->state());
    EXPECT_EQ(std::count(states.begin(), states.end(), IceState::connected), 0);
    const uint8_t byte = 0;
    EXPECT_EQ(a->send({&byte, 1}), make_error_code(Errc::not_connected));
    EXPECT_TRUE(a->selected_pair().empty());
}

TEST(IceAgent, CloseFromReceiveCallbackAndDestroyWithoutClose) {
    Loop loop;
    auto a = make_agent(loop, loopback(true));
    auto b = make_agent(loop, loopback(false));
    ASSERT_TRUE(a && b);
    bool a_conn = false, b_conn = false;
    a->on_state([&](IceState s) { a_conn |= s == IceState::connected; });
    b->on_state([&](IceState s) { b_conn |= s == IceState::connected; });
    int received = 0;
    b->on_receive([&](std::span<const uint8_t>) {
        ++received;
        b->close();  // from inside a callback on the io_context thread
    });
    ASSERT_TRUE(gather(loop, *a) == std::error_code{});
    ASSERT_TRUE(gather(loop, *b) == std::error_code{});
    ASSERT_FALSE(b->set_remote(a->local_credentials(), a->local_candidates()));
    ASSERT_FALSE(a->set_remote(b->local_credentials(), b->local_candidates()));
    ASSERT_TRUE(loop.run_until([&] { return a_conn && b_conn; }, 10s));
    const uint8_t data[3] = {1, 2, 3};
    for (int i = 0; i < 20; ++i) ASSERT_FALSE(a->send(data));
    ASSERT_TRUE(loop.run_until([&] { return b->state() == IceState::closed; }, 10s));
    loop.io.run_for(200ms);
    EXPECT_EQ(received, 1);  // nothing delivered after close()
    b.reset();
    a.reset();  // destructor closes a connected agent
    loop.io.run_for(50ms);
}

TEST(IceAgent, DestroyWhileGatheringReportsClosedOrDone) {
    Loop loop;
    std::optional<std::error_code> result;
    {
        auto a = make_agent(loop, loopback(true));
        ASSERT_TRUE(a);
        a->gather([&](std::error_code ec) { result = ec; });
    }  // destroyed before the io_context ran anything
    ASSERT_TRUE(loop.run_until([&] { return result.has_value(); }, 5s));
    EXPECT_TRUE(!*result || *result == make_error_code(Errc::closed)) << result->message();
}

TEST(IceAgent, TwentyAgentsCreateAndCloseWithoutLeakingThreads) {
    Loop loop;
    {  // warm-up: lets GLib/libnice create any process-wide helpers once
        auto a = make_agent(loop, loopback(true));
        ASSERT_TRUE(a);
        ASSERT_TRUE(gather(loop, *a) == std::error_code{});
    }
    const int before = thread_count();
    ASSERT_GT(before, 0);
    int peak = 0;
    for (int i = 0; i < 20; ++i) {
        auto a = make_agent(loop, loopback(i % 2 == 0));
        ASSERT_TRUE(a);
        if (i % 2 == 0) {
            auto r = gather(loop, *a);
            ASSERT_TRUE(r.has_value()) << "iteration " << i;
            ASSERT_FALSE(*r) << r->message();
        }
        peak = std::max(peak, thread_count());
        a->close();
        EXPECT_EQ(a->state(), IceState::closed);
    }
    EXPECT_GT(peak, before);  // each agent really ran its own thread
    EXPECT_EQ(thread_count(), before);
}

}  // namespace
}  // namespace p2psip::nat
