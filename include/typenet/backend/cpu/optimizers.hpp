// typenet/backend/cpu/optimizers.hpp - optimizer update rules over flat parameter buffers.
//
// Each op updates n parameters w in one pass, given their gradients g and the
// optimizer's state. Penalties are folded into the gradient first:
// g' = g + l1 * sign(w) + 2 * l2 * w, i.e. the loss gains l1*|w|_1 + l2*|w|_2^2
// (the Keras regularizer convention). Callers pass l1 = l2 = 0 for biases.
#pragma once

#include <cmath>
#include <cstddef>

namespace typenet {

class Cpu;

namespace cpu_detail {
template <class T>
inline T penalised(T g, T w, T l1, T l2) {
    return g + l1 * T((w > 0) - (w < 0)) + T(2) * l2 * w;
}
}  // namespace cpu_detail

/// SGD with momentum (Keras form): v = momentum*v - lr*g; w += v, or with
/// Nesterov w += momentum*v - lr*g. With momentum 0, v is not touched.
template <class T>
void sgd_update(const Cpu&, std::size_t n, T* w, const T* g, T* v, T lr, T momentum, bool nesterov, T l1, T l2) {
    for (std::size_t i = 0; i < n; ++i) {
        const T gi = cpu_detail::penalised(g[i], w[i], l1, l2);
        if (momentum == T(0)) {
            w[i] -= lr * gi;
            continue;
        }
        v[i] = momentum * v[i] - lr * gi;
        w[i] += nesterov ? momentum * v[i] - lr * gi : v[i];
    }
}

/// RMSprop (Keras / TensorFlow form): s = rho*s + (1-rho)*g^2;
/// w -= lr * g / (sqrt(s) + eps).
template <class T>
void rmsprop_update(const Cpu&, std::size_t n, T* w, const T* g, T* s, T lr, T rho, T eps, T l1, T l2) {
    for (std::size_t i = 0; i < n; ++i) {
        const T gi = cpu_detail::penalised(g[i], w[i], l1, l2);
        s[i] = rho * s[i] + (T(1) - rho) * gi * gi;
        w[i] -= lr * gi / (std::sqrt(s[i]) + eps);
    }
}

/// Adam with bias correction: m = b1*m + (1-b1)*g; v = b2*v + (1-b2)*g^2;
/// w -= lr * (m / c1) / (sqrt(v / c2) + eps), with c1 = 1-b1^t, c2 = 1-b2^t.
template <class T>
void adam_update(const Cpu&, std::size_t n, T* w, const T* g, T* m, T* v, T lr, T beta1, T beta2, T eps, T c1, T c2,
                 T l1, T l2) {
    for (std::size_t i = 0; i < n; ++i) {
        const T gi = cpu_detail::penalised(g[i], w[i], l1, l2);
        m[i] = beta1 * m[i] + (T(1) - beta1) * gi;
        v[i] = beta2 * v[i] + (T(1) - beta2) * gi * gi;
        w[i] -= lr * (m[i] / c1) / (std::sqrt(v[i] / c2) + eps);
    }
}

}  // namespace typenet
