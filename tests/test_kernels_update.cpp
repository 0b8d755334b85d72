// typenet's optimizer-update and finiteness kernels (backend/cpu/kernels/
// update.hpp) on every kernel path this CPU supports, against the scalar
// rules of optim/update_rules.hpp evaluated in double.
#include <gtest/gtest.h>

#include "kernel_paths.hpp"

#include <typenet/backend/cpu/kernels/update.hpp>
#include <typenet/optim/update_rules.hpp>

#include <cmath>
#include <cstdint>
#include <limits>
#include <vector>

namespace {

using typenet::CpuIsa;

using UpdatePath = KernelPathTest;

std::vector<float> values(std::size_t count, std::uint32_t seed, float lo, float hi) {
    std::vector<float> v(count);
    std::uint32_t s = seed * 2654435761u + 7;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = lo + (hi - lo) * float(s >> 8) * 0x1.0p-24f;
    }
    return v;
}

// Lengths around the vector widths (16, 8, 4) and the unrolled block (64):
// every tail length is met on every path.
constexpr std::size_t lengths[] = {0, 1, 3, 4, 7, 8, 15, 16, 17, 31, 63, 64, 65, 100, 1000};

// A float kernel against the rule in double: within a few float roundings of the step.
void expect_close(const std::vector<float>& got, const std::vector<double>& want, const char* what, std::size_t n) {
    for (std::size_t i = 0; i < want.size(); ++i)
        ASSERT_NEAR(got[i], want[i], 4e-7 * (1.0 + std::abs(want[i]))) << what << ", n = " << n << ", index " << i;
}

TEST_P(UpdatePath, RmspropFollowsTheRule) {
    for (std::size_t n : lengths) {
        auto w = values(n, 1, -1, 1), s = values(n, 3, 0, 0.01f);
        const auto g = values(n, 2, -0.5f, 0.5f);
        std::vector<double> wd(w.begin(), w.end()), sd(s.begin(), s.end());
        for (std::size_t i = 0; i < n; ++i) {
            double wi = wd[i], si = sd[i];
            typenet::rules::rmsprop_step(wi, double(g[i]), si, 1e-3, 0.9, 1e-7);
            wd[i] = wi;
            sd[i] = si;
        }
        TYPENET_ISA_CALL(GetParam(), rmsprop_update, w.data(), g.data(), s.data(), n, 1e-3f, 0.9f, 1e-7f);
        expect_close(w, wd, "w", n);
        expect_close(s, sd, "s", n);
    }
}

TEST_P(UpdatePath, AdamFollowsTheRule) {
    const auto [c1, c2] = typenet::rules::adam_corrections(0.9, 0.999, 3.0);
    for (std::size_t n : lengths) {
        auto w = values(n, 4, -1, 1), m = values(n, 5, -0.1f, 0.1f), v = values(n, 6, 0, 0.01f);
        const auto g = values(n, 7, -0.5f, 0.5f);
        std::vector<double> wd(w.begin(), w.end()), md(m.begin(), m.end()), vd(v.begin(), v.end());
        for (std::size_t i = 0; i < n; ++i)
            typenet::rules::adam_step(wd[i], double(g[i]), md[i], vd[i], 1e-3, 0.9, 0.999, 1e-7, c1, c2);
        TYPENET_ISA_CALL(GetParam(), adam_update, w.data(), g.data(), m.data(), v.data(), n, 1e-3f, 0.9f, 0.999f,
                         1e-7f, float(c1), float(c2));
        expect_close(w, wd, "w", n);
        expect_close(m, md, "m", n);
        expect_close(v, vd, "v", n);
    }
}

TEST_P(UpdatePath, SgdWithAndWithoutMomentumFollowsTheRule) {
    for (bool nesterov : {false, true})
        for (std::size_t n : lengths) {
            auto w = values(n, 8, -1, 1), v = values(n, 9, -0.1f, 0.1f), w_plain = w;
            const auto g = values(n, 10, -0.5f, 0.5f);
            std::vector<double> wd(w.begin(), w.end()), vd(v.begin(), v.end()), wpd(w.begin(), w.end());
            for (std::size_t i = 0; i < n; ++i) {
                typenet::rules::sgd_momentum_step(wd[i], double(g[i]), vd[i], 0.05, 0.9, nesterov);
                typenet::rules::sgd_step(wpd[i], double(g[i]), 0.05);
            }
            TYPENET_ISA_CALL(GetParam(), sgd_momentum_update, w.data(), g.data(), v.data(), n, 0.05f, 0.9f, nesterov);
            TYPENET_ISA_CALL(GetParam(), sgd_update, w_plain.data(), g.data(), n, 0.05f);
            expect_close(w, wd, "w (momentum)", n);
            expect_close(v, vd, "v", n);
            expect_close(w_plain, wpd, "w (plain)", n);
        }
}

TEST_P(UpdatePath, UpdatesTouchNothingPastN) {
    // A sentinel after the last value: the masked tail must not write it.
    for (std::size_t n : lengths) {
        auto w = values(n + 1, 11, -1, 1), s = values(n + 1, 12, 0, 0.01f), g = values(n + 1, 13, -1, 1);
        w[n] = s[n] = 1234.5f;
        TYPENET_ISA_CALL(GetParam(), rmsprop_update, w.data(), g.data(), s.data(), n, 0.1f, 0.9f, 1e-7f);
        EXPECT_EQ(w[n], 1234.5f) << n;
        EXPECT_EQ(s[n], 1234.5f) << n;
    }
}

TEST_P(UpdatePath, AllFiniteFindsEveryNaNAndInfAtEveryPosition) {
    const float bad[] = {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                         -std::numeric_limits<float>::infinity()};
    for (std::size_t n : lengths) {
        // Finite extremes stay finite: the largest, the smallest subnormal, -0.
        auto x = values(n, 14, -1, 1);
        if (n > 2) {
            x[0] = std::numeric_limits<float>::max();
            x[1] = -std::numeric_limits<float>::denorm_min();
            x[2] = -0.0f;
        }
        EXPECT_TRUE(TYPENET_ISA_CALL(GetParam(), all_finite, x.data(), n)) << n;
        for (std::size_t i = 0; i < n; ++i)
            for (float b : bad) {
                const float keep = x[i];
                x[i] = b;
                ASSERT_FALSE(TYPENET_ISA_CALL(GetParam(), all_finite, x.data(), n)) << "n = " << n << ", " << b << " at " << i;
                x[i] = keep;
            }
        // A NaN just past the end is not looked at.
        x.push_back(std::numeric_limits<float>::quiet_NaN());
        EXPECT_TRUE(TYPENET_ISA_CALL(GetParam(), all_finite, x.data(), n)) << n;
    }
}

INSTANTIATE_TEST_SUITE_P(Paths, UpdatePath, ::testing::Values(CpuIsa::portable, CpuIsa::avx2, CpuIsa::avx512),
                         kernel_path_name);

}  // namespace
