// typenet/backend/cpu/pool.hpp - 2-D max and average pooling on the CPU.
//
// One item per (image, channel) plane, split over the Cpu's pool; NCHW.
// 2x2 stride-2 max pooling of floats runs on the dispatched kernels of
// kernels/pool.hpp; the scalar loops here are the other shapes, double, and
// the reference the kernels are tested against.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <type_traits>

#include "../../core/conv_geometry.hpp"
#include "../../core/error.hpp"
#include "cpu.hpp"
#include "kernels/pool.hpp"

namespace typenet {

namespace cpu_detail {

// The dispatched float kernels (kernels/pool.hpp) take 2x2 stride-2 windows
// on planes whose indices float lanes hold exactly (callers check float).
inline bool maxpool2x2_vectorised(const Pool2dGeometry& g) {
    return g.kh == 2 && g.kw == 2 && g.stride_h == 2 && g.stride_w == 2 &&
           g.h * g.w < (std::size_t{1} << 24);
}

// The common 2x2 window with stride 2, in one pass: the four candidates of
// each window compared in row-major order with '>' (first maximum wins, as
// in the general path). About 4x faster than the general loop.
template <class T>
void maxpool2x2_forward(const Cpu& be, const Pool2dGeometry& g, const T* x, T* y, std::int32_t* argmax) {
    const std::size_t P = g.out_h * g.out_w, ow = g.out_w, W = g.w;
    parallel_items(be, g.n * g.c, g.h * g.w, [&](std::size_t begin, std::size_t end) {
        for (std::size_t plane = begin; plane < end; ++plane) {
            const T* xp = x + plane * g.h * W;  // (H,W)
            for (std::size_t oh = 0; oh < g.out_h; ++oh) {
                const T* r0 = xp + 2 * oh * W;
                const T* r1 = r0 + W;
                T* yr = y + plane * P + oh * ow;
                std::int32_t* ar = argmax + plane * P + oh * ow;
                const auto base = static_cast<std::int32_t>(2 * oh * W);
                const auto w = static_cast<std::int32_t>(W);
                for (std::size_t o = 0; o < ow; ++o) {
                    // Selects, not branches: on real activations the comparisons are
                    // unpredictable, and mispredictions made this loop 3x slower.
                    const auto c = static_cast<std::int32_t>(2 * o);
                    T m = r0[2 * o];
                    std::int32_t at = base + c;
                    bool s = r0[2 * o + 1] > m;
                    m = s ? r0[2 * o + 1] : m;
                    at = s ? base + c + 1 : at;
                    s = r1[2 * o] > m;
                    m = s ? r1[2 * o] : m;
                    at = s ? base + w + c : at;
                    s = r1[2 * o + 1] > m;
                    m = s ? r1[2 * o + 1] : m;
                    at = s ? base + w + c + 1 : at;
                    yr[o] = m;
                    ar[o] = at;
                }
            }
        }
    });
}

}  // namespace cpu_detail

/// Max pooling. x (N,C,H,W), y (N,C,OUT_H,OUT_W), argmax (N,C,OUT_H,OUT_W):
/// the index within the input plane (row * w + col) of each chosen value.
/// Ties go to the first maximum in row-major window order; a NaN wins only
/// when it comes first in its window.
template <class T>
void maxpool2d_forward(const Cpu& be, const Pool2dGeometry& g, const T* x, T* y, std::int32_t* argmax) {
    TYPENET_ASSERT(g.h * g.w <= std::size_t{INT32_MAX});  // argmax holds plane indices
    const std::size_t P = g.out_h * g.out_w, ow = g.out_w;
    if constexpr (std::is_same_v<T, float>)
        if (cpu_detail::maxpool2x2_vectorised(g)) {
            cpu_detail::parallel_items(be, g.n * g.c, g.h * g.w, [&](std::size_t begin, std::size_t end) {
                for (std::size_t plane = begin; plane < end; ++plane)
                    TYPENET_ISA_CALL(be.isa(), maxpool2x2_plane, x + plane * g.h * g.w, g.w, g.w, g.out_h, g.out_w,
                                     y + plane * P, argmax + plane * P);
            });
            return;
        }
    if (g.kh == 2 && g.kw == 2 && g.stride_h == 2 && g.stride_w == 2) {
        cpu_detail::maxpool2x2_forward(be, g, x, y, argmax);
        return;
    }
    cpu_detail::parallel_items(be, g.n * g.c, g.h * g.w, [&](std::size_t begin, std::size_t end) {
        cpu_detail::with_stride(g.stride_w, [&](auto sw) {
            for (std::size_t plane = begin; plane < end; ++plane)
                for (std::size_t oh = 0; oh < g.out_h; ++oh) {
                    const T* xp = x + plane * g.h * g.w;   // (H,W)
                    T* yr = y + plane * P + oh * ow;       // (OUT_W)
                    std::int32_t* ar = argmax + plane * P + oh * ow;
                    const std::size_t top = oh * g.stride_h * g.w;  // window row 0, within the plane
                    for (std::size_t o = 0; o < ow; ++o) {
                        yr[o] = xp[top + o * sw];
                        ar[o] = static_cast<std::int32_t>(top + o * sw);
                    }
                    // Offsets in row-major window order with a strict '>' keep the first
                    // maximum. Branch-free (a mask, std::max keeps cur on ties) so it vectorises.
                    for (std::size_t ki = 0; ki < g.kh; ++ki)
                        for (std::size_t kj = (ki == 0 ? 1 : 0); kj < g.kw; ++kj) {
                            const std::size_t at = top + ki * g.w + kj;
                            for (std::size_t o = 0; o < ow; ++o) {
                                const T v = xp[at + o * sw], cur = yr[o];
                                const std::int32_t more = -static_cast<std::int32_t>(v > cur);
                                yr[o] = std::max(cur, v);
                                ar[o] = (static_cast<std::int32_t>(at + o * sw) & more) | (ar[o] & ~more);
                            }
                        }
                }
        });
    });
}

/// dx = dy routed to the argmax of each window (overlapping windows add up),
/// and, when relu_y (the forward's output y, after a ReLU) is given, only
/// from windows with y > 0: the ReLU's backward, on the few positions that
/// get a gradient (y is the ReLU's output at the argmax). dy, argmax, relu_y
/// (N,C,OUT_H,OUT_W); dx (N,C,H,W), overwritten.
template <class T>
void maxpool2d_backward(const Cpu& be, const Pool2dGeometry& g, const T* dy, const std::int32_t* argmax, T* dx,
                        const T* relu_y = nullptr) {
    const std::size_t P = g.out_h * g.out_w, HW = g.h * g.w;
    if constexpr (std::is_same_v<T, float>)
        if (cpu_detail::maxpool2x2_vectorised(g)) {
            cpu_detail::parallel_items(be, g.n * g.c, HW, [&](std::size_t begin, std::size_t end) {
                for (std::size_t plane = begin; plane < end; ++plane)
                    TYPENET_ISA_CALL(be.isa(), maxpool2x2_backward_plane, dy + plane * P, argmax + plane * P,
                                     relu_y ? relu_y + plane * P : nullptr, g.h, g.w, g.out_h, g.out_w,
                                     dx + plane * HW, g.w);
            });
            return;
        }
    cpu_detail::parallel_items(be, g.n * g.c, HW, [&](std::size_t begin, std::size_t end) {
        for (std::size_t plane = begin; plane < end; ++plane) {
            T* d = dx + plane * HW;  // (H,W)
            std::fill(d, d + HW, T(0));
            const T* dyp = dy + plane * P;
            const std::int32_t* ap = argmax + plane * P;
            if (!relu_y) {
                for (std::size_t o = 0; o < P; ++o) d[ap[o]] += dyp[o];
                continue;
            }
            const T* yp = relu_y + plane * P;
            for (std::size_t o = 0; o < P; ++o)
                if (yp[o] > T(0)) d[ap[o]] += dyp[o];
        }
    });
}

/// Average pooling: y = the mean of each kh*kw window. x (N,C,H,W), y (N,C,OUT_H,OUT_W).
template <class T>
void avgpool2d_forward(const Cpu& be, const Pool2dGeometry& g, const T* x, T* y) {
    const std::size_t P = g.out_h * g.out_w, ow = g.out_w;
    const T scale = T(1) / static_cast<T>(g.kh * g.kw);
    cpu_detail::parallel_items(be, g.n * g.c, g.h * g.w, [&](std::size_t begin, std::size_t end) {
        cpu_detail::with_stride(g.stride_w, [&](auto sw) {
            for (std::size_t plane = begin; plane < end; ++plane)
                for (std::size_t oh = 0; oh < g.out_h; ++oh) {
                    const T* xp = x + plane * g.h * g.w + oh * g.stride_h * g.w;  // window row 0
                    T* yr = y + plane * P + oh * ow;                              // (OUT_W)
                    std::fill(yr, yr + ow, T(0));
                    for (std::size_t ki = 0; ki < g.kh; ++ki)
                        for (std::size_t kj = 0; kj < g.kw; ++kj)
                            for (std::size_t o = 0; o < ow; ++o) yr[o] += xp[ki * g.w + kj + o * sw];
                    for (std::size_t o = 0; o < ow; ++o) yr[o] *= scale;
                }
        });
    });
}

/// dx = dy / (kh*kw) spread over each window (overlapping windows add up).
/// dy (N,C,OUT_H,OUT_W); dx (N,C,H,W), overwritten.
template <class T>
void avgpool2d_backward(const Cpu& be, const Pool2dGeometry& g, const T* dy, T* dx) {
    const std::size_t P = g.out_h * g.out_w, HW = g.h * g.w, ow = g.out_w;
    const T scale = T(1) / static_cast<T>(g.kh * g.kw);
    cpu_detail::parallel_items(be, g.n * g.c, HW, [&](std::size_t begin, std::size_t end) {
        cpu_detail::with_stride(g.stride_w, [&](auto sw) {
            for (std::size_t plane = begin; plane < end; ++plane) {
                T* d = dx + plane * HW;  // (H,W)
                std::fill(d, d + HW, T(0));
                for (std::size_t oh = 0; oh < g.out_h; ++oh) {
                    const T* dyr = dy + plane * P + oh * ow;  // (OUT_W)
                    for (std::size_t ki = 0; ki < g.kh; ++ki)
                        for (std::size_t kj = 0; kj < g.kw; ++kj) {
                            T* dr = d + (oh * g.stride_h + ki) * g.w + kj;
                            for (std::size_t o = 0; o < ow; ++o) dr[o * sw] += dyr[o] * scale;
                        }
                }
            }
        });
    });
}

}  // namespace typenet
