// typenet/backend/cpu/batchnorm.hpp - batch normalisation on the CPU.
#pragma once

#include <cmath>
#include <cstddef>
#include <vector>

namespace typenet {

class Cpu;

namespace cpu_detail {
/// Per-channel batch mean and biased variance of x seen as (n, channels, spatial).
template <class T>
void channel_moments(std::size_t n, std::size_t channels, std::size_t spatial, const T* x, std::size_t c, double& mean,
                     double& var) {
    double s = 0, s2 = 0;
    for (std::size_t i = 0; i < n; ++i) {
        const T* p = x + (i * channels + c) * spatial;
        for (std::size_t k = 0; k < spatial; ++k) s += double(p[k]);
    }
    const double m = double(n * spatial);
    mean = s / m;
    for (std::size_t i = 0; i < n; ++i) {
        const T* p = x + (i * channels + c) * spatial;
        for (std::size_t k = 0; k < spatial; ++k) {
            const double d = double(p[k]) - mean;
            s2 += d * d;
        }
    }
    var = s2 / m;
}
}  // namespace cpu_detail

/// Batch normalisation with batch statistics (training), PyTorch semantics:
/// y = gamma * (x - mean) / sqrt(var + eps) + beta with the biased batch
/// variance; running_mean/var move by `momentum` towards the batch mean and
/// the unbiased batch variance. x, y seen as (n, channels, spatial).
template <class T>
void batchnorm_forward_training(const Cpu&, std::size_t n, std::size_t channels, std::size_t spatial, const T* x,
                                const T* gamma, const T* beta, T* running_mean, T* running_var, double momentum,
                                double eps, T* y) {
    const double m = double(n * spatial);
    for (std::size_t c = 0; c < channels; ++c) {
        double mean, var;
        cpu_detail::channel_moments(n, channels, spatial, x, c, mean, var);
        const double inv = 1.0 / std::sqrt(var + eps);
        const T scale = T(double(gamma[c]) * inv), shift = T(double(beta[c]) - mean * double(gamma[c]) * inv);
        for (std::size_t i = 0; i < n; ++i) {
            const T* p = x + (i * channels + c) * spatial;
            T* q = y + (i * channels + c) * spatial;
            for (std::size_t k = 0; k < spatial; ++k) q[k] = p[k] * scale + shift;
        }
        const double unbiased = m > 1 ? var * m / (m - 1) : var;
        running_mean[c] = T((1 - momentum) * double(running_mean[c]) + momentum * mean);
        running_var[c] = T((1 - momentum) * double(running_var[c]) + momentum * unbiased);
    }
}

/// Batch normalisation with the running statistics (evaluation).
template <class T>
void batchnorm_forward_inference(const Cpu&, std::size_t n, std::size_t channels, std::size_t spatial, const T* x,
                                 const T* gamma, const T* beta, const T* running_mean, const T* running_var,
                                 double eps, T* y) {
    for (std::size_t c = 0; c < channels; ++c) {
        const double inv = 1.0 / std::sqrt(double(running_var[c]) + eps);
        const T scale = T(double(gamma[c]) * inv);
        const T shift = T(double(beta[c]) - double(running_mean[c]) * double(gamma[c]) * inv);
        for (std::size_t i = 0; i < n; ++i) {
            const T* p = x + (i * channels + c) * spatial;
            T* q = y + (i * channels + c) * spatial;
            for (std::size_t k = 0; k < spatial; ++k) q[k] = p[k] * scale + shift;
        }
    }
}

/// Gradients of training-mode batch normalisation. The batch statistics are
/// recomputed from x (one extra pass) instead of being kept from forward.
/// dgamma = sum(dy * xhat), dbeta = sum(dy),
/// dx = gamma / sqrt(var + eps) * (dy - dbeta / m - xhat * dgamma / m).
template <class T>
void batchnorm_backward(const Cpu&, std::size_t n, std::size_t channels, std::size_t spatial, const T* x, const T* dy,
                        const T* gamma, double eps, T* dx, T* dgamma, T* dbeta) {
    const double m = double(n * spatial);
    for (std::size_t c = 0; c < channels; ++c) {
        double mean, var;
        cpu_detail::channel_moments(n, channels, spatial, x, c, mean, var);
        const double inv = 1.0 / std::sqrt(var + eps);
        double sdy = 0, sdyx = 0;
        for (std::size_t i = 0; i < n; ++i) {
            const T* p = x + (i * channels + c) * spatial;
            const T* g = dy + (i * channels + c) * spatial;
            for (std::size_t k = 0; k < spatial; ++k) {
                sdy += double(g[k]);
                sdyx += double(g[k]) * (double(p[k]) - mean) * inv;
            }
        }
        dgamma[c] = T(sdyx);
        dbeta[c] = T(sdy);
        if (!dx) continue;
        const double k1 = double(gamma[c]) * inv;
        for (std::size_t i = 0; i < n; ++i) {
            const T* p = x + (i * channels + c) * spatial;
            const T* g = dy + (i * channels + c) * spatial;
            T* q = dx + (i * channels + c) * spatial;
            for (std::size_t k = 0; k < spatial; ++k) {
                const double xhat = (double(p[k]) - mean) * inv;
                q[k] = T(k1 * (double(g[k]) - sdy / m - xhat * sdyx / m));
            }
        }
    }
}

}  // namespace typenet
