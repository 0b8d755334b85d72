// typenet/backend/cuda/optimizers.cuh - optimizer updates, one fused pass
// over a flat parameter buffer; the formulas of backend/cpu/optimizers.hpp,
// penalties folded into the gradient first: g' = g + l1*sign(w) + 2*l2*w.
#pragma once

#include <cstddef>

#include "cuda.cuh"
#include "launch.cuh"

namespace typenet {

namespace cuda_detail {

template <class T>
__device__ __forceinline__ T penalised(T g, T w, T l1, T l2) {
    return g + l1 * T((w > 0) - (w < 0)) + T(2) * l2 * w;
}

template <class T>
__global__ void sgd_kernel(std::size_t n, T* w, const T* g, T* v, T lr, T momentum, bool nesterov, T l1, T l2) {
    TYPENET_GRID_LOOP(i, n) {
        const T gi = penalised(g[i], w[i], l1, l2);
        if (momentum == T(0)) {
            w[i] -= lr * gi;
            continue;
        }
        const T vi = momentum * v[i] - lr * gi;
        v[i] = vi;
        w[i] += nesterov ? momentum * vi - lr * gi : vi;
    }
}

template <class T>
__global__ void rmsprop_kernel(std::size_t n, T* w, const T* g, T* s, T lr, T rho, T eps, T l1, T l2) {
    TYPENET_GRID_LOOP(i, n) {
        const T gi = penalised(g[i], w[i], l1, l2);
        const T si = rho * s[i] + (T(1) - rho) * gi * gi;
        s[i] = si;
        w[i] -= lr * gi / (sqrt_t(si) + eps);
    }
}

template <class T>
__global__ void adam_kernel(std::size_t n, T* w, const T* g, T* m, T* v, T lr, T beta1, T beta2, T eps, T c1, T c2,
                            T l1, T l2) {
    TYPENET_GRID_LOOP(i, n) {
        const T gi = penalised(g[i], w[i], l1, l2);
        const T mi = beta1 * m[i] + (T(1) - beta1) * gi;
        const T vi = beta2 * v[i] + (T(1) - beta2) * gi * gi;
        m[i] = mi;
        v[i] = vi;
        w[i] -= lr * (mi / c1) / (sqrt_t(vi / c2) + eps);
    }
}

}  // namespace cuda_detail

/// SGD with momentum (Keras form): v = momentum*v - lr*g; w += v, or with
/// Nesterov w += momentum*v - lr*g. With momentum 0, v is not touched.
template <class T>
void sgd_update(const Cuda& be, std::size_t n, T* w, const T* g, T* v, T lr, T momentum, bool nesterov, T l1, T l2) {
    if (n == 0) return;
    cuda_detail::sgd_kernel<<<cuda_detail::grid_for(n), cuda_detail::block_threads, 0, be.stream()>>>(
        n, w, g, v, lr, momentum, nesterov, l1, l2);
    TYPENET_CUDA_LAUNCHED("sgd_update");
}

/// RMSprop: s = rho*s + (1-rho)*g^2; w -= lr * g / (sqrt(s) + eps).
template <class T>
void rmsprop_update(const Cuda& be, std::size_t n, T* w, const T* g, T* s, T lr, T rho, T eps, T l1, T l2) {
    if (n == 0) return;
    cuda_detail::rmsprop_kernel<<<cuda_detail::grid_for(n), cuda_detail::block_threads, 0, be.stream()>>>(
        n, w, g, s, lr, rho, eps, l1, l2);
    TYPENET_CUDA_LAUNCHED("rmsprop_update");
}

/// Adam with bias correction: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
/// w -= lr * (m / c1) / (sqrt(v / c2) + eps).
template <class T>
void adam_update(const Cuda& be, std::size_t n, T* w, const T* g, T* m, T* v, T lr, T beta1, T beta2, T eps, T c1,
                 T c2, T l1, T l2) {
    if (n == 0) return;
    cuda_detail::adam_kernel<<<cuda_detail::grid_for(n), cuda_detail::block_threads, 0, be.stream()>>>(
        n, w, g, m, v, lr, beta1, beta2, eps, c1, c2, l1, l2);
    TYPENET_CUDA_LAUNCHED("adam_update");
}

}  // namespace typenet
