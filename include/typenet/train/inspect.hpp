// typenet/train/inspect.hpp - where a trained classifier goes wrong:
// per-class accuracy, the confusion matrix and the most confident mistakes.
// All run predict() over the dataset in batches.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <iomanip>
#include <numeric>
#include <sstream>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../data/dataset.hpp"
#include "predict.hpp"

namespace typenet {

/// counts(t, p): how many samples of true class t were predicted as p.
struct ConfusionMatrix {
    std::size_t classes = 0;
    std::vector<std::size_t> counts;  // (classes, classes), row = true class

    std::size_t operator()(std::size_t truth, std::size_t predicted) const { return counts[truth * classes + predicted]; }
    std::size_t row_total(std::size_t truth) const {
        return std::accumulate(counts.begin() + long(truth * classes), counts.begin() + long((truth + 1) * classes),
                               std::size_t{0});
    }
    std::size_t total() const { return std::accumulate(counts.begin(), counts.end(), std::size_t{0}); }
    double accuracy() const {
        std::size_t hit = 0;
        for (std::size_t k = 0; k < classes; ++k) hit += (*this)(k, k);
        return total() ? double(hit) / double(total()) : 0.0;
    }
    /// Aligned table, one row per true class, one column per predicted class.
    std::string text() const {
        std::size_t widest = 1;
        for (auto c : counts) widest = std::max(widest, std::to_string(c).size());
        const int w = int(std::max<std::size_t>(widest, std::to_string(classes).size())) + 1;
        std::ostringstream o;
        o << "true\\pred";
        for (std::size_t p = 0; p < classes; ++p) o << std::setw(w) << p;
        o << '\n';
        for (std::size_t t = 0; t < classes; ++t) {
            o << std::setw(9) << t;
            for (std::size_t p = 0; p < classes; ++p) o << std::setw(w) << (*this)(t, p);
            o << '\n';
        }
        return o.str();
    }
};

/// One misclassified sample: its index in the dataset, its label, the
/// predicted class and the probability the model gave that wrong class.
struct Mistake {
    std::size_t index = 0;
    int truth = 0;
    int predicted = 0;
    double probability = 0.0;
};

namespace detail {
template <class M, class T>
BasicPrediction<T> predict_dataset(M& model, const BasicDataset<T>& data, const char* who, std::size_t batch_size) {
    require(!data.empty(), std::string(who) + ": the dataset '" + data.name + "' is empty");
    require(data.sample_size() == M::input_size,
            std::string(who) + ": the dataset '" + data.name + "' has samples of " + std::to_string(data.sample_size()) +
                " values but the network input " + shape_string<typename M::input_shape>() + " takes " +
                std::to_string(M::input_size));
    for (std::size_t i = 0; i < data.size(); ++i)
        require(data.labels[i] >= 0 && std::size_t(data.labels[i]) < M::output_size,
                std::string(who) + ": label " + std::to_string(data.labels[i]) + " of sample " + std::to_string(i) +
                    " of '" + data.name + "' is not one of the network's " + std::to_string(M::output_size) +
                    " classes");
    return predict(model, std::span<const T>(data.images.data(), data.images.size()), batch_size);
}
}  // namespace detail

/// Confusion matrix of the model's predictions on data (classes = network output width).
template <class M, class T>
ConfusionMatrix confusion_matrix(M& model, const BasicDataset<T>& data, std::size_t batch_size = 256) {
    const auto p = detail::predict_dataset(model, data, "confusion_matrix", batch_size);
    ConfusionMatrix m{M::output_size, std::vector<std::size_t>(M::output_size * M::output_size, 0)};
    for (std::size_t i = 0; i < data.size(); ++i) ++m.counts[std::size_t(data.labels[i]) * m.classes + std::size_t(p.classes[i])];
    return m;
}

/// Accuracy on the samples of each class; NaN for a class with no samples.
template <class M, class T>
std::vector<double> per_class_accuracy(M& model, const BasicDataset<T>& data, std::size_t batch_size = 256) {
    const auto m = confusion_matrix(model, data, batch_size);
    std::vector<double> acc(m.classes);
    for (std::size_t k = 0; k < m.classes; ++k)
        acc[k] = m.row_total(k) ? double(m(k, k)) / double(m.row_total(k)) : std::nan("");
    return acc;
}

/// The k misclassified samples the model was surest about, most confident first
/// (ties by index). Fewer than k when the model makes fewer mistakes.
template <class M, class T>
std::vector<Mistake> most_confident_mistakes(M& model, const BasicDataset<T>& data, std::size_t k,
                                             std::size_t batch_size = 256) {
    const auto p = detail::predict_dataset(model, data, "most_confident_mistakes", batch_size);
    std::vector<Mistake> all;
    for (std::size_t i = 0; i < data.size(); ++i)
        if (p.classes[i] != data.labels[i])
            all.push_back({i, data.labels[i], p.classes[i],
                           double(p.probabilities.data()[i * M::output_size + std::size_t(p.classes[i])])});
    const auto order = [](const Mistake& a, const Mistake& b) {
        return a.probability != b.probability ? a.probability > b.probability : a.index < b.index;
    };
    const std::size_t keep = std::min(k, all.size());
    std::partial_sort(all.begin(), all.begin() + long(keep), all.end(), order);
    all.resize(keep);
    return all;
}

}  // namespace typenet
