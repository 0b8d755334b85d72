// typenet/backend/cpu/kernels/conv_direct.hpp - serial direct-convolution
// kernels for float, one variant per kernel path (see foreach_isa.hpp).
//
// A stride-1 valid convolution read in "wide rows" is a GEMM whose B matrix
// is a shifted view of the input: output position p' = oh*W + ow for ow in
// [0, W) (columns ow >= out_w are junk) reads x[ci][p' + ki*W + kj], one
// contiguous run per kernel offset, so no im2col. The kernels here compute
// register tiles of that GEMM; backend/cpu/conv_direct.hpp lays out the
// operands, splits the work over threads and picks the path.
#pragma once

#include <algorithm>
#include <bit>
#include <cstddef>
#include <cstdint>

#include "../isa.hpp"
#include "dispatch.hpp"
#include "pool.hpp"  // the forward + pooling tile pools as maxpool2x2_plane does

namespace typenet::cpu_kernels {

/// Register tile sizes of a path, so callers size packed weights and scratch.
struct ConvTile {
    int width;     // floats per vector
    int rows;      // shifted GEMM: output channels per tile (MR)
    int cols;      // shifted GEMM: pixel vectors per tile (NR)
    int bwf_rows;  // backward-filter: kernel taps per tile
    int bwf_cols;  // backward-filter: vectors of output channels per tile
    int bww_rows;  // backward-filter, few taps: output channels per tile
};

/// Lanes 0..15 in order: the permutation of a column that gathers nothing.
inline constexpr int conv_identity_lanes[16] = {0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15};

/// One pixel vector of the shifted GEMM: `width` wide positions read from
/// src + off[k]; the lanes kept (lane idx[i] for i < count when gather, else
/// lanes 0..count) go to dst, dst + stride, ... (one output row per tile row).
/// idx points to 16 ints (a table shared by every column at the same place in
/// its plane, so columns stay small).
struct ConvColumn {
    const float* src;
    float* dst;
    int count;
    bool gather;
    const int* idx = conv_identity_lanes;
};

/// The A side of a shifted GEMM: weights packed as [row block][k][rows
/// per tile] (zero rows past `rows`), K input offsets, per-row bias (or null)
/// and ReLU applied before the store. With `shift` set the tile adds instead
/// (backward-data's col2im): row r's values go to dst + base[r] + shift[r],
/// lanes below count - shift[r] only (count: the lanes left in the plane).
struct ConvGemm {
    const float* packed;
    const int* off;
    int K;
    std::size_t rows;
    std::size_t dst_stride;
    const float* bias;
    bool relu;
    const int* base;
    const int* shift;
};

/// Forward with its 2x2 stride-2 max pooling in registers, one image: a
/// tile computes conv rows 2*oh and 2*oh + 1 under a pooled row's windows
/// as whole vectors of the wide rows, adds the bias, applies the ReLU and
/// pools before anything is stored. y and argmax (indices into the conv
/// output plane) are maxpool2x2_plane's of the stored output, bit for bit.
struct ConvPoolImage {
    const ConvGemm* a;     // packed weights, tap offsets, bias, relu; a->rows output channels
    const float* x;        // the image's (c_in,H,W) input, readable width floats past its end
    int w;                 // W: one wide row
    int out_w;             // the convolution's output width (argmax's rows)
    int pool_h, pool_w;
    float* y;              // (a->rows, pool_h, pool_w)
    std::int32_t* argmax;  // the same shape
    bool slots;            // a 3x3 kernel on one channel, w <= 32, on AVX-512: conv_pool_slots
};

/// Backward-filter of one image or a run of them, transposed so the vectors
/// run along output channels and need no horizontal sums:
/// dwt[k][co] (+)= sum over p < P of x[xpos[p] + off[k]] * dyt[p][co].
struct ConvBwf {
    const float* x;    // the first image's (c_in,H,W) input
    const float* dyt;  // (P, co_pad) the images' dy transposed, zero past c_out
    const int* xpos;   // P: each output position's offset from x (image, then place in the plane)
    int P;
    const int* off;    // K taps
    int K;
    int co_vectors;    // co_pad / width
    float* dwt;        // (K, co_pad)
    bool accumulate;   // add to dwt instead of overwriting it
};

/// Backward-filter for few taps (c_in*kh*kw small), over one block of images
/// and a group of output channels:
/// dw[r*K + k] = sum over images i, positions p of
/// dy_wide[i][r][p] * x_i[off[k] + p], p in [0, steps*width);
/// db[r] = sum over i, p of dy_wide[i][r][p].
struct ConvBwfWide {
    const float* const* x;  // per image: its (c_in,H,W) input, readable a little past the end
    const float* dy;        // (images, rows, plane) wide dy with zero junk columns and tail
    std::size_t dy_image_stride, plane;
    int images, steps;
    std::size_t rows;
    const int* off;
    int K;
    float* dw;        // (rows, K)
    float* db;        // (rows)
    bool accumulate;  // add to dw and db instead of overwriting them
};

/// One image's patches for the pooled backward-filter: row a (a conv
/// output position oh*out_w + ow) holds x[oh*w + ow + off[k]] for k < K and
/// zeros up to kpad (K rounded up to the vector width): whole vectors, 16
/// floats for a 3x3 kernel on AVX-512.
struct ConvPatches {
    const float* x;  // the image's (c_in,H,W) input, readable 16 floats past its end
    int w, out_h, out_w;
    const int* off;
    int K, kpad;
    float* patches;  // (out_h*out_w + 16, kpad): the last 16 rows are scratch
};

/// Backward-filter through a 2x2 max pooling, few taps (kpad at most 4
/// vectors), one image and `rows` output channels: only each window's
/// argmax carries a gradient, so
/// dw[r*K + k] (+)= sum over pooled p of g[r][p] * patches[argmax[r][p]][k]
/// and db[r] (+)= sum over p of g[r][p], g = pool_dy where pool_y > 0, else
/// 0: a quarter of the dense backward's products, and no unpooled dy.
inline constexpr int conv_bwf_pooled_run = 4;  // rows prepared and summed together
struct ConvBwfPooled {
    const float* patches;        // ConvPatches' rows (64-byte aligned: faster)
    int positions;               // out_h*out_w: argmax is clamped to [0, positions)
    int K, kpad;
    const float* dy;             // (rows, PP) the pooled gradient
    const float* y;              // (rows, PP) the pooled (ReLU'd) output
    const std::int32_t* argmax;  // (rows, PP) indices into the conv output plane
    int PP;
    std::size_t rows;
    float* g;           // scratch, conv_bwf_pooled_run * PP: gradients that pass the ReLU
    std::int32_t* at;   // the same size: their patch rows' offsets
    float* dw;          // (rows, K)
    float* db;          // (rows)
    bool accumulate;    // add to dw and db instead of overwriting them
};

/// Backward-filter through a 2x2 max pooling for a 3x3 kernel on one input
/// channel (conv1) with 16-lane vectors, one image, a pooled row's windows
/// in the lanes: the argmax at slot (dr, dc) of window (ph, pw) reads
/// x[2ph + dr + kr][2pw + dc + kc] for tap (kr, kc), so with the image's
/// columns split as cols[t][r][pw] = x[r][2pw + t] (t = dc + kc, 0..3) each
/// slot and tap is one vector; blends by the argmax's row and column in its
/// window pick each lane's inputs, then 9 FMAs per channel and pooled row go
/// into nine per-lane sums: no patch rows and no gathers (ConvBwfPooled
/// reads a 16-float patch row per gradient for 9 taps).
struct ConvBwfSlots {
    const float* x;              // (h, w) the image, w <= 32
    int h, w, out_w, positions;  // positions = out_h*out_w: argmax is clamped to [0, positions)
    int PH, PW;                  // the pooled plane
    const float* dy;             // (rows, PH*PW) the pooled gradient
    const float* y;              // (rows, PH*PW) the pooled (ReLU'd) output
    const std::int32_t* argmax;  // (rows, PH*PW) indices into the conv output plane
    std::size_t rows;
    float* cols;  // scratch (4, h, 16), 64-byte aligned
    float* acc;   // (rows, 9, 16) per-lane sums of dw, added to
    float* dw;    // (rows, 9): gradients whose argmax lies outside its window, added to
    float* db;    // (rows), added to
};

/// Backward through a 2x2 max pooling with many taps, one image: only
/// each window's argmax carries a gradient g (pool_dy where pool_y > 0).
/// With the image channel-last, the taps of kernel row r at an output
/// position are one run of L = kw*cpad floats from base(a) + r*w*cpad
/// (base(a) = (oh*w + ow)*cpad for argmax a = oh*out_w + ow), so for each
/// output channel co and pooled position with g != 0
///   dwt[co][r][0:L] += g * xt[base(a) + r*w*cpad + 0:L]
///   dxt[base(a) + r*w*cpad + 0:L] += g * wt[co][r][0:L]
/// and db[co] += g: a quarter of the dense backward's products.
struct ConvPoolSparse {
    const float* xt;             // (h*w, cpad) the image, channel-last (zero past c_in)
    float* dxt;                  // (h*w, cpad), added to
    const float* wt;             // (c_out, kh, L) the weights as [co][r][c][ci], zero past c_in
    const std::int32_t* base;    // (positions) base(a); argmax is clamped to [0, positions)
    const float* dy;             // (c_out, PP) the pooled gradient
    const float* y;              // (c_out, PP) the pooled (ReLU'd) output
    const std::int32_t* argmax;  // (c_out, PP) indices into the conv output plane
    int PP, positions, kh, L, row;  // row: w*cpad, one input row
    std::size_t c_out;
    float* g;            // scratch, max(PP, 4 c_out): one channel's gradients that pass the ReLU and are not 0
    std::int32_t* at;    // scratch, the same size: their base()
    float* dwt;          // (c_out, kh, L), added to
    float* db;           // (c_out), added to
    // A 3x3 kernel with 16-lane vectors (AVX-512) takes dx per pooled
    // window (see conv_pool_sparse_windows_dx) where wh is not null.
    const float* wh;           // (cpad/16, c_out, 9, 16) the weights, 16 input channels at a time
    const std::int32_t* win;   // (2, PPpad) each window's first conv row, then first column
    int out_w, pool_w, PPpad;  // PPpad: PP rounded up to 16
    float* tgc;                // scratch (c_out, PPpad): g where argmax is inside its window, else 0
    float* tsc;                // scratch (c_out, PPpad): argmax's slot in its window, 0..3
    float* tg;                 // scratch (PPpad, c_out): tgc transposed
    float* ts;                 // scratch (PPpad, c_out): tsc transposed
};

}  // namespace typenet::cpu_kernels

// A helper that fills a caller's accumulators is inlined whatever GCC's
// budget says: out of line, the accumulators go through the stack (GCC 12
// kept the fused conv1 forward's products out of line in the training
// programs, not in bench_conv).
#if defined(__GNUC__) || defined(__clang__)
#define TYPENET_CONV_INLINE inline __attribute__((always_inline))
#else
#define TYPENET_CONV_INLINE inline
#endif

// Complete unrolling of the register-tile loops keeps the accumulators in registers.
#if defined(TYPENET_CONV_UNROLL)
#elif defined(__clang__)
#define TYPENET_CONV_UNROLL _Pragma("clang loop unroll(full)")
#elif defined(__GNUC__)
#define TYPENET_CONV_UNROLL _Pragma("GCC unroll 32")
#else
#define TYPENET_CONV_UNROLL
#endif

// nvcc's front end does not know GCC's unroll pragma (warning 1675) but
// passes it on to the host compiler, which does.
#if defined(__CUDACC__)
#pragma nv_diagnostic push
#pragma nv_diag_suppress 1675
#endif
#define TYPENET_ISA_BODY "conv_direct_body.hpp"
#include "foreach_isa.hpp"
#if defined(__CUDACC__)
#pragma nv_diagnostic pop
#endif
