#pragma once
#include <cstdint>

// The simulator's virtual time. virtual_clock.cpp, linked only into simulator programs,
// replaces libstdc++'s steady_clock::now(), system_clock::now() and random_device so that
// OpenDHT runs on virtual time and repeatable randomness. See docs/simulations.md.
namespace p2psip::sim {

void set_virtual_time_ns(std::int64_t ns);
std::int64_t virtual_time_ns();
// Seeds what std::random_device returns from now on (OpenDHT seeds its generators from it).
void seed_random_device(std::uint64_t seed);
// Wall-clock time for progress and speed figures, untouched by the override.
double real_seconds();

// Where virtual system_clock time 0 of the simulation lies: 2026-01-01T00:00:00Z.
inline constexpr std::int64_t virtual_epoch_unix = 1767225600;

}  // namespace p2psip::sim
