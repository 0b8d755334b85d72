// typenet/backend/cpu/conv_direct.hpp - direct float convolutions on the CPU.
//
// For stride 1 and valid padding (conv2d_direct_supported) these replace
// im2col + GEMM: the kernels (kernels/conv_direct.hpp) run a GEMM whose B
// operand is a shifted view of the input read in wide rows of W pixels, so
// nothing is unfolded. Here the operands are laid out in the caller's
// workspace (packed weights, offset tables, a padded copy of the last image,
// per-thread scratch), the work is split into items that threads claim from an
// atomic counter, and the kernel path is be.isa().
//   forward:         y_wide[co][p'] = sum_k w[co][k] x[ci][p' + ki*W + kj];
//                    only lanes with ow < out_w are stored, + bias, ReLU.
//   backward-data:   the transposed GEMM C[(ki,kj,ci)][p'] = sum_co w * dyw[co][p']
//                    on dy in W-wide rows (junk columns zero), each tile added
//                    straight into dx[ci][p' + ki*W + kj] (col2im in registers):
//                    only the useful products, unlike a full convolution.
//   backward-filter: dw^T[k][co] = sum_images sum_p x[ci][pos(p) + off(k)] dy^T[p][co]
//                    with vectors along co (dy transposed per image, so no
//                    horizontal sums and no junk positions); with few taps
//                    (K = c_in*kh*kw < 64, where the transpose would dominate)
//                    dw[co][k] = sum dyw[co][p'] x[ci][p' + off(k)] with vectors
//                    along wide positions instead. Either way per fixed chunk
//                    of images (by n alone), reduced in chunk order:
//                    bit-identical for any thread count.
// For small output planes (conv3's 3x3 outputs in 5-wide rows use 9 lanes of
// 16) the forward and backward-data put a block of images in the lanes
// instead: the same kernels on x and dy transposed to [c][h][w][image].
// Inputs are assumed finite: the few-taps backward-filter multiplies junk
// lanes' real neighbouring values by zero (0 * inf would be NaN).
#pragma once

#include <algorithm>
#include <atomic>
#include <climits>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <new>
#include <string>

#include "../../core/conv_geometry.hpp"
#include "../../core/error.hpp"
#include "cpu.hpp"
#include "kernels/conv_direct.hpp"
#include "kernels/pool.hpp"

namespace typenet {

/// Whether the direct ops handle geometry g: stride 1, no padding, and sizes
/// whose offsets fit in an int. Other shapes keep im2col + GEMM (conv.hpp).
inline bool conv2d_direct_supported(const Conv2dGeometry& g) {
    if (g.stride_h != 1 || g.stride_w != 1 || g.pad_h != 0 || g.pad_w != 0) return false;
    if (g.c_in == 0 || g.c_out == 0 || g.h == 0 || g.w == 0 || g.kh == 0 || g.kw == 0) return false;
    if (g.kh > g.h || g.kw > g.w || g.out_h != g.h - g.kh + 1 || g.out_w != g.w - g.kw + 1) return false;
    const std::size_t limit = INT_MAX / 4;
    const std::size_t plane = (g.h + 2 * g.kh) * g.w + 64;
    return g.c_in * plane < limit && g.c_out * plane < limit && g.c_in * g.kh * g.kw < limit &&
           g.c_out * g.kh * g.kw < limit;
}

namespace cpu_detail {

// pool.hpp's window test, declared here for the same reason conv.hpp declares
// the direct ops: pool.hpp and this header reach each other through cpu.hpp.
inline bool maxpool2x2_vectorised(const Pool2dGeometry& g);

constexpr std::size_t conv_round16(std::size_t v) { return (v + 15) / 16 * 16; }
constexpr std::size_t conv_ceil_div(std::size_t a, std::size_t b) { return (a + b - 1) / b; }

// Backward-filter with fewer taps than this uses the wide-position kernel.
inline constexpr std::size_t conv_bwf_transpose_min_taps = 64;
// Few-taps backward-filter: images per L1 block at most (their x pointers live on the stack).
inline constexpr std::size_t conv_max_block = 32;

// Column batch handed to the kernels at a time: a multiple of every path's
// columns per tile (2, 3).
inline constexpr int conv_column_batch = 24;

// Where one of an image's pixel vectors goes in the unfused forward, the
// same for every image: the lanes kept (wide positions inside the output with
// ow < out_w, consecutive in y), their count, whether they need gathering,
// the first one's place in the output plane. One table per call.
struct ConvLanes {
    int idx[16];
    int count, gather, first, unused;
};
static_assert(sizeof(ConvLanes) % sizeof(float) == 0 && alignof(ConvLanes) <= alignof(float));
// Backward-filter: the transposed dy of one kernel call's images at most (floats).
inline constexpr std::size_t conv_bwf_run_floats = 8192;
// Images in lanes: a block's transposed x and y together at most (floats per thread, 1 MB).
inline constexpr std::size_t conv_batched_max_floats = std::size_t{1} << 18;

// Every size the three ops derive from the geometry and the kernel path.
struct ConvDirectPlan {
    cpu_kernels::ConvTile tile;
    std::size_t threads;
    std::size_t V, HW, L, P, khw, Kf;
    std::size_t vpf;       // pixel vectors per image of the wide output (forward, backward-filter)
    std::size_t x_last;    // padded copy of the last image: its vectors read up to V + kw past the end
    std::size_t packed_f;  // forward packed weights
    std::size_t packed_b;  // backward-data packed weights
    std::size_t group;     // backward-data: images per work item
    std::size_t Pw;        // one wide dy plane (vpf*V), junk columns and tail zero
    std::size_t co_pad;    // backward-filter: C_out rounded up to 16
    std::size_t chunk;     // backward-filter: images per chunk (fixed by n)
    std::size_t chunks;
    std::size_t partial;   // backward-filter: one chunk's dw^T (Kf, co_pad) and db (co_pad)
    std::size_t run;       // backward-filter: images whose positions one kernel call sums over
    bool few_taps;         // backward-filter: the wide-position kernel (Kf < conv_bwf_transpose_min_taps)
    std::size_t w_chunk, w_chunks, w_block, w_partial, w_rows;  // its chunks, L1 blocks, partials, rows
    std::size_t kpad;      // through a 2x2 pooling, few taps: a patch row (Kf rounded up to V)
    std::size_t patches;   // and one image's patch rows (ConvPatches)
    std::size_t pooled;    // its scratch per thread: one image's patches, then a run of rows' g and offsets
    bool slots;            // conv1's case on AVX-512 (3x3 on one channel, w <= 32): ConvBwfSlots, conv_pool_slots
    std::size_t wide_out;  // forward + pooling, many taps: one image's wide output (C_out planes of Pw), per thread
    std::size_t ws_setup;  // both forwards: packed weights, tap offsets, the last image; then their own parts
    bool batched;          // forward and backward-data put images in the lanes (conv_batched_*)
    std::size_t lanes_x, lanes_y;  // batched: one block's x and y, [c][h][w][image], per thread
    std::size_t lanes_pool;        // batched + 2x2 pooling: one block's pooled values (or indices), per thread
    std::size_t cpad;        // through a 2x2 pooling, many taps: C_in rounded up to V (ConvPoolSparse)
    std::size_t sparse_w;    // its weights and one chunk's dw, (C_out, KH, KW*cpad)
    std::size_t sparse_img;  // one channel-last image (H*W, cpad)
    bool sparse;             // that route's lanes are mostly channels
    // workspace floats of each op
    std::size_t ws_forward, ws_forward_pool, ws_backward_data, ws_backward_filter, ws_backward_pool;
};

// Per-thread scratch floats of ConvPoolSparse's lists: g and at (a
// channel's pooled positions, or a window's four lists of output channels),
// then tgc, tsc, tg and ts.
inline std::size_t conv_sparse_list(std::size_t PP, std::size_t c_out) {
    return conv_round16(std::max(PP, 4 * c_out));
}
inline std::size_t conv_sparse_lists(std::size_t PP, std::size_t c_out) {
    return 2 * conv_sparse_list(PP, c_out) + 4 * conv_round16(PP) * c_out;
}

inline ConvDirectPlan conv_direct_plan(const Cpu& be, const Conv2dGeometry& g) {
    ConvDirectPlan p{};
    p.tile = TYPENET_ISA_CALL(be.isa(), conv_tile);
    p.threads = std::size_t(be.threads());
    p.V = std::size_t(p.tile.width);
    p.HW = g.h * g.w;
    p.L = g.out_h * g.w;
    p.P = g.out_h * g.out_w;
    p.khw = g.kh * g.kw;
    p.Kf = g.c_in * p.khw;
    p.vpf = conv_ceil_div(p.L, p.V);
    p.x_last = conv_round16(g.c_in * p.HW + p.V + g.kw + 16);
    const auto rows = std::size_t(p.tile.rows);
    p.packed_f = conv_ceil_div(g.c_out, rows) * rows * p.Kf;
    p.packed_b = conv_ceil_div(p.Kf, rows) * rows * g.c_out;
    p.group = std::clamp<std::size_t>(conv_ceil_div(conv_column_batch, p.vpf), 1, 16);
    p.Pw = p.vpf * p.V;
    p.co_pad = conv_round16(g.c_out);
    p.chunk = std::max<std::size_t>(1, conv_ceil_div(g.n, 8));  // 8 chunks (fewer for n < 8), fixed by n
    p.chunks = conv_ceil_div(g.n, p.chunk);
    p.partial = (p.Kf + 1) * p.co_pad;
    // Small planes (conv3: 9 positions) would store each tile after a few
    // steps: one call sums over a run of images whose transposed dy stays in
    // L1 (8192 floats); its positions are offsets from the run's first image.
    p.run = std::clamp<std::size_t>(conv_bwf_run_floats / (p.P * p.co_pad), 1, p.chunk);
    p.run = std::min(p.run, std::max<std::size_t>(1, (INT_MAX / 4) / (g.c_in * p.HW)));
    // Few taps: about 8 chunks of at least 32 vector steps per position so
    // horizontal sums stay rare; within a chunk, blocks of images whose wide
    // dy rows (2048 floats per channel, 48 KB for a 6-channel row block) stay in L1.
    p.few_taps = p.Kf < conv_bwf_transpose_min_taps;
    p.w_chunk = std::max<std::size_t>(1, std::min(g.n, std::max(conv_ceil_div(g.n, 8), conv_ceil_div(32, p.vpf))));
    p.w_chunks = conv_ceil_div(g.n, p.w_chunk);
    const std::size_t fit = std::clamp<std::size_t>(2048 / p.Pw, 1, conv_max_block);
    p.w_block = conv_ceil_div(p.w_chunk, conv_ceil_div(p.w_chunk, fit));
    p.w_partial = conv_round16(g.c_out * p.Kf + g.c_out);
    p.w_rows = conv_ceil_div(g.c_out, std::size_t(p.tile.bww_rows)) * std::size_t(p.tile.bww_rows);
    p.ws_setup = p.packed_f + conv_round16(p.Kf) + p.x_last;
    p.ws_forward = p.ws_setup + conv_round16(p.vpf * sizeof(ConvLanes) / sizeof(float));
    p.wide_out = conv_round16(g.c_out * p.Pw);
    p.ws_forward_pool = p.few_taps ? p.ws_setup : p.ws_setup + p.threads * p.wide_out;
    p.ws_backward_data = p.packed_b + conv_round16(g.c_out) + 2 * conv_round16(p.Kf) +
                         p.threads * conv_round16(p.group * g.c_out * p.Pw);
    // Images in lanes: where a block's copies stay small and either under
    // 70% of the wide lanes are outputs (conv3's 3x3 outputs in 5-wide rows:
    // 9 of 16) or the taps are many enough that the copies cost little
    // beside the products (conv2, 288 taps, 84% of its lanes outputs: 10-12%
    // faster forward and backward-data at batch 64 on Zen 5); then for a
    // batch that fills more of its lanes than the wide rows do
    // (n / (blocks * V) > P / (vpf * V)). The workspace covers both routes,
    // so a smaller batch may switch with the same workspace.
    const std::size_t x_image = g.c_in * p.HW, y_image = g.c_out * p.P;
    p.lanes_x = conv_round16(x_image * p.V);
    p.lanes_y = conv_round16(y_image * p.V);
    const bool few_outputs = 10 * p.P < 7 * p.vpf * p.V;
    const bool small_plane = (few_outputs || !p.few_taps) && p.lanes_x + p.lanes_y <= conv_batched_max_floats;
    p.batched = small_plane && g.n * p.vpf > p.P * conv_ceil_div(g.n, p.V);
    p.lanes_pool = conv_round16(g.c_out * (g.out_h / 2) * (g.out_w / 2) * p.V);
    if (small_plane) {
        const std::size_t blocks = p.threads * (p.lanes_x + p.lanes_y);
        p.ws_forward = std::max(p.ws_forward, p.packed_f + conv_round16(p.Kf) + blocks);
        p.ws_forward_pool =
            std::max(p.ws_forward_pool, p.packed_f + conv_round16(p.Kf) + blocks + p.threads * 3 * p.lanes_pool);
        p.ws_backward_data =
            std::max(p.ws_backward_data, p.packed_b + conv_round16(g.c_out) + 2 * conv_round16(p.Kf) + blocks);
    }
    p.kpad = conv_ceil_div(p.Kf, p.V) * p.V;
    p.patches = conv_round16((p.P + 16) * p.kpad);
    p.pooled = 16 + p.patches + 2 * conv_round16(cpu_kernels::conv_bwf_pooled_run * (g.out_h / 2) * (g.out_w / 2));
    p.slots = be.isa() == CpuIsa::avx512 && g.c_in == 1 && g.kh == 3 && g.kw == 3 && g.w <= 32;
    if (p.slots) p.pooled = std::max(p.pooled, 16 + conv_round16(64 * g.h) + g.c_out * 144);
    p.ws_backward_filter = p.few_taps ? conv_round16(p.Kf) + p.x_last + p.w_chunks * p.w_partial +
                                            p.threads * std::max(conv_round16(p.w_block * p.w_rows * p.Pw), p.pooled)
                                      : conv_round16(p.Kf) + conv_round16(p.run * p.P) + p.chunks * p.partial +
                                            p.threads * conv_round16(p.run * p.P * p.co_pad);
    p.cpad = conv_ceil_div(g.c_in, p.V) * p.V;
    p.sparse_w = conv_round16(g.c_out * g.kh * g.kw * p.cpad);
    p.sparse_img = conv_round16(p.HW * p.cpad);
    const std::size_t PP = (g.out_h / 2) * (g.out_w / 2);
    p.sparse = !p.few_taps && 2 * g.c_in >= p.cpad;  // most lanes of a channel-last run are channels
    p.ws_backward_pool = !p.sparse ? 0
                                   : 2 * conv_round16(p.P) + 2 * p.sparse_w + 2 * conv_round16(PP) +
                                         p.chunks * (p.sparse_w + conv_round16(g.c_out)) +
                                         p.threads * (16 + 2 * p.sparse_img + conv_sparse_lists(PP, g.c_out));
    return p;
}

// Throws ArgumentError for a geometry the direct ops do not handle.
inline void conv_direct_check(const Conv2dGeometry& g, const char* op) {
    if (!conv2d_direct_supported(g))
        throw ArgumentError(std::string("typenet: ") + op +
                            ": the direct convolution needs stride 1 and valid padding (see conv2d_direct_supported);"
                            " use the im2col ops of conv.hpp for this geometry");
}

// Splits `total` rows (in tiles of mr) into groups so that chunks x groups
// items give each thread about four to claim.
struct ConvGroups {
    std::size_t size, count;  // rows per group (a multiple of mr), groups
};
inline ConvGroups conv_groups(std::size_t total, std::size_t mr, std::size_t threads, std::size_t chunks) {
    const std::size_t blocks = conv_ceil_div(total, mr);
    const std::size_t want = std::clamp<std::size_t>(conv_ceil_div(4 * threads, chunks), 1, blocks);
    const std::size_t size = conv_ceil_div(blocks, want) * mr;
    return {size, conv_ceil_div(total, size)};
}

// An int table in float scratch (storage reuse: the ints live there until
// the next op reuses the workspace).
inline int* conv_int_table(float* at, std::size_t count) {
    static_assert(sizeof(int) == sizeof(float) && alignof(int) <= alignof(float));
    return ::new (static_cast<void*>(at)) int[count];
}

// Runs f(slot, item, first) for items [0, count), claimed one at a time
// from an atomic counter so a descheduled thread holds up at most one item;
// `slot` < threads() names the scratch the call may use (no two threads hold
// one slot at once) and `first` is true on a slot's first item of the call.
template <class F>
void conv_run_items(const Cpu& be, std::size_t count, F&& f) {
    if (count == 0) return;
    if (count == 1 || be.threads() == 1) {
        for (std::size_t i = 0; i < count; ++i) f(std::size_t{0}, i, i == 0);
        return;
    }
    std::atomic<std::size_t> next{0};
    be.pool().run([&](std::size_t t) {
        bool first = true;
        for (std::size_t i; (i = next.fetch_add(1, std::memory_order_relaxed)) < count; first = false)
            f(t, i, first);
    });
}

// f(begin, end) over [0, count) on the pool, inline when small (waking
// threads costs about as much as touching 100 KB). Independent of conv.hpp so
// that conv.hpp can include this header.
template <class F>
void conv_parallel(const Cpu& be, std::size_t count, std::size_t values_per_item, F&& f) {
    if (count * values_per_item < (std::size_t{1} << 15))
        f(std::size_t{0}, count);
    else
        be.parallel_for(count, f);
}

// packed[(rb*K + k)*MR + m] = a(rb*MR + m, k), zero past `rows`.
template <class A>
void conv_pack(std::size_t rows, std::size_t K, std::size_t mr, float* packed, A&& a) {
    for (std::size_t rb = 0; rb < rows; rb += mr)
        for (std::size_t k = 0; k < K; ++k)
            for (std::size_t m = 0; m < mr; ++m) *packed++ = rb + m < rows ? a(rb + m, k) : 0.0f;
}

// Where row r's K values go in conv_pack's layout (mr floats apart), for
// packing rows in another order than conv_pack's.
inline float* conv_packed_row(float* packed, std::size_t r, std::size_t K, std::size_t mr) {
    return packed + r / mr * K * mr + r % mr;
}

// Forward offsets: tap k = (ci, ki, kj) reads x[ci][p' + ki*W + kj], times
// `lanes` floats per position (V with images in lanes, else 1).
inline int* conv_forward_offsets(const Conv2dGeometry& g, const ConvDirectPlan& p, float* at, std::size_t lanes = 1) {
    int* off = conv_int_table(at, p.Kf);
    for (std::size_t ci = 0, k = 0; ci < g.c_in; ++ci)
        for (std::size_t ki = 0; ki < g.kh; ++ki)
            for (std::size_t kj = 0; kj < g.kw; ++kj) off[k++] = int((ci * p.HW + ki * g.w + kj) * lanes);
    return off;
}

// The forward's weights packed for the tiles at `packed` (p.packed_f floats).
inline void conv_forward_weights(const Conv2dGeometry& g, const ConvDirectPlan& p, const float* w, float* packed) {
    conv_pack(g.c_out, p.Kf, std::size_t(p.tile.rows), packed,
              [&](std::size_t co, std::size_t k) { return w[co * p.Kf + k]; });
}

// Backward-data's A side at the start of the workspace (then 2 int tables and
// the rest free at the returned scratch): rows are (ki, kj, ci), tap-major, so
// one tile's rows add into different dx planes (rows of one plane overlap,
// and a load that overlaps a store still in flight waits for it); K runs over
// output channels, dy_plane floats apart; row r adds at base + shift, both
// times `lanes` floats per position (V with images in lanes, else 1).
inline cpu_kernels::ConvGemm conv_backward_data_setup(const Conv2dGeometry& g, const ConvDirectPlan& p,
                                                      const float* w, std::size_t dy_plane, std::size_t lanes,
                                                      float* workspace, float*& scratch) {
    // Row by row, input channel outer: through conv_pack, a division, a
    // modulo and a strided read per value cost conv3 77 us of a 287 us call.
    const auto mr = std::size_t(p.tile.rows);
    for (std::size_t ci = 0; ci < g.c_in; ++ci)  // one input channel's taps share w's cache lines
        for (std::size_t tap = 0; tap < p.khw; ++tap) {
            float* d = conv_packed_row(workspace, tap * g.c_in + ci, g.c_out, mr);
            const float* src = w + ci * p.khw + tap;  // then C_in*KH*KW apart per output channel
            for (std::size_t co = 0; co < g.c_out; ++co) d[co * mr] = src[co * p.Kf];
        }
    for (std::size_t r = p.Kf; r % mr != 0; ++r) {  // the last block's rows past Kf: zero
        float* d = conv_packed_row(workspace, r, g.c_out, mr);
        for (std::size_t co = 0; co < g.c_out; ++co) d[co * mr] = 0.0f;
    }
    float* at = workspace + p.packed_b;
    int* off = conv_int_table(at, g.c_out);
    for (std::size_t co = 0; co < g.c_out; ++co) off[co] = int(co * dy_plane);
    at += conv_round16(g.c_out);
    int* base = conv_int_table(at, p.Kf);
    int* shift = conv_int_table(at + conv_round16(p.Kf), p.Kf);
    for (std::size_t ki = 0, r = 0; ki < g.kh; ++ki)
        for (std::size_t kj = 0; kj < g.kw; ++kj)
            for (std::size_t ci = 0; ci < g.c_in; ++ci, ++r)
                base[r] = int(ci * p.HW * lanes), shift[r] = int((ki * g.w + kj) * lanes);
    scratch = at + 2 * conv_round16(p.Kf);
    return {workspace, off, int(g.c_out), p.Kf, 0, nullptr, false, base, shift};
}

// The last image with zeros after it: the junk lanes of its last vectors
// read past the end of x. The other images read into the next one.
inline const float* conv_last_image(const Conv2dGeometry& g, const ConvDirectPlan& p, const float* x, float* at) {
    const std::size_t size = g.c_in * p.HW;
    std::memcpy(at, x + (g.n - 1) * size, size * sizeof(float));
    std::fill(at + size, at + p.x_last, 0.0f);
    return at;
}

// The forward's A side in the workspace: packed weights, tap offsets, and
// the padded copy of the last image; rows of the tile's output are
// dst_stride floats apart.
struct ConvForwardSetup {
    cpu_kernels::ConvGemm a;
    const float* x_last;  // stands in for x's last image
};
inline ConvForwardSetup conv_forward_setup(const Conv2dGeometry& g, const ConvDirectPlan& p, const float* x,
                                           const float* w, const float* bias, bool relu, std::size_t dst_stride,
                                           float* workspace) {
    float* packed = workspace;
    conv_forward_weights(g, p, w, packed);
    const int* off = conv_forward_offsets(g, p, workspace + p.packed_f);
    return {{packed, off, int(p.Kf), g.c_out, dst_stride, bias, relu, nullptr, nullptr},
            conv_last_image(g, p, x, workspace + p.packed_f + conv_round16(p.Kf))};
}

// Backward-filter of an empty batch: dw and db (if given) are zero.
inline void conv_zero_filter_gradients(const Conv2dGeometry& g, float* dw, float* db) {
    std::fill(dw, dw + g.weight_size(), 0.0f);
    if (db) std::fill(db, db + g.c_out, 0.0f);
}

// Few taps: dw and db from the chunks' partials (each (C_out, Kf) then
// C_out), added in chunk order.
inline void conv_reduce_few_taps(const Cpu& be, const Conv2dGeometry& g, const ConvDirectPlan& p,
                                 const float* partials, float* dw, float* db) {
    const std::size_t n_dw = g.c_out * p.Kf, total = n_dw + (db ? g.c_out : 0);
    conv_parallel(be, total, p.w_chunks, [&](std::size_t begin, std::size_t end) {
        // out[0, count) = partial values [from, from + count) summed over chunks; vectorises along them.
        const auto reduce = [&](float* out, std::size_t from, std::size_t count) {
            std::memcpy(out, partials + from, count * sizeof(float));
            for (std::size_t c = 1; c < p.w_chunks; ++c)
                TYPENET_ISA_CALL(be.isa(), conv_accumulate, out, partials + c * p.w_partial + from, count);
        };
        if (begin < n_dw) reduce(dw + begin, begin, std::min(end, n_dw) - begin);
        if (db && end > n_dw) {
            const std::size_t from = std::max(begin, n_dw);
            reduce(db + (from - n_dw), from, end - from);
        }
    });
}

// Backward-filter with few taps: vectors along wide positions, horizontal
// sums. wide_dy(image, r0, rows, dst) writes output channels r0.. of dy's
// image into dst's wide rows (g.w apart, planes p.Pw apart), leaving the
// junk columns alone: from dy itself, or from a pooling's gradient.
template <class WideDy>
void conv_backward_filter_few_taps(const Cpu& be, const Conv2dGeometry& g, const ConvDirectPlan& p, const float* x,
                                   const WideDy& wide_dy, float* dw, float* db, float* workspace) {
    const int* off = conv_forward_offsets(g, p, workspace);
    const float* x_last = conv_last_image(g, p, x, workspace + conv_round16(p.Kf));
    float* partials = workspace + conv_round16(p.Kf) + p.x_last;  // per chunk: dw (C_out, Kf), then db
    float* scratch = partials + p.w_chunks * p.w_partial;
    const std::size_t per_thread = conv_round16(p.w_block * p.w_rows * p.Pw);

    // Items: (chunk, group of output channels). Groups only split the work:
    // every partial value is computed the same way whatever the grouping.
    const ConvGroups grouping = conv_groups(g.c_out, std::size_t(p.tile.bww_rows), p.threads, p.w_chunks);
    const std::size_t group_rows = grouping.size, groups = grouping.count;
    const std::size_t x_image = g.c_in * p.HW;
    conv_run_items(be, p.w_chunks * groups, [&](std::size_t t, std::size_t item, bool first) {
        const std::size_t c = item / groups, r0 = item % groups * group_rows;
        const std::size_t rows = std::min(group_rows, g.c_out - r0);
        const std::size_t c0 = c * p.w_chunk, c1 = std::min(g.n, c0 + p.w_chunk);
        float* e = scratch + t * per_thread;  // (block, group_rows, Pw): zero junk columns and tail
        if (first) std::fill(e, e + per_thread, 0.0f);
        float* part = partials + c * p.w_partial;
        float* part_db = part + g.c_out * p.Kf;
        const float* xs[conv_max_block];
        for (std::size_t i0 = c0; i0 < c1; i0 += p.w_block) {  // blocks in order: later ones add
            const std::size_t images = std::min(p.w_block, c1 - i0);
            for (std::size_t i = 0; i < images; ++i) {
                xs[i] = i0 + i + 1 == g.n ? x_last : x + (i0 + i) * x_image;
                wide_dy(i0 + i, r0, rows, e + i * group_rows * p.Pw);
            }
            const cpu_kernels::ConvBwfWide b{xs,  e,          group_rows * p.Pw, p.Pw, int(images), int(p.vpf), rows,
                                         off, int(p.Kf), part + r0 * p.Kf,   part_db + r0, i0 > c0};
            TYPENET_ISA_CALL(be.isa(), conv_bwf_wide, b);
        }
    });

    conv_reduce_few_taps(be, g, p, partials, dw, db);
}

// Images in lanes (p.batched): a block of V images transposed to
// [c][h][w][image], so every output position is one whole vector and the
// shifted GEMM's offsets are the unbatched ones times V (no junk lanes, no
// gathers); each block's result is transposed back. Items are blocks.

// The shifted GEMM over a block's output positions q = (oh, ow): a column
// reads `in` and writes `out`, each at q (dense, P positions) or at the
// position's place in the input plane (oh*W + ow), V floats per position.
// In backward-data, count is the lanes left in the dx plane after dst, as
// the unbatched op's tile clips each row's shift against.
inline void conv_batched_columns(const Cpu& be, const Conv2dGeometry& g, const ConvDirectPlan& p,
                                 const cpu_kernels::ConvGemm& a, const float* in, bool in_dense, float* out) {
    cpu_kernels::ConvColumn col[conv_column_batch];
    int count = 0;
    for (std::size_t oh = 0, q = 0; oh < g.out_h; ++oh)
        for (std::size_t ow = 0; ow < g.out_w; ++ow, ++q) {
            const std::size_t at = oh * g.w + ow;
            cpu_kernels::ConvColumn& cl = col[count++];
            cl.src = in + (in_dense ? q : at) * p.V;
            cl.dst = out + (in_dense ? at : q) * p.V;
            cl.count = int(a.shift ? (p.HW - at) * p.V : p.V);
            cl.gather = false;
            if (count == conv_column_batch || q + 1 == p.P) {
                TYPENET_ISA_CALL(be.isa(), conv_gemm_columns, a, col, count);
                count = 0;
            }
        }
}

// Forward: columns are output positions, rows output channels. Each block's
// output, yt [co][position][image] in thread t's scratch, goes to
// finish(t, i0, images, yt), which writes it out (transposed back, or pooled).
template <class Finish>
void conv_batched_forward_blocks(const Cpu& be, const Conv2dGeometry& g, const ConvDirectPlan& p, const float* x,
                                 const float* w, const float* bias, bool relu, float* workspace,
                                 const Finish& finish) {
    conv_forward_weights(g, p, w, workspace);
    const int* off = conv_forward_offsets(g, p, workspace + p.packed_f, p.V);
    float* scratch = workspace + p.packed_f + conv_round16(p.Kf);
    const cpu_kernels::ConvGemm a{workspace, off, int(p.Kf), g.c_out, p.P * p.V, bias, relu, nullptr, nullptr};
    const std::size_t x_image = g.c_in * p.HW;
    conv_run_items(be, conv_ceil_div(g.n, p.V), [&](std::size_t t, std::size_t item, bool) {
        float* xt = scratch + t * (p.lanes_x + p.lanes_y);
        float* yt = xt + p.lanes_x;
        const std::size_t i0 = item * p.V, images = std::min(p.V, g.n - i0);
        if (images < p.V) std::fill(xt, xt + x_image * p.V, 0.0f);  // idle lanes: zeros, not stale values
        TYPENET_ISA_CALL(be.isa(), conv_transpose, x + i0 * x_image, x_image, images, x_image, xt, p.V);
        conv_batched_columns(be, g, p, a, xt, false, yt);
        finish(t, i0, images, static_cast<const float*>(yt));
    });
}

inline void conv_batched_forward(const Cpu& be, const Conv2dGeometry& g, const ConvDirectPlan& p, const float* x,
                                 const float* w, const float* bias, bool relu, float* y, float* workspace) {
    const std::size_t y_image = g.c_out * p.P;
    conv_batched_forward_blocks(be, g, p, x, w, bias, relu, workspace,
                                [&](std::size_t, std::size_t i0, std::size_t images, const float* yt) {
                                    TYPENET_ISA_CALL(be.isa(), conv_transpose, yt, p.V, y_image, images,
                                                     y + i0 * y_image, y_image);
                                });
}

// Forward + 2x2 stride-2 max pooling (pg): each block pooled in its lanes
// (four whole vectors per window, no permutes), then only the pooled values
// and indices transposed back (a quarter of y). The same values as
// conv_batched_forward then maxpool2x2_plane, bit for bit.
inline void conv_batched_forward_maxpool2x2(const Cpu& be, const Conv2dGeometry& g, const Pool2dGeometry& pg,
                                            const ConvDirectPlan& p, const float* x, const float* w,
                                            const float* bias, bool relu, float* pool_y, std::int32_t* argmax,
                                            float* workspace) {
    // Past the blocks' x and y: per thread the pooled values, their indices
    // [co][pooled position][image], and the indices transposed back.
    float* pooled = workspace + p.packed_f + conv_round16(p.Kf) + p.threads * (p.lanes_x + p.lanes_y);
    const std::size_t pool_image = g.c_out * pg.out_h * pg.out_w;
    conv_batched_forward_blocks(
        be, g, p, x, w, bias, relu, workspace,
        [&](std::size_t t, std::size_t i0, std::size_t images, const float* yt) {
            float* pv = pooled + t * 3 * p.lanes_pool;
            float* pi = pv + p.lanes_pool;
            float* at = pi + p.lanes_pool;
            TYPENET_ISA_CALL(be.isa(), conv_pool_lanes, yt, g.c_out, p.P, int(g.out_w), int(pg.out_h),
                             int(pg.out_w), pv, pi);
            TYPENET_ISA_CALL(be.isa(), conv_transpose, pv, p.V, pool_image, images, pool_y + i0 * pool_image,
                             pool_image);
            TYPENET_ISA_CALL(be.isa(), conv_transpose, pi, p.V, pool_image, images, at, pool_image);
            TYPENET_ISA_CALL(be.isa(), conv_floats_to_int, at, images * pool_image, argmax + i0 * pool_image);
        });
}

// Backward-data: columns are dy's positions, rows (tap, c_in) as in the
// unbatched op, each adding a whole vector at its tap's shift into dx's block.
inline void conv_batched_backward_data(const Cpu& be, const Conv2dGeometry& g, const ConvDirectPlan& p,
                                       const float* dy, const float* w, float* dx, float* workspace) {
    float* scratch = nullptr;
    const cpu_kernels::ConvGemm a = conv_backward_data_setup(g, p, w, p.P * p.V, p.V, workspace, scratch);
    const std::size_t x_image = g.c_in * p.HW, y_image = g.c_out * p.P;
    conv_run_items(be, conv_ceil_div(g.n, p.V), [&](std::size_t t, std::size_t item, bool) {
        float* dxt = scratch + t * (p.lanes_x + p.lanes_y);
        float* dyt = dxt + p.lanes_x;  // [co][position][image]
        const std::size_t i0 = item * p.V, images = std::min(p.V, g.n - i0);
        if (images < p.V) std::fill(dyt, dyt + y_image * p.V, 0.0f);
        TYPENET_ISA_CALL(be.isa(), conv_transpose, dy + i0 * y_image, y_image, images, y_image, dyt, p.V);
        std::fill(dxt, dxt + x_image * p.V, 0.0f);
        conv_batched_columns(be, g, p, a, dyt, true, dxt);
        TYPENET_ISA_CALL(be.isa(), conv_transpose, dxt, p.V, x_image, images, dx + i0 * x_image, x_image);
    });
}

}  // namespace cpu_detail

/// Scratch floats that conv2d_direct_forward, _forward_maxpool2x2,
/// _backward_data and _backward_filter need for g on backend be (its path and thread count).
/// Allocate once, reuse; the ops allocate nothing.
inline std::size_t conv2d_direct_workspace(const Cpu& be, const Conv2dGeometry& g) {
    const auto p = cpu_detail::conv_direct_plan(be, g);
    return std::max({p.ws_forward, p.ws_forward_pool, p.ws_backward_data, p.ws_backward_filter, p.ws_backward_pool});
}

/// Whether the forward and backward-data for g on be put images rather than
/// positions in the vector lanes (small output planes, enough images).
inline bool conv2d_direct_batched(const Cpu& be, const Conv2dGeometry& g) {
    return conv2d_direct_supported(g) && g.n > 0 && cpu_detail::conv_direct_plan(be, g).batched;
}

/// y = conv(x, w) + bias, then max(0, y) when relu. x (N,C_in,H,W),
/// w (C_out,C_in,KH,KW), bias (C_out) or null, y (N,C_out,OUT_H,OUT_W);
/// g must satisfy conv2d_direct_supported.
inline void conv2d_direct_forward(const Cpu& be, const Conv2dGeometry& g, const float* x, const float* w,
                                  const float* bias, bool relu, float* y, float* workspace) {
    using namespace cpu_detail;
    conv_direct_check(g, "conv2d_direct_forward");
    if (g.n == 0) return;
    const ConvDirectPlan p = conv_direct_plan(be, g);
    if (p.batched) return conv_batched_forward(be, g, p, x, w, bias, relu, y, workspace);
    const ConvForwardSetup setup = conv_forward_setup(g, p, x, w, bias, relu, p.P, workspace);
    const cpu_kernels::ConvGemm& a = setup.a;
    const float* x_last = setup.x_last;

    ConvLanes* lanes = ::new (static_cast<void*>(workspace + p.ws_setup)) ConvLanes[p.vpf];
    for (std::size_t v = 0; v < p.vpf; ++v) {
        ConvLanes& t = lanes[v];
        const std::size_t p0 = v * p.V;
        std::size_t r = p0 / g.w, cw = p0 % g.w, first = 0;
        int kept = 0;
        for (int l = 0; l < int(p.V); ++l) {
            t.idx[l] = 0;
            if (p0 + std::size_t(l) < p.L && cw < g.out_w) {
                if (kept == 0) first = r * g.out_w + cw;
                t.idx[kept++] = l;
            }
            if (++cw == g.w) cw = 0, ++r;
        }
        t.count = kept;
        t.gather = kept > 0 && t.idx[kept - 1] != kept - 1;
        t.first = int(first);
    }

    // Items: runs of whole column batches over all images' pixel vectors.
    const std::size_t columns = g.n * p.vpf, batch = conv_column_batch;
    const std::size_t per_item =
        std::max<std::size_t>(1, conv_ceil_div(conv_ceil_div(columns, batch), 8 * p.threads)) * batch;
    const std::size_t x_image = g.c_in * p.HW, y_image = g.c_out * p.P;
    conv_run_items(be, conv_ceil_div(columns, per_item), [&](std::size_t, std::size_t item, bool) {
        cpu_kernels::ConvColumn col[conv_column_batch];
        const std::size_t end = std::min(columns, (item + 1) * per_item);
        for (std::size_t c0 = item * per_item; c0 < end; c0 += batch) {
            const int count = int(std::min(batch, end - c0));
            for (int j = 0; j < count; ++j) {
                const std::size_t c = c0 + std::size_t(j), image = c / p.vpf, v = c % p.vpf;
                const ConvLanes& t = lanes[v];
                cpu_kernels::ConvColumn& cl = col[j];
                cl.src = (image + 1 == g.n ? x_last : x + image * x_image) + v * p.V;
                cl.dst = y + image * y_image + t.first;
                cl.count = t.count;
                cl.gather = t.gather != 0;
                cl.idx = t.idx;
            }
            TYPENET_ISA_CALL(be.isa(), conv_gemm_columns, a, col, count);
        }
    });
}

/// Whether conv2d_direct_forward_maxpool2x2 fuses geometry g's convolution
/// with the pooling pg (2x2, stride 2, over exactly that convolution's output).
inline bool conv2d_direct_pool_supported(const Conv2dGeometry& g, const Pool2dGeometry& pg) {
    return conv2d_direct_supported(g) && cpu_detail::maxpool2x2_vectorised(pg) && pg.n == g.n && pg.c == g.c_out &&
           pg.h == g.out_h && pg.w == g.out_w;
}

/// conv2d_direct_forward, then 2x2 stride-2 max pooling of its output pg:
/// pool_y and argmax (N,C_out,OUT_H/2,OUT_W/2) as maxpool2d_forward gives
/// them (argmax indexes the convolution's output plane), bit for bit. The
/// convolution's output is never stored: with few taps (C_in*KH*KW < 64)
/// each tile pools its own accumulators; with images in lanes each block is
/// pooled before its transpose back; else each image's output is pooled
/// from per-thread scratch while it is in cache.
inline void conv2d_direct_forward_maxpool2x2(const Cpu& be, const Conv2dGeometry& g, const Pool2dGeometry& pg,
                                             const float* x, const float* w, const float* bias, bool relu,
                                             float* pool_y, std::int32_t* argmax, float* workspace) {
    using namespace cpu_detail;
    conv_direct_check(g, "conv2d_direct_forward_maxpool2x2");
    if (!conv2d_direct_pool_supported(g, pg))
        throw ArgumentError("typenet: conv2d_direct_forward_maxpool2x2: the pooling must be 2x2 with stride 2 over "
                            "the convolution's output (see conv2d_direct_pool_supported)");
    if (g.n == 0) return;
    const ConvDirectPlan p = conv_direct_plan(be, g);
    const std::size_t x_image = g.c_in * p.HW, PP = pg.out_h * pg.out_w;
    if (p.few_taps) {
        // Few taps (conv1: 9): a tile's pooling costs about what its
        // products do, so it pools its own accumulators (conv1 at batch 64 on
        // Zen 5: 241-250 -> 153-175 us); with many taps the forward's wider
        // tile matters more (conv2: 942-970 us here, 1105-1194 pooling in registers).
        const ConvForwardSetup setup = conv_forward_setup(g, p, x, w, bias, relu, 0, workspace);
        conv_run_items(be, g.n, [&](std::size_t, std::size_t image, bool) {
            const cpu_kernels::ConvPoolImage c{&setup.a,
                                               image + 1 == g.n ? setup.x_last : x + image * x_image,
                                               int(g.w),
                                               int(g.out_w),
                                               int(pg.out_h),
                                               int(pg.out_w),
                                               pool_y + image * g.c_out * PP,
                                               argmax + image * g.c_out * PP,
                                               p.slots};
            TYPENET_ISA_CALL(be.isa(), conv_pool_image, c);
        });
        return;
    }
    if (p.batched) return conv_batched_forward_maxpool2x2(be, g, pg, p, x, w, bias, relu, pool_y, argmax, workspace);
    // Tile rows (output channels) are wide planes of Pw floats in the scratch.
    const ConvForwardSetup setup = conv_forward_setup(g, p, x, w, bias, relu, p.Pw, workspace);
    const cpu_kernels::ConvGemm& a = setup.a;
    const float* x_last = setup.x_last;
    float* scratch = workspace + p.ws_setup;
    conv_run_items(be, g.n, [&](std::size_t t, std::size_t image, bool) {
        float* out = scratch + t * p.wide_out;
        const float* src = image + 1 == g.n ? x_last : x + image * x_image;
        cpu_kernels::ConvColumn col[conv_column_batch];
        for (std::size_t v0 = 0; v0 < p.vpf; v0 += conv_column_batch) {
            const int count = int(std::min<std::size_t>(conv_column_batch, p.vpf - v0));
            for (int j = 0; j < count; ++j) {
                const std::size_t at = (v0 + std::size_t(j)) * p.V;
                col[j].src = src + at;
                col[j].dst = out + at;
                col[j].count = int(p.V);  // every lane: junk columns land in the scratch, unread
                col[j].gather = false;
            }
            TYPENET_ISA_CALL(be.isa(), conv_gemm_columns, a, col, count);
        }
        for (std::size_t co = 0; co < g.c_out; ++co) {
            const std::size_t plane = image * g.c_out + co;
            TYPENET_ISA_CALL(be.isa(), maxpool2x2_plane, out + co * p.Pw, g.w, g.out_w, pg.out_h, pg.out_w,
                             pool_y + plane * PP, argmax + plane * PP);
        }
    });
}

/// dx = the gradient of conv2d_direct_forward's y (before ReLU) with respect
/// to x, given dy. dy (N,C_out,OUT_H,OUT_W), w (C_out,C_in,KH,KW),
/// dx (N,C_in,H,W), overwritten.
inline void conv2d_direct_backward_data(const Cpu& be, const Conv2dGeometry& g, const float* dy, const float* w,
                                        float* dx, float* workspace) {
    using namespace cpu_detail;
    conv_direct_check(g, "conv2d_direct_backward_data");
    if (g.n == 0) return;
    const ConvDirectPlan p = conv_direct_plan(be, g);
    if (p.batched) return conv_batched_backward_data(be, g, p, dy, w, dx, workspace);
    float* scratch = nullptr;
    const cpu_kernels::ConvGemm a = conv_backward_data_setup(g, p, w, p.Pw, 1, workspace, scratch);
    const std::size_t per_thread = conv_round16(p.group * g.c_out * p.Pw);

    conv_run_items(be, conv_ceil_div(g.n, p.group), [&](std::size_t t, std::size_t item, bool first) {
        float* d = scratch + t * per_thread;  // (group, C_out, Pw): only dy's own positions are ever written
        if (first) std::fill(d, d + per_thread, 0.0f);
        const std::size_t i0 = item * p.group, images = std::min(p.group, g.n - i0);
        TYPENET_ISA_CALL(be.isa(), conv_widen, dy + i0 * g.c_out * p.P, images * g.c_out, g.out_h, int(g.out_w), d,
                         g.w, p.Pw);
        std::fill(dx + i0 * g.c_in * p.HW, dx + (i0 + images) * g.c_in * p.HW, 0.0f);
        cpu_kernels::ConvColumn col[conv_column_batch];
        int count = 0;
        for (std::size_t i = 0; i < images; ++i)
            for (std::size_t v = 0; v < p.vpf; ++v) {
                cpu_kernels::ConvColumn& cl = col[count++];
                cl.src = d + i * g.c_out * p.Pw + v * p.V;
                cl.dst = dx + (i0 + i) * g.c_in * p.HW + v * p.V;
                cl.count = int(p.HW - v * p.V);  // lanes left in the plane; the tile clips each row's shift
                cl.gather = false;
                if (count == conv_column_batch) {
                    TYPENET_ISA_CALL(be.isa(), conv_gemm_columns, a, col, count);
                    count = 0;
                }
            }
        if (count > 0) TYPENET_ISA_CALL(be.isa(), conv_gemm_columns, a, col, count);
    });
}

/// dw, db = the gradients of conv2d_direct_forward's y (before ReLU) with
/// respect to w and bias, given x (N,C_in,H,W) and dy (N,C_out,OUT_H,OUT_W).
/// dw (C_out,C_in,KH,KW) and db (C_out) are overwritten; db may be null.
/// Bit-identical for any thread count.
inline void conv2d_direct_backward_filter(const Cpu& be, const Conv2dGeometry& g, const float* x, const float* dy,
                                          float* dw, float* db, float* workspace) {
    using namespace cpu_detail;
    conv_direct_check(g, "conv2d_direct_backward_filter");
    if (g.n == 0) return conv_zero_filter_gradients(g, dw, db);
    const ConvDirectPlan p = conv_direct_plan(be, g);
    if (p.few_taps) {
        const auto widen = [&](std::size_t image, std::size_t r0, std::size_t rows, float* dst) {
            TYPENET_ISA_CALL(be.isa(), conv_widen, dy + (image * g.c_out + r0) * p.P, rows, g.out_h, int(g.out_w),
                             dst, g.w, p.Pw);
        };
        conv_backward_filter_few_taps(be, g, p, x, widen, dw, db, workspace);
        return;
    }
    const std::size_t x_image = g.c_in * p.HW;
    const int* off = conv_forward_offsets(g, p, workspace);
    int* xpos = conv_int_table(workspace + conv_round16(p.Kf), p.run * p.P);  // (run, P)
    for (std::size_t j = 0, q = 0; j < p.run; ++j)
        for (std::size_t oh = 0; oh < g.out_h; ++oh)
            for (std::size_t ow = 0; ow < g.out_w; ++ow) xpos[q++] = int(j * x_image + oh * g.w + ow);
    float* partials = workspace + conv_round16(p.Kf) + conv_round16(p.run * p.P);  // per chunk: dw^T, then db
    float* scratch = partials + p.chunks * p.partial;
    const std::size_t per_thread = conv_round16(p.run * p.P * p.co_pad);

    // Items: (chunk, group of taps). Groups only split the work: every
    // partial value is computed the same way whatever the grouping.
    const ConvGroups grouping = conv_groups(p.Kf, std::size_t(p.tile.bwf_rows), p.threads, p.chunks);
    const std::size_t group_taps = grouping.size, groups = grouping.count;
    conv_run_items(be, p.chunks * groups, [&](std::size_t t, std::size_t item, bool first) {
        const std::size_t c = item / groups, k0 = item % groups * group_taps;
        const std::size_t taps = std::min(group_taps, p.Kf - k0);
        const std::size_t i0 = c * p.chunk, i1 = std::min(g.n, i0 + p.chunk);
        float* dyt = scratch + t * per_thread;  // (run * P, co_pad): columns past C_out stay zero
        if (first) std::fill(dyt, dyt + per_thread, 0.0f);
        float* part = partials + c * p.partial;
        for (std::size_t i = i0; i < i1; i += p.run) {  // runs in order: later ones add
            const std::size_t images = std::min(p.run, i1 - i), rows = images * p.P;
            for (std::size_t j = 0; j < images; ++j)
                TYPENET_ISA_CALL(be.isa(), conv_transpose, dy + (i + j) * g.c_out * p.P, p.P, g.c_out, p.P,
                                 dyt + j * p.P * p.co_pad, p.co_pad);
            const cpu_kernels::ConvBwf b{x + i * x_image, dyt,       xpos,
                                         int(rows),        off + k0,  int(taps),
                                         int(p.co_pad / p.V), part + k0 * p.co_pad, i > i0};
            TYPENET_ISA_CALL(be.isa(), conv_bwf, b);
            if (k0 == 0)
                TYPENET_ISA_CALL(be.isa(), conv_column_sums, dyt, rows, p.co_pad, part + p.Kf * p.co_pad, i > i0);
        }
    });

    // dw and db: the chunks' partials added in chunk order (into chunk 0's),
    // then transposed out. Rows 0..Kf-1 are dw^T, row Kf is db.
    conv_parallel(be, p.Kf + 1, p.chunks * p.co_pad, [&](std::size_t begin, std::size_t end) {
        float* sum = partials + begin * p.co_pad;
        const std::size_t count = (end - begin) * p.co_pad;
        for (std::size_t c = 1; c < p.chunks; ++c)
            TYPENET_ISA_CALL(be.isa(), conv_accumulate, sum, partials + c * p.partial + begin * p.co_pad, count);
        const std::size_t taps_end = std::min(end, p.Kf);
        if (begin < taps_end)  // rows k of dw^T -> column k of dw (C_out, Kf)
            TYPENET_ISA_CALL(be.isa(), conv_transpose, sum, p.co_pad, taps_end - begin, g.c_out, dw + begin, p.Kf);
        if (db && end > p.Kf) {
            const float* row = partials + p.Kf * p.co_pad;
            std::copy(row, row + g.c_out, db);
        }
    });
}

namespace cpu_detail {

// Through the pooling with at most 16 taps (a first layer's 3x3 or 4x4
// on one channel): only the windows' argmax positions are visited, each
// reading its patch row (ConvBwfPooled), a quarter of the dense products;
// offsets into the patches stay exact in float. A 3x3 kernel on one channel
// on AVX-512 (conv1) reads split columns instead (ConvBwfSlots, p.slots).
inline bool conv_pooled_bwf(const ConvDirectPlan& p) {
    return p.Kf <= 16 && p.patches < (std::size_t{1} << 24);
}

// Items are chunks (all C_out channels: one image's patches serve them all);
// each chunk's images add to its partial in order, so a seed gives the same run.
inline void conv_backward_filter_pooled(const Cpu& be, const Conv2dGeometry& g, const ConvDirectPlan& p,
                                        const float* x, const float* pool_y, const std::int32_t* argmax,
                                        const float* pool_dy, float* dw, float* db, float* workspace) {
    const int* off = conv_forward_offsets(g, p, workspace);
    const float* x_last = conv_last_image(g, p, x, workspace + conv_round16(p.Kf));
    float* partials = workspace + conv_round16(p.Kf) + p.x_last;
    float* scratch = partials + p.w_chunks * p.w_partial;
    const std::size_t x_image = g.c_in * p.HW, PP = (g.out_h / 2) * (g.out_w / 2), planes = g.c_out * PP;
    const std::size_t run = cpu_kernels::conv_bwf_pooled_run * PP;
    conv_run_items(be, p.w_chunks, [&](std::size_t t, std::size_t c, bool) {
        float* patches = scratch + t * p.pooled;
        patches += (64 - reinterpret_cast<std::uintptr_t>(patches) % 64) % 64 / sizeof(float);  // rows on cache lines
        float* gs = patches + p.patches;
        std::int32_t* at = conv_int_table(gs + conv_round16(run), run);
        float* part = partials + c * p.w_partial;
        const std::size_t c0 = c * p.w_chunk, c1 = std::min(g.n, c0 + p.w_chunk);
#if defined(TYPENET_X86_KERNELS)
        if (p.slots) {
            // Per-lane sums per chunk, added into its partial at its end (conv1
            // on Zen 5, 2 threads: 182-196 -> 126-129 us at batch 64, 804-957
            // -> 502-508 us at 256; bench_conv, three alternating rounds).
            float *cols = patches, *acc = cols + conv_round16(64 * g.h);
            std::fill(acc, acc + g.c_out * 144, 0.0f);
            std::fill(part, part + g.c_out * (p.Kf + 1), 0.0f);
            for (std::size_t i = c0; i < c1; ++i) {
                const std::size_t at_image = i * planes;
                cpu_kernels::avx512::conv_bwf_slots(cpu_kernels::ConvBwfSlots{
                    i + 1 == g.n ? x_last : x + i * x_image, int(g.h), int(g.w), int(g.out_w), int(p.P),
                    int(g.out_h / 2), int(g.out_w / 2), pool_dy + at_image, pool_y + at_image, argmax + at_image,
                    g.c_out, cols, acc, part, part + g.c_out * p.Kf});
            }
            cpu_kernels::avx512::conv_bwf_slots_finish(acc, g.c_out * 9, part);
            return;
        }
#endif
        for (std::size_t i = c0; i < c1; ++i) {
            const float* xi = i + 1 == g.n ? x_last : x + i * x_image;
            TYPENET_ISA_CALL(be.isa(), conv_patches,
                             cpu_kernels::ConvPatches{xi, int(g.w), int(g.out_h), int(g.out_w), off, int(p.Kf),
                                                      int(p.kpad), patches});
            const std::size_t at_image = i * planes;
            TYPENET_ISA_CALL(be.isa(), conv_bwf_pooled,
                             cpu_kernels::ConvBwfPooled{patches, int(p.P), int(p.Kf), int(p.kpad),
                                                        pool_dy + at_image, pool_y + at_image, argmax + at_image,
                                                        int(PP), g.c_out, gs, at, part, part + g.c_out * p.Kf,
                                                        i > c0});
        }
    });
    conv_reduce_few_taps(be, g, p, partials, dw, db);
}

}  // namespace cpu_detail

/// Whether conv2d_direct_maxpool2x2_backward takes g and pg on be: those
/// of conv2d_direct_forward_maxpool2x2 with many taps (C_in * KH * KW >=
/// 64) and C_in filling at least half of its rounding up to the vector
/// width (32 channels: all lanes).
inline bool conv2d_direct_pool_sparse_supported(const Cpu& be, const Conv2dGeometry& g, const Pool2dGeometry& pg) {
    return conv2d_direct_pool_supported(g, pg) && cpu_detail::conv_direct_plan(be, g).sparse;
}

/// dx, dw, db = the gradients of conv2d_direct_forward_maxpool2x2's pooled
/// output (with its ReLU) given x, w, pool_y and argmax from that forward
/// and pool_dy (N,C_out,OUT_H/2,OUT_W/2): the values of
/// conv2d_direct_backward_data and _backward_filter of maxpool2d_backward(
/// pool_dy, argmax, relu_y = pool_y) up to rounding, from the windows'
/// argmax positions alone (a quarter of the products; ConvPoolSparse), the
/// convolution's full gradient never stored. Sums run in a fixed order
/// (dw per chunk of images fixed by N, chunks added in order), so the
/// results are the same from run to run and for any thread count. g and
/// pg must satisfy conv2d_direct_pool_sparse_supported.
inline void conv2d_direct_maxpool2x2_backward(const Cpu& be, const Conv2dGeometry& g, const Pool2dGeometry& pg,
                                              const float* x, const float* w, const float* pool_y,
                                              const std::int32_t* argmax, const float* pool_dy, float* dx,
                                              float* dw, float* db, float* workspace) {
    using namespace cpu_detail;
    conv_direct_check(g, "conv2d_direct_maxpool2x2_backward");
    if (!conv2d_direct_pool_sparse_supported(be, g, pg))
        throw ArgumentError("typenet: conv2d_direct_maxpool2x2_backward: needs a 2x2 stride-2 pooling over the "
                            "convolution's output, at least 64 taps and channels filling half a vector (see "
                            "conv2d_direct_pool_sparse_supported); use maxpool2d_backward and the conv2d ops");
    if (g.n == 0) return conv_zero_filter_gradients(g, dw, db);
    const ConvDirectPlan p = conv_direct_plan(be, g);
    const std::size_t PP = pg.out_h * pg.out_w, L = g.kw * p.cpad, x_image = g.c_in * p.HW;
    // Set-up: base() of every conv output position, the weights channel-last.
    std::int32_t* base = conv_int_table(workspace, p.P);
    for (std::size_t a = 0; a < p.P; ++a)
        base[a] = std::int32_t(((a / g.out_w) * g.w + a % g.out_w) * p.cpad);
    float* wt = workspace + 2 * conv_round16(p.P);
    std::fill(wt, wt + p.sparse_w, 0.0f);
    for (std::size_t co = 0; co < g.c_out; ++co)
        for (std::size_t ci = 0; ci < g.c_in; ++ci)
            for (std::size_t r = 0; r < g.kh; ++r)
                for (std::size_t c = 0; c < g.kw; ++c)
                    wt[(co * g.kh + r) * L + c * p.cpad + ci] = w[((co * g.c_in + ci) * g.kh + r) * g.kw + c];
    // A 3x3 kernel on 16-lane vectors takes dx per pooled window: the
    // weights 16 input channels at a time, and each window's first position.
    const std::size_t PPpad = conv_round16(PP);
    float* wh = wt + p.sparse_w;
    std::int32_t* win = conv_int_table(wh + p.sparse_w, 2 * PPpad);
    const bool windows = p.V == 16 && g.kh == 3 && g.kw == 3 && p.P < (std::size_t(1) << 22);
    if (windows) {
        for (std::size_t h = 0; h < p.cpad / 16; ++h)
            for (std::size_t co = 0; co < g.c_out; ++co)
                for (std::size_t k = 0; k < 9; ++k)
                    std::copy_n(wt + (co * 3 + k / 3) * L + (k % 3) * p.cpad + h * 16, 16,
                                wh + ((h * g.c_out + co) * 9 + k) * 16);
        std::fill(win, win + 2 * PPpad, 0);
        for (std::size_t q = 0; q < PP; ++q) {
            win[q] = std::int32_t(2 * (q / pg.out_w));
            win[PPpad + q] = std::int32_t(2 * (q % pg.out_w));
        }
    }
    const std::size_t part = p.sparse_w + conv_round16(g.c_out);
    float* partials = wh + p.sparse_w + 2 * PPpad;
    float* scratch = partials + p.chunks * part;
    const std::size_t list = conv_sparse_list(PP, g.c_out), trans = PPpad * g.c_out,
                      per_thread = 16 + 2 * p.sparse_img + conv_sparse_lists(PP, g.c_out);
    conv_run_items(be, p.chunks, [&](std::size_t t, std::size_t c, bool first) {
        float* xt = scratch + t * per_thread;
        xt += (64 - reinterpret_cast<std::uintptr_t>(xt) % 64) % 64 / sizeof(float);  // runs on cache lines
        float* dxt = xt + p.sparse_img;
        float* gs = dxt + p.sparse_img;
        std::int32_t* at = conv_int_table(gs + list, list);
        float* tgc = gs + 2 * list;
        if (first) std::fill(xt, xt + p.sparse_img, 0.0f);  // the lanes past c_in stay zero
        float* dwt = partials + c * part;
        std::fill(dwt, dwt + part, 0.0f);
        const std::size_t c0 = c * p.chunk, c1 = std::min(g.n, c0 + p.chunk);
        for (std::size_t i = c0; i < c1; ++i) {
            TYPENET_ISA_CALL(be.isa(), conv_transpose, x + i * x_image, p.HW, g.c_in, p.HW, xt, p.cpad);
            std::fill(dxt, dxt + p.sparse_img, 0.0f);
            const std::size_t at_image = i * g.c_out * PP;
            TYPENET_ISA_CALL(be.isa(), conv_pool_sparse,
                             cpu_kernels::ConvPoolSparse{xt, dxt, wt, base, pool_dy + at_image, pool_y + at_image,
                                                         argmax + at_image, int(PP), int(p.P), int(g.kh), int(L),
                                                         int(g.w * p.cpad), g.c_out, gs, at, dwt,
                                                         dwt + p.sparse_w, windows ? wh : nullptr, win,
                                                         int(g.out_w), int(pg.out_w), int(PPpad), tgc,
                                                         tgc + trans, tgc + 2 * trans, tgc + 3 * trans});
            TYPENET_ISA_CALL(be.isa(), conv_transpose, dxt, p.cpad, p.HW, g.c_in, dx + i * x_image, p.HW);
        }
    });
    // The chunks' dw and db added in chunk order, then back to (C_out, C_in, KH, KW).
    conv_parallel(be, g.c_out, g.c_in * g.kh * g.kw * p.chunks, [&](std::size_t begin, std::size_t end) {
        for (std::size_t co = begin; co < end; ++co) {
            float* sum = partials + co * g.kh * L;
            for (std::size_t c = 1; c < p.chunks; ++c)
                TYPENET_ISA_CALL(be.isa(), conv_accumulate, sum, partials + c * part + co * g.kh * L, g.kh * L);
            for (std::size_t ci = 0; ci < g.c_in; ++ci)
                for (std::size_t r = 0; r < g.kh; ++r)
                    for (std::size_t c = 0; c < g.kw; ++c)
                        dw[((co * g.c_in + ci) * g.kh + r) * g.kw + c] = sum[r * L + c * p.cpad + ci];
            if (db) {
                float b = partials[p.sparse_w + co];
                for (std::size_t c = 1; c < p.chunks; ++c) b += partials[c * part + p.sparse_w + co];
                db[co] = b;
            }
        }
    });
}

/// Whether conv2d_direct_maxpool2x2_backward_filter takes g and pg: those of
/// conv2d_direct_forward_maxpool2x2, with few taps (C_in * KH * KW < 64,
/// a first layer's), whose backward-filter reads dy as wide rows.
inline bool conv2d_direct_pool_backward_supported(const Conv2dGeometry& g, const Pool2dGeometry& pg) {
    return conv2d_direct_pool_supported(g, pg) && g.c_in * g.kh * g.kw < cpu_detail::conv_bwf_transpose_min_taps;
}

/// dw, db = the gradients of conv2d_direct_forward_maxpool2x2's pooled
/// output (with its ReLU) with respect to w and bias, given x, pool_y and
/// argmax from that forward and pool_dy (N,C_out,OUT_H/2,OUT_W/2): the
/// values of conv2d_direct_backward_filter of maxpool2d_backward(pool_dy,
/// argmax, relu_y = pool_y). The convolution's full gradient is never
/// stored. Up to 16 taps only the windows' argmax positions are visited (a
/// quarter of the products; sums in another order, so equal up to rounding,
/// and the same from run to run and for any thread count); with more, each
/// image's gradient is routed from the pooled one straight into the wide
/// rows the kernel reads, bit for bit the two ops. g and pg must satisfy
/// conv2d_direct_pool_backward_supported.
inline void conv2d_direct_maxpool2x2_backward_filter(const Cpu& be, const Conv2dGeometry& g,
                                                     const Pool2dGeometry& pg, const float* x, const float* pool_y,
                                                     const std::int32_t* argmax, const float* pool_dy, float* dw,
                                                     float* db, float* workspace) {
    using namespace cpu_detail;
    conv_direct_check(g, "conv2d_direct_maxpool2x2_backward_filter");
    if (!conv2d_direct_pool_backward_supported(g, pg))
        throw ArgumentError("typenet: conv2d_direct_maxpool2x2_backward_filter: needs a 2x2 stride-2 pooling over "
                            "the convolution's output and fewer than 64 taps (see "
                            "conv2d_direct_pool_backward_supported)");
    if (g.n == 0) return conv_zero_filter_gradients(g, dw, db);
    const ConvDirectPlan p = conv_direct_plan(be, g);
    const std::size_t PP = pg.out_h * pg.out_w;
    if (conv_pooled_bwf(p))
        return conv_backward_filter_pooled(be, g, p, x, pool_y, argmax, pool_dy, dw, db, workspace);
    const auto unpool = [&](std::size_t image, std::size_t r0, std::size_t rows, float* dst) {
        for (std::size_t r = 0; r < rows; ++r) {
            const std::size_t plane = (image * g.c_out + r0 + r) * PP;
            TYPENET_ISA_CALL(be.isa(), maxpool2x2_backward_plane, pool_dy + plane, argmax + plane, pool_y + plane,
                             g.out_h, g.out_w, pg.out_h, pg.out_w, dst + r * p.Pw, g.w);
        }
    };
    conv_backward_filter_few_taps(be, g, p, x, unpool, dw, db, workspace);
}

}  // namespace typenet
