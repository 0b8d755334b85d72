// typenet/optim/update_rules.hpp - the SGD, RMSprop and Adam update rules, written once.
//
// Each rule is a template over the value type, so both backends instantiate
// the same text: the CPU with Eigen array maps over a chunk of parameters
// (Eigen's sqrt is vectorised; a scalar loop keeps std::sqrt scalar because
// of errno, which once made the RMSprop step ~30% of a wide MLP's training
// step), the CUDA kernels with one scalar per thread. W, M, V, S are
// lvalues updated in place; G is the (penalised) gradient; the
// hyper-parameters are scalars T. Operand order and grouping are part of the
// rule: they fix the rounding, and the CPU results are pinned bit for bit.
#pragma once

#include <cmath>
#include <utility>

#include "../core/host_device.hpp"

namespace typenet::rules {

namespace rules_detail {
// Eigen arrays and expressions: their own (vectorised) sqrt.
TYPENET_HOST_TYPES_OK
template <class X>
TYPENET_HOST_DEVICE auto sqrt_of(const X& x) -> decltype(x.sqrt()) {
    return x.sqrt();
}
TYPENET_HOST_DEVICE inline float sqrt_of(float x) {
#if defined(__CUDA_ARCH__)
    return sqrtf(x);
#else
    return std::sqrt(x);
#endif
}
TYPENET_HOST_DEVICE inline double sqrt_of(double x) {
#if defined(__CUDA_ARCH__)
    return ::sqrt(x);
#else
    return std::sqrt(x);
#endif
}
}  // namespace rules_detail

/// The gradient with the weight penalties folded in: g + l1 sign(w) + 2 l2 w,
/// i.e. the loss gains l1 |w|_1 + l2 |w|_2^2 (Keras' regularizers). Callers
/// pass l1 = l2 = 0 for biases. Scalar: it has no sqrt to vectorise.
template <class T>
TYPENET_HOST_DEVICE T penalised_gradient(T g, T w, T l1, T l2) {
    return g + l1 * T((w > 0) - (w < 0)) + T(2) * l2 * w;
}

/// Plain SGD: w -= lr g.
TYPENET_HOST_TYPES_OK
template <class W, class G, class T>
TYPENET_HOST_DEVICE void sgd_step(W& w, const G& g, T lr) {
    w -= lr * g;
}

/// SGD with momentum (Keras form): v = momentum v - lr g; w += v, or with
/// Nesterov w += momentum v - lr g.
TYPENET_HOST_TYPES_OK
template <class W, class G, class V, class T>
TYPENET_HOST_DEVICE void sgd_momentum_step(W& w, const G& g, V& v, T lr, T momentum, bool nesterov) {
    v = momentum * v - lr * g;
    if (nesterov) w += momentum * v - lr * g;
    else w += v;
}

/// RMSprop (Keras / TensorFlow form): s = rho s + (1 - rho) g^2;
/// w -= lr g / (sqrt(s) + eps).
TYPENET_HOST_TYPES_OK
template <class W, class G, class S, class T>
TYPENET_HOST_DEVICE void rmsprop_step(W& w, const G& g, S& s, T lr, T rho, T eps) {
    s = rho * s + (T(1) - rho) * (g * g);
    w -= lr * g / (rules_detail::sqrt_of(s) + eps);
}

/// Adam with bias correction: m = b1 m + (1 - b1) g; v = b2 v + (1 - b2) g^2;
/// w -= lr (m / c1) / (sqrt(v / c2) + eps), with c1 = 1 - b1^t, c2 = 1 - b2^t
/// for the t-th step (adam_corrections).
TYPENET_HOST_TYPES_OK
template <class W, class G, class M, class V, class T>
TYPENET_HOST_DEVICE void adam_step(W& w, const G& g, M& m, V& v, T lr, T beta1, T beta2, T eps, T c1, T c2) {
    m = beta1 * m + (T(1) - beta1) * g;
    v = beta2 * v + (T(1) - beta2) * (g * g);
    w -= lr * (m / c1) / (rules_detail::sqrt_of(v / c2) + eps);
}

/// The learning rate of the step after `steps` steps: lr / (1 + decay * steps),
/// as Keras' legacy optimizers.
inline double decayed_learning_rate(double lr, double decay, double steps) { return lr / (1.0 + decay * steps); }

/// Adam's bias corrections {1 - b1^t, 1 - b2^t} for the t-th step (t >= 1).
inline std::pair<double, double> adam_corrections(double beta1, double beta2, double t) {
    return {1.0 - std::pow(beta1, t), 1.0 - std::pow(beta2, t)};
}

}  // namespace typenet::rules
