// typenet/core/backend.hpp - what a backend is: an object plus op families.
//
// A backend is an object (a thread pool, a stream, library handles) plus free
// functions found by argument-dependent lookup whose first argument is that
// object: gemm(be, ...), bias_add(be, ...). Layers, losses, optimizers and
// fit call only these; backends never know about layers. The ops come in
// families, one concept each; `Backend` is all of them, and Model<Net, B>
// checks the families its layers use (LayerOps), naming any that B lacks.
//
// All families: B::device owns every pointer passed (core/device.hpp); ops
// may run asynchronously with respect to the host and are ordered among
// themselves; b.synchronize() waits for them. "Overwrites" means the output
// is written without being read; "accumulates" means it is added to.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>

#include "activation_kind.hpp"
#include "augment.hpp"
#include "conv_geometry.hpp"

namespace typenet {

/// The CPU backend (backend/cpu/cpu.hpp), named here as Model's default
/// backend so that generic headers need not include it.
class Cpu;

/// The object itself: a device type, a name, synchronize().
template <class B>
concept BackendObject = requires(B& b) {
    typename B::device;
    { B::name } -> std::convertible_to<const char*>;
    b.synchronize();
};

/// gemm: C(m,n) = alpha op(A) op(B) + beta C, row-major; C is not read when
/// beta is 0. linear_forward(b, n, in, out, x, w, bias, y, relu) overwrites
/// y(n,out) with x(n,in) w(out,in)^T + bias, then max(0, y) when relu (a
/// Dense layer, and a ReLU after it that Model fuses in).
template <class B, class T = float>
concept GemmOps = BackendObject<B> && requires(B& b, T* p, const T* cp, std::size_t n, T s) {
    gemm(b, false, true, n, n, n, s, cp, n, cp, n, s, p, n);
    linear_forward(b, n, n, n, cp, cp, cp, p, true);
};

/// bias_add accumulates b(c) into y(n,c,spatial); bias_grad overwrites
/// db(c) with the sums of dy; activation_* and softmax_* overwrite their
/// output (backward: dx from x, y and dy); all_finite reads count values
/// (and may wait for the device).
template <class B, class T = float>
concept ElementwiseOps =
    BackendObject<B> && requires(B& b, T* p, const T* cp, std::size_t n, ActivationKind a) {
        bias_add(b, n, n, n, p, cp);
        bias_grad(b, n, n, n, cp, p);
        activation_forward(b, a, n, cp, p);
        activation_backward(b, a, n, cp, cp, cp, p);
        softmax_forward(b, n, n, cp, p);
        softmax_backward(b, n, n, cp, cp, p);
        { all_finite(b, n, cp) } -> std::convertible_to<bool>;
    };

/// conv2d_workspace(b, g): scratch values the three others need for g.
/// conv2d_forward overwrites y (N,C_out,OH,OW) with w * x + bias, or with
/// max(0, w * x + bias) when its last argument (relu) is true: Model fuses a
/// ReLU that follows a convolution into it this way;
/// conv2d_backward_data overwrites dx; conv2d_backward_filter overwrites dw
/// and db (db may be null).
template <class B, class T = float>
concept ConvolutionOps =
    BackendObject<B> && requires(B& b, T* p, const T* cp, const Conv2dGeometry& g) {
        { conv2d_workspace(b, g) } -> std::convertible_to<std::size_t>;
        conv2d_forward(b, g, cp, cp, cp, p, p);
        conv2d_forward(b, g, cp, cp, cp, p, p, true);
        conv2d_backward_data(b, g, cp, cp, p, p);
        conv2d_backward_filter(b, g, cp, cp, p, p, p);
    };

/// Max pooling overwrites y and the argmax indices; avg pooling overwrites
/// y; both backwards overwrite dx (N,C,H,W). maxpool2d_backward's optional
/// last argument, the pooling's output y, folds in the backward of a ReLU
/// before it: a window passes its gradient only where y > 0 (y is the ReLU's
/// output at the window's argmax, so the full-size input is not read).
template <class B, class T = float>
concept PoolingOps =
    BackendObject<B> && requires(B& b, T* p, const T* cp, std::int32_t* ip, const std::int32_t* cip,
                                 const Pool2dGeometry& g) {
        maxpool2d_forward(b, g, cp, p, ip);
        maxpool2d_backward(b, g, cp, cip, p);
        maxpool2d_backward(b, g, cp, cip, p, cp);
        avgpool2d_forward(b, g, cp, p);
        avgpool2d_backward(b, g, cp, p);
    };

/// Optional: conv2d_relu_maxpool_forward(b, g, pg, x, w, bias, conv_y,
/// pool_y, argmax, workspace) overwrites pool_y and argmax with
/// maxpool2d_forward(pg, max(0, conv2d_forward(g, ...))), bit for bit, and
/// returns whether conv_y holds the ReLU's output too (it may skip storing
/// it). conv2d_relu_maxpool_backward_filter(b, g, pg, x, pool_y, argmax,
/// pool_dy, conv_dy, dw, db, workspace) overwrites dw and db with
/// conv2d_backward_filter of maxpool2d_backward(pool_dy, argmax, pool_y),
/// bit for bit; conv_dy (the convolution's output size) is scratch it may
/// use. Model runs Conv2D, ReLU, MaxPool2D as these ops in training where
/// the backend has them (the backward where the Conv2D's input needs no
/// gradient: a first layer); other backends run the three layers.
template <class B, class T = float>
concept ConvPoolFusionOps = BackendObject<B> && requires(B& b, T* p, const T* cp, std::int32_t* ip,
                                                         const std::int32_t* cip, const Conv2dGeometry& g,
                                                         const Pool2dGeometry& pg) {
    { conv2d_relu_maxpool_forward(b, g, pg, cp, cp, cp, p, p, ip, p) } -> std::convertible_to<bool>;
    conv2d_relu_maxpool_backward_filter(b, g, pg, cp, cp, cip, cp, p, p, p, p);
};

/// Optional, beside ConvPoolFusionOps: conv2d_relu_maxpool_backward(b, g,
/// pg, x, w, pool_y, argmax, pool_dy, conv_dy, dx, dw, db, workspace)
/// overwrites dx (unless null), dw and db with the backward of
/// maxpool2d_backward(pool_dy, argmax, pool_y) through the convolution
/// (equal up to rounding: it may visit only the argmax positions). Model
/// then runs any Conv2D, ReLU, MaxPool2D's backward as this op, not only a
/// first layer's.
template <class B, class T = float>
concept ConvPoolBackwardOps =
    ConvPoolFusionOps<B, T> && requires(B& b, T* p, const T* cp, const std::int32_t* cip, const Conv2dGeometry& g,
                                        const Pool2dGeometry& pg) {
        conv2d_relu_maxpool_backward(b, g, pg, cp, cp, cp, cip, cp, p, p, p, p, p);
    };

/// Batch normalisation over (n, channels, spatial): training forward
/// overwrites y and updates the running statistics in place; inference
/// forward overwrites y; backward overwrites dx, dgamma and dbeta.
template <class B, class T = float>
concept NormalizationOps = BackendObject<B> && requires(B& b, T* p, const T* cp, std::size_t n, double d) {
    batchnorm_forward_training(b, n, n, n, cp, cp, cp, p, p, d, d, p);
    batchnorm_forward_inference(b, n, n, n, cp, cp, cp, cp, cp, d, p);
    batchnorm_backward(b, n, n, n, cp, cp, cp, d, p, p, p);
};

/// dropout_forward overwrites y and the mask from (rate, seed); backward
/// overwrites dx = dy * mask.
template <class B, class T = float>
concept DropoutOps =
    BackendObject<B> && requires(B& b, T* p, const T* cp, std::size_t n, double d, std::uint64_t seed) {
        dropout_forward(b, n, d, seed, cp, p, p);
        dropout_backward(b, n, cp, cp, p);
    };

/// Each loss accumulates (loss sum, correct count) into the two-double
/// accumulator and, when grad is not null, overwrites grad = scale * dloss.
/// count_correct accumulates the count only.
template <class B, class T = float>
concept LossOps = BackendObject<B> && requires(B& b, T* p, const T* cp, const std::int32_t* lab, double* acc,
                                               std::size_t n, T s) {
    softmax_cross_entropy(b, n, n, cp, lab, p, s, acc);
    binary_cross_entropy(b, n, n, cp, lab, p, s, acc);
    mean_squared_error(b, n, n, cp, lab, p, s, acc);
    count_correct(b, n, n, cp, lab, acc);
};

/// One pass over n parameters: w and the optimizer's state arrays are
/// updated in place from the gradient g (penalties l1, l2 folded in).
template <class B, class T = float>
concept OptimizerOps = BackendObject<B> && requires(B& b, T* p, const T* cp, std::size_t n, T s) {
    sgd_update(b, n, p, cp, p, s, s, false, s, s);
    rmsprop_update(b, n, p, cp, p, s, s, s, s, s);
    adam_update(b, n, p, cp, p, p, s, s, s, s, s, s, s, s);
};

/// gather_rows / gather_labels overwrite dst with the rows named by idx;
/// copy_values overwrites dst; read_accumulator copies the two-double
/// accumulator to the host (on a GPU, the one wait of a training step).
template <class B, class T = float>
concept BatchOps = BackendObject<B> && requires(B& b, T* p, const T* cp, std::int32_t* lab,
                                                const std::int32_t* clab, const std::uint32_t* idx, double* acc,
                                                std::size_t n) {
    gather_rows(b, n, n, cp, idx, p);
    gather_labels(b, n, clab, idx, lab);
    copy_values(b, n, cp, p);
    read_accumulator(b, acc, acc);
};

/// augment_images overwrites dst (n, channels, h, w) with src's images under
/// each sample's transform drawn from (settings, seed) (core/augment.hpp);
/// src and dst must not overlap. Only fit's opts.augment needs it, so it is
/// not part of Backend: a backend without it trains without augmentation.
template <class B, class T = float>
concept AugmentOps = BackendObject<B> && requires(B& b, T* p, const T* cp, std::size_t n, const Augmentation& a,
                                                  std::uint64_t seed) {
    augment_images(b, n, n, n, n, cp, p, a, seed);
    augment_images(b, n, n, n, n, cp, p, a, seed, n);  // the share from sample n of the batch on
};

/// Every op family: what a backend must implement to run any typenet network.
template <class B, class T = float>
concept Backend = GemmOps<B, T> && ElementwiseOps<B, T> && ConvolutionOps<B, T> && PoolingOps<B, T> &&
                  NormalizationOps<B, T> && DropoutOps<B, T> && LossOps<B, T> && OptimizerOps<B, T> &&
                  BatchOps<B, T>;

/// The op families a layer calls, as bits (BL::ops), so Model<Net, B> can
/// name the family a backend lacks before any layer is instantiated.
enum class OpFamily : unsigned {
    none = 0,
    gemm = 1,
    elementwise = 2,
    convolution = 4,
    pooling = 8,
    normalization = 16,
    dropout = 32,
    batch = 64,
};
constexpr OpFamily operator|(OpFamily a, OpFamily b) {
    return static_cast<OpFamily>(static_cast<unsigned>(a) | static_cast<unsigned>(b));
}
constexpr bool uses(OpFamily set, OpFamily f) { return (static_cast<unsigned>(set) & static_cast<unsigned>(f)) != 0; }

}  // namespace typenet
