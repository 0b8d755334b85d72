// typenet/layers/flatten.hpp - (C,H,W) -> (C*H*W), the bridge to Dense.
#pragma once

#include <string>

#include "../core/shape.hpp"
#include "layer.hpp"

namespace typenet {

struct Flatten {
    template <class In>
    struct bind : LayerBase<In, Shape<In::size>> {
        static std::string name() { return "Flatten"; }
        // NCHW is already contiguous per sample: flattening is a copy.
        template <class T, class B>
        static void forward(LayerIo<T, B>& io) {
            copy_values(io.be, io.n * In::size, io.x, io.y);
        }
        template <class T, class B>
        static void backward(LayerIo<T, B>& io) {
            if (io.dx) copy_values(io.be, io.n * In::size, io.dy, io.dx);
        }
    };
};

}  // namespace typenet
