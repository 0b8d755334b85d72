// tests/cuda/cuda_test.hpp - what the CUDA tests share: skipping without a GPU,
// one Cuda backend per test program, host <-> device helpers.
#pragma once

#include <typenet/typenet.hpp>
#include <typenet/testing/parity.hpp>

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

namespace tn = typenet;
namespace tt = typenet::testing;

/// First statement of every test that needs a GPU: skips it, visibly, when
/// no CUDA device can be used (no driver, no device).
#define TYPENET_REQUIRE_CUDA()                                                          \
    do {                                                                                \
        if (const std::string why = ::typenet::Cuda::unavailable_reason(); !why.empty()) \
            GTEST_SKIP() << "no CUDA device: " << why;                                  \
    } while (0)

namespace cuda_test {

/// The program's one Cuda backend, made on first use (after the skip check).
/// Never destroyed: tearing down CUDA handles after the runtime has unloaded
/// at exit is not safe.
inline tn::Cuda& gpu() {
    static tn::Cuda* be = new tn::Cuda{};
    return *be;
}

/// Fixture whose tests skip without a GPU.
class Gpu : public ::testing::Test {
protected:
    void SetUp() override { TYPENET_REQUIRE_CUDA(); }
};

template <class T = float>
std::vector<T> uniform(std::size_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
    tn::Rng rng(seed);
    std::vector<T> v(n);
    for (auto& x : v) x = T(rng.uniform(lo, hi));
    return v;
}

template <class T>
tn::Tensor<T, tn::CudaDevice> device(const std::vector<T>& host) {
    tn::Tensor<T, tn::CudaDevice> t(tn::Dims{host.size()});
    t.from_host(std::span<const T>(host));
    return t;
}

/// Fails the test with the worst tensor when a parity check exceeds `tolerance`.
inline void expect_parity(const tt::ParityResult& r, double tolerance) {
    EXPECT_LE(r.max_error(), tolerance) << "worst: " << r.worst() << "\nall:\n" << r.report();
}

/// Expects a CPU and a GPU result within `tolerance` (scale-relative).
template <class T>
void expect_close(const char* what, const std::vector<T>& cpu, const std::vector<T>& gpu, double tolerance) {
    const auto d = tt::compare_values(what, cpu, gpu);
    EXPECT_LE(d.error, tolerance) << d.str();
}

}  // namespace cuda_test
