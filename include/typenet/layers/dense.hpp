// typenet/layers/dense.hpp - fully connected layer.
//
// Weight (out, in) as in the reference articles and PyTorch, bias (out);
// over a batch Y = X * W^T + b is one matrix product.
#pragma once

#include <string>

#include "../core/shape.hpp"
#include "init.hpp"
#include "layer.hpp"

namespace typenet {

template <std::size_t Units, class Init = GlorotUniform>
struct Dense {
    static_assert(Units > 0, "Dense<Units>: Units must be at least 1");

    template <class In>
    struct bind : LayerBase<In, Shape<Units>> {
        static_assert(is_flat<In>,
                      "Dense needs a flat (1-D) input but receives a (C,H,W) feature map (see the Shape in "
                      "'bind<Shape<...>>' below); insert Flatten before this Dense layer");
        static constexpr std::size_t in = In::size;
        static constexpr std::size_t out = Units;
        static constexpr std::size_t parameter_count = out * in + out;
        static constexpr std::array<ParamSpec, 2> params{{
            {"weight", Dims{out, in}, in, out, true, false},  // (out, in)
            {"bias", Dims{out}, in, out, false, true},        // (out)
        }};
        static constexpr OpFamily ops = OpFamily::gemm | OpFamily::elementwise;
        static constexpr bool fuses_relu = true;  // Model may hand it the next ReLU (io.fuse_relu)
        static std::string name() { return "Dense<" + std::to_string(Units) + ">"; }

        template <class T>
        static void initialize(Rng& rng, std::span<T> w) {
            initialize_params<Init>(rng, w, params);
        }

        template <class T, class B>
            requires GemmOps<B, T> && ElementwiseOps<B, T>
        static void forward(LayerIo<T, B>& io) {
            const T* W = io.w;             // (out, in)
            const T* b = io.w + out * in;  // (out)
            linear_forward(io.be, io.n, in, out, io.x, W, b, io.y, io.fuse_relu);
        }

        template <class T, class B>
            requires GemmOps<B, T> && ElementwiseOps<B, T>
        static void backward(LayerIo<T, B>& io) {
            // dW(out,in) = dY^T(out,n) X(n,in); db = column sums of dY; dX(n,in) = dY(n,out) W(out,in)
            gemm(io.be, true, false, out, in, io.n, T(1), io.dy, out, io.x, in, T(0), io.dw, in);
            bias_grad(io.be, io.n, out, std::size_t{1}, io.dy, io.dw + out * in);
            if (io.dx) gemm(io.be, false, false, io.n, in, out, T(1), io.dy, out, io.w, in, T(0), io.dx, in);
        }
    };
};

}  // namespace typenet
