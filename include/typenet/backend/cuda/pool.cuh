// typenet/backend/cuda/pool.cuh - max and average pooling with typenet's own
// kernels (not cuDNN's), so the results equal the CPU backend's exactly:
// windows are scanned in the same row-major order with the same strict '>'
// (the first maximum wins, as on the CPU), argmax is the index within the
// input plane, and the backward kernels add the same terms in the same
// order. Backward runs one thread per input value, gathering from the
// windows that contain it: no atomics, deterministic. Tensors are NCHW.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../core/conv_geometry.hpp"
#include "cuda.cuh"
#include "launch.cuh"

namespace typenet {

namespace cuda_detail {

// The outputs along one axis whose window covers input position i:
// [first, last] with o*stride <= i < o*stride + k; empty when first > last.
struct WindowRange {
    std::size_t first, last_plus_one;
};
__device__ __forceinline__ WindowRange windows_covering(std::size_t i, std::size_t k, std::size_t stride,
                                                         std::size_t out) {
    const std::size_t first = i + 1 > k ? (i + 1 - k + stride - 1) / stride : 0;
    const std::size_t last = i / stride + 1;
    return {first, last < out ? last : out};
}

template <class T>
__global__ void maxpool_forward_kernel(Pool2dGeometry g, const T* x, T* y, std::int32_t* argmax) {
    const std::size_t P = g.out_h * g.out_w;
    TYPENET_GRID_LOOP(i, g.n * g.c * P) {
        const std::size_t plane = i / P, oh = (i % P) / g.out_w, ow = i % g.out_w;
        const T* xp = x + plane * g.h * g.w;  // (H,W)
        const std::size_t top = oh * g.stride_h * g.w + ow * g.stride_w;
        T m = xp[top];
        std::size_t at = top;
        for (std::size_t ki = 0; ki < g.kh; ++ki)
            for (std::size_t kj = 0; kj < g.kw; ++kj) {
                const std::size_t k = top + ki * g.w + kj;
                if (xp[k] > m) m = xp[k], at = k;
            }
        y[i] = m;
        argmax[i] = std::int32_t(at);
    }
}

template <class T>
__global__ void maxpool_backward_kernel(Pool2dGeometry g, const T* dy, const std::int32_t* argmax, T* dx,
                                        const T* relu_y) {
    const std::size_t HW = g.h * g.w, P = g.out_h * g.out_w;
    TYPENET_GRID_LOOP(i, g.n * g.c * HW) {
        const std::size_t plane = i / HW, at = i % HW, ih = at / g.w, iw = at % g.w;
        const WindowRange rows = windows_covering(ih, g.kh, g.stride_h, g.out_h);
        const WindowRange cols = windows_covering(iw, g.kw, g.stride_w, g.out_w);
        T s = T(0);
        for (std::size_t oh = rows.first; oh < rows.last_plus_one; ++oh)  // the CPU's order: outputs ascending
            for (std::size_t ow = cols.first; ow < cols.last_plus_one; ++ow) {
                const std::size_t o = plane * P + oh * g.out_w + ow;
                if (std::size_t(argmax[o]) == at && (!relu_y || relu_y[o] > T(0))) s += dy[o];
            }
        dx[i] = s;
    }
}

template <class T>
__global__ void avgpool_forward_kernel(Pool2dGeometry g, T scale, const T* x, T* y) {
    const std::size_t P = g.out_h * g.out_w;
    TYPENET_GRID_LOOP(i, g.n * g.c * P) {
        const std::size_t plane = i / P, oh = (i % P) / g.out_w, ow = i % g.out_w;
        const T* xp = x + plane * g.h * g.w + oh * g.stride_h * g.w + ow * g.stride_w;  // window row 0
        T s = T(0);
        for (std::size_t ki = 0; ki < g.kh; ++ki)
            for (std::size_t kj = 0; kj < g.kw; ++kj) s += xp[ki * g.w + kj];
        y[i] = s * scale;
    }
}

template <class T>
__global__ void avgpool_backward_kernel(Pool2dGeometry g, T scale, const T* dy, T* dx) {
    const std::size_t HW = g.h * g.w, P = g.out_h * g.out_w;
    TYPENET_GRID_LOOP(i, g.n * g.c * HW) {
        const std::size_t plane = i / HW, ih = (i % HW) / g.w, iw = i % g.w;
        const WindowRange rows = windows_covering(ih, g.kh, g.stride_h, g.out_h);
        const WindowRange cols = windows_covering(iw, g.kw, g.stride_w, g.out_w);
        T s = T(0);
        // The CPU adds per output row, then kernel column ascending, i.e.
        // output column descending; the same order keeps the sums identical.
        for (std::size_t oh = rows.first; oh < rows.last_plus_one; ++oh)
            for (std::size_t ow = cols.last_plus_one; ow-- > cols.first;)
                s = add_rn(s, mul_rn(dy[plane * P + oh * g.out_w + ow], scale));
        dx[i] = s;
    }
}

}  // namespace cuda_detail

/// Max pooling. x (N,C,H,W), y and argmax (N,C,OUT_H,OUT_W); argmax is the
/// index within the input plane (row * w + col) of each chosen value; ties go
/// to the first maximum in row-major window order.
template <class T>
void maxpool2d_forward(const Cuda& be, const Pool2dGeometry& g, const T* x, T* y, std::int32_t* argmax) {
    const std::size_t count = g.output_size();
    if (count == 0) return;
    cuda_detail::maxpool_forward_kernel<<<cuda_detail::grid_for(count), cuda_detail::block_threads, 0, be.stream()>>>(
        g, x, y, argmax);
    TYPENET_CUDA_LAUNCHED("maxpool2d_forward");
}

/// dx = dy routed to the argmax of each window (overlapping windows add up),
/// with relu_y (the forward's output) only from windows whose y > 0 (the
/// backward of a ReLU before the pooling); dx (N,C,H,W) overwritten.
template <class T>
void maxpool2d_backward(const Cuda& be, const Pool2dGeometry& g, const T* dy, const std::int32_t* argmax, T* dx,
                        const T* relu_y = nullptr) {
    const std::size_t count = g.input_size();
    if (count == 0) return;
    cuda_detail::maxpool_backward_kernel<<<cuda_detail::grid_for(count), cuda_detail::block_threads, 0,
                                           be.stream()>>>(g, dy, argmax, dx, relu_y);
    TYPENET_CUDA_LAUNCHED("maxpool2d_backward");
}

/// Average pooling: y = the mean of each kh*kw window.
template <class T>
void avgpool2d_forward(const Cuda& be, const Pool2dGeometry& g, const T* x, T* y) {
    const std::size_t count = g.output_size();
    if (count == 0) return;
    const T scale = T(1) / static_cast<T>(g.kh * g.kw);
    cuda_detail::avgpool_forward_kernel<<<cuda_detail::grid_for(count), cuda_detail::block_threads, 0, be.stream()>>>(
        g, scale, x, y);
    TYPENET_CUDA_LAUNCHED("avgpool2d_forward");
}

/// dx = dy / (kh*kw) spread over each window (overlapping windows add up);
/// dx (N,C,H,W) overwritten.
template <class T>
void avgpool2d_backward(const Cuda& be, const Pool2dGeometry& g, const T* dy, T* dx) {
    const std::size_t count = g.input_size();
    if (count == 0) return;
    const T scale = T(1) / static_cast<T>(g.kh * g.kw);
    cuda_detail::avgpool_backward_kernel<<<cuda_detail::grid_for(count), cuda_detail::block_threads, 0,
                                           be.stream()>>>(g, scale, dy, dx);
    TYPENET_CUDA_LAUNCHED("avgpool2d_backward");
}

}  // namespace typenet
