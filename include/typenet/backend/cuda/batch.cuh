// typenet/backend/cuda/batch.cuh - batch gathering, value copies and the
// metric accumulator read on the GPU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "cuda.cuh"
#include "launch.cuh"

namespace typenet {

namespace cuda_detail {

template <class T>
__global__ void gather_rows_kernel(std::size_t count, std::size_t row_size, const T* src, const std::uint32_t* idx,
                                   T* dst) {
    TYPENET_GRID_LOOP(i, count * row_size) dst[i] = src[std::size_t(idx[i / row_size]) * row_size + i % row_size];
}

// A template, as every kernel here: a plain __global__ function defined in a
// header would be defined again by every translation unit.
template <class L>
__global__ void gather_labels_kernel(std::size_t count, const L* src, const std::uint32_t* idx, L* dst) {
    TYPENET_GRID_LOOP(i, count) dst[i] = src[idx[i]];
}

}  // namespace cuda_detail

/// dst row i = src row idx[i], for count rows of row_size values (all on the device).
template <class T>
void gather_rows(const Cuda& be, std::size_t count, std::size_t row_size, const T* src, const std::uint32_t* idx,
                 T* dst) {
    if (count == 0 || row_size == 0) return;
    cuda_detail::gather_rows_kernel<<<cuda_detail::grid_for(count * row_size), cuda_detail::block_threads, 0,
                                      be.stream()>>>(count, row_size, src, idx, dst);
    TYPENET_CUDA_LAUNCHED("gather_rows");
}

/// dst[i] = src[idx[i]].
inline void gather_labels(const Cuda& be, std::size_t count, const std::int32_t* src, const std::uint32_t* idx,
                          std::int32_t* dst) {
    if (count == 0) return;
    cuda_detail::gather_labels_kernel<<<cuda_detail::grid_for(count), cuda_detail::block_threads, 0, be.stream()>>>(
        count, src, idx, dst);
    TYPENET_CUDA_LAUNCHED("gather_labels");
}

/// Copies the two-double metric accumulator to the host: the one place a
/// training loop waits for the GPU.
inline void read_accumulator(const Cuda& be, const double* acc, double* host) {
    TYPENET_CUDA_CHECK(cudaMemcpyAsync(host, acc, 2 * sizeof(double), cudaMemcpyDeviceToHost, be.stream()));
    TYPENET_CUDA_CHECK(cudaStreamSynchronize(be.stream()));
}

/// dst[i] = src[i] for count values (Flatten's forward and backward), on the stream.
template <class T>
void copy_values(const Cuda& be, std::size_t count, const T* src, T* dst) {
    if (count && src != dst)
        TYPENET_CUDA_CHECK(cudaMemcpyAsync(dst, src, count * sizeof(T), cudaMemcpyDeviceToDevice, be.stream()));
}

}  // namespace typenet
