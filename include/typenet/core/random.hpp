// typenet/core/random.hpp - the one seeded random generator.
//
// Weight init, shuffling and dropout all draw from an Rng, so the same seed
// gives the same run. It is xoshiro256** seeded through splitmix64, with its
// own distributions: std::uniform_real_distribution and friends differ
// between standard libraries, which would make runs non-reproducible.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>
#include <numbers>
#include <span>
#include <utility>

namespace typenet {

class Rng {
public:
    using State = std::array<std::uint64_t, 4>;

    explicit Rng(std::uint64_t seed = 0) { reseed(seed); }

    void reseed(std::uint64_t seed) {
        std::uint64_t x = seed;
        for (auto& w : s_) w = splitmix64(x);
    }

    /// Next raw 64 random bits.
    std::uint64_t next() {
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

    /// Uniform double in [0, 1) with 53 random bits.
    double uniform() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
    /// Uniform in [lo, hi).
    double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
    /// Standard normal (Box-Muller; one value per call keeps the stream simple).
    double normal() {
        double u1 = uniform();
        while (u1 <= 0.0) u1 = uniform();
        const double u2 = uniform();
        return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * std::numbers::pi * u2);
    }
    /// Uniform integer in [0, n), unbiased (Lemire's multiply-and-reject).
    std::uint64_t below(std::uint64_t n) {
        if (n <= 1) return 0;
        __extension__ typedef unsigned __int128 u128;  // GCC / Clang extension, silences -Wpedantic
        while (true) {
            const u128 m = static_cast<u128>(next()) * n;
            const auto low = static_cast<std::uint64_t>(m);
            if (low >= n || low >= (-n) % n) return static_cast<std::uint64_t>(m >> 64);
        }
    }
    /// Fisher-Yates shuffle.
    template <class T>
    void shuffle(std::span<T> v) {
        for (std::size_t i = v.size(); i > 1; --i) std::swap(v[i - 1], v[below(i)]);
    }

    /// The full state, for checkpoints.
    State state() const { return s_; }
    void set_state(const State& s) { s_ = s; }

private:
    static std::uint64_t rotl(std::uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }
    static std::uint64_t splitmix64(std::uint64_t& x) {
        std::uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    State s_{};
};

}  // namespace typenet
