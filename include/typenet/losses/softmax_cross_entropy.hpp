// typenet/losses/softmax_cross_entropy.hpp - softmax + cross-entropy, fused.
#pragma once

#include <cstddef>
#include <cstdint>

#include "loss.hpp"

namespace typenet {

/// Cross-entropy of softmax(logits) against class labels, fused so that the
/// log-sum-exp is max-shifted and the gradient is simply softmax - onehot.
/// The network's last layer outputs raw logits (no Softmax layer).
template <std::size_t Classes = 0>
struct SoftmaxCrossEntropy {
    static constexpr std::size_t width = Classes;
    static constexpr const char* name = "softmax_cross_entropy";

    template <class B, class T>
        requires LossOps<B, T>
    void operator()(B& be, std::size_t rows, std::size_t cols, const T* out, const std::int32_t* labels, T* grad,
                    T scale, double* acc) const {
        softmax_cross_entropy(be, rows, cols, out, labels, grad, scale, acc);
    }
};

}  // namespace typenet
