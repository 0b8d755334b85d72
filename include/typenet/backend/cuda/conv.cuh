// typenet/backend/cuda/conv.cuh - 2-D convolution on cuDNN.
//
// Each geometry gets a plan (conv_plan.cuh) the first time it is seen:
// descriptors and algorithms, kept by the Cuda object for its lifetime.
// conv2d_workspace(be, g) plans g for float and answers how many values of
// workspace its algorithms need, like the CPU backend's; Model calls it in
// reserve(), outside the training loop. A geometry first met by an op (a
// smaller last batch, a double model) is planned then, choosing among the
// algorithms that fit the workspace conv2d_workspace promised for the same
// layer (or none at all when nothing was promised), so the caller's buffer is
// always large enough. Planning runs cudnnFind*, which synchronises once.
#pragma once

#include <algorithm>
#include <cstddef>
#include <type_traits>

#include "../../core/conv_geometry.hpp"
#include "cuda.cuh"
#include "elementwise.cuh"
#include "launch.cuh"

namespace typenet {

namespace cuda_detail {

// The largest workspace Find may choose for a plan made by conv2d_workspace.
inline std::size_t generous_conv_budget() {
    std::size_t free = 0, total = 0;
    if (cudaMemGetInfo(&free, &total) != cudaSuccess) {
        (void)cudaGetLastError();
        return 0;
    }
    return std::min<std::size_t>(free / 4, std::size_t{512} << 20);
}

// Workspace values promised for g: conv2d_workspace's answer for g itself,
// else the smallest one for the same layer at a larger batch; 0 if none.
inline std::size_t promised_values(const State& s, const Conv2dGeometry& g) {
    std::size_t best = 0;
    bool found = false;
    for (const auto& [rg, values] : s.reserved) {
        if (rg == g) return values;
        Conv2dGeometry same = rg;
        same.n = g.n;
        if (same == g && rg.n > g.n && (!found || values < best)) best = values, found = true;
    }
    return best;
}

inline ConvPlan* find_plan(const State& s, const Conv2dGeometry& g, cudnnDataType_t type) {
    for (const auto& p : s.plans)
        if (p->g == g && p->type == type && p->tf32 == s.tf32) return p.get();
    return nullptr;
}

template <class T>
ConvPlan& conv_plan(const Cuda& be, const Conv2dGeometry& g) {
    State& s = be.state();
    if (ConvPlan* p = find_plan(s, g, cudnn_type<T>)) return *p;
    const std::size_t bytes = promised_values(s, g) * sizeof(T);
    const std::size_t pad_bytes = prepad_values(g) * sizeof(T);
    if (bytes < pad_bytes)
        throw BackendError("typenet::Cuda: this convolution (Same padding, one more zero bottom/right) needs " +
                           std::to_string(prepad_values(g)) +
                           " workspace values; size the workspace with conv2d_workspace(be, geometry) first");
    s.plans.push_back(make_conv_plan(be.cudnn(), g, cudnn_type<T>, s.tf32, bytes > pad_bytes ? bytes - pad_bytes : 0));
    return *s.plans.back();
}

// Copies x (planes, h, w) into the zero-padded (planes, hp, wp), x at (top, left).
template <class T>
__global__ void pad_kernel(std::size_t planes, std::size_t h, std::size_t w, std::size_t hp, std::size_t wp,
                           std::size_t top, std::size_t left, const T* x, T* xp) {
    TYPENET_GRID_LOOP(i, planes * hp * wp) {
        const std::size_t plane = i / (hp * wp), r = (i / wp) % hp, c = i % wp;
        const bool inside = r >= top && r < top + h && c >= left && c < left + w;
        xp[i] = inside ? x[(plane * h + r - top) * w + c - left] : T(0);
    }
}

// pad_kernel's adjoint for gradients: dx = the (top, left) window of dxp.
template <class T>
__global__ void crop_kernel(std::size_t planes, std::size_t h, std::size_t w, std::size_t hp, std::size_t wp,
                            std::size_t top, std::size_t left, const T* dxp, T* dx) {
    TYPENET_GRID_LOOP(i, planes * h * w) {
        const std::size_t plane = i / (h * w), r = (i / w) % h, c = i % w;
        dx[i] = dxp[(plane * hp + r + top) * wp + c + left];
    }
}

// x as cuDNN must see it: x itself, or x copied into the padded buffer.
template <class T>
const T* cudnn_input(const Cuda& be, const ConvPlan& p, const T* x, T* workspace) {
    if (!p.prepad) return x;
    const Conv2dGeometry& g = p.g;
    const std::size_t planes = g.n * g.c_in, count = planes * p.padded_h * p.padded_w;
    pad_kernel<<<grid_for(count), block_threads, 0, be.stream()>>>(planes, g.h, g.w, p.padded_h, p.padded_w, g.pad_h,
                                                                   g.pad_w, x, workspace);
    TYPENET_CUDA_LAUNCHED("conv2d pad");
    return workspace;
}

template <class T>
void* cudnn_workspace(const ConvPlan& p, T* workspace) {
    return p.cudnn_bytes ? static_cast<void*>(workspace + p.pad_values) : nullptr;
}

}  // namespace cuda_detail

/// Workspace values (of float; a double model gets at least as many bytes)
/// that the conv ops need for geometry g. Plans g: call it outside the loop.
inline std::size_t conv2d_workspace(const Cuda& be, const Conv2dGeometry& g) {
    using namespace cuda_detail;
    State& s = be.state();
    ConvPlan* p = find_plan(s, g, CUDNN_DATA_FLOAT);
    if (!p) {
        s.plans.push_back(make_conv_plan(be.cudnn(), g, CUDNN_DATA_FLOAT, s.tf32, generous_conv_budget()));
        p = s.plans.back().get();
    }
    const std::size_t values = p->workspace_values(sizeof(float));
    for (auto& r : s.reserved)
        if (r.first == g) return r.second = std::max(r.second, values);
    s.reserved.emplace_back(g, values);
    return values;
}

/// y = conv(x, w) + bias, then max(0, y) when relu. x (N,C_in,H,W), w (C_out,C_in,KH,KW), bias (C_out)
/// or null, y (N,C_out,OUT_H,OUT_W); workspace holds conv2d_workspace(be, g) values.
template <class T>
void conv2d_forward(const Cuda& be, const Conv2dGeometry& g, const T* x, const T* w, const T* bias, T* y,
                    T* workspace, bool relu = false) {
    using namespace cuda_detail;
    if (g.n == 0) return;
    const ConvPlan& p = conv_plan<T>(be, g);
    const T one = 1, zero = 0;
    const T* xin = cudnn_input(be, p, x, workspace);
    TYPENET_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv.d, p.fwd_math));
    TYPENET_CUDNN_CHECK(cudnnConvolutionForward(be.cudnn(), &one, p.x.d, xin, p.w.d, w, p.conv.d, p.fwd,
                                                cudnn_workspace(p, workspace), p.cudnn_bytes, &zero, p.y.d, y));
    if (bias) bias_add(be, g.n, g.c_out, g.out_h * g.out_w, y, bias);
    if (relu) activation_forward(be, ActivationKind::relu, g.n * g.c_out * g.out_h * g.out_w, y, y);
}

/// dx = the gradient of conv2d_forward's y with respect to x, given dy.
/// dy (N,C_out,OUT_H,OUT_W), w (C_out,C_in,KH,KW), dx (N,C_in,H,W), overwritten.
template <class T>
void conv2d_backward_data(const Cuda& be, const Conv2dGeometry& g, const T* dy, const T* w, T* dx, T* workspace) {
    using namespace cuda_detail;
    if (g.n == 0) return;
    const ConvPlan& p = conv_plan<T>(be, g);
    const T one = 1, zero = 0;
    T* dxin = p.prepad ? workspace : dx;  // the padded gradient, cropped below
    TYPENET_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv.d, p.bwd_data_math));
    TYPENET_CUDNN_CHECK(cudnnConvolutionBackwardData(be.cudnn(), &one, p.w.d, w, p.y.d, dy, p.conv.d, p.bwd_data,
                                                     cudnn_workspace(p, workspace), p.cudnn_bytes, &zero, p.x.d,
                                                     dxin));
    if (!p.prepad) return;
    const std::size_t planes = g.n * g.c_in, count = planes * g.h * g.w;
    crop_kernel<<<grid_for(count), block_threads, 0, be.stream()>>>(planes, g.h, g.w, p.padded_h, p.padded_w, g.pad_h,
                                                                    g.pad_w, dxin, dx);
    TYPENET_CUDA_LAUNCHED("conv2d crop");
}

/// dw, db = the gradients of conv2d_forward's y with respect to w and bias,
/// given x (N,C_in,H,W) and dy (N,C_out,OUT_H,OUT_W). dw (C_out,C_in,KH,KW)
/// and db (C_out) are overwritten; db may be null.
template <class T>
void conv2d_backward_filter(const Cuda& be, const Conv2dGeometry& g, const T* x, const T* dy, T* dw, T* db,
                            T* workspace) {
    using namespace cuda_detail;
    if (g.n == 0) {
        TYPENET_CUDA_CHECK(cudaMemsetAsync(dw, 0, g.weight_size() * sizeof(T), be.stream()));
        if (db) TYPENET_CUDA_CHECK(cudaMemsetAsync(db, 0, g.c_out * sizeof(T), be.stream()));
        return;
    }
    const ConvPlan& p = conv_plan<T>(be, g);
    const T one = 1, zero = 0;
    const T* xin = cudnn_input(be, p, x, workspace);
    TYPENET_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv.d, p.bwd_filter_math));
    TYPENET_CUDNN_CHECK(cudnnConvolutionBackwardFilter(be.cudnn(), &one, p.x.d, xin, p.y.d, dy, p.conv.d,
                                                       p.bwd_filter, cudnn_workspace(p, workspace), p.cudnn_bytes,
                                                       &zero, p.w.d, dw));
    if (db) bias_grad(be, g.n, g.c_out, g.out_h * g.out_w, dy, db);
}

}  // namespace typenet
