// typenet/backend/cpu/gemm.hpp - row-major matrix product for the CPU backend.
//
// float: typenet's own SGEMM (kernels/sgemm.hpp) on the backend's kernel
// path when that path is AVX-512 (it matches or beats OpenBLAS's SkylakeX
// kernels at the networks' shapes) or when the BLAS runs narrower kernels
// than the path (OpenBLAS falls back to SSE3 "Prescott" code on CPUs it does
// not know); otherwise, and for double, BLAS (cblas_sgemm / cblas_dgemm) when
// configured, else Eigen. Either runs single-threaded per call; a large
// product is split into one block of rows (or of columns) per pool thread.
#pragma once

#include <cstddef>
#include <type_traits>

#include <Eigen/Core>

#if defined(TYPENET_HAS_CBLAS)
#include <cblas.h>
#endif

#include "blas_info.hpp"
#include "cpu.hpp"
#include "kernels/sgemm.hpp"

namespace typenet {

namespace cpu_detail {

/// One single-threaded product C(M,N) = alpha op(A) op(B) + beta C (row-major).
template <class T>
void gemm_serial(bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
                 std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
    if (m == 0 || n == 0) return;
#if defined(TYPENET_HAS_CBLAS)
    if constexpr (std::is_same_v<T, float> || std::is_same_v<T, double>) {
        const auto ta = trans_a ? CblasTrans : CblasNoTrans;
        const auto tb = trans_b ? CblasTrans : CblasNoTrans;
        const auto M = static_cast<int>(m), N = static_cast<int>(n), K = static_cast<int>(k);
        const auto la = static_cast<int>(lda), lb = static_cast<int>(ldb), lc = static_cast<int>(ldc);
        if constexpr (std::is_same_v<T, float>)
            cblas_sgemm(CblasRowMajor, ta, tb, M, N, K, alpha, a, la, b, lb, beta, c, lc);
        else
            cblas_dgemm(CblasRowMajor, ta, tb, M, N, K, alpha, a, la, b, lb, beta, c, lc);
        return;
    }
#endif
    using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
    using CMap = Eigen::Map<const Mat, 0, Eigen::OuterStride<>>;
    using Map = Eigen::Map<Mat, 0, Eigen::OuterStride<>>;
    Map C(c, Eigen::Index(m), Eigen::Index(n), Eigen::OuterStride<>(Eigen::Index(ldc)));
    const CMap A(a, Eigen::Index(trans_a ? k : m), Eigen::Index(trans_a ? m : k), Eigen::OuterStride<>(Eigen::Index(lda)));
    const CMap B(b, Eigen::Index(trans_b ? n : k), Eigen::Index(trans_b ? k : n), Eigen::OuterStride<>(Eigen::Index(ldb)));
    if (beta == T(0))
        C.setZero();  // BLAS semantics: C is not read when beta is 0 (it may hold NaN)
    else if (beta != T(1))
        C *= beta;
    if (k == 0) return;
    if (!trans_a && !trans_b) C.noalias() += alpha * A * B;
    else if (!trans_a && trans_b) C.noalias() += alpha * A * B.transpose();
    else if (trans_a && !trans_b) C.noalias() += alpha * A.transpose() * B;
    else C.noalias() += alpha * A.transpose() * B.transpose();
}

// Below this many multiply-adds a product runs on one thread: waking the pool
// costs about as much as 2^18 FMAs.
inline constexpr std::size_t gemm_parallel_min_fma = std::size_t{1} << 18;

/// Whether float products on kernel path `isa` go to typenet's SGEMM (see
/// the top of this file). The BLAS's kernel family is read once.
inline bool own_sgemm(CpuIsa isa) {
    if (isa == CpuIsa::avx512) return true;
#if defined(TYPENET_HAS_CBLAS)
    static const CpuIsa blas = blas_isa();
    return static_cast<int>(blas) < static_cast<int>(isa);
#else
    return isa != CpuIsa::portable;  // Eigen's GEMM is compiled for the includer's flags only
#endif
}

/// One single-threaded product on the backend's chosen GEMM, then + bias[j]
/// per column (when not null) and max(0, .) when relu: in the SGEMM's store,
/// or over the block just written, while it is in cache.
template <class T>
void gemm_part(CpuIsa isa, bool own, bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
               const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc,
               const T* bias = nullptr, bool relu = false) {
    if constexpr (std::is_same_v<T, float>)
        if (own) {
            cpu_kernels::sgemm(isa, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, relu);
            return;
        }
    gemm_serial(trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
    if (!bias && !relu) return;
    for (std::size_t i = 0; i < m; ++i) {
        T* row = c + i * ldc;
        if (bias)
            for (std::size_t j = 0; j < n; ++j) row[j] += bias[j];
        if (relu)
            for (std::size_t j = 0; j < n; ++j) row[j] = row[j] < T(0) ? T(0) : row[j];  // NaN stays
    }
}

/// gemm (below) with gemm_part's epilogue.
template <class T>
void gemm_epilogue(const Cpu& be, bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
                   const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc,
                   const T* bias, bool relu) {
    const CpuIsa isa = be.isa();
    const bool own = std::is_same_v<T, float> && cpu_detail::own_sgemm(isa);
    // Columns are split in whole micro-tiles (16 for BLAS's SIMD tiles).
    const std::size_t unit = own ? std::size_t(cpu_kernels::sgemm_nr(isa)) : 16;
    const std::size_t parts = be.pool().size();
    if (parts <= 1 || m * n * k < cpu_detail::gemm_parallel_min_fma || (m < 2 * parts && n < unit * parts)) {
        gemm_part(isa, own, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, bias, relu);
        return;
    }
    // Split the longer side of C.
    const bool by_rows = m >= n || n < unit * parts;
    be.pool().run([&](std::size_t p) {
        if (by_rows) {
            const std::size_t r0 = m * p / parts, r1 = m * (p + 1) / parts;
            const T* ap = trans_a ? a + r0 : a + r0 * lda;
            gemm_part(isa, own, trans_a, trans_b, r1 - r0, n, k, alpha, ap, lda, b, ldb, beta, c + r0 * ldc, ldc, bias,
                      relu);
        } else {
            const std::size_t blocks = (n + unit - 1) / unit;
            const std::size_t c0 = std::min(n, blocks * p / parts * unit);
            const std::size_t c1 = std::min(n, blocks * (p + 1) / parts * unit);
            const T* bp = trans_b ? b + c0 * ldb : b + c0;
            gemm_part(isa, own, trans_a, trans_b, m, c1 - c0, k, alpha, a, lda, bp, ldb, beta, c + c0, ldc,
                      bias ? bias + c0 : nullptr, relu);
        }
    });
}

}  // namespace cpu_detail

/// C(M,N) = alpha * op(A) * op(B) + beta * C, all row-major; op(X) is X or
/// its transpose. lda/ldb/ldc are the row strides of A, B and C as stored.
template <class T>
void gemm(const Cpu& be, bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha, const T* a,
          std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
    cpu_detail::gemm_epilogue(be, trans_a, trans_b, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc,
                              static_cast<const T*>(nullptr), false);
}

/// y(n,out) = x(n,in) w(out,in)^T + bias(out), then max(0, y) when relu: a
/// Dense layer's forward as one product, the bias (and a ReLU that follows
/// the layer) applied in its store.
template <class T>
void linear_forward(const Cpu& be, std::size_t n, std::size_t in, std::size_t out, const T* x, const T* w,
                    const T* bias, T* y, bool relu = false) {
    cpu_detail::gemm_epilogue(be, false, true, n, out, in, T(1), x, in, w, in, T(0), y, out, bias, relu);
}

}  // namespace typenet
