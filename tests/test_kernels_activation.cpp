// typenet's sigmoid kernels (backend/cpu/kernels/activation.hpp) on every
// kernel path this CPU supports: the forward against 1 / (1 + e^-x) in
// double, the backward bit for bit against the scalar rule in float.
#include <gtest/gtest.h>

#include "kernel_paths.hpp"

#include <typenet/backend/cpu/kernels/activation.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

using typenet::CpuIsa;

using SigmoidPath = KernelPathTest;

// Every tail length on every path (widths 16, 8, 4).
constexpr std::size_t lengths[] = {0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 33, 100};

constexpr float inf = std::numeric_limits<float>::infinity();
constexpr float nan = std::numeric_limits<float>::quiet_NaN();

TEST_P(SigmoidPath, ForwardMatchesDoubleWithinTwoUlpsSaturatesAndKeepsNaN) {
    const CpuIsa isa = GetParam();
    std::vector<float> x;
    for (float v = -90.0f; v <= 90.0f; v += 0.01171875f) x.push_back(v);  // both tails, steps exact in float
    for (const float v : {0.0f, -0.0f, 1e-30f, -1e-30f, 1e-45f, 87.0f, -87.0f, 88.0f, -88.0f, 1000.0f, -1000.0f})
        x.push_back(v);
    std::vector<float> y(x.size(), nan);
    TYPENET_ISA_CALL(isa, sigmoid_forward, x.data(), y.data(), x.size());
    for (std::size_t i = 0; i < x.size(); ++i) {
        const double want = 1.0 / (1.0 + std::exp(-double(x[i])));
        ASSERT_TRUE(y[i] >= 0.0f && y[i] <= 1.0f) << "sigmoid(" << x[i] << ") = " << y[i];
        if (x[i] < -87.0f)  // saturated: e^-87 (1.6e-38) or less
            ASSERT_LE(y[i], 1.7e-38f) << "sigmoid(" << x[i] << ")";
        else
            ASSERT_NEAR(y[i], want, 2.5e-7 * want) << "sigmoid(" << x[i] << ")";
    }
    // The limits and NaN.
    const std::vector<float> special = {inf, -inf, nan};
    std::vector<float> out(3, 0.5f);
    TYPENET_ISA_CALL(isa, sigmoid_forward, special.data(), out.data(), special.size());
    EXPECT_EQ(out[0], 1.0f);
    EXPECT_LE(out[1], 1.7e-38f);
    EXPECT_TRUE(std::isnan(out[2]));
}

TEST_P(SigmoidPath, EveryTailLengthInPlaceAndNothingWrittenPastTheEnd) {
    const CpuIsa isa = GetParam();
    for (const std::size_t n : lengths) {
        std::vector<float> x(n + 1);
        for (std::size_t i = 0; i < x.size(); ++i) x[i] = -6.0f + 0.37f * float(i);
        x[n] = 12345.0f;  // past the end: never read into a result, never written
        std::vector<float> y(n + 1, -1.0f);
        TYPENET_ISA_CALL(isa, sigmoid_forward, x.data(), y.data(), n);
        for (std::size_t i = 0; i < n; ++i)
            ASSERT_NEAR(y[i], 1.0 / (1.0 + std::exp(-double(x[i]))), 2.5e-7) << "n = " << n << ", index " << i;
        EXPECT_EQ(y[n], -1.0f) << "n = " << n;
        auto inplace = x;  // x and y may alias: the same values
        TYPENET_ISA_CALL(isa, sigmoid_forward, inplace.data(), inplace.data(), n);
        for (std::size_t i = 0; i < n; ++i) ASSERT_EQ(inplace[i], y[i]) << "in place, n = " << n << ", index " << i;
        EXPECT_EQ(inplace[n], 12345.0f);
    }
}

TEST_P(SigmoidPath, BackwardIsTheScalarRuleBitForBit) {
    const CpuIsa isa = GetParam();
    for (const std::size_t n : lengths) {
        std::vector<float> y(n + 1), dy(n + 1), dx(n + 1, 7.0f);
        for (std::size_t i = 0; i <= n; ++i) {
            y[i] = float(i % 11) / 10.0f;  // 0, 0.1, ..., 1
            dy[i] = 0.3f - 0.07f * float(i);
        }
        TYPENET_ISA_CALL(isa, sigmoid_backward, y.data(), dy.data(), dx.data(), n);
        for (std::size_t i = 0; i < n; ++i) {
            const float want = dy[i] * y[i] * (1.0f - y[i]);
            ASSERT_EQ(dx[i], want) << "n = " << n << ", index " << i;
        }
        EXPECT_EQ(dx[n], 7.0f) << "n = " << n;
    }
}

INSTANTIATE_TEST_SUITE_P(Paths, SigmoidPath, ::testing::Values(CpuIsa::portable, CpuIsa::avx2, CpuIsa::avx512),
                         kernel_path_name);

}  // namespace
