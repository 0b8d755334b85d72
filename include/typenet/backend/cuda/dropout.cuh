// typenet/backend/cuda/dropout.cuh - inverted dropout on the GPU. Masks come
// from hash_uniform(seed, index), so they equal the CPU's bit for bit.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../core/hash_random.hpp"
#include "cuda.cuh"
#include "launch.cuh"

namespace typenet {

namespace cuda_detail {

template <class T>
__global__ void dropout_forward_kernel(std::size_t count, float rate, T keep_scale, std::uint64_t seed, const T* x,
                                       T* y, T* mask) {
    TYPENET_GRID_LOOP(i, count) {
        const T m = hash_uniform(seed, i) >= rate ? keep_scale : T(0);
        mask[i] = m;
        y[i] = x[i] * m;
    }
}

template <class T>
__global__ void multiply_kernel(std::size_t count, const T* a, const T* b, T* out) {
    TYPENET_GRID_LOOP(i, count) out[i] = a[i] * b[i];
}

}  // namespace cuda_detail

/// Inverted dropout: mask[i] = (u(seed, i) >= rate) / (1 - rate), y = x * mask.
template <class T>
void dropout_forward(const Cuda& be, std::size_t count, double rate, std::uint64_t seed, const T* x, T* y, T* mask) {
    if (count == 0) return;
    cuda_detail::dropout_forward_kernel<<<cuda_detail::grid_for(count), cuda_detail::block_threads, 0, be.stream()>>>(
        count, float(rate), T(1.0 / (1.0 - rate)), seed, x, y, mask);
    TYPENET_CUDA_LAUNCHED("dropout_forward");
}

/// dx = dy * mask.
template <class T>
void dropout_backward(const Cuda& be, std::size_t count, const T* dy, const T* mask, T* dx) {
    if (count == 0) return;
    cuda_detail::multiply_kernel<<<cuda_detail::grid_for(count), cuda_detail::block_threads, 0, be.stream()>>>(
        count, dy, mask, dx);
    TYPENET_CUDA_LAUNCHED("dropout_backward");
}

}  // namespace typenet
