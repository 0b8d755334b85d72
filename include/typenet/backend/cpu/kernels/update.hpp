// typenet/backend/cpu/kernels/update.hpp - optimizer updates and the
// finiteness check of float buffers, per kernel path.
//
//   cpu_kernels::<path>::sgd_update(w, g, n, lr)
//   cpu_kernels::<path>::sgd_momentum_update(w, g, v, n, lr, momentum, nesterov)
//   cpu_kernels::<path>::rmsprop_update(w, g, s, n, lr, rho, eps)
//   cpu_kernels::<path>::adam_update(w, g, m, v, n, lr, beta1, beta2, eps, c1, c2)
//   cpu_kernels::<path>::all_finite(x, n)
// on the calling thread; call them with TYPENET_ISA_CALL. Why not Eigen: the
// includer's flags decide Eigen's vectors (SSE2 in a plain build), and the
// RMSprop step of a wide MLP is one streaming pass whose divisions and
// square roots then cost 4 lanes at a time instead of 16. The x86 paths may
// fuse a product and a sum into one rounding, so results can differ from the
// scalar rule in the last bit (the tests allow a few ulps).
#pragma once

#include <cstddef>

#include "../isa.hpp"
#include "dispatch.hpp"

#define TYPENET_ISA_BODY "update_body.hpp"
#include "foreach_isa.hpp"
