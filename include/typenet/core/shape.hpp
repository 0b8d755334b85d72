// typenet/core/shape.hpp - compile-time shapes and runtime dimensions.
//
// A layer's input and output shapes are types (Shape<C,H,W>, Shape<N>); the
// batch size is the only runtime dimension and is never part of a Shape.
#pragma once

#include <array>
#include <cstddef>
#include <initializer_list>
#include <string>

#include "error.hpp"

namespace typenet {

/// Per-sample shape known at compile time, e.g. Shape<1,28,28> or Shape<784>.
template <std::size_t... D>
struct Shape {
    static constexpr std::size_t rank = sizeof...(D);
    static constexpr std::size_t size = (std::size_t{1} * ... * D);
    static constexpr std::array<std::size_t, sizeof...(D)> dims{D...};
    static_assert(rank >= 1 && rank <= 3, "typenet shapes have 1 to 3 per-sample dimensions: (features) or (channels, height, width)");
    static_assert(((D > 0) && ...), "every dimension of a Shape must be positive");
};

template <class S>
inline constexpr bool is_flat = (S::rank == 1);

/// Accessors for 3-D (C,H,W) shapes; a rank-1 shape (F) is treated as (F,1,1).
template <class S>
inline constexpr std::size_t channels_of = S::dims[0];
template <class S>
inline constexpr std::size_t height_of = [] {
    if constexpr (S::rank == 3) return S::dims[1]; else return std::size_t{1};
}();
template <class S>
inline constexpr std::size_t width_of = [] {
    if constexpr (S::rank == 3) return S::dims[2]; else return std::size_t{1};
}();

/// Prints a shape the way Keras' summary does, with the batch as "N".
template <class S>
std::string shape_string() {
    std::string s = "(N";
    for (auto d : S::dims) s += ", " + std::to_string(d);
    return s + ")";
}

/// Runtime dimensions of a tensor: up to 4 (N,C,H,W), row-major.
struct Dims {
    std::array<std::size_t, 4> d{};
    std::size_t rank = 0;

    constexpr Dims() = default;
    constexpr Dims(std::initializer_list<std::size_t> l) {
        if (l.size() > 4) throw ArgumentError("typenet tensors have at most 4 dimensions");
        for (auto v : l) d[rank++] = v;
    }
    constexpr std::size_t size() const {
        std::size_t s = 1;
        for (std::size_t i = 0; i < rank; ++i) s *= d[i];
        return rank == 0 ? 0 : s;
    }
    constexpr std::size_t operator[](std::size_t i) const { return d[i]; }
    constexpr std::size_t& operator[](std::size_t i) { return d[i]; }
    constexpr bool operator==(const Dims& o) const {
        if (rank != o.rank) return false;
        for (std::size_t i = 0; i < rank; ++i)
            if (d[i] != o.d[i]) return false;
        return true;
    }
    std::string str() const {
        std::string s = "(";
        for (std::size_t i = 0; i < rank; ++i) s += (i ? ", " : "") + std::to_string(d[i]);
        return s + ")";
    }
};

/// Dims of a batch of n samples of shape S: (n, dims of S...).
template <class S>
constexpr Dims batch_dims(std::size_t n) {
    Dims r;
    r.d[0] = n;
    r.rank = 1;
    for (auto v : S::dims) r.d[r.rank++] = v;
    return r;
}

}  // namespace typenet
