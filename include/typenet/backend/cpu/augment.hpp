// typenet/backend/cpu/augment.hpp - on-the-fly image augmentation on the CPU.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../core/augment.hpp"
#include "cpu.hpp"

namespace typenet {

/// dst (n, channels, h, w) = src's images, each under its own transform drawn
/// from (a, seed) (core/augment.hpp); parallel over samples, allocation-free.
/// Sample i draws as sample first_sample + i of the batch, so a share of a
/// batch (one rank's) gets the transforms the whole batch would give it.
template <class T>
void augment_images(const Cpu& be, std::size_t n, std::size_t channels, std::size_t h, std::size_t w, const T* src,
                    T* dst, const Augmentation& a, std::uint64_t seed, std::size_t first_sample = 0) {
    const std::size_t plane = h * w, image = channels * plane;
    const T fill = T(a.fill);
    cpu_detail::parallel_items(be, n, image, [&](std::size_t begin, std::size_t end) {
        for (std::size_t i = begin; i < end; ++i) {
            const AugmentDraw d = augment_draw(a, seed, first_sample + i, h, w);
            for (std::size_t c = 0; c < channels; ++c) {
                const T* in = src + i * image + c * plane;
                T* out = dst + i * image + c * plane;
                for (std::size_t y = 0; y < h; ++y)
                    for (std::size_t x = 0; x < w; ++x)
                        out[y * w + x] = augment_pixel(in, h, w, d, fill, int(y), int(x));
            }
        }
    });
}

}  // namespace typenet
