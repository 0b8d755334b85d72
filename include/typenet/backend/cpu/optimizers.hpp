// typenet/backend/cpu/optimizers.hpp - optimizer updates over flat parameter buffers.
//
// Each op updates n parameters w in one pass, given their gradients g and the
// optimizer's state, with the rules of optim/update_rules.hpp (shared with
// the CUDA backend). Penalties are folded into the gradient first; callers
// pass l1 = l2 = 0 for biases.
//
// Chunks are split across the Cpu's pool. Float runs the dispatched kernels
// (kernels/update.hpp: the widest vectors the CPU has, whatever the build
// flags); double runs the rules on Eigen array maps (a plain loop would keep
// std::sqrt scalar: errno semantics block GCC's vectoriser).
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <type_traits>

#include <Eigen/Core>

#include "../../optim/update_rules.hpp"
#include "cpu.hpp"
#include "kernels/update.hpp"

namespace typenet {

namespace cpu_detail {
template <class T>
using ParamArr = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
using CParamArr = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

// Below this many parameters an update runs on the calling thread.
inline constexpr std::size_t optimizer_parallel_min = std::size_t{1} << 15;

/// Calls f(first, count) over [0, n) in one chunk per pool thread.
template <class F>
void for_chunks(const Cpu& be, std::size_t n, F&& f) {
    if (n < optimizer_parallel_min) {
        f(std::size_t{0}, n);
        return;
    }
    be.parallel_for(n, [&](std::size_t begin, std::size_t end) { f(begin, end - begin); });
}

/// The penalised gradient of n parameters, into out (may alias nothing else).
template <class T>
void penalised_gradient(std::size_t n, const T* w, const T* g, T l1, T l2, T* out) {
    for (std::size_t i = 0; i < n; ++i) out[i] = rules::penalised_gradient(g[i], w[i], l1, l2);
}

/// Runs update(first, count, gradient) with the penalised gradient of the
/// chunk; without penalties the gradient is g itself (no copy). Penalised
/// chunks go through a stack buffer, so nothing is allocated.
template <class T, class Update>
void with_gradient(const Cpu& be, std::size_t n, const T* w, const T* g, T l1, T l2, Update&& update) {
    for_chunks(be, n, [&](std::size_t first, std::size_t count) {
        if (l1 == T(0) && l2 == T(0)) {
            update(first, count, g + first);
            return;
        }
        constexpr std::size_t block = 1024;
        T buffer[block];
        for (std::size_t b = 0; b < count; b += block) {
            const std::size_t m = std::min(block, count - b);
            penalised_gradient(m, w + first + b, g + first + b, l1, l2, buffer);
            update(first + b, m, buffer);
        }
    });
}
}  // namespace cpu_detail

/// SGD (rules::sgd_step, or rules::sgd_momentum_step with a momentum); with
/// momentum 0, v is not touched.
template <class T>
void sgd_update(const Cpu& be, std::size_t n, T* w, const T* g, T* v, T lr, T momentum, bool nesterov, T l1, T l2) {
    using namespace cpu_detail;
    with_gradient(be, n, w, g, l1, l2, [&](std::size_t first, std::size_t m, const T* gp) {
        if constexpr (std::is_same_v<T, float>) {
            if (momentum == 0.0f) TYPENET_ISA_CALL(be.isa(), sgd_update, w + first, gp, m, lr);
            else TYPENET_ISA_CALL(be.isa(), sgd_momentum_update, w + first, gp, v + first, m, lr, momentum, nesterov);
            return;
        }
        ParamArr<T> W(w + first, Eigen::Index(m));
        CParamArr<T> G(gp, Eigen::Index(m));
        if (momentum == T(0)) {
            rules::sgd_step(W, G, lr);
            return;
        }
        ParamArr<T> V(v + first, Eigen::Index(m));
        rules::sgd_momentum_step(W, G, V, lr, momentum, nesterov);
    });
}

/// RMSprop (rules::rmsprop_step).
template <class T>
void rmsprop_update(const Cpu& be, std::size_t n, T* w, const T* g, T* s, T lr, T rho, T eps, T l1, T l2) {
    using namespace cpu_detail;
    with_gradient(be, n, w, g, l1, l2, [&](std::size_t first, std::size_t m, const T* gp) {
        if constexpr (std::is_same_v<T, float>) {
            TYPENET_ISA_CALL(be.isa(), rmsprop_update, w + first, gp, s + first, m, lr, rho, eps);
            return;
        }
        ParamArr<T> W(w + first, Eigen::Index(m)), S(s + first, Eigen::Index(m));
        CParamArr<T> G(gp, Eigen::Index(m));
        rules::rmsprop_step(W, G, S, lr, rho, eps);
    });
}

/// Adam (rules::adam_step), c1 and c2 the bias corrections of this step.
template <class T>
void adam_update(const Cpu& be, std::size_t n, T* w, const T* g, T* m, T* v, T lr, T beta1, T beta2, T eps, T c1, T c2,
                 T l1, T l2) {
    using namespace cpu_detail;
    with_gradient(be, n, w, g, l1, l2, [&](std::size_t first, std::size_t count, const T* gp) {
        if constexpr (std::is_same_v<T, float>) {
            TYPENET_ISA_CALL(be.isa(), adam_update, w + first, gp, m + first, v + first, count, lr, beta1, beta2, eps,
                             c1, c2);
            return;
        }
        ParamArr<T> W(w + first, Eigen::Index(count)), M(m + first, Eigen::Index(count)),
            V(v + first, Eigen::Index(count));
        CParamArr<T> G(gp, Eigen::Index(count));
        rules::adam_step(W, G, M, V, lr, beta1, beta2, eps, c1, c2);
    });
}

}  // namespace typenet
