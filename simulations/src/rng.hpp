#pragma once
#include <cstdint>
#include <limits>

namespace p2psip::sim {

// xoshiro256** (Blackman & Vigna): 32 bytes of state, so every node can own one. Each
// node draws its link jitter, its losses and OpenDHT's std::random_device from its own
// generator, which makes a run independent of how nodes are split among threads.
class Rng {
  public:
    using result_type = std::uint64_t;
    explicit Rng(std::uint64_t seed = 0) { this->seed(seed); }
    void seed(std::uint64_t seed) {
        // SplitMix64 expands the seed into the state, as the authors recommend.
        for (auto& w : s_) {
            seed += 0x9E3779B97F4A7C15ULL;
            std::uint64_t z = seed;
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
            w = z ^ (z >> 31);
        }
    }
    static constexpr result_type min() { return 0; }
    static constexpr result_type max() { return std::numeric_limits<result_type>::max(); }
    result_type operator()() {
        const std::uint64_t result = rotl(s_[1] * 5, 7) * 9;
        const std::uint64_t t = s_[1] << 17;
        s_[2] ^= s_[0];
        s_[3] ^= s_[1];
        s_[1] ^= s_[2];
        s_[0] ^= s_[3];
        s_[2] ^= t;
        s_[3] = rotl(s_[3], 45);
        return result;
    }
    // Uniform in [0, 1).
    double unit() { return static_cast<double>((*this)() >> 11) * 0x1.0p-53; }

  private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    std::uint64_t s_[4];
};

}  // namespace p2psip::sim
