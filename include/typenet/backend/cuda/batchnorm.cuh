// typenet/backend/cuda/batchnorm.cuh - batch normalisation on the GPU; the
// formulas of backend/cpu/batchnorm.hpp.
#pragma once

#include <cstddef>

#include "cuda.cuh"
#include "launch.cuh"

namespace typenet {

namespace cuda_detail {

// Batch mean and biased variance of channel c, two passes in double as on the
// CPU; every thread of the block receives them.
template <class T>
__device__ void channel_moments(std::size_t n, std::size_t channels, std::size_t spatial, const T* x, std::size_t c,
                                double& mean, double& var) {
    const std::size_t m = n * spatial;
    double s = 0;
    for (std::size_t j = threadIdx.x; j < m; j += blockDim.x)
        s += double(x[((j / spatial) * channels + c) * spatial + j % spatial]);
    mean = block_sum(s) / double(m);
    double s2 = 0;
    for (std::size_t j = threadIdx.x; j < m; j += blockDim.x) {
        const double d = double(x[((j / spatial) * channels + c) * spatial + j % spatial]) - mean;
        s2 += d * d;
    }
    var = block_sum(s2) / double(m);
}

// One block per channel.
template <class T>
__global__ void batchnorm_training_kernel(std::size_t n, std::size_t channels, std::size_t spatial, const T* x,
                                          const T* gamma, const T* beta, T* running_mean, T* running_var,
                                          double momentum, double eps, T* y) {
    const std::size_t c = blockIdx.x, m = n * spatial;
    double mean, var;
    channel_moments(n, channels, spatial, x, c, mean, var);
    const double inv = 1.0 / sqrt(var + eps);
    const T scale = T(double(gamma[c]) * inv), shift = T(double(beta[c]) - mean * double(gamma[c]) * inv);
    for (std::size_t j = threadIdx.x; j < m; j += blockDim.x) {
        const std::size_t at = ((j / spatial) * channels + c) * spatial + j % spatial;
        y[at] = add_rn(mul_rn(x[at], scale), shift);
    }
    if (threadIdx.x == 0) {
        const double unbiased = m > 1 ? var * double(m) / double(m - 1) : var;
        running_mean[c] = T((1 - momentum) * double(running_mean[c]) + momentum * mean);
        running_var[c] = T((1 - momentum) * double(running_var[c]) + momentum * unbiased);
    }
}

template <class T>
__global__ void batchnorm_inference_kernel(std::size_t count, std::size_t channels, std::size_t spatial, const T* x,
                                           const T* gamma, const T* beta, const T* running_mean, const T* running_var,
                                           double eps, T* y) {
    TYPENET_GRID_LOOP(i, count) {
        const std::size_t c = (i / spatial) % channels;
        const double inv = 1.0 / sqrt(double(running_var[c]) + eps);
        const T scale = T(double(gamma[c]) * inv);
        const T shift = T(double(beta[c]) - double(running_mean[c]) * double(gamma[c]) * inv);
        y[i] = add_rn(mul_rn(x[i], scale), shift);
    }
}

template <class T>
__global__ void batchnorm_backward_kernel(std::size_t n, std::size_t channels, std::size_t spatial, const T* x,
                                          const T* dy, const T* gamma, double eps, T* dx, T* dgamma, T* dbeta) {
    const std::size_t c = blockIdx.x, m = n * spatial;
    double mean, var;
    channel_moments(n, channels, spatial, x, c, mean, var);
    const double inv = 1.0 / sqrt(var + eps);
    double sdy = 0, sdyx = 0;
    for (std::size_t j = threadIdx.x; j < m; j += blockDim.x) {
        const std::size_t at = ((j / spatial) * channels + c) * spatial + j % spatial;
        sdy += double(dy[at]);
        sdyx += double(dy[at]) * (double(x[at]) - mean) * inv;
    }
    sdy = block_sum(sdy);
    sdyx = block_sum(sdyx);
    if (threadIdx.x == 0) {
        dgamma[c] = T(sdyx);
        dbeta[c] = T(sdy);
    }
    if (!dx) return;
    const double k1 = double(gamma[c]) * inv, dm = double(m);
    for (std::size_t j = threadIdx.x; j < m; j += blockDim.x) {
        const std::size_t at = ((j / spatial) * channels + c) * spatial + j % spatial;
        const double xhat = (double(x[at]) - mean) * inv;
        dx[at] = T(k1 * (double(dy[at]) - sdy / dm - xhat * sdyx / dm));
    }
}

}  // namespace cuda_detail

/// Batch normalisation with batch statistics (training), PyTorch semantics;
/// x, y seen as (n, channels, spatial). See the CPU op for the formulas.
template <class T>
void batchnorm_forward_training(const Cuda& be, std::size_t n, std::size_t channels, std::size_t spatial, const T* x,
                                const T* gamma, const T* beta, T* running_mean, T* running_var, double momentum,
                                double eps, T* y) {
    if (channels == 0 || n * spatial == 0) return;
    cuda_detail::batchnorm_training_kernel<<<unsigned(channels), cuda_detail::block_threads, 0, be.stream()>>>(
        n, channels, spatial, x, gamma, beta, running_mean, running_var, momentum, eps, y);
    TYPENET_CUDA_LAUNCHED("batchnorm_forward_training");
}

/// Batch normalisation with the running statistics (evaluation).
template <class T>
void batchnorm_forward_inference(const Cuda& be, std::size_t n, std::size_t channels, std::size_t spatial, const T* x,
                                 const T* gamma, const T* beta, const T* running_mean, const T* running_var,
                                 double eps, T* y) {
    const std::size_t count = n * channels * spatial;
    if (count == 0) return;
    cuda_detail::batchnorm_inference_kernel<<<cuda_detail::grid_for(count), cuda_detail::block_threads, 0,
                                              be.stream()>>>(count, channels, spatial, x, gamma, beta, running_mean,
                                                             running_var, eps, y);
    TYPENET_CUDA_LAUNCHED("batchnorm_forward_inference");
}

/// Gradients of training-mode batch normalisation (batch statistics
/// recomputed from x); dgamma, dbeta overwritten, dx too unless null.
template <class T>
void batchnorm_backward(const Cuda& be, std::size_t n, std::size_t channels, std::size_t spatial, const T* x,
                        const T* dy, const T* gamma, double eps, T* dx, T* dgamma, T* dbeta) {
    if (channels == 0 || n * spatial == 0) return;
    cuda_detail::batchnorm_backward_kernel<<<unsigned(channels), cuda_detail::block_threads, 0, be.stream()>>>(
        n, channels, spatial, x, dy, gamma, eps, dx, dgamma, dbeta);
    TYPENET_CUDA_LAUNCHED("batchnorm_backward");
}

}  // namespace typenet
