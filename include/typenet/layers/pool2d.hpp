// typenet/layers/pool2d.hpp - max and average pooling, and global average pooling.
#pragma once

#include <string>

#include "../core/conv_geometry.hpp"
#include "../core/shape.hpp"
#include "layer.hpp"

namespace typenet {

namespace pool_detail {

enum class Kind { max, average };

template <Kind K, std::size_t Size, std::size_t Stride>
struct Pool2D {
    static_assert(Size > 0, "pooling: the window size must be at least 1");
    static_assert(Stride > 0, "pooling: a stride of zero is not allowed; use a stride of at least 1");

    template <class In>
    struct bind : LayerBase<In, Shape<channels_of<In>, detail::out_extent(height_of<In>, Size, Stride, Padding::valid),
                                      detail::out_extent(width_of<In>, Size, Stride, Padding::valid)>> {
        static_assert(In::rank == 3, "MaxPool2D / AvgPool2D need a (C,H,W) input but receive a flat vector; pool "
                                     "before Flatten");
        static_assert(Size <= height_of<In> && Size <= width_of<In>,
                      "the pooling window is larger than its input (see the Shape in 'bind<Shape<...>>' below); use "
                      "a smaller window or remove a pooling layer before it");
        static constexpr std::size_t C = channels_of<In>, H = height_of<In>, W = width_of<In>;
        static constexpr std::size_t index_scratch_per_sample =
            K == Kind::max ? bind::output_shape::size : 0;  // argmax per output value
        static std::string name() {
            std::string s = std::string(K == Kind::max ? "MaxPool2D<" : "AvgPool2D<") + std::to_string(Size);
            if (Stride != Size) s += ", " + std::to_string(Stride);
            return s + ">";
        }
        static constexpr OpFamily ops = OpFamily::pooling;
        static constexpr bool folds_relu_backward = (K == Kind::max);  // honours io.relu_mask
        static constexpr bool is_max_pool = (K == Kind::max);          // a Conv2D + ReLU before it may pool for it
        static constexpr Pool2dGeometry geometry(std::size_t n) {
            return make_pool2d_geometry(n, C, H, W, Size, Size, Stride, Stride);
        }
        template <class T, PoolingOps<T> B>
        static void forward(LayerIo<T, B>& io) {
            if constexpr (K == Kind::max) maxpool2d_forward(io.be, geometry(io.n), io.x, io.y, io.index_scratch);
            else avgpool2d_forward(io.be, geometry(io.n), io.x, io.y);
        }
        template <class T, PoolingOps<T> B>
        static void backward(LayerIo<T, B>& io) {
            if (!io.dx) return;
            if constexpr (K == Kind::max)
                maxpool2d_backward(io.be, geometry(io.n), io.dy, io.index_scratch, io.dx, io.relu_mask ? io.y : nullptr);
            else avgpool2d_backward(io.be, geometry(io.n), io.dy, io.dx);
        }
    };
};
}  // namespace pool_detail

/// Max pooling over Size x Size windows moved by Stride (default: Size, no overlap).
/// Ties: the first maximum of a window (row-major) takes the gradient.
template <std::size_t Size, std::size_t Stride = Size>
struct MaxPool2D : pool_detail::Pool2D<pool_detail::Kind::max, Size, Stride> {};

/// Average pooling over Size x Size windows moved by Stride (default: Size).
template <std::size_t Size, std::size_t Stride = Size>
struct AvgPool2D : pool_detail::Pool2D<pool_detail::Kind::average, Size, Stride> {};

/// Mean of each channel over its whole map: (C,H,W) -> (C), as Keras'
/// GlobalAveragePooling2D.
struct GlobalAvgPool2D {
    template <class In>
    struct bind : LayerBase<In, Shape<channels_of<In>>> {
        static_assert(In::rank == 3, "GlobalAvgPool2D needs a (C,H,W) input but receives a flat vector");
        static constexpr std::size_t C = channels_of<In>, H = height_of<In>, W = width_of<In>;
        static constexpr OpFamily ops = OpFamily::pooling;
        static std::string name() { return "GlobalAvgPool2D"; }
        static constexpr Pool2dGeometry geometry(std::size_t n) { return make_pool2d_geometry(n, C, H, W, H, W, H, W); }
        template <class T, PoolingOps<T> B>
        static void forward(LayerIo<T, B>& io) {
            avgpool2d_forward(io.be, geometry(io.n), io.x, io.y);
        }
        template <class T, PoolingOps<T> B>
        static void backward(LayerIo<T, B>& io) {
            if (io.dx) avgpool2d_backward(io.be, geometry(io.n), io.dy, io.dx);
        }
    };
};

}  // namespace typenet
