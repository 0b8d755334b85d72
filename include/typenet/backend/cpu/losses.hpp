// typenet/backend/cpu/losses.hpp - fused loss + gradient + accuracy ops on the CPU.
//
// Each op reads a (rows, cols) output and int32 class labels, adds the summed
// per-sample loss to acc[0] and the number of rows whose argmax equals the
// label to acc[1], and, when grad is not null, writes grad = scale * dloss/dout.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../../losses/rules.hpp"

namespace typenet {

class Cpu;

namespace cpu_detail {
template <class T>
std::size_t argmax(const T* row, std::size_t cols) {
    return static_cast<std::size_t>(std::max_element(row, row + cols) - row);
}
}  // namespace cpu_detail

/// Softmax cross-entropy on logits: loss = logsumexp(x) - x[label];
/// grad = scale * (softmax(x) - onehot(label)).
template <class T>
void softmax_cross_entropy(const Cpu&, std::size_t rows, std::size_t cols, const T* logits,
                           const std::int32_t* labels, T* grad, T scale, double* acc) {
    double loss = 0, correct = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        const T* x = logits + r * cols;
        const auto label = static_cast<std::size_t>(labels[r]);
        const T m = *std::max_element(x, x + cols);
        double sum = 0;
        for (std::size_t c = 0; c < cols; ++c) sum += std::exp(double(x[c] - m));
        loss += std::log(sum) + double(m) - double(x[label]);
        correct += (cpu_detail::argmax(x, cols) == label);
        if (grad) {
            T* g = grad + r * cols;
            const double inv = 1.0 / sum;
            for (std::size_t c = 0; c < cols; ++c)
                g[c] = scale * T(std::exp(double(x[c] - m)) * inv - (c == label ? 1.0 : 0.0));
        }
    }
    acc[0] += loss;
    acc[1] += correct;
}

/// Binary cross-entropy on probabilities p (after a Sigmoid) against one-hot
/// targets, averaged over the cols classes as Keras does. p is clipped
/// (rules::bce_clamp) so log never sees 0.
template <class T>
void binary_cross_entropy(const Cpu&, std::size_t rows, std::size_t cols, const T* p, const std::int32_t* labels,
                          T* grad, T scale, double* acc) {
    double loss = 0, correct = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        const T* y = p + r * cols;
        const auto label = static_cast<std::size_t>(labels[r]);
        double l = 0;
        for (std::size_t c = 0; c < cols; ++c) {
            const double q = rules::bce_clamp(double(y[c]));
            const double t = (c == label) ? 1.0 : 0.0;
            l -= rules::bce_log_likelihood(q, t);
            if (grad) grad[r * cols + c] = scale * T(rules::bce_gradient(q, t) / double(cols));
        }
        loss += l / double(cols);
        correct += (cpu_detail::argmax(y, cols) == label);
    }
    acc[0] += loss;
    acc[1] += correct;
}

/// Mean squared error against one-hot targets, averaged over the cols classes.
template <class T>
void mean_squared_error(const Cpu&, std::size_t rows, std::size_t cols, const T* y, const std::int32_t* labels,
                        T* grad, T scale, double* acc) {
    double loss = 0, correct = 0;
    for (std::size_t r = 0; r < rows; ++r) {
        const T* v = y + r * cols;
        const auto label = static_cast<std::size_t>(labels[r]);
        double l = 0;
        for (std::size_t c = 0; c < cols; ++c) {
            const double d = double(v[c]) - ((c == label) ? 1.0 : 0.0);
            l += d * d;
            if (grad) grad[r * cols + c] = scale * T(2.0 * d / double(cols));
        }
        loss += l / double(cols);
        correct += (cpu_detail::argmax(v, cols) == label);
    }
    acc[0] += loss;
    acc[1] += correct;
}

/// acc[1] += number of rows whose argmax equals the label.
template <class T>
void count_correct(const Cpu&, std::size_t rows, std::size_t cols, const T* y, const std::int32_t* labels,
                   double* acc) {
    double correct = 0;
    for (std::size_t r = 0; r < rows; ++r)
        correct += (cpu_detail::argmax(y + r * cols, cols) == static_cast<std::size_t>(labels[r]));
    acc[1] += correct;
}

}  // namespace typenet
