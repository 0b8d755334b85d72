// typenet/backend/cuda/gemm.cuh - row-major matrix product on cuBLAS.
//
// cuBLAS is column-major. A row-major C (M,N) is the column-major C^T (N,M)
// with the same leading dimension, and C^T = op(B)^T op(A)^T, so the product
// is one cuBLAS call with A and B swapped and M and N swapped; no copies.
#pragma once

#include <climits>
#include <cstddef>
#include <string>
#include <type_traits>

#include "cuda.cuh"
#include "elementwise.cuh"

namespace typenet {

namespace cuda_detail {
inline int blas_int(std::size_t v) {
    detail::require(v <= std::size_t(INT_MAX), [&] {
        return "typenet::Cuda: gemm: a matrix dimension of " + std::to_string(v) +
               " exceeds cuBLAS's 32-bit sizes; split the batch";
    });
    return int(v);
}
}  // namespace cuda_detail

/// C(M,N) = alpha * op(A) * op(B) + beta * C, all row-major; op(X) is X or
/// its transpose. lda/ldb/ldc are the row strides of A, B and C as stored.
/// With beta = 0, C is not read. Float products use TF32 only when the Cuda
/// object was asked for it.
template <class T>
void gemm(const Cuda& be, bool trans_a, bool trans_b, std::size_t m, std::size_t n, std::size_t k, T alpha,
          const T* a, std::size_t lda, const T* b, std::size_t ldb, T beta, T* c, std::size_t ldc) {
    static_assert(std::is_same_v<T, float> || std::is_same_v<T, double>, "Cuda's gemm supports float and double");
    using cuda_detail::blas_int;
    if (m == 0 || n == 0) return;
    const auto ta = trans_a ? CUBLAS_OP_T : CUBLAS_OP_N;
    const auto tb = trans_b ? CUBLAS_OP_T : CUBLAS_OP_N;
    if constexpr (std::is_same_v<T, float>)
        TYPENET_CUBLAS_CHECK(cublasSgemm(be.cublas(), tb, ta, blas_int(n), blas_int(m), blas_int(k), &alpha, b,
                                         blas_int(ldb), a, blas_int(lda), &beta, c, blas_int(ldc)));
    else
        TYPENET_CUBLAS_CHECK(cublasDgemm(be.cublas(), tb, ta, blas_int(n), blas_int(m), blas_int(k), &alpha, b,
                                         blas_int(ldb), a, blas_int(lda), &beta, c, blas_int(ldc)));
}

/// y(n,out) = x(n,in) w(out,in)^T + bias(out), then max(0, y) when relu
/// (a Dense layer and a ReLU Model fused into it): cuBLAS, then the bias and
/// activation kernels in place.
template <class T>
void linear_forward(const Cuda& be, std::size_t n, std::size_t in, std::size_t out, const T* x, const T* w,
                    const T* bias, T* y, bool relu = false) {
    gemm(be, false, true, n, out, in, T(1), x, in, w, in, T(0), y, out);
    if (bias) bias_add(be, n, out, std::size_t{1}, y, bias);
    if (relu) activation_forward(be, ActivationKind::relu, n * out, y, y);
}

}  // namespace typenet
