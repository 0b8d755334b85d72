// typenet/losses/mse.hpp - mean squared error against one-hot targets.
#pragma once

#include <cstddef>
#include <cstdint>

#include "loss.hpp"

namespace typenet {

/// Mean over classes of (output - onehot)^2 per sample.
template <std::size_t Classes = 0>
struct MeanSquaredError {
    static constexpr std::size_t width = Classes;
    static constexpr const char* name = "mean_squared_error";

    template <class B, class T>
        requires LossOps<B, T>
    void operator()(B& be, std::size_t rows, std::size_t cols, const T* out, const std::int32_t* labels, T* grad,
                    T scale, double* acc) const {
        mean_squared_error(be, rows, cols, out, labels, grad, scale, acc);
    }
};

}  // namespace typenet
