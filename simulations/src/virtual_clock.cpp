// Linked only into simulator executables: this file redefines three libstdc++ functions
// for the whole process, including libopendht.so, which imports them.
//  - steady_clock::now(): OpenDHT's scheduler, timeouts and value ages read it directly
//    (also inside put/get/listen), so a virtual clock must be the clock itself.
//  - system_clock::now(): record expiry and certificate times, on a fixed virtual date.
//  - random_device: OpenDHT seeds its generators from it; seeded, runs repeat exactly.
// Never link this into the phone.
#include "virtual_clock.hpp"

#include "rng.hpp"

#include <time.h>

#include <chrono>
#include <random>

namespace {
// Per thread: worker threads run their nodes at different instants of one window.
thread_local std::int64_t g_now_ns = 1'000'000'000'000;  // 1000 s: OpenDHT subtracts from now
thread_local p2psip::sim::Rng* g_rd_source = nullptr;
// Outside any node (the main thread, before the nodes exist). Per thread all the same, so
// a draw on a worker thread outside a node could not race (none happens today).
thread_local std::mt19937_64 g_rd_engine{0x5eed};
}  // namespace

namespace p2psip::sim {
void set_virtual_time_ns(std::int64_t ns) {
    g_now_ns = ns;
}
std::int64_t virtual_time_ns() {
    return g_now_ns;
}
void seed_random_device(std::uint64_t seed) {
    g_rd_engine.seed(seed);
}
void set_random_source(Rng* source) {
    g_rd_source = source;
}
double real_seconds() {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}
}  // namespace p2psip::sim

namespace std {
namespace chrono {
inline namespace _V2 {
steady_clock::time_point steady_clock::now() noexcept {
    return time_point(duration(g_now_ns));
}
system_clock::time_point system_clock::now() noexcept {
    return time_point(std::chrono::duration_cast<system_clock::duration>(
        std::chrono::seconds(p2psip::sim::virtual_epoch_unix) +
        std::chrono::nanoseconds(g_now_ns)));
}
}  // namespace _V2
}  // namespace chrono

unsigned int random_device::_M_getval() {
    return static_cast<unsigned int>(g_rd_source ? (*g_rd_source)() >> 32 : g_rd_engine());
}
}  // namespace std
