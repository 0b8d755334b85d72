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
        static std::string name() {
            std::string r = std::to_string(Rate);
            while (r.size() > 3 && r.back() == '0') r.pop_back();
            return "Dropout<" + r + ">";
        }
        template <class T, class B>
        static void forward(LayerIo<T, B>& io) {
            const std::size_t count = io.n * In::size;
            if (io.training && Rate > 0.0)
                dropout_forward(io.be, count, Rate, io.rng->next(), io.x, io.y, io.scratch);
            else
                copy_values(io.be, count, io.x, io.y);
        }
        template <class T, class B>
        static void backward(LayerIo<T, B>& io) {
            if (!io.dx) return;
            const std::size_t count = io.n * In::size;
            if (io.training && Rate > 0.0)
                dropout_backward(io.be, count, io.dy, io.scratch, io.dx);
            else
                copy_values(io.be, count, io.dy, io.dx);
        }
    };
};

}  // namespace typenet
