// typenet/layers/conv2d.hpp - 2-D convolution.
//
// Weight (filters, in_channels, kh, kw) and bias (filters), as PyTorch; input
// and output NCHW. Padding follows Keras: Valid (none) or Same (out = ceil(in /
// stride)).
#pragma once

#include <cstdint>
#include <string>

#include "../core/conv_geometry.hpp"
#include "../core/shape.hpp"
#include "init.hpp"
#include "layer.hpp"

namespace typenet {

inline constexpr Padding Valid = Padding::valid;
inline constexpr Padding Same = Padding::same;

/// Convolution with a KH x KW kernel and strides SH, SW (the general form;
/// Conv2D below is the square one).
template <std::size_t Filters, std::size_t KH, std::size_t KW, std::size_t SH = 1, std::size_t SW = SH,
          Padding P = Padding::valid, class Init = GlorotUniform>
struct Conv2DRect {
    static_assert(Filters > 0, "Conv2D: the number of filters must be at least 1");
    static_assert(KH > 0 && KW > 0, "Conv2D: the kernel size must be at least 1");
    static_assert(SH > 0 && SW > 0, "Conv2D: a stride of zero is not allowed; use a stride of at least 1");

    template <class In>
    struct bind : LayerBase<In, Shape<Filters, detail::out_extent(height_of<In>, KH, SH, P),
                                      detail::out_extent(width_of<In>, KW, SW, P)>> {
        static_assert(In::rank == 3,
                      "Conv2D needs a (C,H,W) input but receives a flat vector; use Input<C,H,W> (e.g. "
                      "Input<1,28,28>) or remove the Flatten before this layer");
        static_assert(P == Padding::same || (KH <= height_of<In> && KW <= width_of<In>),
                      "Conv2D's kernel is larger than its input (see the Shape in 'bind<Shape<...>>' below) with Valid "
                      "padding; use a smaller kernel, remove a pooling layer before it, or use Same padding");
        static constexpr std::size_t C = channels_of<In>, H = height_of<In>, W = width_of<In>;
        static constexpr std::size_t parameter_count = Filters * C * KH * KW + Filters;
        static constexpr std::array<ParamSpec, 2> params{{
            {"weight", Dims{Filters, C, KH, KW}, C * KH * KW, Filters * KH * KW, true, false},  // (F, C, kh, kw)
            {"bias", Dims{Filters}, C * KH * KW, Filters * KH * KW, false, true},                // (F)
        }};
        static std::string name() {
            std::string s = "Conv2D<" + std::to_string(Filters) + ", " + std::to_string(KH);
            // Appends, not "x" + std::to_string(...): GCC 12 -O2 reports a false -Wrestrict on that form.
            if (KW != KH) s.append("x").append(std::to_string(KW));
            if (SH != 1 || SW != 1) s.append(", s").append(std::to_string(SH));
            if (SW != SH) s.append("x").append(std::to_string(SW));
            if (P == Padding::same) s += ", Same";
            return s + ">";
        }
        static constexpr OpFamily ops = OpFamily::convolution;
        static constexpr bool fuses_relu = true;  // Model may hand it the next ReLU (io.fuse_relu)
        static constexpr Conv2dGeometry geometry(std::size_t n) {
            return make_conv2d_geometry(n, C, H, W, Filters, KH, KW, SH, SW, P);
        }

        template <ConvolutionOps B>
        static std::size_t workspace(const B& be, std::size_t n) {
            return conv2d_workspace(be, geometry(n));
        }
        template <class T>
        static void initialize(Rng& rng, std::span<T> w) {
            initialize_params<Init>(rng, w, params);
        }
        template <class T, ConvolutionOps<T> B>
        static void forward(LayerIo<T, B>& io) {
            conv2d_forward(io.be, geometry(io.n), io.x, io.w, io.w + Filters * C * KH * KW, io.y, io.workspace,
                           io.fuse_relu);
        }
        /// Model's fusion of this layer, the ReLU after it and a MaxPool2D
        /// after that (pg, writing pool_y and argmax). Returns whether io.y
        /// holds this layer's (ReLU'd) output too (ConvPoolFusionOps).
        static constexpr bool fuses_relu_maxpool = true;
        template <class T, ConvPoolFusionOps<T> B>
        static bool forward_relu_maxpool(LayerIo<T, B>& io, const Pool2dGeometry& pg, T* pool_y,
                                         std::int32_t* argmax) {
            return conv2d_relu_maxpool_forward(io.be, geometry(io.n), pg, io.x, io.w, io.w + Filters * C * KH * KW,
                                               io.y, pool_y, argmax, io.workspace);
        }
        /// Model's fusion of this layer's backward with the ReLU and
        /// MaxPool2D after it: io.dy is the pooling's output gradient,
        /// pool_y and argmax its forward's, conv_dy scratch of this layer's
        /// output size; io.dx null (a first layer's input needs no
        /// gradient) or, where the backend has ConvPoolBackwardOps, the
        /// input gradient to write.
        template <class T, ConvPoolFusionOps<T> B>
        static void backward_relu_maxpool(LayerIo<T, B>& io, const Pool2dGeometry& pg, const T* pool_y,
                                          const std::int32_t* argmax, T* conv_dy) {
            T* db = io.dw + Filters * C * KH * KW;
            if constexpr (ConvPoolBackwardOps<B, T>)
                conv2d_relu_maxpool_backward(io.be, geometry(io.n), pg, io.x, io.w, pool_y, argmax, io.dy, conv_dy,
                                             io.dx, io.dw, db, io.workspace);
            else
                conv2d_relu_maxpool_backward_filter(io.be, geometry(io.n), pg, io.x, pool_y, argmax, io.dy,
                                                    conv_dy, io.dw, db, io.workspace);
        }
        template <class T, ConvolutionOps<T> B>
        static void backward(LayerIo<T, B>& io) {
            const auto g = geometry(io.n);
            conv2d_backward_filter(io.be, g, io.x, io.dy, io.dw, io.dw + Filters * C * KH * KW, io.workspace);
            if (io.dx) conv2d_backward_data(io.be, g, io.dy, io.w, io.dx, io.workspace);
        }
    };
};

/// Conv2D<Filters, Kernel, Stride = 1, Padding = Valid>: square kernel and stride.
template <std::size_t Filters, std::size_t Kernel, std::size_t Stride = 1, Padding P = Padding::valid,
          class Init = GlorotUniform>
using Conv2D = Conv2DRect<Filters, Kernel, Kernel, Stride, Stride, P, Init>;

}  // namespace typenet
