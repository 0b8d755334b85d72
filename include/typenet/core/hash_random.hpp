// typenet/core/hash_random.hpp - counter-based random numbers for device ops.
//
// Dropout masks are drawn as hash(seed, index) rather than from a sequential
// stream, so every backend (and every thread) computes the same mask for the
// same seed: CPU and CUDA runs can be compared value for value. Augmentation
// (core/augment.hpp) draws its per-sample transforms the same way.
#pragma once

#include <cstdint>

#include "host_device.hpp"

namespace typenet {

/// 64 random bits from (seed, index) (splitmix64's finaliser); also how a
/// per-batch seed is derived from a per-epoch one.
TYPENET_HOST_DEVICE inline std::uint64_t hash_bits(std::uint64_t seed, std::uint64_t index) {
    std::uint64_t z = seed + (index + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/// Uniform value in [0, 1) from (seed, index), with 24 random bits.
TYPENET_HOST_DEVICE inline float hash_uniform(std::uint64_t seed, std::uint64_t index) {
    return float(hash_bits(seed, index) >> 40) * 0x1.0p-24f;
}

}  // namespace typenet
