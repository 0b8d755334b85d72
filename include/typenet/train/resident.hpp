// typenet/train/resident.hpp - a dataset as the training device sees it.
//
// On the host device this is a view (no copy); on a GPU the images and labels
// are copied once, so batches are gathered on the device.
#pragma once

#include <cstdint>
#include <string>
#include <type_traits>

#include "../core/error.hpp"
#include "../core/tensor.hpp"
#include "../data/dataset.hpp"

namespace typenet::detail {

template <class T, class Device>
class Resident {
public:
    explicit Resident(const BasicDataset<T>& d) : n_(d.size()), sample_(d.sample_size()) {
        if constexpr (is_host_memory<Device>) {
            images_ = d.images.data();
            labels_ = d.labels.data();
        } else {
            img_copy_.resize(Dims{d.images.size()});
            img_copy_.from_host(d.images.span());
            lab_copy_.resize(Dims{d.labels.size()});
            lab_copy_.from_host(std::span<const std::int32_t>(d.labels));
            images_ = img_copy_.data();
            labels_ = lab_copy_.data();
        }
    }
    const T* images() const { return images_; }
    const std::int32_t* labels() const { return labels_; }
    std::size_t size() const { return n_; }
    std::size_t sample_size() const { return sample_; }

private:
    std::size_t n_, sample_;
    const T* images_ = nullptr;
    const std::int32_t* labels_ = nullptr;
    Tensor<T, Device> img_copy_;
    Tensor<std::int32_t, Device> lab_copy_;
};

/// Checks that a dataset fits a model; the message names the dataset.
template <class M, class T>
void check_dataset(const BasicDataset<T>& d, const char* role) {
    const std::string who = (d.name.empty() ? std::string(role) : d.name);
    require(!d.empty(), "the " + std::string(role) + " dataset '" + who + "' is empty; load or generate some samples first");
    require(d.images.dims().rank >= 2 && d.images.dim(0) == d.size(),
            "dataset '" + who + "' has " + std::to_string(d.size()) + " labels but its images tensor has shape " +
                d.images.dims().str());
    require(d.sample_size() == M::input_size,
            "dataset '" + who + "' has samples of " + std::to_string(d.sample_size()) + " values but the network input " +
                shape_string<typename M::input_shape>() + " takes " + std::to_string(M::input_size) +
                "; reshape the data or change Input<...>");
    require(d.classes <= M::output_size,
            "dataset '" + who + "' has " + std::to_string(d.classes) + " classes but the network outputs only " +
                std::to_string(M::output_size) + " values; widen the last Dense layer");
    for (std::size_t i = 0; i < d.size(); ++i)
        require(d.labels[i] >= 0 && std::size_t(d.labels[i]) < M::output_size, [&] {
            return "dataset '" + who + "': label " + std::to_string(d.labels[i]) + " of sample " + std::to_string(i) +
                   " is outside [0, " + std::to_string(M::output_size) + "), the network's output width";
        });
}

}  // namespace typenet::detail
