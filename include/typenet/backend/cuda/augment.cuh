// typenet/backend/cuda/augment.cuh - on-the-fly image augmentation on the GPU.
// The transforms and the pixel formula are core/augment.hpp's, as on the CPU,
// so the same seed gives the same images on both backends.
#pragma once

#include <cstddef>
#include <cstdint>

#include "../../core/augment.hpp"
#include "cuda.cuh"
#include "launch.cuh"

namespace typenet {

namespace cuda_detail {

// One block per sample (grid-stride over samples): thread 0 draws the
// sample's transform once, then the block writes its pixels.
template <class T>
__global__ void augment_images_kernel(std::size_t n, std::size_t channels, std::size_t h, std::size_t w, const T* src,
                                      T* dst, Augmentation a, std::uint64_t seed,
                                      std::size_t first_sample) {
    // Raw storage: a __shared__ variable may not have a constructor.
    __shared__ alignas(AugmentDraw) unsigned char raw[sizeof(AugmentDraw)];
    AugmentDraw& draw = *reinterpret_cast<AugmentDraw*>(raw);
    const std::size_t plane = h * w, image = channels * plane;
    const T fill = T(a.fill);
    for (std::size_t i = blockIdx.x; i < n; i += gridDim.x) {
        __syncthreads();  // the previous sample's draw may still be read
        if (threadIdx.x == 0) draw = augment_draw(a, seed, first_sample + i, h, w);
        __syncthreads();
        const AugmentDraw d = draw;
        for (std::size_t k = threadIdx.x; k < image; k += blockDim.x) {
            const std::size_t c = k / plane, p = k % plane;
            dst[i * image + k] = augment_pixel(src + i * image + c * plane, h, w, d, fill, int(p / w), int(p % w));
        }
    }
}

}  // namespace cuda_detail

/// dst (n, channels, h, w) = src's images, each under its own transform drawn
/// from (a, seed) (core/augment.hpp), on the stream; sample i draws as sample
/// first_sample + i of the batch (as on the CPU).
template <class T>
void augment_images(const Cuda& be, std::size_t n, std::size_t channels, std::size_t h, std::size_t w, const T* src,
                    T* dst, const Augmentation& a, std::uint64_t seed, std::size_t first_sample = 0) {
    if (n == 0 || channels * h * w == 0) return;
    cuda_detail::augment_images_kernel<<<unsigned(n < 65'536 ? n : 65'536), cuda_detail::block_threads, 0,
                                         be.stream()>>>(n, channels, h, w, src, dst, a, seed, first_sample);
    TYPENET_CUDA_LAUNCHED("augment_images");
}

}  // namespace typenet
