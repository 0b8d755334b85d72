// typenet/backend/cpu/conv_pool.hpp - a convolution, its ReLU and a 2x2 max
// pooling as one op on the CPU, forward and backward: what Model runs for
// Conv2D, ReLU, MaxPool2D<2> in training; see core/backend.hpp,
// ConvPoolFusionOps and ConvPoolBackwardOps.
#pragma once

#include <cstdint>
#include <type_traits>

#include "conv.hpp"
#include "pool.hpp"

namespace typenet {

/// pool_y, argmax = maxpool2d_forward(pg, max(0, conv2d_forward(g, x, w, bias))),
/// bit for bit. Returns whether conv_y (N,C_out,OUT_H,OUT_W) now holds the
/// ReLU's output: false when the float direct kernels pooled each image's
/// output in cache without storing it; true for the other shapes and double,
/// which run the two ops through conv_y. workspace: conv2d_workspace(be, g).
template <class T>
bool conv2d_relu_maxpool_forward(const Cpu& be, const Conv2dGeometry& g, const Pool2dGeometry& pg, const T* x,
                                 const T* w, const T* bias, T* conv_y, T* pool_y, std::int32_t* argmax,
                                 T* workspace) {
    if constexpr (std::is_same_v<T, float>)
        if (cpu_detail::use_direct_conv(be, g) && conv2d_direct_pool_supported(g, pg)) {
            conv2d_direct_forward_maxpool2x2(be, g, pg, x, w, bias, true, pool_y, argmax, workspace);
            return false;
        }
    conv2d_forward(be, g, x, w, bias, conv_y, workspace, true);
    maxpool2d_forward(be, pg, conv_y, pool_y, argmax);
    return true;
}

/// dw, db = the gradients of conv2d_relu_maxpool_forward's pool_y with
/// respect to w and bias, given x, pool_y and argmax from that forward and
/// pool_dy (N,C_out,POOL_H,POOL_W); the input's gradient is not computed
/// (Model uses this for a first layer). The values of conv2d_backward_filter
/// of maxpool2d_backward(pool_dy, argmax, relu_y = pool_y): bit for bit but
/// for the float direct kernels with at most 16 taps, which sum only the
/// argmax positions (equal up to rounding; see
/// conv2d_direct_maxpool2x2_backward_filter). conv_dy
/// (N,C_out,OUT_H,OUT_W) is scratch: the float direct kernels with few taps
/// route the pooled gradient into their own rows and leave it alone; other
/// shapes and double go through it. workspace: conv2d_workspace(be, g).
template <class T>
void conv2d_relu_maxpool_backward_filter(const Cpu& be, const Conv2dGeometry& g, const Pool2dGeometry& pg,
                                         const T* x, const T* pool_y, const std::int32_t* argmax, const T* pool_dy,
                                         T* conv_dy, T* dw, T* db, T* workspace) {
    if constexpr (std::is_same_v<T, float>)
        if (cpu_detail::use_direct_conv(be, g) && conv2d_direct_pool_backward_supported(g, pg))
            return conv2d_direct_maxpool2x2_backward_filter(be, g, pg, x, pool_y, argmax, pool_dy, dw, db,
                                                            workspace);
    maxpool2d_backward(be, pg, pool_dy, argmax, conv_dy, pool_y);
    conv2d_backward_filter(be, g, x, conv_dy, dw, db, workspace);
}

/// dx, dw, db = the gradients of conv2d_relu_maxpool_forward's pool_y with
/// respect to x, w and bias, given x, w, pool_y and argmax from that
/// forward and pool_dy; dx null: dw and db only, as
/// conv2d_relu_maxpool_backward_filter. The values of maxpool2d_backward
/// (with the ReLU's mask), conv2d_backward_filter and conv2d_backward_data:
/// bit for bit but for the float direct kernels with at most 16 taps (see
/// above) or, with dx, many taps (conv2d_direct_pool_sparse_supported),
/// which visit only the windows' argmax positions (a quarter of the
/// products; equal up to rounding, repeatable, the same for any thread
/// count; see conv2d_direct_maxpool2x2_backward). conv_dy is scratch of the
/// convolution's output size (unused by those kernels). workspace:
/// conv2d_workspace(be, g).
template <class T>
void conv2d_relu_maxpool_backward(const Cpu& be, const Conv2dGeometry& g, const Pool2dGeometry& pg, const T* x,
                                  const T* w, const T* pool_y, const std::int32_t* argmax, const T* pool_dy,
                                  T* conv_dy, T* dx, T* dw, T* db, T* workspace) {
    if (!dx)
        return conv2d_relu_maxpool_backward_filter(be, g, pg, x, pool_y, argmax, pool_dy, conv_dy, dw, db,
                                                   workspace);
    if constexpr (std::is_same_v<T, float>)
        if (cpu_detail::use_direct_conv(be, g) && conv2d_direct_pool_sparse_supported(be, g, pg))
            return conv2d_direct_maxpool2x2_backward(be, g, pg, x, w, pool_y, argmax, pool_dy, dx, dw, db,
                                                     workspace);
    maxpool2d_backward(be, pg, pool_dy, argmax, conv_dy, pool_y);
    conv2d_backward_filter(be, g, x, conv_dy, dw, db, workspace);
    conv2d_backward_data(be, g, conv_dy, w, dx, workspace);
}

}  // namespace typenet
