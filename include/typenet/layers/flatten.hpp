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
        // NCHW is already contiguous per sample: the output is the input, and
        // Model passes the pointer on (forward and backward are never called).
        static constexpr bool passes_through(bool) { return true; }
        template <class T, class B>
        static void forward(LayerIo<T, B>&) {}
        template <class T, class B>
        static void backward(LayerIo<T, B>&) {}
    };
};

}  // namespace typenet
