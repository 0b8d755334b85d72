// typenet/data/transform.hpp - normalisation, one-hot labels, subsets and
// scalar-type casts of Datasets. (Scaling bytes to [0,1] happens at load.)
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>

#include "../core/error.hpp"
#include "../core/shape.hpp"
#include "../core/tensor.hpp"
#include "dataset.hpp"

namespace typenet {

/// Mean and (population) standard deviation over every value of every image,
/// accumulated in double so 47 million floats do not lose precision.
template <class T>
std::pair<double, double> mean_std(const BasicDataset<T>& ds) {
    const std::span<const T> v = ds.images.span();
    detail::require(!v.empty(), "mean_std: dataset '" + ds.name + "' has no values; load it before normalising");
    double sum = 0;
    for (T x : v) sum += static_cast<double>(x);
    const double mean = sum / static_cast<double>(v.size());
    double sq = 0;  // second pass: avoids the cancellation of E[x^2] - E[x]^2
    for (T x : v) {
        const double d = static_cast<double>(x) - mean;
        sq += d * d;
    }
    return {mean, std::sqrt(sq / static_cast<double>(v.size()))};
}

/// Replaces every value x by (x - mean) / stddev. Use the training set's
/// mean_std for both the training and the test set.
template <class T>
void standardize(BasicDataset<T>& ds, double mean, double stddev) {
    detail::require(std::isfinite(mean), "standardize: dataset '" + ds.name + "': the mean " +
                                             std::to_string(mean) + " is not finite");
    detail::require(std::isfinite(stddev) && stddev > 0,
                    "standardize: dataset '" + ds.name + "': the standard deviation must be positive and finite, got " +
                        std::to_string(stddev) + " (a constant dataset cannot be standardised; only shift it)");
    const double inv = 1.0 / stddev;
    for (T& x : ds.images.span()) x = static_cast<T>((static_cast<double>(x) - mean) * inv);
}

/// (N, classes) matrix with a 1 in column labels[i] of row i.
template <class T = float>
Tensor<T> one_hot(std::span<const std::int32_t> labels, std::size_t classes) {
    detail::require(classes > 0, "one_hot: classes must be positive");
    Tensor<T> out(Dims{labels.size(), classes});  // (N, classes), zeroed
    for (std::size_t i = 0; i < labels.size(); ++i) {
        const std::int32_t l = labels[i];
        detail::require(l >= 0 && static_cast<std::size_t>(l) < classes,
                        "one_hot: label " + std::to_string(l) + " at index " + std::to_string(i) +
                            " is outside [0, " + std::to_string(classes) + "); check the number of classes");
        out[i * classes + static_cast<std::size_t>(l)] = T(1);
    }
    return out;
}

/// Copy of samples [first, first + count) of `ds`, e.g. a small training set
/// for a quick run or a validation split.
template <class T>
BasicDataset<T> subset(const BasicDataset<T>& ds, std::size_t first, std::size_t count) {
    detail::require(first <= ds.size() && count <= ds.size() - first,
                    "subset: samples [" + std::to_string(first) + ", " + std::to_string(first) + " + " +
                        std::to_string(count) + ") exceed dataset '" + ds.name + "' of " +
                        std::to_string(ds.size()) + " samples");
    BasicDataset<T> out;
    out.classes = ds.classes;
    out.name = ds.name + " [" + std::to_string(first) + ", " + std::to_string(first + count) + ")";
    out.labels.assign(ds.labels.begin() + static_cast<std::ptrdiff_t>(first),
                      ds.labels.begin() + static_cast<std::ptrdiff_t>(first + count));
    if (ds.images.dims().rank == 0) return out;  // an empty dataset has no image tensor
    Dims dims = ds.images.dims();
    detail::require(dims[0] == ds.size(), "subset: dataset '" + ds.name + "' has " + std::to_string(dims[0]) +
                                              " images but " + std::to_string(ds.size()) + " labels");
    std::size_t row = 1;  // values per sample; not size()/N, which divides by 0 when N is 0
    for (std::size_t i = 1; i < dims.rank; ++i) row *= dims[i];
    dims[0] = count;
    out.images.resize(dims);
    const T* src = ds.images.data() + first * row;
    for (std::size_t i = 0; i < count * row; ++i) out.images.data()[i] = src[i];
    return out;
}

/// The same dataset with values converted to U, e.g. float -> double for
/// gradient checks.
template <class U, class T>
BasicDataset<U> cast(const BasicDataset<T>& ds) {
    BasicDataset<U> out;
    out.classes = ds.classes;
    out.name = ds.name;
    out.labels = ds.labels;
    if (ds.images.dims().rank == 0) return out;
    out.images.resize(ds.images.dims());
    const T* src = ds.images.data();
    for (std::size_t i = 0; i < ds.images.size(); ++i) out.images.data()[i] = static_cast<U>(src[i]);
    return out;
}

}  // namespace typenet
