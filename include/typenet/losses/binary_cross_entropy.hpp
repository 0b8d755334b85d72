// typenet/losses/binary_cross_entropy.hpp - log loss on sigmoid outputs.
#pragma once

#include <cstddef>
#include <cstdint>

#include "loss.hpp"

namespace typenet {

/// The reference articles' "log loss": the network ends in Sigmoid, each
/// output is compared with the one-hot target, and the binary cross-entropy
/// is averaged over classes (as Keras' binary_crossentropy).
template <std::size_t Classes = 0>
struct BinaryCrossEntropy {
    static constexpr std::size_t width = Classes;
    static constexpr const char* name = "binary_cross_entropy";

    template <class B, class T>
        requires LossOps<B, T>
    void operator()(B& be, std::size_t rows, std::size_t cols, const T* out, const std::int32_t* labels, T* grad,
                    T scale, double* acc) const {
        binary_cross_entropy(be, rows, cols, out, labels, grad, scale, acc);
    }
};

}  // namespace typenet
