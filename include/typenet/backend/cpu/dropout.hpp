// typenet/backend/cpu/dropout.hpp - inverted dropout on the CPU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../core/hash_random.hpp"

namespace typenet {

class Cpu;

/// Inverted dropout: mask[i] = (u(seed, i) >= rate) / (1 - rate), y = x * mask.
template <class T>
void dropout_forward(const Cpu&, std::size_t count, double rate, std::uint64_t seed, const T* x, T* y, T* mask) {
    const T keep_scale = T(1.0 / (1.0 - rate));
    const float r = float(rate);
    for (std::size_t i = 0; i < count; ++i) {
        mask[i] = hash_uniform(seed, i) >= r ? keep_scale : T(0);
        y[i] = x[i] * mask[i];
    }
}

/// dx = dy * mask.
template <class T>
void dropout_backward(const Cpu&, std::size_t count, const T* dy, const T* mask, T* dx) {
    for (std::size_t i = 0; i < count; ++i) dx[i] = dy[i] * mask[i];
}

}  // namespace typenet
