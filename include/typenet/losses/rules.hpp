// typenet/losses/rules.hpp - per-element loss formulas both backends share.
//
// The CPU loss loops (backend/cpu/losses.hpp) and the CUDA loss kernel
// (backend/cuda/losses.cuh) call these, so the two compute one formula
// rather than two that tests keep equal. All in double, as both did.
#pragma once

#include <cmath>

#include "../core/host_device.hpp"

namespace typenet::rules {

namespace rules_detail {
TYPENET_HOST_DEVICE inline double log_of(double x) {
#if defined(__CUDA_ARCH__)
    return ::log(x);
#else
    return std::log(x);
#endif
}
}  // namespace rules_detail

/// Binary cross-entropy's probability p clipped to [1e-7, 1 - 1e-7], so log
/// never sees 0. std::clamp's order of tests: a NaN stays NaN, so a diverged
/// network still shows as a non-finite loss.
TYPENET_HOST_DEVICE inline double bce_clamp(double p) {
    constexpr double eps = 1e-7;
    return p < eps ? eps : (1.0 - eps < p ? 1.0 - eps : p);
}

/// t log q + (1 - t) log(1 - q) for a clipped q and target t: the negated
/// binary cross-entropy of one output.
TYPENET_HOST_DEVICE inline double bce_log_likelihood(double q, double t) {
    return t * rules_detail::log_of(q) + (1 - t) * rules_detail::log_of(1 - q);
}

/// d/dq of the binary cross-entropy of one output, (q - t) / (q (1 - q)).
TYPENET_HOST_DEVICE inline double bce_gradient(double q, double t) { return (q - t) / (q * (1 - q)); }

}  // namespace typenet::rules
