// typenet/core/conv_geometry.hpp - the sizes of one 2-D convolution or pooling call.
//
// Backends receive a geometry instead of a dozen loose integers, so the conv
// and pooling ops of every backend agree on what each size means. All tensors
// are row-major NCHW (PyTorch layout).
#pragma once

#include <cstddef>
#include <string>

#include "error.hpp"

namespace typenet {

/// Keras padding modes. valid: no padding, the kernel stays inside the input.
/// same (TensorFlow semantics): out = ceil(in / stride), zeros split evenly with
/// the odd one on the bottom / right.
enum class Padding { valid, same };

/// One 2-D convolution: x (n, c_in, h, w), weights (c_out, c_in, kh, kw),
/// bias (c_out), y (n, c_out, out_h, out_w).
struct Conv2dGeometry {
    std::size_t n, c_in, h, w;
    std::size_t c_out, kh, kw;
    std::size_t stride_h, stride_w;
    std::size_t pad_h, pad_w;  // zeros added on top / left; bottom / right padding is whatever out_h / out_w imply
    std::size_t out_h, out_w;

    constexpr std::size_t input_size() const { return n * c_in * h * w; }
    constexpr std::size_t output_size() const { return n * c_out * out_h * out_w; }
    constexpr std::size_t weight_size() const { return c_out * c_in * kh * kw; }
    constexpr bool operator==(const Conv2dGeometry&) const = default;
};

/// One 2-D pooling window sweep, no padding: x (n, c, h, w), y (n, c, out_h, out_w).
struct Pool2dGeometry {
    std::size_t n, c, h, w;
    std::size_t kh, kw;
    std::size_t stride_h, stride_w;
    std::size_t out_h, out_w;

    constexpr std::size_t input_size() const { return n * c * h * w; }
    constexpr std::size_t output_size() const { return n * c * out_h * out_w; }
    constexpr bool operator==(const Pool2dGeometry&) const = default;
};

namespace detail {
// Out of line and not constexpr: a bad geometry in a constant expression
// becomes a compile error pointing here, at run time an ArgumentError.
[[noreturn]] inline void geometry_error(const std::string& what) { throw ArgumentError("typenet: " + what); }

/// Output extent along one axis (Keras padding semantics). An impossible
/// case (a zero size, a valid-padded kernel larger than the input) yields 1,
/// so that the caller's own check - a layer's static_assert naming the fix,
/// axis_geometry's error - is what the user sees.
constexpr std::size_t out_extent(std::size_t in, std::size_t k, std::size_t s, Padding p) {
    if (in == 0 || k == 0 || s == 0) return 1;
    return p == Padding::same ? (in + s - 1) / s : (in >= k ? (in - k) / s + 1 : 1);
}

// Output size and leading padding along one axis.
struct AxisGeometry {
    std::size_t out, pad;
};

constexpr AxisGeometry axis_geometry(std::size_t in, std::size_t k, std::size_t s, Padding p, const char* where) {
    if (in == 0 || k == 0 || s == 0)
        geometry_error(std::string(where) + ": input size, kernel size and stride must be positive");
    if (p == Padding::valid && k > in)
        geometry_error(std::string(where) + ": kernel " + std::to_string(k) +
                       " is larger than the input " + std::to_string(in) +
                       " with valid padding; use a smaller kernel, a larger input or (for convolutions) Padding::same");
    const std::size_t out = out_extent(in, k, s, p);
    const std::size_t need = (out - 1) * s + k;  // input values the windows span
    return {out, p == Padding::same && need > in ? (need - in) / 2 : 0};
}
}  // namespace detail

/// The geometry of a convolution with Keras padding semantics; throws
/// ArgumentError for zero sizes or a kernel larger than a valid-padded input.
constexpr Conv2dGeometry make_conv2d_geometry(std::size_t n, std::size_t c_in, std::size_t h, std::size_t w,
                                              std::size_t c_out, std::size_t kh, std::size_t kw, std::size_t stride_h,
                                              std::size_t stride_w, Padding padding) {
    const auto gh = detail::axis_geometry(h, kh, stride_h, padding, "convolution height");
    const auto gw = detail::axis_geometry(w, kw, stride_w, padding, "convolution width");
    return {n, c_in, h, w, c_out, kh, kw, stride_h, stride_w, gh.pad, gw.pad, gh.out, gw.out};
}

/// The geometry of a pooling sweep (Keras valid pooling: out = floor((in - k) / s) + 1).
constexpr Pool2dGeometry make_pool2d_geometry(std::size_t n, std::size_t c, std::size_t h, std::size_t w,
                                              std::size_t kh, std::size_t kw, std::size_t stride_h,
                                              std::size_t stride_w) {
    const auto gh = detail::axis_geometry(h, kh, stride_h, Padding::valid, "pooling height");
    const auto gw = detail::axis_geometry(w, kw, stride_w, Padding::valid, "pooling width");
    return {n, c, h, w, kh, kw, stride_h, stride_w, gh.out, gw.out};
}

}  // namespace typenet
