// typenet/core/augment.hpp - on-the-fly image augmentation: the settings and
// the per-sample transform that every backend's augment_images computes.
//
// Each sample's transform is drawn as hash(seed, sample * 8 + j) (as dropout
// masks are, core/hash_random.hpp), not from a sequential stream, so the CPU's
// threads and a GPU's blocks draw the same transforms for the same seed. The
// pixel formula is written once here, in host-device code, with the GPU's
// products and sums rounded separately (no fused multiply-add) and the angle's
// sine and cosine taken in double, so the backends produce the same images.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <string>

#include "error.hpp"
#include "hash_random.hpp"
#include "host_device.hpp"

namespace typenet {

/// What fit(..., {.augment = ...}) does to each training image, drawn anew per
/// sample and batch. In this order: a horizontal flip (if on, half the
/// samples), a rotation and scale about the image centre, a shift in whole
/// pixels, then a cutout square. Pixels that come from outside the image take
/// `fill`; values are interpolated bilinearly only when rotating or scaling,
/// so every output value lies between the image's smallest and largest value
/// and fill. The default does nothing (enabled() is false).
struct Augmentation {
    std::size_t max_shift = 0;     // whole pixels per axis, uniform in [-max_shift, max_shift]
    float max_rotation = 0;        // degrees, uniform in [-max_rotation, max_rotation]; at most 180
    float min_scale = 1;           // zoom about the centre, uniform in [min_scale, max_scale]
    float max_scale = 1;
    std::size_t cutout = 0;        // side of a square set to fill, in pixels; 0 = no cutout
    float cutout_probability = 1;  // the share of samples that get the cutout square
    bool horizontal_flip = false;  // mirror half the samples (not for digits: a mirrored 2 is no 2)
    float fill = 0;                // the value of pixels from outside; for standardised data, the standardised 0

    bool enabled() const {
        return max_shift > 0 || max_rotation != 0 || min_scale != 1 || max_scale != 1 ||
               (cutout > 0 && cutout_probability > 0) || horizontal_flip;
    }
};

/// One sample's drawn transform: the inverse of the rotation and scale as a
/// 2x2 matrix (output offset from the centre -> source offset), the shift,
/// the cutout square's corner (-1: none) and the flip.
struct AugmentDraw {
    float m00 = 1, m01 = 0, m10 = 0, m11 = 1;
    bool warp = false;  // rotation or scale drawn: sample bilinearly
    int shift_x = 0, shift_y = 0;
    int cut_x = -1, cut_y = -1, cut_size = 0;
    bool flip = false;
};

namespace augment_detail {
// Products and sums rounded one at a time on the GPU too, so that nvcc's
// fused multiply-adds do not make its images differ from the CPU's.
TYPENET_HOST_DEVICE inline float mul(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fmul_rn(a, b);
#else
    return a * b;
#endif
}
TYPENET_HOST_DEVICE inline float add(float a, float b) {
#if defined(__CUDA_ARCH__)
    return __fadd_rn(a, b);
#else
    return a + b;
#endif
}
// In double, then rounded to float: the two backends' double sine and cosine
// agree to far better than a float's precision.
TYPENET_HOST_DEVICE inline void sin_cos(double a, double& s, double& c) {
#if defined(__CUDA_ARCH__)
    ::sincos(a, &s, &c);
#else
    s = std::sin(a);
    c = std::cos(a);
#endif
}
// An integer uniform in [-m, m] from u in [0, 1).
TYPENET_HOST_DEVICE inline int symmetric_int(float u, std::size_t m) {
    const int k = int(u * float(2 * m + 1));
    return (k > int(2 * m) ? int(2 * m) : k) - int(m);
}
}  // namespace augment_detail

/// The transform of sample `sample` (its position in the batch) for `seed`
/// on an h x w image; indices sample * 8 + 0..7 of hash_uniform.
TYPENET_HOST_DEVICE inline AugmentDraw augment_draw(const Augmentation& a, std::uint64_t seed, std::size_t sample,
                                                    std::size_t h, std::size_t w) {
    using namespace augment_detail;
    const std::uint64_t base = std::uint64_t(sample) * 8;
    const auto u = [&](int j) { return hash_uniform(seed, base + std::uint64_t(j)); };
    AugmentDraw d;
    if (a.max_shift > 0) {
        d.shift_x = symmetric_int(u(0), a.max_shift);
        d.shift_y = symmetric_int(u(1), a.max_shift);
    }
    if (a.max_rotation != 0 || a.min_scale != 1 || a.max_scale != 1) {
        constexpr double pi = 3.14159265358979323846;
        const double angle = (2.0 * double(u(2)) - 1.0) * double(a.max_rotation) * (pi / 180.0);
        const double scale = double(a.min_scale) + (double(a.max_scale) - double(a.min_scale)) * double(u(3));
        double s = 0, c = 1;
        sin_cos(angle, s, c);
        // Inverse map: rotate back by the angle, divide by the scale.
        d.m00 = float(c / scale);
        d.m01 = float(s / scale);
        d.m10 = float(-s / scale);
        d.m11 = float(c / scale);
        d.warp = true;
    }
    if (a.cutout > 0 && u(4) < a.cutout_probability) {
        d.cut_size = int(a.cutout);
        d.cut_x = int(u(5) * float(w - a.cutout + 1));
        d.cut_y = int(u(6) * float(h - a.cutout + 1));
        if (d.cut_x > int(w - a.cutout)) d.cut_x = int(w - a.cutout);
        if (d.cut_y > int(h - a.cutout)) d.cut_y = int(h - a.cutout);
    }
    d.flip = a.horizontal_flip && u(7) < 0.5f;
    return d;
}

/// Output pixel (y, x) of one h x w channel `img` under the drawn transform.
template <class T>
TYPENET_HOST_DEVICE T augment_pixel(const T* img, std::size_t h, std::size_t w, const AugmentDraw& d, T fill, int y,
                                    int x) {
    using namespace augment_detail;
    if (d.cut_x >= 0 && x >= d.cut_x && x < d.cut_x + d.cut_size && y >= d.cut_y && y < d.cut_y + d.cut_size)
        return fill;
    const int W = int(w), H = int(h);
    const int xs = x - d.shift_x, ys = y - d.shift_y;  // before the shift
    if (!d.warp) {
        // Whole pixels: an exact copy.
        const int sx = d.flip ? W - 1 - xs : xs;
        return sx >= 0 && sx < W && ys >= 0 && ys < H ? img[ys * W + sx] : fill;
    }
    const float cx = float(W - 1) * 0.5f, cy = float(H - 1) * 0.5f;
    const float ou = float(xs) - cx, ov = float(ys) - cy;
    float fx = add(cx, add(mul(d.m00, ou), mul(d.m01, ov)));
    const float fy = add(cy, add(mul(d.m10, ou), mul(d.m11, ov)));
    if (d.flip) fx = float(W - 1) - fx;
    // floor(f) in [-1, W) exactly when f is; inside that range floor is a
    // truncation stepped down for negatives (no libm call on the CPU).
    if (!(fx >= -1.0f && fx < float(W) && fy >= -1.0f && fy < float(H))) return fill;  // also NaN
    int x0 = int(fx), y0 = int(fy);
    x0 -= float(x0) > fx;
    y0 -= float(y0) > fy;
    const float ax = fx - float(x0), ay = fy - float(y0);
    T v00, v01, v10, v11;
    if (x0 >= 0 && x0 < W - 1 && y0 >= 0 && y0 < H - 1) {  // inside: no per-tap checks
        const T* p = img + y0 * W + x0;
        v00 = p[0], v01 = p[1], v10 = p[W], v11 = p[W + 1];
    } else {
        const auto tap = [&](int yy, int xx) { return xx >= 0 && xx < W && yy >= 0 && yy < H ? img[yy * W + xx] : fill; };
        v00 = tap(y0, x0), v01 = tap(y0, x0 + 1), v10 = tap(y0 + 1, x0), v11 = tap(y0 + 1, x0 + 1);
    }
    const T top = T(add(float(v00), mul(float(v01) - float(v00), ax)));
    const T bottom = T(add(float(v10), mul(float(v11) - float(v10), ax)));
    const T v = T(add(float(top), mul(float(bottom) - float(top), ay)));
    // Rounding may step past the taps by an ulp; the value range is a promise.
    // (Written as b < a ? b : a, which compiles to minss / maxss, no branches.)
    const auto lo = [](T a, T b) { return b < a ? b : a; };
    const auto hi = [](T a, T b) { return b > a ? b : a; };
    return lo(hi(v, lo(lo(v00, v01), lo(v10, v11))), hi(hi(v00, v01), hi(v10, v11)));
}

namespace detail {
/// Checks augmentation settings against an h x w image; the message names the
/// setting and what it may be.
inline void check_augmentation(const Augmentation& a, std::size_t h, std::size_t w, const char* who) {
    const std::string w_ = std::string(who) + ": augmentation ";
    require(a.max_rotation >= 0 && a.max_rotation <= 180,
            w_ + "max_rotation must be in [0, 180] degrees (got " + std::to_string(a.max_rotation) + ")");
    require(a.min_scale > 0 && a.min_scale <= a.max_scale && std::isfinite(a.max_scale),
            w_ + "scales must satisfy 0 < min_scale <= max_scale (got " + std::to_string(a.min_scale) + ", " +
                std::to_string(a.max_scale) + ")");
    require(a.cutout <= h && a.cutout <= w,
            w_ + "cutout side " + std::to_string(a.cutout) + " is larger than the " + std::to_string(h) + "x" +
                std::to_string(w) + " image; use a smaller square");
    require(a.cutout_probability >= 0 && a.cutout_probability <= 1,
            w_ + "cutout_probability must be in [0, 1] (got " + std::to_string(a.cutout_probability) + ")");
    require(a.max_shift < (std::size_t(1) << 20), w_ + "max_shift " + std::to_string(a.max_shift) + " is absurdly large");
    require(std::isfinite(a.fill), w_ + "fill must be finite (got " + std::to_string(a.fill) + ")");
}
}  // namespace detail

}  // namespace typenet
