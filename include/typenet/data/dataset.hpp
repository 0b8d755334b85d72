// typenet/data/dataset.hpp - an in-memory labelled dataset.
//
// Images (or feature vectors) are stored as one (N, C, H, W) or (N, F) host
// tensor of T, already scaled; labels as int32 class indices. Training code
// copies it to the training device once (a no-op on the CPU backend).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace typenet {

template <class T = float>
struct BasicDataset {
    Tensor<T> images;                  // (N, C, H, W) or (N, F)
    std::vector<std::int32_t> labels;  // (N), each in [0, classes)
    std::size_t classes = 0;
    std::string name;                  // for error messages: "MNIST train", ...

    std::size_t size() const { return labels.size(); }
    bool empty() const { return labels.empty(); }
    /// Values per sample (C*H*W or F).
    std::size_t sample_size() const { return images.dims().rank ? images.size() / images.dim(0) : 0; }
    /// Host view of sample i.
    std::span<const T> sample(std::size_t i) const {
        detail::require(i < size(), name + ": sample " + std::to_string(i) + " does not exist (the dataset has " +
                                        std::to_string(size()) + " samples)");
        return {images.data() + i * sample_size(), sample_size()};
    }
};

using Dataset = BasicDataset<float>;

/// A training set and a test set, as returned by load_mnist.
template <class T = float>
struct BasicSplit {
    BasicDataset<T> train;
    BasicDataset<T> test;
};
using Split = BasicSplit<float>;

}  // namespace typenet
