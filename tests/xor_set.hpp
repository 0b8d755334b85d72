// tests/xor_set.hpp - a toy dataset for the training tests.
#pragma once

#include <cstddef>
#include <cstdint>

#include <typenet/core/random.hpp>
#include <typenet/data/dataset.hpp>

namespace test_data {

// XOR of the signs of two coordinates: not linearly separable, so a hidden
// layer must learn it. Four clusters around (+-1, +-1), each coordinate moved
// by up to +-noise.
inline typenet::Dataset xor_set(std::size_t n, std::uint64_t seed, double noise) {
    typenet::Dataset d;
    d.name = "xor toy";
    d.classes = 2;
    d.images.resize(typenet::Dims{n, 2});
    d.labels.resize(n);
    typenet::Rng rng(seed);
    for (std::size_t i = 0; i < n; ++i) {
        const int a = int(i % 2), b = int((i / 2) % 2);
        d.images[2 * i] = float((a ? 1 : -1) + rng.uniform(-noise, noise));
        d.images[2 * i + 1] = float((b ? 1 : -1) + rng.uniform(-noise, noise));
        d.labels[i] = a ^ b;
    }
    return d;
}

}  // namespace test_data
