// typenet/backend/cuda/check.cuh - every CUDA, cuBLAS and cuDNN call is checked.
//
// A failed call throws typenet::BackendError naming the call as written, the
// file and line, and the library's own error name and text, so a failure deep
// inside a training step still says exactly what went wrong and where.
#pragma once

#if !defined(__CUDACC__)
#error "typenet's CUDA backend holds CUDA kernels and must be compiled by nvcc: give this source a .cu \
extension or set_source_files_properties(<file> PROPERTIES LANGUAGE CUDA); a C++-only source of a target that \
links typenet::cuda includes the narrow headers (typenet/model/model.hpp, ...) instead of typenet/typenet.hpp"
#endif

#include <cublas_v2.h>
#include <cuda_runtime.h>
#include <cudnn.h>

#include <cstddef>
#include <string>

#include "../../core/error.hpp"

namespace typenet::cuda_detail {

inline std::string where(const char* call, const char* file, int line) {
    return std::string(call) + " at " + file + ":" + std::to_string(line);
}

inline void check_cuda(cudaError_t e, const char* call, const char* file, int line) {
    if (e == cudaSuccess) return;
    (void)cudaGetLastError();  // clear a non-sticky error so the next check does not report it again
    throw BackendError("typenet: CUDA call " + where(call, file, line) + " failed: " + cudaGetErrorName(e) + " (" +
                       cudaGetErrorString(e) + ")");
}

inline void check_cublas(cublasStatus_t s, const char* call, const char* file, int line) {
    if (s == CUBLAS_STATUS_SUCCESS) return;
    throw BackendError("typenet: cuBLAS call " + where(call, file, line) + " failed: " + cublasGetStatusName(s) +
                       " (" + cublasGetStatusString(s) + ")");
}

inline void check_cudnn(cudnnStatus_t s, const char* call, const char* file, int line) {
    if (s == CUDNN_STATUS_SUCCESS) return;
    throw BackendError("typenet: cuDNN call " + where(call, file, line) + " failed: " + cudnnGetErrorString(s) +
                       " (status " + std::to_string(int(s)) + ")");
}

/// Kernel launches report bad configurations through cudaGetLastError; this
/// does not wait for the kernel, so it costs no synchronisation.
inline void check_launch(const char* kernel, const char* file, int line) {
    check_cuda(cudaGetLastError(), kernel, file, line);
}

}  // namespace typenet::cuda_detail

#define TYPENET_CUDA_CHECK(call) ::typenet::cuda_detail::check_cuda((call), #call, __FILE__, __LINE__)
#define TYPENET_CUBLAS_CHECK(call) ::typenet::cuda_detail::check_cublas((call), #call, __FILE__, __LINE__)
#define TYPENET_CUDNN_CHECK(call) ::typenet::cuda_detail::check_cudnn((call), #call, __FILE__, __LINE__)
#define TYPENET_CUDA_LAUNCHED(kernel) \
    ::typenet::cuda_detail::check_launch("launch of kernel " kernel, __FILE__, __LINE__)
