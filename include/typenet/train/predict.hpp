// typenet/train/predict.hpp - class predictions and probabilities for new samples.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <span>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace typenet {

template <class T = float>
struct BasicPrediction {
    std::vector<int> classes;  // (n) argmax class of each sample
    Tensor<T> probabilities;   // (n, classes)
};
using Prediction = BasicPrediction<float>;

template <class T = float>
struct SamplePrediction {
    int label = -1;                // argmax class
    std::vector<T> probabilities;  // one per class
};

namespace detail {
/// True when the network's last layer already outputs probabilities
/// (Softmax, Sigmoid); otherwise its outputs are logits and get a softmax.
template <class M>
constexpr bool outputs_probabilities() {
    return M::network::template layer<M::layer_count - 1>::outputs_probabilities;
}
}  // namespace detail

/// Predicts n samples stored contiguously on the host ((n, input...) values).
/// Logit outputs are turned into probabilities with a softmax.
template <class M>
BasicPrediction<typename M::scalar> predict(M& model, std::span<const typename M::scalar> samples,
                                            std::size_t batch_size = 256) {
    using T = typename M::scalar;
    detail::require(!samples.empty() && samples.size() % M::input_size == 0,
                    "predict: got " + std::to_string(samples.size()) + " values, which is not a whole number of samples of " +
                        std::to_string(M::input_size) + " values (" + shape_string<typename M::input_shape>() + ")");
    detail::require(batch_size >= 1, "predict: batch_size must be at least 1");
    const std::size_t n = samples.size() / M::input_size, K = M::output_size;
    BasicPrediction<T> p;
    p.probabilities.resize(Dims{n, K});
    p.classes.resize(n);
    const std::size_t rows = std::min(batch_size, n);
    Tensor<T, typename M::device> x(Dims{rows * M::input_size});
    // Logits become probabilities on the model's own backend, before the copy.
    Tensor<T, typename M::device> probs(Dims{detail::outputs_probabilities<M>() ? 1 : rows * K});
    for (std::size_t first = 0; first < n; first += batch_size) {
        const std::size_t m = std::min(batch_size, n - first);
        M::device::from_host(x.data(), samples.data() + first * M::input_size, m * M::input_size * sizeof(T));
        const T* out = model.infer(x.data(), m);
        if constexpr (!detail::outputs_probabilities<M>()) {
            softmax_forward(model.backend(), m, K, out, probs.data());
            out = probs.data();
        }
        M::device::to_host(p.probabilities.data() + first * K, out, m * K * sizeof(T));
    }
    for (std::size_t i = 0; i < n; ++i) {
        const T* row = p.probabilities.data() + i * K;
        p.classes[i] = int(std::max_element(row, row + K) - row);
    }
    return p;
}

/// Predicts one sample: its class and the probability of each class.
template <class M>
SamplePrediction<typename M::scalar> predict_one(M& model, std::span<const typename M::scalar> sample) {
    detail::require(sample.size() == M::input_size, "predict_one: the sample has " + std::to_string(sample.size()) +
                                                        " values but the network input " +
                                                        shape_string<typename M::input_shape>() + " takes " +
                                                        std::to_string(M::input_size));
    auto p = predict(model, sample, 1);
    SamplePrediction<typename M::scalar> s;
    s.label = p.classes[0];
    s.probabilities.assign(p.probabilities.data(), p.probabilities.data() + M::output_size);
    return s;
}

}  // namespace typenet
