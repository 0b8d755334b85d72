// typenet/model/transfer.hpp - weights from one model to another, across
// backends and scalar types, in one call.
//
// A Model keeps its parameters and buffers in one flat tensor each, so a
// transfer is one device-to-host copy, a conversion when the scalar types
// differ, and one host-to-device copy per tensor.
#pragma once

#include <cstddef>
#include <span>
#include <type_traits>
#include <vector>

namespace typenet {

namespace transfer_detail {
template <class To, class From>
std::vector<To> converted(const std::vector<From>& v) {
    if constexpr (std::is_same_v<To, From>) return v;
    else return std::vector<To>(v.begin(), v.end());
}
}  // namespace transfer_detail

/// Copies the parameters and buffers (BatchNorm running statistics) of src
/// into dst; the two may live on different backends (Cpu and Cuda) and use
/// different scalar types. The optimizer state is not copied: dst keeps its
/// own optimizer_state() (on a freshly built model, none).
template <class To, class From>
void copy_weights(To& dst, const From& src) {
    static_assert(std::is_same_v<typename To::network, typename From::network>,
                  "copy_weights needs two models of the same network type; the Sequential<...> of the destination "
                  "differs from the source's, so their parameters do not correspond");
    using T = typename To::scalar;
    const auto params = transfer_detail::converted<T>(src.parameters().to_host());
    dst.parameters().from_host(std::span<const T>(params));
    const auto buffers = transfer_detail::converted<T>(src.buffers().to_host());
    dst.buffers().from_host(std::span<const T>(buffers));
}

}  // namespace typenet
