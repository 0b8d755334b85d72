// typenet's 2x2 stride-2 max-pooling kernels (backend/cpu/kernels/pool.hpp)
// on every kernel path this CPU supports, against plain scalar loops written
// from the definition: the same values and argmax bit for bit, ties to the
// first maximum in row-major window order, a NaN only when first, the floor
// (odd sizes), and the fused ReLU backward (given the pooled y, against the
// definition's mask on the pooling's input x).
#include <gtest/gtest.h>

#include "kernel_paths.hpp"

#include <typenet/backend/cpu/kernels/pool.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <utility>
#include <vector>

namespace {

using typenet::CpuIsa;

using PoolPath = KernelPathTest;

// Few distinct values (ties in most windows), signed zeros, and NaN where asked.
std::vector<float> pixels(std::size_t count, std::uint32_t seed, bool nans) {
    const float choices[] = {-1.5f, -0.0f, 0.0f, 0.25f, 0.25f, 1.0f, 2.0f, 3.5f};
    std::vector<float> v(count);
    std::uint32_t s = seed * 2654435761u + 11;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = choices[(s >> 9) % 8];
        if (nans && (s >> 20) % 11 == 0) x = std::numeric_limits<float>::quiet_NaN();
    }
    return v;
}

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

void reference_forward(const float* x, std::size_t w, std::size_t out_h, std::size_t out_w, float* y,
                       std::int32_t* at) {
    for (std::size_t oh = 0; oh < out_h; ++oh)
        for (std::size_t ow = 0; ow < out_w; ++ow) {
            std::size_t best = 2 * oh * w + 2 * ow;
            for (std::size_t ki = 0; ki < 2; ++ki)
                for (std::size_t kj = 0; kj < 2; ++kj) {
                    const std::size_t i = (2 * oh + ki) * w + 2 * ow + kj;
                    if (x[i] > x[best]) best = i;
                }
            y[oh * out_w + ow] = x[best];
            at[oh * out_w + ow] = static_cast<std::int32_t>(best);
        }
}

void reference_backward(const float* dy, const std::int32_t* at, const float* relu_x, std::size_t h, std::size_t w,
                        std::size_t out_h, std::size_t out_w, float* dx) {
    for (std::size_t i = 0; i < h * w; ++i) dx[i] = 0.0f;
    for (std::size_t o = 0; o < out_h * out_w; ++o)
        if (!relu_x || relu_x[at[o]] > 0.0f) dx[at[o]] += dy[o];
}

// Sizes around the vector widths (16, 8, 4 lanes = 8, 4, 2 windows), odd
// sizes for the floor, and the reference CNN's 26 -> 13 and 11 -> 5.
constexpr std::size_t sizes[] = {2, 3, 4, 5, 7, 8, 9, 11, 15, 16, 17, 26, 31, 33, 40};

TEST_P(PoolPath, ForwardMatchesTheDefinitionBitForBit) {
    for (bool nans : {false, true})
        for (std::size_t h : sizes)
            for (std::size_t w : sizes) {
                const std::size_t out_h = h / 2, out_w = w / 2;
                const auto x = pixels(h * w, static_cast<std::uint32_t>(h * 100 + w + nans), nans);
                std::vector<float> y(out_h * out_w + 1, 7.0f), want(out_h * out_w);
                std::vector<std::int32_t> at(out_h * out_w + 1, -7), want_at(out_h * out_w);
                reference_forward(x.data(), w, out_h, out_w, want.data(), want_at.data());
                // Rows w apart, and 5 further apart with NaN between them (a
                // convolution's wide output): the same values and plane indices.
                const std::size_t stride = w + 5;
                std::vector<float> wide(h * stride, std::numeric_limits<float>::quiet_NaN());
                for (std::size_t r = 0; r < h; ++r) std::copy_n(x.data() + r * w, w, wide.data() + r * stride);
                for (const auto& [src, step] : {std::pair<const float*, std::size_t>{x.data(), w}, {wide.data(), stride}}) {
                    std::fill(y.begin(), y.end(), 7.0f);
                    std::fill(at.begin(), at.end(), -7);
                    TYPENET_ISA_CALL(GetParam(), maxpool2x2_plane, src, step, w, out_h, out_w, y.data(), at.data());
                    for (std::size_t o = 0; o < out_h * out_w; ++o) {
                        ASSERT_EQ(at[o], want_at[o]) << h << "x" << w << ", stride " << step << ", nans " << nans
                                                     << ", output " << o;
                        ASSERT_TRUE(same_bits(y[o], want[o])) << h << "x" << w << ", stride " << step << ", output "
                                                              << o << ": " << y[o] << " vs " << want[o];
                    }
                    EXPECT_EQ(y.back(), 7.0f) << "wrote past the output, " << h << "x" << w;
                    EXPECT_EQ(at.back(), -7) << "wrote past the argmax, " << h << "x" << w;
                }
            }
}

// Also into rows wider than the plane (the wide layout the convolution's
// backward-filter reads): the columns past w are left alone.
TEST_P(PoolPath, BackwardMatchesTheDefinitionWithAndWithoutTheRelu) {
    for (bool relu : {false, true})
        for (std::size_t h : sizes)
            for (std::size_t w : sizes)
                for (std::size_t stride : {w, w + 3}) {
                    const std::size_t out_h = h / 2, out_w = w / 2;
                    const auto x = pixels(h * w, static_cast<std::uint32_t>(h * 37 + w), true);
                    auto dy = pixels(out_h * out_w, static_cast<std::uint32_t>(h + 1000 * w), false);
                    std::vector<float> y(out_h * out_w);
                    std::vector<std::int32_t> at(out_h * out_w);
                    reference_forward(x.data(), w, out_h, out_w, y.data(), at.data());
                    std::vector<float> dx(h * stride + 1, 7.0f), want(h * w);
                    TYPENET_ISA_CALL(GetParam(), maxpool2x2_backward_plane, dy.data(), at.data(),
                                     relu ? y.data() : nullptr, h, w, out_h, out_w, dx.data(), stride);
                    reference_backward(dy.data(), at.data(), relu ? x.data() : nullptr, h, w, out_h, out_w,
                                       want.data());
                    for (std::size_t r = 0; r < h; ++r)
                        for (std::size_t c = 0; c < stride; ++c) {
                            const float got = dx[r * stride + c];
                            if (c >= w) {
                                ASSERT_EQ(got, 7.0f) << h << "x" << w << ", stride " << stride
                                                     << ": wrote a junk column, row " << r << " col " << c;
                                continue;
                            }
                            ASSERT_TRUE(same_bits(got, want[r * w + c]))
                                << h << "x" << w << ", stride " << stride << ", relu " << relu << ", pixel " << r
                                << "," << c << ": " << got << " vs " << want[r * w + c];
                        }
                    EXPECT_EQ(dx.back(), 7.0f) << "wrote past the plane, " << h << "x" << w;
                }
}

TEST_P(PoolPath, ANanWinsOnlyWhenFirstInItsWindow) {
    const float nan = std::numeric_limits<float>::quiet_NaN();
    for (int first = 0; first < 4; ++first) {
        float x[4] = {1.0f, 2.0f, 3.0f, 4.0f};  // one 2x2 window, row-major
        x[first] = nan;
        float y = 0.0f;
        std::int32_t at = -1;
        TYPENET_ISA_CALL(GetParam(), maxpool2x2_plane, x, 2, 2, 1, 1, &y, &at);
        if (first == 0) {
            EXPECT_TRUE(std::isnan(y));
            EXPECT_EQ(at, 0);
        } else {
            EXPECT_EQ(at, first == 3 ? 2 : 3) << "NaN at " << first;  // the largest number left
            EXPECT_EQ(y, first == 3 ? 3.0f : 4.0f) << "NaN at " << first;
        }
    }
}

INSTANTIATE_TEST_SUITE_P(Paths, PoolPath, ::testing::Values(CpuIsa::avx512, CpuIsa::avx2, CpuIsa::portable),
                         kernel_path_name);

}  // namespace
