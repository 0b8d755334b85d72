// typenet/layers/activation.hpp - elementwise activation layers and Softmax.
#pragma once

#include <string>

#include "../core/activation_kind.hpp"
#include "layer.hpp"

namespace typenet {

/// An elementwise activation as a layer; the shape passes through unchanged.
template <ActivationKind Kind>
struct Activation {
    template <class In>
    struct bind : LayerBase<In, In> {
        static constexpr bool outputs_probabilities = (Kind == ActivationKind::sigmoid);
        static constexpr OpFamily ops = OpFamily::elementwise;
        static constexpr bool passes_through(bool) { return Kind == ActivationKind::identity; }
        static constexpr bool is_relu = (Kind == ActivationKind::relu);  // a layer before it may fuse it
        static std::string name() {
            switch (Kind) {
                case ActivationKind::identity: return "Identity";
                case ActivationKind::relu: return "ReLU";
                case ActivationKind::sigmoid: return "Sigmoid";
                case ActivationKind::tanh: return "Tanh";
                case ActivationKind::elu: return "ELU";
                case ActivationKind::selu: return "SELU";
            }
            return "Activation";
        }
        template <class T, ElementwiseOps<T> B>
        static void forward(LayerIo<T, B>& io) {
            activation_forward(io.be, Kind, io.n * In::size, io.x, io.y);
        }
        template <class T, ElementwiseOps<T> B>
        static void backward(LayerIo<T, B>& io) {
            if (io.dx) activation_backward(io.be, Kind, io.n * In::size, io.x, io.y, io.dy, io.dx);
        }
    };
};

using Identity = Activation<ActivationKind::identity>;
using ReLU = Activation<ActivationKind::relu>;
using Sigmoid = Activation<ActivationKind::sigmoid>;
using Tanh = Activation<ActivationKind::tanh>;
using ELU = Activation<ActivationKind::elu>;
using SELU = Activation<ActivationKind::selu>;

/// Softmax over the features of each sample, as a layer (for networks that
/// output probabilities). For training prefer no Softmax layer and the fused
/// SoftmaxCrossEntropy loss, which is numerically safer.
struct Softmax {
    template <class In>
    struct bind : LayerBase<In, In> {
        static_assert(is_flat<In>, "Softmax needs a flat (1-D) input; insert Flatten before it");
        static constexpr bool outputs_probabilities = true;
        static constexpr OpFamily ops = OpFamily::elementwise;
        static std::string name() { return "Softmax"; }
        template <class T, ElementwiseOps<T> B>
        static void forward(LayerIo<T, B>& io) {
            softmax_forward(io.be, io.n, In::size, io.x, io.y);
        }
        template <class T, ElementwiseOps<T> B>
        static void backward(LayerIo<T, B>& io) {
            if (io.dx) softmax_backward(io.be, io.n, In::size, io.y, io.dy, io.dx);
        }
    };
};

}  // namespace typenet
