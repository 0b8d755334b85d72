// typenet's own SGEMM (backend/cpu/kernels/sgemm.hpp) on every kernel path
// this CPU supports, against a double-precision reference.
#include <gtest/gtest.h>

#include <typenet/backend/cpu/blas_info.hpp>
#include <typenet/backend/cpu/kernels/fma_peak.hpp>
#include <typenet/backend/cpu/kernels/sgemm.hpp>

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <new>
#include <string>
#include <vector>

// Allocations are counted (NoAllocationAfterFirstCall) as in test_no_alloc;
// not under nvcc, so that a .cu copy of this file checks that the kernels
// compile there.
#include "count_allocations.hpp"

namespace {

using typenet::CpuIsa;
namespace kern = typenet::cpu_kernels;

constexpr CpuIsa all_isas[] = {CpuIsa::portable, CpuIsa::avx2, CpuIsa::avx512};

/// Skips (naming the path) when the CPU lacks it.
#define SKIP_IF_UNSUPPORTED(isa)                                            \
    if (static_cast<int>(isa) > static_cast<int>(typenet::supported_isa())) \
    GTEST_SKIP() << typenet::isa_name(isa)                                  \
                 << " not supported by this CPU (widest: " << typenet::isa_name(typenet::supported_isa()) << ")"

class SgemmPath : public ::testing::TestWithParam<CpuIsa> {};

std::vector<float> random_values(std::size_t count, std::uint32_t seed) {
    std::vector<float> v(count);
    std::uint32_t s = seed * 2654435761u + 1;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = float(int(s >> 9) % 2001 - 1000) / 1000.0f;  // [-1, 1]
    }
    return v;
}

struct Case {
    bool ta, tb;
    std::size_t m, n, k;
    float alpha, beta;
    bool bias, relu;
    std::size_t pad;  // extra elements per row of A, B and C
};

std::string describe(const Case& t) {
    return std::string("ta=") + (t.ta ? "1" : "0") + " tb=" + (t.tb ? "1" : "0") + " m=" + std::to_string(t.m) +
           " n=" + std::to_string(t.n) + " k=" + std::to_string(t.k) + " alpha=" + std::to_string(t.alpha) +
           " beta=" + std::to_string(t.beta) + " bias=" + (t.bias ? "1" : "0") + " relu=" + (t.relu ? "1" : "0") +
           " pad=" + std::to_string(t.pad);
}

/// The product under test: kern::sgemm's signature without trans_a/trans_b
/// when a route is called directly (tb only).
using Route = void (*)(std::size_t, std::size_t, std::size_t, float, const float*, std::size_t, const float*,
                       std::size_t, float, float*, std::size_t, const float*, bool);

/// Runs one case on `isa` (or on `route`, a transposed-B case) and checks
/// every element against a double reference, within 1e-5 of
/// sum |alpha a b| + |beta c| + |bias| (+ a tiny floor).
void check_case(CpuIsa isa, const Case& t, Route route = nullptr) {
    const std::size_t a_rows = t.ta ? t.k : t.m, a_cols = t.ta ? t.m : t.k;
    const std::size_t b_rows = t.tb ? t.n : t.k, b_cols = t.tb ? t.k : t.n;
    const std::size_t lda = a_cols + t.pad, ldb = b_cols + t.pad, ldc = t.n + t.pad;
    const auto a = random_values(std::max<std::size_t>(1, a_rows * lda), 1);
    const auto b = random_values(std::max<std::size_t>(1, b_rows * ldb), 2);
    const auto bias = random_values(t.n, 3);
    auto c = random_values(t.m * ldc, 4);
    if (t.beta == 0.0f) std::fill(c.begin(), c.end(), std::numeric_limits<float>::quiet_NaN());
    const auto c0 = c;
    if (route)
        route(t.m, t.n, t.k, t.alpha, a.data(), lda, b.data(), ldb, t.beta, c.data(), ldc,
              t.bias ? bias.data() : nullptr, t.relu);
    else
        kern::sgemm(isa, t.ta, t.tb, t.m, t.n, t.k, t.alpha, a.data(), lda, b.data(), ldb, t.beta, c.data(), ldc,
                    t.bias ? bias.data() : nullptr, t.relu);
    for (std::size_t i = 0; i < t.m; ++i) {
        for (std::size_t j = 0; j < t.n; ++j) {
            double sum = 0, mag = 0;
            for (std::size_t p = 0; p < t.k; ++p) {
                const double x = t.ta ? a[p * lda + i] : a[i * lda + p];
                const double y = t.tb ? b[j * ldb + p] : b[p * ldb + j];
                sum += x * y;
                mag += std::abs(x * y);
            }
            double want = double(t.alpha) * sum;
            mag *= std::abs(double(t.alpha));
            if (t.beta != 0.0f) {
                want += double(t.beta) * c0[i * ldc + j];
                mag += std::abs(double(t.beta) * c0[i * ldc + j]);
            }
            if (t.bias) {
                want += bias[j];
                mag += std::abs(double(bias[j]));
            }
            if (t.relu) want = std::max(0.0, want);
            const double got = c[i * ldc + j];
            ASSERT_NEAR(got, want, 1e-5 * mag + 1e-30)
                << typenet::isa_name(isa) << " " << describe(t) << " at (" << i << "," << j << ")";
        }
        // The padding between rows of C is never written.
        for (std::size_t j = t.n; j < ldc; ++j)
            if (t.beta != 0.0f) {
                ASSERT_EQ(c[i * ldc + j], c0[i * ldc + j]) << describe(t);
            } else {
                ASSERT_TRUE(std::isnan(c[i * ldc + j])) << describe(t);
            }
    }
}

TEST_P(SgemmPath, AllTransposesAndOddSizes) {
    SKIP_IF_UNSUPPORTED(GetParam());
    const std::size_t sizes[] = {1, 3, 17, 63, 65, 130};
    for (const bool ta : {false, true})
        for (const bool tb : {false, true})
            for (const std::size_t m : sizes)
                for (const std::size_t n : sizes)
                    for (const std::size_t k : sizes) {
                        // Vary alpha, beta and padding with the shape, to cover them all without the full product.
                        const std::size_t h = m * 7 + n * 3 + k;
                        const float betas[] = {0.0f, 1.0f, 0.5f};
                        const Case t{
                            ta, tb, m, n, k, h % 2 ? 1.0f : -1.5f, betas[h % 3], false, false, h % 4 == 0 ? 0u : 5u};
                        check_case(GetParam(), t);
                        if (HasFatalFailure()) return;
                    }
}

TEST_P(SgemmPath, BetaAndAlphaEachTransposition) {
    SKIP_IF_UNSUPPORTED(GetParam());
    for (const bool ta : {false, true})
        for (const bool tb : {false, true})
            for (const float beta : {0.0f, 1.0f, 0.5f})
                for (const float alpha : {1.0f, 0.25f, -2.0f}) {
                    check_case(GetParam(), {ta, tb, 65, 130, 63, alpha, beta, false, false, 3});
                    if (HasFatalFailure()) return;
                }
}

// Larger than one cache block in every direction (mc 240, kc 256, nc 1008),
// so tiles are accumulated over several k blocks and B is packed per jc.
TEST_P(SgemmPath, SeveralCacheBlocks) {
    SKIP_IF_UNSUPPORTED(GetParam());
    check_case(GetParam(), {false, true, 250, 1030, 600, 1.0f, 0.5f, true, true, 1});
    check_case(GetParam(), {true, false, 490, 70, 520, 0.5f, 0.0f, false, false, 0});
}

// 9-12 rows: the AVX-512 path's one-tile product with B read in place (its
// last vector masked), at widths around its 2-vector tiles and the Dense
// layers' shapes (dW = dy^T x of a 10-output layer), k in one and in several blocks.
TEST_P(SgemmPath, NineToTwelveRows) {
    SKIP_IF_UNSUPPORTED(GetParam());
    for (const std::size_t m : {9, 10, 11, 12})
        for (const bool ta : {false, true})
            for (const std::size_t n : {1, 10, 16, 17, 30, 32, 33, 47, 70, 512})
                for (const std::size_t k : {1, 30, 128, 500}) {
                    const std::size_t h = m * 5 + n + k;
                    const float betas[] = {0.0f, 1.0f, 0.5f};
                    check_case(GetParam(), {ta, false, m, n, k, h % 2 ? 1.0f : -0.5f, betas[h % 3], h % 4 < 2,
                                            h % 5 < 2, h % 3 == 0 ? 0u : 3u});
                    if (HasFatalFailure()) return;
                }
    // k beyond one block of the 12-row panel (the pack buffer holds 26624 steps).
    check_case(GetParam(), {true, false, 10, 33, 30000, 1.0f, 0.5f, true, true, 0});
}

// At most 16 columns of a transposed B with k >= 128: the AVX-512 path's
// dot-product tiles (8, 4 and 2 columns, a single column as a repeated pair),
// every column count, row counts around each tile's 2, 4 and 8 rows, k with
// and without a partial last vector; the classifiers' shapes at the end.
TEST_P(SgemmPath, FewColumnsOfTransposedB) {
    SKIP_IF_UNSUPPORTED(GetParam());
    for (std::size_t n = 1; n <= 16; ++n)
        for (const std::size_t m : {1, 2, 3, 5, 7, 8, 9, 17, 63})
            for (const std::size_t k : {127, 128, 143, 200}) {
                const std::size_t h = m * 5 + n * 3 + k;
                const float betas[] = {0.0f, 1.0f, 0.5f};
                check_case(GetParam(), {false, true, m, n, k, h % 2 ? 1.0f : -0.5f, betas[h % 3], h % 4 < 2,
                                        h % 5 < 2, h % 3 == 0 ? 0u : 3u});
                if (HasFatalFailure()) return;
            }
    for (const float beta : {0.0f, 1.0f, 0.5f}) {
        check_case(GetParam(), {false, true, 500, 16, 256, 1.0f, beta, true, false, 0});
        check_case(GetParam(), {false, true, 128, 10, 512, 1.0f, beta, true, true, 0});
        check_case(GetParam(), {false, true, 64, 10, 784, 0.5f, beta, false, false, 2});
    }
}

// A transposed B with few columns computed as C^T = B A^T and moved back
// (the x86 paths' route for a Dense forward with few rows per thread): row
// and column counts around the 8 x 8 blocks of the move, C^T in several
// passes of 480 rows, every epilogue; and that the Dense shapes it is meant
// for take it.
TEST_P(SgemmPath, TransposedProduct) {
    const CpuIsa isa = GetParam();
    SKIP_IF_UNSUPPORTED(isa);
#if defined(TYPENET_X86_KERNELS)
    if (isa == CpuIsa::portable) GTEST_SKIP() << "the portable path has no transposed route";
    const Route route = isa == CpuIsa::avx512 ? kern::avx512::sgemm_transposed_product
                                              : kern::avx2::sgemm_transposed_product;
    const auto prefer = isa == CpuIsa::avx512 ? kern::avx512::sgemm_prefer_transposed
                                              : kern::avx2::sgemm_prefer_transposed;
    for (const std::size_t m : {1, 7, 9, 32, 481})
        for (const std::size_t n : {1, 9, 70, 128})
            for (const std::size_t k : {1, 70, 300}) {
                const std::size_t h = m * 5 + n * 3 + k;
                const float betas[] = {0.0f, 1.0f, 0.5f};
                check_case(isa,
                           {false, true, m, n, k, h % 2 ? 1.0f : -0.5f, betas[h % 3], h % 4 < 2, h % 5 < 2,
                            h % 3 == 0 ? 0u : 3u},
                           route);
                if (HasFatalFailure()) return;
            }
    check_case(isa, {false, true, 1000, 70, 64, 1.0f, 0.5f, true, true, 1}, route);
    // A CNN's 576 -> 70 Dense at 32 rows per thread: routed, through sgemm too.
    EXPECT_TRUE(prefer(32, 70, 576));
    for (const float beta : {0.0f, 1.0f, 0.5f}) check_case(isa, {false, true, 32, 70, 576, 1.0f, beta, true, true, 0});
    EXPECT_FALSE(prefer(500, 70, 784));  // many rows: packing them costs more than the lanes save
    EXPECT_FALSE(prefer(16, 129, 576));  // more columns than the route takes
#else
    GTEST_SKIP() << "the transposed route is on the x86 paths only";
#endif
}

TEST_P(SgemmPath, KZeroScalesC) {
    SKIP_IF_UNSUPPORTED(GetParam());
    for (const float beta : {0.0f, 1.0f, 0.5f}) {
        check_case(GetParam(), {false, false, 17, 33, 0, 1.0f, beta, false, false, 2});
        check_case(GetParam(), {true, true, 5, 40, 0, 1.0f, beta, true, true, 0});
    }
    // alpha == 0: A and B are not used either.
    check_case(GetParam(), {false, false, 9, 19, 4, 0.0f, 0.5f, true, false, 0});
}

TEST_P(SgemmPath, BiasAndReluEpilogue) {
    SKIP_IF_UNSUPPORTED(GetParam());
    const std::size_t sizes[] = {1, 17, 65};
    for (const bool ta : {false, true})
        for (const bool tb : {false, true})
            for (const std::size_t m : sizes)
                for (const std::size_t n : {std::size_t(3), std::size_t(70), std::size_t(130)})
                    for (const std::size_t k : sizes)
                        for (const float beta : {0.0f, 0.5f}) {
                            check_case(GetParam(), {ta, tb, m, n, k, 1.0f, beta, true, true, 2});
                            check_case(GetParam(), {ta, tb, m, n, k, 0.75f, beta, true, false, 0});
                            if (HasFatalFailure()) return;
                        }
    // The Dense forward: y(n,out) = x(n,in) W(out,in)^T + b at the CNN's shape.
    check_case(GetParam(), {false, true, 64, 70, 576, 1.0f, 0.0f, true, true, 0});
}

TEST_P(SgemmPath, ReluKeepsNaN) {
    SKIP_IF_UNSUPPORTED(GetParam());
    std::vector<float> a{std::numeric_limits<float>::quiet_NaN(), 1.0f}, b{1.0f, 1.0f, 1.0f, -1.0f};
    std::vector<float> c(2, 0.0f);
    kern::sgemm(GetParam(), false, false, 1, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2, nullptr, true);
    EXPECT_TRUE(std::isnan(c[0]));
    EXPECT_TRUE(std::isnan(c[1]));
    a[0] = 1.0f;
    kern::sgemm(GetParam(), false, false, 1, 2, 2, 1.0f, a.data(), 2, b.data(), 2, 0.0f, c.data(), 2, nullptr, true);
    EXPECT_EQ(c[0], 2.0f);
    EXPECT_EQ(c[1], 0.0f);
}

TEST_P(SgemmPath, Deterministic) {
    SKIP_IF_UNSUPPORTED(GetParam());
    const std::size_t m = 130, n = 257, k = 700;
    const auto a = random_values(m * k, 5), b = random_values(n * k, 6), bias = random_values(n, 7);
    for (const bool tb : {false, true}) {
        std::vector<float> c1(m * n, 0.0f), c2(m * n, 1.0f);
        kern::sgemm(GetParam(), false, tb, m, n, k, 1.0f, a.data(), k, b.data(), tb ? k : n, 0.0f, c1.data(), n,
                    bias.data(), true);
        // Another shape in between changes nothing in the packing buffer's later use.
        std::vector<float> scratch(9 * 11, 0.0f);
        kern::sgemm(GetParam(), true, true, 9, 11, 13, 1.0f, a.data(), 9, b.data(), 13, 0.0f, scratch.data(), 11);
        kern::sgemm(GetParam(), false, tb, m, n, k, 1.0f, a.data(), k, b.data(), tb ? k : n, 0.0f, c2.data(), n,
                    bias.data(), true);
        EXPECT_EQ(0, std::memcmp(c1.data(), c2.data(), c1.size() * sizeof(float))) << "tb=" << tb;
    }
}

// The packing buffer is allocated at its full size by a thread's first call:
// no later call allocates, whatever its shape.
TEST_P(SgemmPath, NoAllocationAfterFirstCall) {
    SKIP_IF_UNSUPPORTED(GetParam());
#if defined(__CUDACC__)
    GTEST_SKIP() << "operator new is not replaced under nvcc";
#endif
    const std::size_t m = 250, n = 1030, k = 600;
    const auto a = random_values(m * k, 8), b = random_values(n * k, 9), bias = random_values(n, 10);
    std::vector<float> c(m * n, 0.0f);
    kern::sgemm(GetParam(), false, false, 2, 3, 4, 1.0f, a.data(), 4, b.data(), 3, 0.0f, c.data(), 3);  // first call
    counting = true;
    for (const bool ta : {false, true})
        for (const bool tb : {false, true})
            kern::sgemm(GetParam(), ta, tb, m, n, k, 1.0f, a.data(), ta ? m : k, b.data(), tb ? k : n, 0.5f, c.data(),
                        n, bias.data(), true);
    counting = false;
    EXPECT_EQ(allocations.exchange(0), 0u);
}

TEST_P(SgemmPath, FmaPeakIsPositive) {
    SKIP_IF_UNSUPPORTED(GetParam());
    const double gflops = kern::measure_fp32_peak_gflops(GetParam(), 0.02);
    EXPECT_GT(gflops, 0.1);
    std::printf("[ info ] %s FMA peak (one thread, 0.02 s): %.1f GFLOP/s; tile %dx%d\n", typenet::isa_name(GetParam()),
                gflops, kern::sgemm_mr(GetParam()), kern::sgemm_nr(GetParam()));
}

INSTANTIATE_TEST_SUITE_P(Paths, SgemmPath, ::testing::ValuesIn(all_isas),
                         [](const ::testing::TestParamInfo<CpuIsa>& info) {
                             return std::string(typenet::isa_key(info.param));
                         });

TEST(BlasInfo, BlasIsaIsAPath) {
    const CpuIsa isa = typenet::blas_isa();
    std::printf("[ info ] BLAS kernels: %s (%s); CPU: %s\n", typenet::blas_corename().c_str(), typenet::isa_name(isa),
                typenet::isa_name(typenet::supported_isa()));
    EXPECT_LE(static_cast<int>(isa), 2);
    EXPECT_EQ(typenet::blas_isa_from_corename("SkylakeX"), CpuIsa::avx512);
    EXPECT_EQ(typenet::blas_isa_from_corename("Cooperlake"), CpuIsa::avx512);
    EXPECT_EQ(typenet::blas_isa_from_corename("SapphireRapids"), CpuIsa::avx512);
    EXPECT_EQ(typenet::blas_isa_from_corename("Haswell"), CpuIsa::avx2);
    EXPECT_EQ(typenet::blas_isa_from_corename("Zen"), CpuIsa::avx2);
    EXPECT_EQ(typenet::blas_isa_from_corename("Prescott"), CpuIsa::portable);
    EXPECT_EQ(typenet::blas_isa_from_corename("Sandybridge"), CpuIsa::portable);
}

}  // namespace
