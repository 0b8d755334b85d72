// typenet/backend/cpu/kernels/activation.hpp - the logistic sigmoid of float
// buffers, per kernel path.
//
//   cpu_kernels::<path>::sigmoid_forward(x, y, n)        y = 1 / (1 + e^-x)
//   cpu_kernels::<path>::sigmoid_backward(y, dy, dx, n)  dx = dy * y * (1 - y)
// on the calling thread (x and y may alias, as dy and dx may); call them with
// TYPENET_ISA_CALL. Why not Eigen: the includer's flags decide Eigen's
// vectors, SSE2 in a plain build, and the sigmoid of a 784-70-30-10 MLP's
// hidden layers was 6% of its training step there.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../isa.hpp"
#include "dispatch.hpp"

#define TYPENET_ISA_BODY "activation_body.hpp"
#include "foreach_isa.hpp"
