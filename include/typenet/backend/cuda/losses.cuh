// typenet/backend/cuda/losses.cuh - fused loss + gradient + accuracy kernels.
//
// Same contract and formulas as backend/cpu/losses.hpp: each op reads a
// (rows, cols) output and int32 labels, adds the summed per-sample loss to
// acc[0] and the number of rows whose (first) argmax equals the label to
// acc[1] - both doubles on the device, added with one atomicAdd per block -
// and writes grad = scale * dloss/dout when grad is not null. One warp per
// row; the per-row loss is computed in double, as on the CPU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../losses/rules.hpp"
#include "cuda.cuh"
#include "elementwise.cuh"
#include "launch.cuh"

namespace typenet {

namespace cuda_detail {

enum class LossKind { softmax_cross_entropy, binary_cross_entropy, mean_squared_error, none };

// The row's maximum and its first index, in every lane.
template <class T>
__device__ void row_argmax(const T* row, std::size_t cols, unsigned lane, T& best, std::size_t& at) {
    best = row[0];
    at = 0;
    for (std::size_t c = lane; c < cols; c += 32)
        if (row[c] > best) best = row[c], at = c;
    for (int off = 16; off > 0; off >>= 1) {
        const T other = __shfl_xor_sync(0xffffffffu, best, off);
        const std::size_t other_at = __shfl_xor_sync(0xffffffffu, at, off);
        if (other > best || (other == best && other_at < at)) best = other, at = other_at;
    }
}

template <LossKind K, class T>
__global__ void loss_kernel(std::size_t rows, std::size_t cols, const T* out, const std::int32_t* labels, T* grad,
                            T scale, double* acc) {
    const std::size_t warps = std::size_t(gridDim.x) * (blockDim.x / 32);
    const unsigned lane = threadIdx.x % 32;
    double loss = 0, correct = 0;  // this warp's rows, complete in lane 0
    for (std::size_t r = std::size_t(blockIdx.x) * (blockDim.x / 32) + threadIdx.x / 32; r < rows; r += warps) {
        const T* x = out + r * cols;  // (cols)
        T* g = grad ? grad + r * cols : nullptr;
        const auto label = std::size_t(labels[r]);
        T m;
        std::size_t at;
        row_argmax(x, cols, lane, m, at);
        double l = 0;
        if constexpr (K == LossKind::softmax_cross_entropy) {
            double s = 0;
            for (std::size_t c = lane; c < cols; c += 32) s += exp(double(x[c] - m));
            s = __shfl_sync(0xffffffffu, warp_sum(s), 0);
            l = log(s) + double(m) - double(x[label]);
            if (g) {
                const double inv = 1.0 / s;
                for (std::size_t c = lane; c < cols; c += 32)
                    g[c] = scale * T(exp(double(x[c] - m)) * inv - (c == label ? 1.0 : 0.0));
            }
        } else if constexpr (K == LossKind::binary_cross_entropy) {
            for (std::size_t c = lane; c < cols; c += 32) {
                const double q = rules::bce_clamp(double(x[c]));
                const double t = (c == label) ? 1.0 : 0.0;
                l -= rules::bce_log_likelihood(q, t);
                if (g) g[c] = scale * T(rules::bce_gradient(q, t) / double(cols));
            }
            l = warp_sum(l) / double(cols);
        } else if constexpr (K == LossKind::mean_squared_error) {
            for (std::size_t c = lane; c < cols; c += 32) {
                const double d = double(x[c]) - ((c == label) ? 1.0 : 0.0);
                l += d * d;
                if (g) g[c] = scale * T(2.0 * d / double(cols));
            }
            l = warp_sum(l) / double(cols);
        }
        if (lane == 0) {
            loss += l;
            correct += (at == label) ? 1.0 : 0.0;
        }
    }
    // Lane 0 of each warp holds its part; one atomic pair per block.
    loss = block_sum(lane == 0 ? loss : 0.0);
    correct = block_sum(lane == 0 ? correct : 0.0);
    if (threadIdx.x == 0) {
        if constexpr (K != LossKind::none) atomicAdd(acc, loss);
        atomicAdd(acc + 1, correct);
    }
}

template <LossKind K, class T>
void launch_loss(const Cuda& be, std::size_t rows, std::size_t cols, const T* out, const std::int32_t* labels,
                 T* grad, T scale, double* acc) {
    if (rows == 0 || cols == 0) return;
    // Few blocks: each ends in one atomicAdd pair, and a batch has few rows.
    const unsigned blocks = std::min(grid_for_rows(rows), 1024u);
    loss_kernel<K><<<blocks, block_threads, 0, be.stream()>>>(rows, cols, out, labels, grad, scale, acc);
    TYPENET_CUDA_LAUNCHED("loss");
}

}  // namespace cuda_detail

/// Softmax cross-entropy on logits: loss = logsumexp(x) - x[label];
/// grad = scale * (softmax(x) - onehot(label)).
template <class T>
void softmax_cross_entropy(const Cuda& be, std::size_t rows, std::size_t cols, const T* logits,
                           const std::int32_t* labels, T* grad, T scale, double* acc) {
    cuda_detail::launch_loss<cuda_detail::LossKind::softmax_cross_entropy>(be, rows, cols, logits, labels, grad, scale,
                                                                           acc);
}

/// Binary cross-entropy on probabilities against one-hot targets, averaged
/// over the classes; p clipped by rules::bce_clamp, as on the CPU.
template <class T>
void binary_cross_entropy(const Cuda& be, std::size_t rows, std::size_t cols, const T* p, const std::int32_t* labels,
                          T* grad, T scale, double* acc) {
    cuda_detail::launch_loss<cuda_detail::LossKind::binary_cross_entropy>(be, rows, cols, p, labels, grad, scale, acc);
}

/// Mean squared error against one-hot targets, averaged over the classes.
template <class T>
void mean_squared_error(const Cuda& be, std::size_t rows, std::size_t cols, const T* y, const std::int32_t* labels,
                        T* grad, T scale, double* acc) {
    cuda_detail::launch_loss<cuda_detail::LossKind::mean_squared_error>(be, rows, cols, y, labels, grad, scale, acc);
}

/// acc[1] += number of rows whose argmax equals the label.
template <class T>
void count_correct(const Cuda& be, std::size_t rows, std::size_t cols, const T* y, const std::int32_t* labels,
                   double* acc) {
    cuda_detail::launch_loss<cuda_detail::LossKind::none>(be, rows, cols, y, labels, static_cast<T*>(nullptr), T(1),
                                                          acc);
}

}  // namespace typenet
