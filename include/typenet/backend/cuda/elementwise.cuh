// typenet/backend/cuda/elementwise.cuh - bias, activations, softmax and the
// finiteness check on the GPU; same formulas as backend/cpu/elementwise.hpp.
#pragma once

#include <cstddef>

#include "../../core/activation_kind.hpp"
#include "cuda.cuh"
#include "launch.cuh"

namespace typenet {

namespace cuda_detail {

template <class T>
__global__ void bias_add_kernel(std::size_t count, std::size_t channels, std::size_t spatial, T* y, const T* b) {
    TYPENET_GRID_LOOP(i, count) y[i] += b[(i / spatial) % channels];
}

// spatial == 1 (Dense): dy is (n, channels); 32 columns per block, 8 lanes
// of rows per column, so every load is a coalesced 128-byte row segment.
template <class T>
__global__ void column_sum_kernel(std::size_t n, std::size_t channels, const T* dy, T* db) {
    __shared__ T part[8][33];
    const std::size_t c = std::size_t(blockIdx.x) * 32 + threadIdx.x;
    T s = T(0);
    if (c < channels)
        for (std::size_t r = threadIdx.y; r < n; r += 8) s += dy[r * channels + c];
    part[threadIdx.y][threadIdx.x] = s;
    __syncthreads();
    if (threadIdx.y == 0 && c < channels) {
        T total = T(0);
        for (int k = 0; k < 8; ++k) total += part[k][threadIdx.x];
        db[c] = total;
    }
}

// spatial > 1 (convolutions): one block per channel sums its n*spatial values.
template <class T>
__global__ void channel_sum_kernel(std::size_t n, std::size_t channels, std::size_t spatial, const T* dy, T* db) {
    const std::size_t c = blockIdx.x;
    T s = T(0);
    for (std::size_t j = threadIdx.x; j < n * spatial; j += blockDim.x)
        s += dy[((j / spatial) * channels + c) * spatial + j % spatial];
    s = block_sum(s);
    if (threadIdx.x == 0) db[c] = s;
}

template <class T>
__device__ __forceinline__ T activate(ActivationKind kind, T x) {
    switch (kind) {
        case ActivationKind::identity: return x;
        case ActivationKind::relu: return x > T(0) ? x : T(0);
        case ActivationKind::sigmoid: return T(1) / (T(1) + exp_t(-x));
        case ActivationKind::tanh: return tanh_t(x);
        case ActivationKind::elu: return x > T(0) ? x : exp_t(x) - T(1);
        case ActivationKind::selu: return T(selu_scale) * (x > T(0) ? x : T(selu_alpha) * (exp_t(x) - T(1)));
    }
    return x;
}

template <class T>
__global__ void activation_forward_kernel(ActivationKind kind, std::size_t count, const T* x, T* y) {
    TYPENET_GRID_LOOP(i, count) y[i] = activate(kind, x[i]);
}

template <class T>
__global__ void activation_backward_kernel(ActivationKind kind, std::size_t count, const T* x, const T* y,
                                           const T* dy, T* dx) {
    TYPENET_GRID_LOOP(i, count) {
        const T g = dy[i];
        switch (kind) {
            case ActivationKind::identity: dx[i] = g; break;
            case ActivationKind::relu: dx[i] = x[i] > T(0) ? g : T(0); break;
            case ActivationKind::sigmoid: dx[i] = g * y[i] * (T(1) - y[i]); break;
            case ActivationKind::tanh: dx[i] = g * (T(1) - y[i] * y[i]); break;
            case ActivationKind::elu: dx[i] = x[i] > T(0) ? g : g * (y[i] + T(1)); break;
            case ActivationKind::selu:
                dx[i] = x[i] > T(0) ? g * T(selu_scale) : g * (y[i] + T(selu_scale * selu_alpha));
                break;
        }
    }
}

// One warp per row: rows are short (the class count), so a block would idle.
template <class T>
__global__ void softmax_forward_kernel(std::size_t rows, std::size_t cols, const T* x, T* y) {
    const std::size_t warps = std::size_t(gridDim.x) * (blockDim.x / 32);
    const unsigned lane = threadIdx.x % 32;
    for (std::size_t r = std::size_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps) {
        const T* xr = x + r * cols;  // (cols)
        T* yr = y + r * cols;
        T m = xr[0];
        for (std::size_t c = lane; c < cols; c += 32) m = max(m, xr[c]);
        m = warp_max(m);
        T s = T(0);
        for (std::size_t c = lane; c < cols; c += 32) s += (yr[c] = exp_t(xr[c] - m));
        s = __shfl_sync(0xffffffffu, warp_sum(s), 0);
        for (std::size_t c = lane; c < cols; c += 32) yr[c] /= s;
    }
}

template <class T>
__global__ void softmax_backward_kernel(std::size_t rows, std::size_t cols, const T* y, const T* dy, T* dx) {
    const std::size_t warps = std::size_t(gridDim.x) * (blockDim.x / 32);
    const unsigned lane = threadIdx.x % 32;
    for (std::size_t r = std::size_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps) {
        const T *yr = y + r * cols, *gr = dy + r * cols;
        T dot = T(0);
        for (std::size_t c = lane; c < cols; c += 32) dot += yr[c] * gr[c];
        dot = __shfl_sync(0xffffffffu, warp_sum(dot), 0);
        for (std::size_t c = lane; c < cols; c += 32) dx[r * cols + c] = yr[c] * (gr[c] - dot);
    }
}

template <class T>
__global__ void finite_kernel(std::size_t count, const T* x, int* bad) {
    TYPENET_GRID_LOOP(i, count) if (!isfinite(x[i])) *bad = 1;
}

/// Blocks for `rows` rows at one warp per row.
inline unsigned grid_for_rows(std::size_t rows) { return grid_for(rows, block_threads / 32); }

}  // namespace cuda_detail

/// y(n, c, s) += b(c) for a tensor seen as (n, channels, spatial).
template <class T>
void bias_add(const Cuda& be, std::size_t n, std::size_t channels, std::size_t spatial, T* y, const T* b) {
    const std::size_t count = n * channels * spatial;
    if (count == 0) return;
    cuda_detail::bias_add_kernel<<<cuda_detail::grid_for(count), cuda_detail::block_threads, 0, be.stream()>>>(
        count, channels, spatial, y, b);
    TYPENET_CUDA_LAUNCHED("bias_add");
}

/// db(c) = sum over n and s of dy(n, c, s). Overwrites db.
template <class T>
void bias_grad(const Cuda& be, std::size_t n, std::size_t channels, std::size_t spatial, const T* dy, T* db) {
    if (channels == 0) return;
    if (spatial == 1) {
        cuda_detail::column_sum_kernel<<<unsigned((channels + 31) / 32), dim3(32, 8), 0, be.stream()>>>(n, channels,
                                                                                                      dy, db);
    } else {
        cuda_detail::channel_sum_kernel<<<unsigned(channels), cuda_detail::block_threads, 0, be.stream()>>>(
            n, channels, spatial, dy, db);
    }
    TYPENET_CUDA_LAUNCHED("bias_grad");
}

/// y = f(x) elementwise over `count` values (x and y may alias).
template <class T>
void activation_forward(const Cuda& be, ActivationKind kind, std::size_t count, const T* x, T* y) {
    if (count == 0) return;
    cuda_detail::activation_forward_kernel<<<cuda_detail::grid_for(count), cuda_detail::block_threads, 0,
                                             be.stream()>>>(kind, count, x, y);
    TYPENET_CUDA_LAUNCHED("activation_forward");
}

/// dx = dy * f'(x), given x and y = f(x).
template <class T>
void activation_backward(const Cuda& be, ActivationKind kind, std::size_t count, const T* x, const T* y, const T* dy,
                         T* dx) {
    if (count == 0) return;
    cuda_detail::activation_backward_kernel<<<cuda_detail::grid_for(count), cuda_detail::block_threads, 0,
                                              be.stream()>>>(kind, count, x, y, dy, dx);
    TYPENET_CUDA_LAUNCHED("activation_backward");
}

/// Row-wise softmax of a (rows, cols) matrix, max-shifted for stability.
template <class T>
void softmax_forward(const Cuda& be, std::size_t rows, std::size_t cols, const T* x, T* y) {
    if (rows == 0 || cols == 0) return;
    cuda_detail::softmax_forward_kernel<<<cuda_detail::grid_for_rows(rows), cuda_detail::block_threads, 0,
                                          be.stream()>>>(rows, cols, x, y);
    TYPENET_CUDA_LAUNCHED("softmax_forward");
}

/// dx = y * (dy - sum(dy * y)) row-wise.
template <class T>
void softmax_backward(const Cuda& be, std::size_t rows, std::size_t cols, const T* y, const T* dy, T* dx) {
    if (rows == 0 || cols == 0) return;
    cuda_detail::softmax_backward_kernel<<<cuda_detail::grid_for_rows(rows), cuda_detail::block_threads, 0,
                                           be.stream()>>>(rows, cols, y, dy, dx);
    TYPENET_CUDA_LAUNCHED("softmax_backward");
}

/// True when every value is finite. Waits for the GPU (the answer is needed on the host).
template <class T>
bool all_finite(const Cuda& be, std::size_t count, const T* x) {
    int* bad = be.state().flag;
    TYPENET_CUDA_CHECK(cudaMemsetAsync(bad, 0, sizeof(int), be.stream()));
    if (count) {
        cuda_detail::finite_kernel<<<cuda_detail::grid_for(count), cuda_detail::block_threads, 0, be.stream()>>>(
            count, x, bad);
        TYPENET_CUDA_LAUNCHED("all_finite");
    }
    int host = 0;
    TYPENET_CUDA_CHECK(cudaMemcpyAsync(&host, bad, sizeof(int), cudaMemcpyDeviceToHost, be.stream()));
    TYPENET_CUDA_CHECK(cudaStreamSynchronize(be.stream()));
    return host == 0;
}

}  // namespace typenet
