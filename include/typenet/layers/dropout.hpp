// typenet/layers/dropout.hpp - inverted dropout.
#pragma once

#include <string>

#include "layer.hpp"

namespace typenet {

/// Dropout<0.5>: in training, zeroes each value with probability Rate and
/// scales the others by 1/(1-Rate); in evaluation, the identity. The mask is
/// hash(seed, index) with a fresh seed from the model's Rng per batch, so a
/// seeded run is reproducible and the same on every backend.
template <double Rate>
struct Dropout {
    static_assert(Rate >= 0.0 && Rate < 1.0, "Dropout<Rate>: Rate must be in [0, 1)");

    template <class In>
    struct bind : LayerBase<In, In> {
        static constexpr std::size_t scratch_per_sample = In::size;  // the mask
        static constexpr OpFamily ops = OpFamily::dropout;
        // In evaluation (or at rate 0) the output is the input: Model passes
        // the pointer on instead of calling forward / backward.
        static constexpr bool passes_through(bool training) { return !training || Rate == 0.0; }
        static std::string name() {
            std::string r = std::to_string(Rate);
            while (r.size() > 3 && r.back() == '0') r.pop_back();
            return "Dropout<" + r + ">";
        }
        template <class T, DropoutOps<T> B>
        static void forward(LayerIo<T, B>& io) {
            dropout_forward(io.be, io.n * In::size, Rate, io.rng->next(), io.x, io.y, io.scratch);
        }
        template <class T, DropoutOps<T> B>
        static void backward(LayerIo<T, B>& io) {
            if (io.dx) dropout_backward(io.be, io.n * In::size, io.dy, io.scratch, io.dx);
        }
    };
};

}  // namespace typenet
