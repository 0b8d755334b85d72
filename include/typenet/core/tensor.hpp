// typenet/core/tensor.hpp - owning tensors and non-owning views.
//
// Tensor<T, Device> owns one contiguous row-major buffer on one device and
// its runtime Dims (batch first, NCHW). TensorView<T, Device> borrows one.
// Neither copies implicitly across devices: use to_host / from_host.
#pragma once

#include <cstddef>
#include <span>
#include <utility>
#include <vector>

#include "device.hpp"
#include "error.hpp"
#include "shape.hpp"

namespace typenet {

/// Non-owning view of a contiguous row-major tensor on Device.
template <class T, class Device = HostDevice>
struct TensorView {
    T* data = nullptr;
    Dims dims{};

    constexpr std::size_t size() const { return dims.size(); }
    constexpr std::size_t rank() const { return dims.rank; }
    constexpr std::size_t dim(std::size_t i) const { return dims[i]; }
    /// Elements per leading index (per sample when dim 0 is the batch).
    constexpr std::size_t row_size() const { return dims.rank ? size() / dims[0] : 0; }

    /// Rows [first, first+count) along dimension 0.
    TensorView rows(std::size_t first, std::size_t count) const {
        detail::require(first + count <= dims[0], "TensorView::rows: rows [" + std::to_string(first) + ", " +
                                                      std::to_string(first + count) + ") exceed dimension 0 of " +
                                                      dims.str());
        TensorView v{data + first * row_size(), dims};
        v.dims[0] = count;
        return v;
    }
    /// Same memory seen with other dims of the same size.
    TensorView reshaped(Dims d) const {
        detail::require(d.size() == size(), "TensorView::reshaped: cannot view " + dims.str() + " as " + d.str());
        return {data, d};
    }
    // Only for mutable views: a const view converting to itself draws nvcc's warning 554.
    template <class U = T>
        requires(!std::is_const_v<U>)
    operator TensorView<const U, Device>() const { return {data, dims}; }

    // Element access: host views only.
    T& operator[](std::size_t i) const
        requires is_host_memory<Device>
    {
        return data[i];
    }
    std::span<T> span() const
        requires is_host_memory<Device>
    {
        return {data, size()};
    }
};

/// Owning tensor on Device. Move-only; zero-initialised on allocation.
template <class T, class Device = HostDevice>
class Tensor {
public:
    using value_type = T;
    using device_type = Device;

    Tensor() = default;
    explicit Tensor(Dims dims) { resize(dims); }
    Tensor(Tensor&& o) noexcept : data_(std::exchange(o.data_, nullptr)), capacity_(std::exchange(o.capacity_, 0)), dims_(o.dims_) {}
    Tensor& operator=(Tensor&& o) noexcept {
        if (this != &o) {
            Device::deallocate(data_);
            data_ = std::exchange(o.data_, nullptr);
            capacity_ = std::exchange(o.capacity_, 0);
            dims_ = o.dims_;
        }
        return *this;
    }
    Tensor(const Tensor&) = delete;
    Tensor& operator=(const Tensor&) = delete;
    ~Tensor() { Device::deallocate(data_); }

    /// Sets new dims; reallocates (and zeroes) only when the capacity grows,
    /// so a training loop that reuses a tensor never allocates.
    void resize(Dims dims) {
        const std::size_t n = dims.size();
        if (n > capacity_) {
            T* fresh = static_cast<T*>(Device::allocate(n * sizeof(T)));
            Device::deallocate(data_);
            data_ = fresh;
            capacity_ = n;
            Device::zero(data_, n * sizeof(T));
        }
        dims_ = dims;
    }
    void zero() { Device::zero(data_, size() * sizeof(T)); }

    T* data() { return data_; }
    const T* data() const { return data_; }
    const Dims& dims() const { return dims_; }
    std::size_t size() const { return dims_.size(); }
    std::size_t capacity() const { return capacity_; }
    std::size_t dim(std::size_t i) const { return dims_[i]; }

    TensorView<T, Device> view() { return {data_, dims_}; }
    TensorView<const T, Device> view() const { return {data_, dims_}; }
    operator TensorView<T, Device>() { return view(); }
    operator TensorView<const T, Device>() const { return view(); }

    T& operator[](std::size_t i)
        requires is_host_memory<Device>
    {
        return data_[i];
    }
    const T& operator[](std::size_t i) const
        requires is_host_memory<Device>
    {
        return data_[i];
    }
    std::span<T> span()
        requires is_host_memory<Device>
    {
        return {data_, size()};
    }
    std::span<const T> span() const
        requires is_host_memory<Device>
    {
        return {data_, size()};
    }

    /// Copies the contents to a host vector (one transfer on a GPU device).
    std::vector<T> to_host() const {
        std::vector<T> out(size());
        Device::to_host(out.data(), data_, size() * sizeof(T));
        return out;
    }
    /// Replaces the contents with host data of the same size.
    void from_host(std::span<const T> src) {
        detail::require(src.size() == size(), [&] {
            return "Tensor::from_host: got " + std::to_string(src.size()) + " values for a tensor of shape " + dims_.str();
        });
        Device::from_host(data_, src.data(), src.size() * sizeof(T));
    }

private:
    T* data_ = nullptr;
    std::size_t capacity_ = 0;
    Dims dims_{};
};

}  // namespace typenet
