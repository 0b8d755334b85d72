// typenet/backend/cpu/kernels/sgemm.hpp - typenet's own single-precision GEMM.
//
//   cpu_kernels::sgemm(isa, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb,
//                      beta, c, ldc, bias = nullptr, relu = false)
// computes, row-major and on the calling thread only,
//   C(m,n) = alpha * op(A) * op(B) + beta * C   [+ bias[j] per column] [ReLU]
// with BLAS semantics: op(X) is X or its transpose, lda/ldb/ldc are the row
// strides of A, B and C as stored, and beta == 0 means C is not read (it may
// hold NaN). The bias and ReLU are applied after alpha/beta, while the tile
// is still in registers (the Dense forward: y = x W^T + b, then ReLU).
//
// Structure (Goto/BLIS): for each KC x NC block of op(B), packed into
// NR-column panels, and each MC x KC block of op(A), packed into MR-row
// panels, a register-blocked micro-kernel keeps an MR x NR tile of C in
// vector registers along n: AVX-512 8 x 48, AVX2+FMA 6 x 16, portable 4 x 8.
// A non-transposed A is not packed on the x86 paths: the kernel broadcasts
// its entries from the rows in place; a non-transposed B is read in place
// when k and m are small (packing would not pay). Edge tiles use a
// micro-kernel instantiated for the rows and vectors left and masked stores
// for the last columns; packed panels are zero-padded. Two shapes take
// their own AVX-512 routes: 9-12 rows with B not transposed (a 10-output
// layer's weight gradient: one 12-row tile across B), and at most 16 columns
// of a transposed B with k >= 128 (a classifier's forward: dot products
// along k, 16 sums per tile reduced by one add tree). On both x86 paths, a
// transposed B of at most 128 columns against few rows of A (a Dense
// forward split over threads) is computed as C^T = B A^T when a cost count
// says so (sgemm_prefer_transposed): every lane busy, and only the rows of
// A packed, not all of B^T.
//
// Packing memory: one thread_local buffer per thread, allocated on that
// thread's first call (a thread pool worker's as it starts, see
// sgemm_prepare_thread) at its full size (MC*KC + KC*NC floats and a C^T of
// 128 x 480, 1.45 MiB; pages are touched only as used) and kept until the
// thread exits, so no call after the first allocates. The result is
// deterministic: the same call gives bit-identical results (the order of
// operations depends only on the shape and the path).
#pragma once

#include <algorithm>
#include <cstddef>
#include <new>

#include "../isa.hpp"
#include "dispatch.hpp"

namespace typenet::cpu_kernels::sgemm_detail {

// Block sizes shared by all paths (each a multiple of every path's MR or NR):
// a KC x NC block of packed B (1 MB) and the MC x KC block of A it meets
// (240 KB) fit the 2 MB L2 together; one KC x NR panel of B (48 KB on
// AVX-512) is reused from L1/L2 by every MR-row panel of A.
inline constexpr std::size_t kc_max = 256;
inline constexpr std::size_t mc_max = 240;
inline constexpr std::size_t nc_max = 1008;

/// A 64-byte-aligned float buffer that only grows.
class PackBuffer {
public:
    PackBuffer() = default;
    PackBuffer(const PackBuffer&) = delete;
    PackBuffer& operator=(const PackBuffer&) = delete;
    ~PackBuffer() { release(); }
    float* get(std::size_t count) {
        if (count > size_) {
            release();
            data_ = static_cast<float*>(::operator new(count * sizeof(float), std::align_val_t{64}));
            size_ = count;
        }
        return data_;
    }

private:
    void release() {
        if (data_) ::operator delete(data_, std::align_val_t{64});
        data_ = nullptr;
        size_ = 0;
    }
    float* data_ = nullptr;
    std::size_t size_ = 0;
};

// The transposed route's C^T (sgemm_transposed_product): at most
// transposed_max_n rows of transposed_rows columns.
inline constexpr std::size_t transposed_max_n = 128;
inline constexpr std::size_t transposed_rows = 480;

/// This thread's packing buffer, sized for the largest blocks of any path
/// (and, after them, C^T) on first use so that later calls never allocate.
inline float* pack_buffer() {
    thread_local PackBuffer buffer;
    return buffer.get(mc_max * kc_max + kc_max * nc_max + transposed_max_n * transposed_rows);
}

/// The part of this thread's buffer that holds C^T (the blocked product
/// that fills it packs into the parts before).
inline float* transposed_buffer() { return pack_buffer() + mc_max * kc_max + kc_max * nc_max; }

}  // namespace typenet::cpu_kernels::sgemm_detail

// The micro-kernel is kept out of line: inlined into the blocking loops, GCC
// hoists the epilogue's constants into vector registers and spills an
// accumulator of the 16-register AVX2 tile (1.5x slower).
#if defined(__GNUC__) || defined(__clang__)
#define TYPENET_SGEMM_NOINLINE __attribute__((noinline))
#else
#define TYPENET_SGEMM_NOINLINE
#endif

// nvcc's front end does not know GCC's unroll pragma (the host compiler,
// which it reaches, does): silence its warning for the kernel bodies only.
#if defined(__CUDACC__)
#pragma nv_diag_suppress 1675
#endif
#define TYPENET_ISA_BODY "sgemm_body.hpp"
#include "foreach_isa.hpp"
#if defined(__CUDACC__)
#pragma nv_diag_default 1675
#endif

namespace typenet::cpu_kernels {

/// C(m,n) = alpha op(A) op(B) + beta C (+ bias[j]) (ReLU), row-major, on the
/// calling thread, with the kernels of path `isa` (which the CPU must support).
inline void sgemm(CpuIsa isa, bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, float alpha,
                  const float* a, std::size_t lda, const float* b, std::size_t ldb, float beta, float* c,
                  std::size_t ldc, const float* bias_per_column = nullptr, bool relu = false) {
    TYPENET_ISA_CALL(isa, sgemm_serial, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                     bias_per_column, relu);
}

/// Allocates the calling thread's packing memory now rather than on its
/// first product (the thread pool's workers call it as they start).
inline void sgemm_prepare_thread() { sgemm_detail::pack_buffer(); }

/// The micro-tile (MR rows x NR columns) of a path, for reports.
inline int sgemm_mr(CpuIsa isa) { return TYPENET_ISA_CALL(isa, sgemm_tile_rows); }
inline int sgemm_nr(CpuIsa isa) { return TYPENET_ISA_CALL(isa, sgemm_tile_cols); }

}  // namespace typenet::cpu_kernels
