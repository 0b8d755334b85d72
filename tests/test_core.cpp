// Tests of core/: shapes, dims, tensors and views, the random generator.
#include <typenet/core/error.hpp>
#include <typenet/core/random.hpp>
#include <typenet/core/shape.hpp>
#include <typenet/core/tensor.hpp>

#include <gtest/gtest.h>

#include "io_test_util.hpp"

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <numeric>
#include <string>
#include <vector>

namespace tn = typenet;

static_assert(tn::Shape<1, 28, 28>::size == 784);
static_assert(tn::Shape<1, 28, 28>::rank == 3);
static_assert(tn::Shape<784>::rank == 1);
static_assert(tn::channels_of<tn::Shape<3, 5, 7>> == 3);
static_assert(tn::height_of<tn::Shape<3, 5, 7>> == 5);
static_assert(tn::width_of<tn::Shape<3, 5, 7>> == 7);
static_assert(tn::height_of<tn::Shape<10>> == 1);
static_assert(tn::is_flat<tn::Shape<10>> && !tn::is_flat<tn::Shape<1, 2, 2>>);

TEST(Shape, StringNamesTheBatch) {
    EXPECT_EQ((tn::shape_string<tn::Shape<64, 5, 5>>()), "(N, 64, 5, 5)");
    EXPECT_EQ(tn::shape_string<tn::Shape<10>>(), "(N, 10)");
}

TEST(Dims, SizeRankAndEquality) {
    tn::Dims d{2, 3, 4};
    EXPECT_EQ(d.rank, 3u);
    EXPECT_EQ(d.size(), 24u);
    EXPECT_EQ(d.str(), "(2, 3, 4)");
    EXPECT_TRUE((d == tn::Dims{2, 3, 4}));
    EXPECT_FALSE((d == tn::Dims{2, 3}));
    EXPECT_EQ(tn::Dims{}.size(), 0u);
    EXPECT_THROW((tn::Dims{1, 2, 3, 4, 5}), tn::ArgumentError);
    EXPECT_TRUE((tn::batch_dims<tn::Shape<1, 28, 28>>(5) == tn::Dims{5, 1, 28, 28}));
}

TEST(Tensor, AllocatesZeroedAndAligned) {
    tn::Tensor<float> t(tn::Dims{3, 5});
    ASSERT_EQ(t.size(), 15u);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(t.data()) % 64, 0u);
    for (float v : t.span()) EXPECT_EQ(v, 0.0f);
}

#if defined(__linux__)
namespace {
// AnonHugePages (kB) of the mapping that holds p, from /proc/self/smaps; -1
// if none. (Only a block's 2 MiB-aligned interior is advised: ask about its middle.)
long anon_huge_kb(const void* p) {
    std::ifstream f("/proc/self/smaps");
    const auto at = reinterpret_cast<std::uintptr_t>(p);
    bool inside = false;
    for (std::string line; std::getline(f, line);) {
        unsigned long lo = 0, hi = 0;
        long kb = 0;
        if (std::sscanf(line.c_str(), "%lx-%lx ", &lo, &hi) == 2)
            inside = at >= lo && at < hi;
        else if (inside && std::sscanf(line.c_str(), "AnonHugePages: %ld kB", &kb) == 1)
            return kb;
    }
    return -1;
}
// A counter of /proc/vmstat (system-wide), or -1.
long vmstat(const std::string& name) {
    std::ifstream f("/proc/vmstat");
    std::string key;
    long value = 0;
    while (f >> key >> value)
        if (key == name) return value;
    return -1;
}
}  // namespace

// Large host blocks are marked for transparent huge pages (their first touch
// is then 512x fewer faults); TYPENET_HUGE_PAGES=0 opts out.
TEST(Tensor, LargeHostBlocksUseTransparentHugePages) {
    const std::string mode = io_test::read_raw("/sys/kernel/mm/transparent_hugepage/enabled");
    if (mode.find("[madvise]") == std::string::npos && mode.find("[always]") == std::string::npos)
        GTEST_SKIP() << "transparent huge pages are off on this machine (" << mode << ")";
    const char* preset = std::getenv("TYPENET_HUGE_PAGES");  // the caller's setting, restored at the end
    const std::string saved = preset ? preset : "";
    ::unsetenv("TYPENET_HUGE_PAGES");
    const long fallbacks = vmstat("thp_fault_fallback");
    const tn::Tensor<float> big(tn::Dims{std::size_t{16} << 20});  // 64 MiB, zeroed, so touched
    const long huge_kb = anon_huge_kb(big.data() + big.size() / 2);
    if (huge_kb == 0 && vmstat("thp_fault_fallback") > fallbacks) {  // asked for, but none free
        if (preset) ::setenv("TYPENET_HUGE_PAGES", saved.c_str(), 1);
        GTEST_SKIP() << "the kernel had no free huge page (thp_fault_fallback grew)";
    }
    EXPECT_GT(huge_kb, 0) << "no huge page in a zeroed 64 MiB tensor (THP: " << mode << ")";
    if (mode.find("[madvise]") != std::string::npos) {  // with "always" every block gets them
        ::setenv("TYPENET_HUGE_PAGES", "0", 1);
        const tn::Tensor<float> plain(tn::Dims{std::size_t{16} << 20});
        ::unsetenv("TYPENET_HUGE_PAGES");
        EXPECT_EQ(anon_huge_kb(plain.data() + plain.size() / 2), 0) << "TYPENET_HUGE_PAGES=0 did not opt out";
    }
    if (preset) ::setenv("TYPENET_HUGE_PAGES", saved.c_str(), 1);
}
#endif

TEST(Tensor, ResizeReusesCapacity) {
    tn::Tensor<float> t(tn::Dims{10, 10});
    float* p = t.data();
    t.resize(tn::Dims{5, 10});
    EXPECT_EQ(t.data(), p) << "shrinking must not reallocate";
    EXPECT_EQ(t.size(), 50u);
    t.resize(tn::Dims{10, 10});
    EXPECT_EQ(t.data(), p) << "growing back within capacity must not reallocate";
    t.resize(tn::Dims{20, 10});
    EXPECT_EQ(t.capacity(), 200u);
}

TEST(Tensor, MoveTransfersOwnership) {
    tn::Tensor<int> a(tn::Dims{4});
    a[2] = 7;
    int* p = a.data();
    tn::Tensor<int> b(std::move(a));
    EXPECT_EQ(b.data(), p);
    EXPECT_EQ(b[2], 7);
    EXPECT_EQ(a.data(), nullptr);
}

TEST(Tensor, HostRoundTripAndSizeCheck) {
    tn::Tensor<double> t(tn::Dims{2, 2});
    std::vector<double> v{1, 2, 3, 4};
    t.from_host(v);
    EXPECT_EQ(t.to_host(), v);
    std::vector<double> wrong{1, 2, 3};
    try {
        t.from_host(wrong);
        FAIL() << "expected ArgumentError";
    } catch (const tn::ArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("(2, 2)"), std::string::npos) << e.what();
    }
}

TEST(TensorView, RowsAndReshape) {
    tn::Tensor<float> t(tn::Dims{4, 3});
    std::iota(t.data(), t.data() + 12, 0.0f);
    auto v = t.view().rows(1, 2);
    EXPECT_EQ(v.dims[0], 2u);
    EXPECT_EQ(v[0], 3.0f);
    EXPECT_EQ(v.row_size(), 3u);
    EXPECT_THROW(t.view().rows(3, 2), tn::ArgumentError);
    auto r = t.view().reshaped(tn::Dims{2, 6});
    EXPECT_EQ(r.dims[1], 6u);
    EXPECT_THROW(t.view().reshaped(tn::Dims{5, 2}), tn::ArgumentError);
}

TEST(Rng, SameSeedSameStream) {
    tn::Rng a(42), b(42), c(43);
    bool differs = false;
    for (int i = 0; i < 100; ++i) {
        const auto x = a.next();
        EXPECT_EQ(x, b.next());
        differs |= (x != c.next());
    }
    EXPECT_TRUE(differs);
}

TEST(Rng, StateSaveRestore) {
    tn::Rng a(5);
    a.next();
    const auto s = a.state();
    const auto x = a.next();
    a.set_state(s);
    EXPECT_EQ(a.next(), x);
}

TEST(Rng, UniformAndNormalMoments) {
    tn::Rng r(1);
    const int n = 200000;
    double su = 0, sn = 0, sn2 = 0;
    for (int i = 0; i < n; ++i) {
        const double u = r.uniform();
        ASSERT_GE(u, 0.0);
        ASSERT_LT(u, 1.0);
        su += u;
        const double z = r.normal();
        sn += z;
        sn2 += z * z;
    }
    // Standard errors: uniform mean 0.00065, normal mean 0.0022, variance 0.0032.
    EXPECT_NEAR(su / n, 0.5, 0.004);
    EXPECT_NEAR(sn / n, 0.0, 0.012);
    EXPECT_NEAR(sn2 / n, 1.0, 0.02);
}

TEST(Rng, BelowIsInRangeAndCoversAll) {
    tn::Rng r(9);
    std::vector<int> hits(7, 0);
    for (int i = 0; i < 7000; ++i) {
        const auto v = r.below(7);
        ASSERT_LT(v, 7u);
        ++hits[v];
    }
    for (int h : hits) EXPECT_GT(h, 800);
    EXPECT_EQ(r.below(1), 0u);
}

TEST(Rng, ShuffleIsAPermutation) {
    tn::Rng r(3);
    std::vector<std::uint32_t> v(100);
    std::iota(v.begin(), v.end(), 0u);
    r.shuffle(std::span<std::uint32_t>(v));
    EXPECT_FALSE(std::is_sorted(v.begin(), v.end()));
    std::vector<std::uint32_t> s = v;
    std::sort(s.begin(), s.end());
    for (std::uint32_t i = 0; i < 100; ++i) EXPECT_EQ(s[i], i);
}
