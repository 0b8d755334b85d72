// typenet/backend/cpu/conv.hpp - 2-D convolution on the CPU.
//
// float convolutions with stride 1 and valid padding run typenet's direct
// kernels (conv_direct.hpp) on the AVX2 and AVX-512 paths: 1.5-4x faster
// than the im2col route on the reference CNN's shapes. Everything else -
// double, strides, Same padding, the portable path, where GCC leaves the
// direct kernels' 4-float vectors mostly scalar - and the tests' references
// take the im2col route below.
//
// Convolutions are im2col + one BLAS GEMM per block of images: the columns of
// a block of images sit side by side in one (K, nb*P) matrix (K = c_in*kh*kw,
// P = out_h*out_w), so the GEMM is wide even when K is 9. Between the GEMM's
// (c_out, nb*P) layout and NCHW's (nb, c_out, P) only whole rows of P values
// move. Copies and im2col / col2im are split over threads with
// Cpu::parallel_for, never while BLAS runs. Tensors are row-major NCHW.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <type_traits>

#include <Eigen/Core>

#include "../../core/conv_geometry.hpp"
#include "../../core/error.hpp"
#include "conv_direct.hpp"
#include "cpu.hpp"
#include "gemm.hpp"

namespace typenet {

namespace cpu_detail {

// Output positions o in [lo, hi) read input o*stride + k - pad inside [0, size);
// outside it they read the zero padding. Computed once per kernel offset so
// the copy loops need neither bounds checks nor divisions.
struct OutputSpan {
    std::size_t lo, hi;
};
constexpr OutputSpan inside_span(std::size_t size, std::size_t k, std::size_t pad, std::size_t stride,
                                 std::size_t out) {
    if (stride == 1) return {std::min(k < pad ? pad - k : 0, out), std::min(size + pad > k ? size + pad - k : 0, out)};
    const auto ceil_div = [](std::ptrdiff_t a, std::ptrdiff_t b) { return a <= 0 ? 0 : (a + b - 1) / b; };
    const auto s = static_cast<std::ptrdiff_t>(stride);
    const auto first = static_cast<std::ptrdiff_t>(pad) - static_cast<std::ptrdiff_t>(k);  // o*s >= first
    const auto end = static_cast<std::ptrdiff_t>(size + pad) - static_cast<std::ptrdiff_t>(k);  // o*s < end
    const auto hi = std::min(static_cast<std::size_t>(ceil_div(end, s)), out);
    return {std::min(static_cast<std::size_t>(ceil_div(first, s)), hi), hi};
}

// Images per GEMM. Wider GEMMs run faster and fewer blocks start fewer
// threads, but past a few MB the column block falls out of cache and
// col2im / the GEMM slow down. Measured on the reference CNN's convolutions
// (batch 64 and 256, 1 and 2 threads), a budget of 1M values for the column
// block plus the GEMM output was fastest or within noise of it everywhere;
// the whole batch in one GEMM was up to 2x slower on the 32x13x13 layer.
inline std::size_t conv2d_images_per_block(const Conv2dGeometry& g) {
    const std::size_t per_image = (g.c_in * g.kh * g.kw + g.c_out) * g.out_h * g.out_w;
    const std::size_t budget = std::size_t{1} << 20;  // values
    return std::clamp<std::size_t>(budget / std::max<std::size_t>(per_image, 1), 1, std::max<std::size_t>(g.n, 1));
}

// Calls f(k, ki, kj, rows, cols) for every kernel offset (ki, kj) of input
// channel ci: k is its row in the column matrix, rows / cols the output
// positions that read inside the input at that offset.
template <class F>
void for_each_offset(const Conv2dGeometry& g, std::size_t ci, F&& f) {
    for (std::size_t ki = 0; ki < g.kh; ++ki) {
        const OutputSpan rows = inside_span(g.h, ki, g.pad_h, g.stride_h, g.out_h);
        for (std::size_t kj = 0; kj < g.kw; ++kj)
            f((ci * g.kh + ki) * g.kw + kj, ki, kj, rows, inside_span(g.w, kj, g.pad_w, g.stride_w, g.out_w));
    }
}

// col (K, nb*P) = the receptive fields of images [i0, i0+nb) of x, one row per
// (ci, ki, kj) and one column per (image, output position).
template <class T>
void im2col(const Cpu& be, const Conv2dGeometry& g, std::size_t i0, std::size_t nb, const T* x, T* col) {
    const std::size_t P = g.out_h * g.out_w, ld = nb * P, ow = g.out_w;
    parallel_items(be, nb * g.c_in, g.kh * g.kw * P, [&](std::size_t begin, std::size_t end) {
        for (std::size_t j = begin; j < end; ++j) {  // one (image, input channel) plane per item
            const std::size_t i = j / g.c_in, ci = j % g.c_in;
            const T* plane = x + ((i0 + i) * g.c_in + ci) * g.h * g.w;  // (H,W)
            for_each_offset(g, ci, [&](std::size_t k, std::size_t ki, std::size_t kj, OutputSpan rows,
                                       OutputSpan cols) {
                T* dst = col + k * ld + i * P;  // (OUT_H,OUT_W)
                const std::size_t nr = rows.hi - rows.lo, nc = cols.hi - cols.lo;
                std::fill(dst, dst + rows.lo * ow, T(0));  // rows reading the top / bottom padding
                std::fill(dst + rows.hi * ow, dst + P, T(0));
                if (nr == 0) return;
                const T* src =
                    plane + (rows.lo * g.stride_h + ki - g.pad_h) * g.w + cols.lo * g.stride_w + kj - g.pad_w;
                with_stride(g.stride_w, [&](auto sw) {
                    for (std::size_t r = 0; r < nr; ++r) {
                        T* d = dst + (rows.lo + r) * ow;
                        const T* sr = src + r * g.stride_h * g.w;
                        for (std::size_t c = 0; c < cols.lo; ++c) d[c] = T(0);  // left / right padding
                        for (std::size_t c = cols.hi; c < ow; ++c) d[c] = T(0);
                        for (std::size_t c = 0; c < nc; ++c) d[cols.lo + c] = sr[c * sw];
                    }
                });
            });
        }
    });
}

// dx of images [i0, i0+nb) = the sum of col's (K, nb*P) entries over the
// input positions they were read from: im2col's adjoint. Overwrites dx.
template <class T>
void col2im(const Cpu& be, const Conv2dGeometry& g, std::size_t i0, std::size_t nb, const T* col, T* dx) {
    const std::size_t P = g.out_h * g.out_w, ld = nb * P, ow = g.out_w;
    // One item per (image, input channel) plane, so no two threads add into the same value.
    parallel_items(be, nb * g.c_in, g.kh * g.kw * P, [&](std::size_t begin, std::size_t end) {
        for (std::size_t j = begin; j < end; ++j) {
            const std::size_t i = j / g.c_in, ci = j % g.c_in;
            T* plane = dx + ((i0 + i) * g.c_in + ci) * g.h * g.w;  // (H,W)
            row(plane, g.h * g.w).setZero();
            for_each_offset(g, ci, [&](std::size_t k, std::size_t ki, std::size_t kj, OutputSpan rows,
                                       OutputSpan cols) {
                const std::size_t nr = rows.hi - rows.lo, nc = cols.hi - cols.lo;
                if (nr == 0 || nc == 0) return;
                const T* src = col + k * ld + i * P + rows.lo * ow + cols.lo;  // (OUT_H,OUT_W) block
                T* dst = plane + (rows.lo * g.stride_h + ki - g.pad_h) * g.w + cols.lo * g.stride_w + kj - g.pad_w;
                with_stride(g.stride_w, [&](auto sw) {
                    for (std::size_t r = 0; r < nr; ++r) {
                        T* d = dst + r * g.stride_h * g.w;
                        const T* sr = src + r * ow;
                        for (std::size_t c = 0; c < nc; ++c) d[c * sw] += sr[c];
                    }
                });
            });
        }
    });
}

// dst (nb, rows, P) <- src (rows, nb*P), plus bias(rows) when given; src ==
// dst with nb == 1 adds the bias in place.
template <class T>
void unfold_rows(const Cpu& be, std::size_t nb, std::size_t rows, std::size_t P, const T* src, T* dst,
                 const T* bias, bool relu = false) {
    if (src == dst && !bias && !relu) return;
    parallel_items(be, nb * rows, P, [&](std::size_t begin, std::size_t end) {
        for (std::size_t j = begin; j < end; ++j) {
            const std::size_t i = j / rows, r = j % rows;
            const T* s = src + r * nb * P + i * P;
            T* d = dst + j * P;
            if (!bias) {
                if (d != s) std::memcpy(d, s, P * sizeof(T));
            } else {
                row(d, P) = row(s, P) + bias[r];
            }
            if (relu) row(d, P) = row(d, P).max(T(0));
        }
    });
}

// dst (rows, nb*P) <- src (nb, rows, P): unfold_rows' inverse.
template <class T>
void fold_rows(const Cpu& be, std::size_t nb, std::size_t rows, std::size_t P, const T* src, T* dst) {
    parallel_items(be, nb * rows, P, [&](std::size_t begin, std::size_t end) {
        for (std::size_t j = begin; j < end; ++j)
            std::memcpy(dst + (j % rows) * nb * P + (j / rows) * P, src + j * P, P * sizeof(T));
    });
}

}  // namespace cpu_detail

// The direct ops (conv_direct.hpp), declared here too: that header includes
// cpu.hpp, which includes this one, so whichever a user includes first, these
// names must be known before their definitions are.
inline bool conv2d_direct_supported(const Conv2dGeometry& g);
inline std::size_t conv2d_direct_workspace(const Cpu& be, const Conv2dGeometry& g);
inline void conv2d_direct_forward(const Cpu& be, const Conv2dGeometry& g, const float* x, const float* w,
                                  const float* bias, bool relu, float* y, float* workspace);
inline bool conv2d_direct_pool_supported(const Conv2dGeometry& g, const Pool2dGeometry& pg);
inline void conv2d_direct_forward_maxpool2x2(const Cpu& be, const Conv2dGeometry& g, const Pool2dGeometry& pg,
                                             const float* x, const float* w, const float* bias, bool relu,
                                             float* pool_y, std::int32_t* argmax, float* workspace);
inline void conv2d_direct_backward_data(const Cpu& be, const Conv2dGeometry& g, const float* dy, const float* w,
                                        float* dx, float* workspace);
inline void conv2d_direct_backward_filter(const Cpu& be, const Conv2dGeometry& g, const float* x, const float* dy,
                                          float* dw, float* db, float* workspace);
inline bool conv2d_direct_pool_backward_supported(const Conv2dGeometry& g, const Pool2dGeometry& pg);
inline void conv2d_direct_maxpool2x2_backward_filter(const Cpu& be, const Conv2dGeometry& g,
                                                     const Pool2dGeometry& pg, const float* x, const float* pool_y,
                                                     const std::int32_t* argmax, const float* pool_dy, float* dw,
                                                     float* db, float* workspace);
inline bool conv2d_direct_pool_sparse_supported(const Cpu& be, const Conv2dGeometry& g, const Pool2dGeometry& pg);
inline void conv2d_direct_maxpool2x2_backward(const Cpu& be, const Conv2dGeometry& g, const Pool2dGeometry& pg,
                                              const float* x, const float* w, const float* pool_y,
                                              const std::int32_t* argmax, const float* pool_dy, float* dx,
                                              float* dw, float* db, float* workspace);

namespace cpu_detail {

/// Whether a float convolution takes the direct kernels (see the top).
inline bool use_direct_conv(const Cpu& be, const Conv2dGeometry& g) {
    return be.isa() != CpuIsa::portable && conv2d_direct_supported(g);
}

// Scratch values for `block` images per GEMM: the column block (K, block*P),
// then, for block > 1, the GEMM's (C_out, block*P) side.
inline std::size_t conv2d_workspace_blocks(const Conv2dGeometry& g, std::size_t block) {
    const std::size_t P = g.out_h * g.out_w;
    return g.c_in * g.kh * g.kw * block * P + (block > 1 ? g.c_out * block * P : 0);
}

// The conv ops below for a given number of images per GEMM; the public ops
// pass conv2d_images_per_block(g), tests also pass others.
template <class T>
void conv2d_forward_blocks(const Cpu& be, const Conv2dGeometry& g, std::size_t block, const T* x, const T* w,
                           const T* bias, T* y, T* workspace, bool relu = false) {
    const std::size_t P = g.out_h * g.out_w, K = g.c_in * g.kh * g.kw;
    for (std::size_t i0 = 0; i0 < g.n; i0 += block) {
        const std::size_t nb = std::min(block, g.n - i0);
        T* col = workspace;                                                     // (K, nb*P)
        T* out = block > 1 ? workspace + K * block * P : y + i0 * g.c_out * P;  // (C_out, nb*P)
        im2col(be, g, i0, nb, x, col);
        gemm(be, false, false, g.c_out, nb * P, K, T(1), w, K, col, nb * P, T(0), out, nb * P);
        unfold_rows(be, nb, g.c_out, P, out, y + i0 * g.c_out * P, bias, relu);
    }
}

template <class T>
void conv2d_backward_data_blocks(const Cpu& be, const Conv2dGeometry& g, std::size_t block, const T* dy, const T* w,
                                 T* dx, T* workspace) {
    const std::size_t P = g.out_h * g.out_w, K = g.c_in * g.kh * g.kw;
    for (std::size_t i0 = 0; i0 < g.n; i0 += block) {
        const std::size_t nb = std::min(block, g.n - i0);
        T* dcol = workspace;                   // (K, nb*P)
        const T* dyb = dy + i0 * g.c_out * P;  // (C_out, nb*P) once folded
        if (block > 1) {
            fold_rows(be, nb, g.c_out, P, dyb, workspace + K * block * P);
            dyb = workspace + K * block * P;
        }
        gemm(be, true, false, K, nb * P, g.c_out, T(1), w, K, dyb, nb * P, T(0), dcol, nb * P);
        col2im(be, g, i0, nb, dcol, dx);
    }
}

template <class T>
void conv2d_backward_filter_blocks(const Cpu& be, const Conv2dGeometry& g, std::size_t block, const T* x,
                                   const T* dy, T* dw, T* db, T* workspace) {
    const std::size_t P = g.out_h * g.out_w, K = g.c_in * g.kh * g.kw;
    if (g.n == 0) std::fill(dw, dw + g.c_out * K, T(0));
    for (std::size_t i0 = 0; i0 < g.n; i0 += block) {
        const std::size_t nb = std::min(block, g.n - i0);
        T* col = workspace;                    // (K, nb*P)
        const T* dyb = dy + i0 * g.c_out * P;  // (C_out, nb*P) once folded
        im2col(be, g, i0, nb, x, col);
        if (block > 1) {
            fold_rows(be, nb, g.c_out, P, dyb, workspace + K * block * P);
            dyb = workspace + K * block * P;
        }
        // Later blocks accumulate into the first block's dw.
        gemm(be, false, true, g.c_out, K, nb * P, T(1), dyb, nb * P, col, nb * P, T(i0 == 0 ? 0 : 1), dw, K);
    }
    if (!db) return;
    // One channel per item: each thread owns its db entries.
    parallel_items(be, g.c_out, g.n * P, [&](std::size_t begin, std::size_t end) {
        for (std::size_t c = begin; c < end; ++c) {
            T sum = T(0);
            for (std::size_t i = 0; i < g.n; ++i)  // Eigen's sum is vectorised with several accumulators
                sum += row(dy + (i * g.c_out + c) * P, P).sum();
            db[c] = sum;
        }
    });
}

}  // namespace cpu_detail

/// Scratch values (of the op's T) that conv2d_forward, conv2d_backward_data
/// and conv2d_backward_filter need for geometry g. Allocate once, reuse.
inline std::size_t conv2d_workspace(const Cpu& be, const Conv2dGeometry& g) {
    const std::size_t im2col = cpu_detail::conv2d_workspace_blocks(g, cpu_detail::conv2d_images_per_block(g));
    return cpu_detail::use_direct_conv(be, g) ? std::max(im2col, conv2d_direct_workspace(be, g)) : im2col;
}

/// y = conv(x, w) + bias, then max(0, y) when relu. x (N,C_in,H,W), w
/// (C_out,C_in,KH,KW), bias (C_out) or null, y (N,C_out,OUT_H,OUT_W);
/// workspace holds conv2d_workspace(be, g) values.
template <class T>
void conv2d_forward(const Cpu& be, const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y,
                    T* workspace, bool relu = false) {
    if constexpr (std::is_same_v<T, float>)
        if (cpu_detail::use_direct_conv(be, g)) return conv2d_direct_forward(be, g, x, w, bias, relu, y, workspace);
    cpu_detail::conv2d_forward_blocks(be, g, cpu_detail::conv2d_images_per_block(g), x, w, bias, y, workspace,
                                      relu);
}

/// dx = the gradient of conv2d_forward's y with respect to x, given dy.
/// dy (N,C_out,OUT_H,OUT_W), w (C_out,C_in,KH,KW), dx (N,C_in,H,W), overwritten.
template <class T>
void conv2d_backward_data(const Cpu& be, const Conv2dGeometry& g, const T* dy, const T* w, T* dx, T* workspace) {
    if constexpr (std::is_same_v<T, float>)
        if (cpu_detail::use_direct_conv(be, g)) return conv2d_direct_backward_data(be, g, dy, w, dx, workspace);
    cpu_detail::conv2d_backward_data_blocks(be, g, cpu_detail::conv2d_images_per_block(g), dy, w, dx, workspace);
}

/// dw, db = the gradients of conv2d_forward's y with respect to w and bias,
/// given x (N,C_in,H,W) and dy (N,C_out,OUT_H,OUT_W). dw (C_out,C_in,KH,KW)
/// and db (C_out) are overwritten; db may be null.
template <class T>
void conv2d_backward_filter(const Cpu& be, const Conv2dGeometry& g, const T* x, const T* dy, T* dw, T* db,
                            T* workspace) {
    if constexpr (std::is_same_v<T, float>)
        if (cpu_detail::use_direct_conv(be, g)) return conv2d_direct_backward_filter(be, g, x, dy, dw, db, workspace);
    cpu_detail::conv2d_backward_filter_blocks(be, g, cpu_detail::conv2d_images_per_block(g), x, dy, dw, db,
                                              workspace);
}

}  // namespace typenet
