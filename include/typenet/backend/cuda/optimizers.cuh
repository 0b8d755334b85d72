// typenet/backend/cuda/optimizers.cuh - optimizer updates, one fused pass
// over a flat parameter buffer: one thread per parameter runs the rule of
// optim/update_rules.hpp that the CPU backend runs, on registers, after
// folding the penalties into the gradient (rules::penalised_gradient).
#pragma once

#include <cstddef>

#include "../../optim/update_rules.hpp"
#include "cuda.cuh"
#include "launch.cuh"

namespace typenet {

namespace cuda_detail {

template <class T>
__global__ void sgd_kernel(std::size_t n, T* w, const T* g, T* v, T lr, T momentum, bool nesterov, T l1, T l2) {
    TYPENET_GRID_LOOP(i, n) {
        T wi = w[i];
        const T gi = rules::penalised_gradient(g[i], wi, l1, l2);
        if (momentum == T(0)) {
            rules::sgd_step(wi, gi, lr);
        } else {
            T vi = v[i];
            rules::sgd_momentum_step(wi, gi, vi, lr, momentum, nesterov);
            v[i] = vi;
        }
        w[i] = wi;
    }
}

template <class T>
__global__ void rmsprop_kernel(std::size_t n, T* w, const T* g, T* s, T lr, T rho, T eps, T l1, T l2) {
    TYPENET_GRID_LOOP(i, n) {
        T wi = w[i], si = s[i];
        const T gi = rules::penalised_gradient(g[i], wi, l1, l2);
        rules::rmsprop_step(wi, gi, si, lr, rho, eps);
        s[i] = si;
        w[i] = wi;
    }
}

template <class T>
__global__ void adam_kernel(std::size_t n, T* w, const T* g, T* m, T* v, T lr, T beta1, T beta2, T eps, T c1, T c2,
                            T l1, T l2) {
    TYPENET_GRID_LOOP(i, n) {
        T wi = w[i], mi = m[i], vi = v[i];
        const T gi = rules::penalised_gradient(g[i], wi, l1, l2);
        rules::adam_step(wi, gi, mi, vi, lr, beta1, beta2, eps, c1, c2);
        m[i] = mi;
        v[i] = vi;
        w[i] = wi;
    }
}

}  // namespace cuda_detail

/// SGD (rules::sgd_step, or rules::sgd_momentum_step with a momentum); with
/// momentum 0, v is not touched.
template <class T>
void sgd_update(const Cuda& be, std::size_t n, T* w, const T* g, T* v, T lr, T momentum, bool nesterov, T l1, T l2) {
    if (n == 0) return;
    cuda_detail::sgd_kernel<<<cuda_detail::grid_for(n), cuda_detail::block_threads, 0, be.stream()>>>(
        n, w, g, v, lr, momentum, nesterov, l1, l2);
    TYPENET_CUDA_LAUNCHED("sgd_update");
}

/// RMSprop (rules::rmsprop_step).
template <class T>
void rmsprop_update(const Cuda& be, std::size_t n, T* w, const T* g, T* s, T lr, T rho, T eps, T l1, T l2) {
    if (n == 0) return;
    cuda_detail::rmsprop_kernel<<<cuda_detail::grid_for(n), cuda_detail::block_threads, 0, be.stream()>>>(
        n, w, g, s, lr, rho, eps, l1, l2);
    TYPENET_CUDA_LAUNCHED("rmsprop_update");
}

/// Adam (rules::adam_step), c1 and c2 the bias corrections of this step.
template <class T>
void adam_update(const Cuda& be, std::size_t n, T* w, const T* g, T* m, T* v, T lr, T beta1, T beta2, T eps, T c1,
                 T c2, T l1, T l2) {
    if (n == 0) return;
    cuda_detail::adam_kernel<<<cuda_detail::grid_for(n), cuda_detail::block_threads, 0, be.stream()>>>(
        n, w, g, m, v, lr, beta1, beta2, eps, c1, c2, l1, l2);
    TYPENET_CUDA_LAUNCHED("adam_update");
}

}  // namespace typenet
