// typenet/backend/cpu/kernels/pool.hpp - 2x2 stride-2 max pooling of float
// planes, per kernel path.
//
//   cpu_kernels::<path>::maxpool2x2_plane(x, stride, w, out_h, out_w, y, argmax)
//   cpu_kernels::<path>::maxpool2x2_backward_plane(dy, argmax, relu_y, h, w, out_h, out_w, dx, stride)
// on the calling thread, one (H,W) plane each; call them with
// TYPENET_ISA_CALL. Same results as the scalar loops in pool.hpp (ties to
// the first maximum in row-major window order, a NaN only when first; the
// ReLU's backward where relu_y, the forward's output, is given). Why: the scalar loops, compiled
// for the includer's flags, were ~15% of the reference CNN's training step
// once the convolutions ran on these kernels. Argmax values pass through
// float lanes, so planes must have fewer than 2^24 pixels.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../isa.hpp"
#include "dispatch.hpp"

#define TYPENET_ISA_BODY "pool_body.hpp"
#include "foreach_isa.hpp"
