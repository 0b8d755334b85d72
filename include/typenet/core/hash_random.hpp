// typenet/core/hash_random.hpp - counter-based random numbers for device ops.
//
// Dropout masks are drawn as hash(seed, index) rather than from a sequential
// stream, so every backend (and every thread) computes the same mask for the
// same seed: CPU and CUDA runs can be compared value for value.
#pragma once

#include <cstdint>

#include "host_device.hpp"

namespace typenet {

/// Uniform value in [0, 1) from (seed, index), with 24 random bits.
TYPENET_HOST_DEVICE inline float hash_uniform(std::uint64_t seed, std::uint64_t index) {
    std::uint64_t z = seed + (index + 1) * 0x9e3779b97f4a7c15ULL;
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    z ^= z >> 31;
    return float(z >> 40) * 0x1.0p-24f;
}

}  // namespace typenet
