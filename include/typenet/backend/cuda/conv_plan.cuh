// typenet/backend/cuda/conv_plan.cuh - cuDNN descriptors and algorithms for one
// convolution geometry, made once and cached by the Cuda backend.
//
// A plan holds the tensor, filter and convolution descriptors of one
// Conv2dGeometry and data type, and the forward, backward-data and
// backward-filter algorithms that cudnnFind* measured fastest among those
// whose workspace fits the budget (cudnnGet*_v7's heuristics when Find fails,
// the zero-workspace algorithms as the last resort).
//
// Same padding with an odd total (e.g. a 3x3 kernel with stride 2 on an even
// input) puts one more zero on the bottom / right than on the top / left;
// cuDNN pads symmetrically only, so such a plan "prepads": the input is copied
// into a zero-padded buffer at the front of the workspace and cuDNN runs an
// unpadded convolution on it.
//
// Uses cuDNN's v7-style convolution API, deprecated in cuDNN 9 but supported.
#pragma once

#include <algorithm>
#include <climits>
#include <cstddef>
#include <memory>
#include <string>

#include "../../core/conv_geometry.hpp"
#include "check.cuh"

namespace typenet::cuda_detail {

template <class T>
inline constexpr cudnnDataType_t cudnn_type = sizeof(T) == 8 ? CUDNN_DATA_DOUBLE : CUDNN_DATA_FLOAT;

inline int cudnn_int(std::size_t v, const char* what) {
    detail::require(v <= std::size_t(INT_MAX), [&] {
        return std::string("typenet::Cuda: the convolution's ") + what + " (" + std::to_string(v) +
               ") exceeds what cuDNN accepts; use a smaller batch";
    });
    return int(v);
}

// RAII owners of the three descriptor kinds.
struct TensorDesc {
    cudnnTensorDescriptor_t d = nullptr;
    TensorDesc() { TYPENET_CUDNN_CHECK(cudnnCreateTensorDescriptor(&d)); }
    ~TensorDesc() { cudnnDestroyTensorDescriptor(d); }
    TensorDesc(const TensorDesc&) = delete;
    TensorDesc& operator=(const TensorDesc&) = delete;
    void set(cudnnDataType_t t, std::size_t n, std::size_t c, std::size_t h, std::size_t w) {
        TYPENET_CUDNN_CHECK(cudnnSetTensor4dDescriptor(d, CUDNN_TENSOR_NCHW, t, cudnn_int(n, "batch"),
                                                       cudnn_int(c, "channel count"), cudnn_int(h, "height"),
                                                       cudnn_int(w, "width")));
    }
};
struct FilterDesc {
    cudnnFilterDescriptor_t d = nullptr;
    FilterDesc() { TYPENET_CUDNN_CHECK(cudnnCreateFilterDescriptor(&d)); }
    ~FilterDesc() { cudnnDestroyFilterDescriptor(d); }
    FilterDesc(const FilterDesc&) = delete;
    FilterDesc& operator=(const FilterDesc&) = delete;
};
struct ConvDesc {
    cudnnConvolutionDescriptor_t d = nullptr;
    ConvDesc() { TYPENET_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&d)); }
    ~ConvDesc() { cudnnDestroyConvolutionDescriptor(d); }
    ConvDesc(const ConvDesc&) = delete;
    ConvDesc& operator=(const ConvDesc&) = delete;
};

struct ConvPlan {
    Conv2dGeometry g{};
    cudnnDataType_t type = CUDNN_DATA_FLOAT;
    bool tf32 = false;
    bool prepad = false;                  // see the top of this file
    std::size_t padded_h = 0, padded_w = 0;  // the input cuDNN sees when prepad
    std::size_t pad_values = 0;           // values of the padded buffer at the front of the workspace
    TensorDesc x, y;                      // (N,C_in,H,W) or the padded input; (N,C_out,OUT_H,OUT_W)
    FilterDesc w;                         // (C_out,C_in,KH,KW)
    ConvDesc conv;
    cudnnConvolutionFwdAlgo_t fwd = CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM;
    cudnnConvolutionBwdDataAlgo_t bwd_data = CUDNN_CONVOLUTION_BWD_DATA_ALGO_0;
    cudnnConvolutionBwdFilterAlgo_t bwd_filter = CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0;
    cudnnMathType_t fwd_math = CUDNN_DEFAULT_MATH, bwd_data_math = CUDNN_DEFAULT_MATH,
                    bwd_filter_math = CUDNN_DEFAULT_MATH;
    std::size_t cudnn_bytes = 0;  // workspace of the chosen algorithms (the largest of the three)

    /// Workspace the plan needs, in values of value_size bytes.
    std::size_t workspace_values(std::size_t value_size) const {
        return pad_values + (cudnn_bytes + value_size - 1) / value_size;
    }
    /// The math type for an algorithm measured with `measured`: TF32 tensor
    /// cores only when asked for; FMA otherwise (cuDNN's default would allow
    /// TF32 for float on Ampere and later).
    cudnnMathType_t math(cudnnMathType_t measured) const {
        if (type != CUDNN_DATA_FLOAT) return CUDNN_DEFAULT_MATH;
        return tf32 ? measured : CUDNN_FMA_MATH;
    }
};

// The input cuDNN convolves: x itself when the padding is symmetric, else a
// zero-padded copy of (h, w) values per plane, kept in `values` workspace
// values (a multiple of 64, so what follows stays 256-byte aligned).
struct PaddedInput {
    bool prepad;
    std::size_t h, w, values;
};
inline PaddedInput padded_input(const Conv2dGeometry& g) {
    const std::size_t need_h = (g.out_h - 1) * g.stride_h + g.kh, need_w = (g.out_w - 1) * g.stride_w + g.kw;
    const std::size_t total_h = need_h > g.h ? need_h - g.h : 0, total_w = need_w > g.w ? need_w - g.w : 0;
    if (total_h == 2 * g.pad_h && total_w == 2 * g.pad_w) return {false, g.h, g.w, 0};
    const std::size_t h = g.h + total_h, w = g.w + total_w;
    return {true, h, w, (g.n * g.c_in * h * w + 63) / 64 * 64};
}
inline std::size_t prepad_values(const Conv2dGeometry& g) { return padded_input(g).values; }

// Picks the first (fastest) successful result that fits the budget; -1 if none.
template <class Perf>
int pick_algorithm(const Perf* perf, int count, std::size_t budget) {
    for (int i = 0; i < count; ++i)
        if (perf[i].status == CUDNN_STATUS_SUCCESS && perf[i].memory <= budget) return i;
    return -1;
}

// Chooses one direction's algorithm: Find (measured), else Get_v7
// (heuristics), else `fallback`, which needs no workspace. F and G call the
// cuDNN function with (count, &returned, perf); S asks the chosen
// algorithm's workspace with the math type it will run with.
template <class Perf, class Algo, class F, class G, class S>
void choose_algorithm(ConvPlan& p, std::size_t budget, Algo fallback, Algo& algo, cudnnMathType_t& math, F find,
                      G get, S size_of) {
    constexpr int max_results = 16;
    Perf perf[max_results];
    int returned = 0;
    int at = -1;
    TYPENET_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv.d, p.math(CUDNN_DEFAULT_MATH)));
    if (find(max_results, &returned, perf) == CUDNN_STATUS_SUCCESS) at = pick_algorithm(perf, returned, budget);
    if (at < 0 && get(max_results, &returned, perf) == CUDNN_STATUS_SUCCESS)
        at = pick_algorithm(perf, returned, budget);
    (void)cudaGetLastError();  // a failed Find may leave an error behind; it was handled here
    algo = at >= 0 ? perf[at].algo : fallback;
    math = p.math(at >= 0 ? perf[at].mathType : CUDNN_DEFAULT_MATH);
    std::size_t bytes = 0;
    TYPENET_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv.d, math));
    if (size_of(&bytes) != CUDNN_STATUS_SUCCESS || bytes > budget) {
        // The measured math type was replaced (TF32 off): if that changed the
        // algorithm's needs beyond the budget, take the fallback instead.
        algo = fallback;
        math = p.math(CUDNN_DEFAULT_MATH);
        TYPENET_CUDNN_CHECK(cudnnSetConvolutionMathType(p.conv.d, math));
        TYPENET_CUDNN_CHECK(size_of(&bytes));
    }
    if (bytes > budget)
        throw BackendError("typenet::Cuda: even cuDNN's zero-workspace convolution algorithm asks for " +
                           std::to_string(bytes) + " bytes of workspace here, more than the " + std::to_string(budget) +
                           " promised; call conv2d_workspace(be, geometry) for this geometry before the conv ops");
    p.cudnn_bytes = std::max(p.cudnn_bytes, bytes);
}

/// Builds the plan of geometry g for data type `type`; the chosen algorithms
/// need at most `budget` bytes of cuDNN workspace. Runs cudnnFind*, which
/// times kernels and synchronises: call it outside the training loop.
inline std::unique_ptr<ConvPlan> make_conv_plan(cudnnHandle_t h, const Conv2dGeometry& g, cudnnDataType_t type,
                                                bool tf32, std::size_t budget) {
    auto p = std::make_unique<ConvPlan>();
    p->g = g;
    p->type = type;
    p->tf32 = tf32;
    const PaddedInput pad = padded_input(g);
    p->prepad = pad.prepad;
    p->padded_h = pad.h;
    p->padded_w = pad.w;
    p->pad_values = pad.values;
    const int pad_h = p->prepad ? 0 : int(g.pad_h), pad_w = p->prepad ? 0 : int(g.pad_w);

    p->x.set(type, g.n, g.c_in, p->padded_h, p->padded_w);
    p->y.set(type, g.n, g.c_out, g.out_h, g.out_w);
    TYPENET_CUDNN_CHECK(cudnnSetFilter4dDescriptor(p->w.d, type, CUDNN_TENSOR_NCHW, cudnn_int(g.c_out, "filter count"),
                                                   cudnn_int(g.c_in, "channel count"), cudnn_int(g.kh, "kernel height"),
                                                   cudnn_int(g.kw, "kernel width")));
    TYPENET_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(p->conv.d, pad_h, pad_w, cudnn_int(g.stride_h, "stride"),
                                                        cudnn_int(g.stride_w, "stride"), 1, 1,
                                                        CUDNN_CROSS_CORRELATION, type));
    int n = 0, c = 0, oh = 0, ow = 0;
    TYPENET_CUDNN_CHECK(cudnnGetConvolution2dForwardOutputDim(p->conv.d, p->x.d, p->w.d, &n, &c, &oh, &ow));
    if (std::size_t(oh) != g.out_h || std::size_t(ow) != g.out_w)
        throw BackendError("typenet::Cuda: cuDNN computes a " + std::to_string(oh) + "x" + std::to_string(ow) +
                           " output for a convolution whose geometry says " + std::to_string(g.out_h) + "x" +
                           std::to_string(g.out_w) + "; this is a typenet bug, please report it");

    ConvPlan& q = *p;
    choose_algorithm<cudnnConvolutionFwdAlgoPerf_t>(
        q, budget, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, q.fwd, q.fwd_math,
        [&](int k, int* r, cudnnConvolutionFwdAlgoPerf_t* perf) {
            return cudnnFindConvolutionForwardAlgorithm(h, q.x.d, q.w.d, q.conv.d, q.y.d, k, r, perf);
        },
        [&](int k, int* r, cudnnConvolutionFwdAlgoPerf_t* perf) {
            return cudnnGetConvolutionForwardAlgorithm_v7(h, q.x.d, q.w.d, q.conv.d, q.y.d, k, r, perf);
        },
        [&](std::size_t* b) {
            return cudnnGetConvolutionForwardWorkspaceSize(h, q.x.d, q.w.d, q.conv.d, q.y.d, q.fwd, b);
        });
    choose_algorithm<cudnnConvolutionBwdDataAlgoPerf_t>(
        q, budget, CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, q.bwd_data, q.bwd_data_math,
        [&](int k, int* r, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
            return cudnnFindConvolutionBackwardDataAlgorithm(h, q.w.d, q.y.d, q.conv.d, q.x.d, k, r, perf);
        },
        [&](int k, int* r, cudnnConvolutionBwdDataAlgoPerf_t* perf) {
            return cudnnGetConvolutionBackwardDataAlgorithm_v7(h, q.w.d, q.y.d, q.conv.d, q.x.d, k, r, perf);
        },
        [&](std::size_t* b) {
            return cudnnGetConvolutionBackwardDataWorkspaceSize(h, q.w.d, q.y.d, q.conv.d, q.x.d, q.bwd_data, b);
        });
    choose_algorithm<cudnnConvolutionBwdFilterAlgoPerf_t>(
        q, budget, CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0, q.bwd_filter, q.bwd_filter_math,
        [&](int k, int* r, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
            return cudnnFindConvolutionBackwardFilterAlgorithm(h, q.x.d, q.y.d, q.conv.d, q.w.d, k, r, perf);
        },
        [&](int k, int* r, cudnnConvolutionBwdFilterAlgoPerf_t* perf) {
            return cudnnGetConvolutionBackwardFilterAlgorithm_v7(h, q.x.d, q.y.d, q.conv.d, q.w.d, k, r, perf);
        },
        [&](std::size_t* b) {
            return cudnnGetConvolutionBackwardFilterWorkspaceSize(h, q.x.d, q.y.d, q.conv.d, q.w.d, q.bwd_filter, b);
        });
    return p;
}

}  // namespace typenet::cuda_detail
