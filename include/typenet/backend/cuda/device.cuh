// typenet/backend/cuda/device.cuh - GPU memory for Tensor<T, CudaDevice>.
//
// Plain cudaMalloc / cudaFree: tensors are sized once per batch capacity, so
// the training loop never allocates and a caching pool would buy little.
// Copies, fills and host transfers run on the legacy default stream, which
// waits for all earlier work of every blocking stream and makes later work of
// those streams wait for it. The Cuda backend's stream is a blocking stream, so
// a from_host before a kernel, or a to_host after one, is ordered without any
// explicit synchronisation. (cudaStreamLegacy is named explicitly so that
// building with --default-stream per-thread changes nothing.)
#pragma once

#include <cstddef>
#include <string>

#include "check.cuh"

namespace typenet {

namespace cuda_detail {
inline std::string mib(std::size_t bytes) {
    return std::to_string((bytes + (std::size_t{1} << 19)) >> 20) + " MiB";
}
}  // namespace cuda_detail

/// Memory of the current CUDA device.
struct CudaDevice {
    static constexpr const char* name = "cuda";
    static constexpr bool host_accessible = false;

    static void* allocate(std::size_t bytes) {
        if (bytes == 0) return nullptr;
        void* p = nullptr;
        const cudaError_t e = cudaMalloc(&p, bytes);
        if (e == cudaSuccess) return p;
        (void)cudaGetLastError();
        std::size_t free = 0, total = 0;
        const bool known = cudaMemGetInfo(&free, &total) == cudaSuccess;
        (void)cudaGetLastError();
        throw BackendError("typenet: cudaMalloc of " + std::to_string(bytes) + " bytes (" + cuda_detail::mib(bytes) +
                           ") failed: " + cudaGetErrorName(e) + " (" + cudaGetErrorString(e) + "); " +
                           (known ? "the GPU has " + std::to_string(free) + " bytes (" + cuda_detail::mib(free) +
                                        ") free of " + std::to_string(total) + " (" + cuda_detail::mib(total) + ")"
                                  : std::string("the free GPU memory could not be read")) +
                           "; reduce the batch size or the dataset size, or free GPU memory held by other processes");
    }
    static void deallocate(void* p) noexcept {
        // Errors are ignored (a destructor must not throw) but cleared, so a
        // later check does not report them against another call.
        if (p && cudaFree(p) != cudaSuccess) (void)cudaGetLastError();
    }
    /// Device to device.
    static void copy(void* dst, const void* src, std::size_t bytes) {
        if (bytes)
            TYPENET_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToDevice, cudaStreamLegacy));
    }
    static void zero(void* dst, std::size_t bytes) {
        if (bytes) TYPENET_CUDA_CHECK(cudaMemsetAsync(dst, 0, bytes, cudaStreamLegacy));
    }
    /// Device to host; returns when the values are on the host.
    static void to_host(void* dst, const void* src, std::size_t bytes) {
        if (!bytes) return;
        TYPENET_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyDeviceToHost, cudaStreamLegacy));
        TYPENET_CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy));
    }
    /// Host to device; the host buffer may be reused as soon as this returns.
    static void from_host(void* dst, const void* src, std::size_t bytes) {
        if (!bytes) return;
        TYPENET_CUDA_CHECK(cudaMemcpyAsync(dst, src, bytes, cudaMemcpyHostToDevice, cudaStreamLegacy));
        // Pageable sources are staged before the call returns, but a pinned
        // source would still be read later: wait, so both behave the same.
        TYPENET_CUDA_CHECK(cudaStreamSynchronize(cudaStreamLegacy));
    }
};

}  // namespace typenet
