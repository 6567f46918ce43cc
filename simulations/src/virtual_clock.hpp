#pragma once
#include <cstdint>

// The simulator's virtual time. virtual_clock.cpp, linked only into simulator programs,
// replaces libstdc++'s steady_clock::now(), system_clock::now() and random_device so that
// OpenDHT runs on virtual time and repeatable randomness. See docs/simulations.md.
namespace p2psip::sim {

class Rng;

// Virtual time is per thread: each worker thread runs its own nodes at its own instant.
void set_virtual_time_ns(std::int64_t ns);
std::int64_t virtual_time_ns();
// Seeds what std::random_device returns on threads with no random source set.
void seed_random_device(std::uint64_t seed);
// What std::random_device returns on this thread from now on (OpenDHT seeds its node ids
// and generators from it): the generator of the node being run, or nullptr for the seeded
// default.
void set_random_source(Rng* source);
// Wall-clock time for progress and speed figures, untouched by the override.
double real_seconds();

// Where virtual system_clock time 0 of the simulation lies: 2026-01-01T00:00:00Z.
inline constexpr std::int64_t virtual_epoch_unix = 1767225600;

}  // namespace p2psip::sim
