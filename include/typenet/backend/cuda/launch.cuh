// typenet/backend/cuda/launch.cuh - what typenet's kernels share: grid sizes,
// math for float and double, warp and block reductions.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "check.cuh"

namespace typenet::cuda_detail {

inline constexpr int block_threads = 256;

/// Blocks for a grid-stride loop over `count` items: enough to fill any
/// current GPU, never more than the items need.
inline unsigned grid_for(std::size_t count, int threads = block_threads) {
    const std::size_t blocks = (count + std::size_t(threads) - 1) / std::size_t(threads);
    return unsigned(std::clamp<std::size_t>(blocks, 1, 65'536));
}

/// for (i = this thread; i < count; i += all threads) - the loop of every
/// elementwise kernel.
#define TYPENET_GRID_LOOP(i, count)                                                              \
    for (std::size_t i = std::size_t(blockIdx.x) * blockDim.x + threadIdx.x; i < (count); \
         i += std::size_t(gridDim.x) * blockDim.x)

// Math in T: expf / exp etc., chosen at compile time.
template <class T>
__device__ __forceinline__ T exp_t(T x) {
    if constexpr (std::is_same_v<T, float>) return expf(x);
    else return exp(x);
}
template <class T>
__device__ __forceinline__ T sqrt_t(T x) {
    if constexpr (std::is_same_v<T, float>) return sqrtf(x);
    else return sqrt(x);
}
template <class T>
__device__ __forceinline__ T tanh_t(T x) {
    if constexpr (std::is_same_v<T, float>) return tanhf(x);
    else return tanh(x);
}
/// a * b rounded on its own, never fused into a following add: the CPU
/// backend's x86-64 code has no FMA, so this keeps sums bit-identical.
template <class T>
__device__ __forceinline__ T mul_rn(T a, T b) {
    if constexpr (std::is_same_v<T, float>) return __fmul_rn(a, b);
    else return __dmul_rn(a, b);
}
template <class T>
__device__ __forceinline__ T add_rn(T a, T b) {
    if constexpr (std::is_same_v<T, float>) return __fadd_rn(a, b);
    else return __dadd_rn(a, b);
}

template <class V>
__device__ __forceinline__ V warp_sum(V v) {
    for (int off = 16; off > 0; off >>= 1) v += __shfl_down_sync(0xffffffffu, v, off);
    return v;  // complete in lane 0
}
template <class V>
__device__ __forceinline__ V warp_max(V v) {
    for (int off = 16; off > 0; off >>= 1) v = max(v, __shfl_xor_sync(0xffffffffu, v, off));
    return v;  // complete in every lane
}

/// Sum over the whole block (blockDim.x a multiple of 32, at most 1024);
/// every thread receives the total. Uses 32 V of shared memory.
template <class V>
__device__ V block_sum(V v) {
    __shared__ V partial[32];
    const int lane = int(threadIdx.x) % 32, warp = int(threadIdx.x) / 32;
    v = warp_sum(v);
    __syncthreads();  // partial may still be read from a previous call
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    const int warps = int(blockDim.x) / 32;
    V total = V(0);
    for (int w = 0; w < warps; ++w) total += partial[w];
    return total;
}

}  // namespace typenet::cuda_detail
