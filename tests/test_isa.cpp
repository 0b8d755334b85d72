// tests/test_isa.cpp - backend/cpu/isa.hpp: choosing the kernel path, and the
// kernel bodies compiled once per path (kernels/foreach_isa.hpp).
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <limits>
#include <string>

#include <typenet/backend/cpu/cpu.hpp>
#include <typenet/backend/cpu/kernels/dispatch.hpp>

namespace {

using namespace typenet;

TEST(CpuIsa, NamesAndKeysRoundTrip) {
    for (CpuIsa isa : {CpuIsa::portable, CpuIsa::avx2, CpuIsa::avx512})
        EXPECT_EQ(cpu_detail::parse_isa(isa_key(isa)), isa);
    EXPECT_STREQ(isa_name(CpuIsa::avx512), "AVX-512");
    EXPECT_STREQ(isa_name(CpuIsa::avx2), "AVX2+FMA");
    EXPECT_STREQ(isa_name(CpuIsa::portable), "portable");
}

TEST(CpuIsa, AnUnknownPathIsAnErrorNamingTheChoices) {
    try {
        cpu_detail::parse_isa("sse9");
        FAIL() << "no error";
    } catch (const ArgumentError& e) {
        EXPECT_NE(std::string(e.what()).find("'sse9' is not a kernel path; use portable, avx2 or avx512"),
                  std::string::npos)
            << e.what();
    }
}

TEST(CpuIsa, TheBackendRunsTheWidestPathOrANarrowerOneOnRequest) {
    // Unless the environment narrows it, a default backend takes the widest path.
    const char* env = std::getenv("TYPENET_CPU_ISA");
    if (!env || !*env) EXPECT_EQ(Cpu{1}.isa(), supported_isa());
    else EXPECT_EQ(Cpu{1}.isa(), cpu_detail::parse_isa(env));
    EXPECT_EQ(Cpu(2, CpuIsa::portable).isa(), CpuIsa::portable);
    EXPECT_EQ(Cpu(2, CpuIsa::portable).description(), "CPU backend: 2 threads, portable");
    EXPECT_EQ(Cpu(1, CpuIsa::portable).description(), "CPU backend: 1 thread, portable");
    if (supported_isa() != CpuIsa::avx512) {
        try {
            Cpu(1, CpuIsa::avx512);
            FAIL() << "a path wider than the CPU's was accepted";
        } catch (const BackendError& e) {
            EXPECT_NE(std::string(e.what()).find("asks for the AVX-512 kernels, but this CPU supports at most"),
                      std::string::npos)
                << e.what();
        }
    }
}

}  // namespace

// A kernel body written once against Vec, compiled per path.
#define TYPENET_ISA_BODY "isa_test_body.hpp"
#include <typenet/backend/cpu/kernels/foreach_isa.hpp>

namespace {

TEST(CpuIsa, EachPathsVecComputesTheSameDotProductAndMax) {
    float a[37], b[37];
    for (int i = 0; i < 37; ++i) a[i] = float(i % 7) - 3.0f, b[i] = 0.5f * float(i % 5);
    const int widths[] = {4, 8, 16};
    for (CpuIsa isa : {CpuIsa::portable, CpuIsa::avx2, CpuIsa::avx512}) {
        if (static_cast<int>(isa) > static_cast<int>(supported_isa())) {
            std::printf("[ SKIPPED ] path %s: this CPU lacks it\n", isa_name(isa));
            continue;
        }
        for (int n : {0, 1, 3, 16, 17, 37}) {
            double w = 0;
            for (int i = 0; i < n; ++i) w += double(a[i]) * double(b[i]);
            EXPECT_FLOAT_EQ(TYPENET_ISA_CALL(isa, test_dot, a, b, n), float(w)) << isa_name(isa) << " n=" << n;
        }
        EXPECT_EQ(TYPENET_ISA_CALL(isa, test_width), widths[static_cast<int>(isa)]) << isa_name(isa);
        EXPECT_FLOAT_EQ(TYPENET_ISA_CALL(isa, test_max, a, 37), 3.0f) << isa_name(isa);
        float in[32], even[16], odd[16];
        for (int i = 0; i < 32; ++i) in[i] = float(100 + i);
        TYPENET_ISA_CALL(isa, test_deinterleave, in, even, odd);
        for (int j = 0; j < widths[static_cast<int>(isa)]; ++j) {
            EXPECT_EQ(even[j], in[2 * j]) << isa_name(isa) << " even lane " << j;
            EXPECT_EQ(odd[j], in[2 * j + 1]) << isa_name(isa) << " odd lane " << j;
        }
        // interleave undoes deinterleave: even/odd back into in's order.
        float lo[16], hi[16];
        TYPENET_ISA_CALL(isa, test_interleave, even, odd, lo, hi);
        const int width = widths[static_cast<int>(isa)];
        for (int j = 0; j < width; ++j) {
            EXPECT_EQ(lo[j], in[j]) << isa_name(isa) << " interleave lo lane " << j;
            EXPECT_EQ(hi[j], in[width + j]) << isa_name(isa) << " interleave hi lane " << j;
        }
        // select_eq: equal lanes take x; unequal lanes, a NaN on either side
        // and -0 == +0 (equal, as the scalar ==) as the scalar comparison says.
        const float nan = std::numeric_limits<float>::quiet_NaN();
        float sa[16], sb[16], sx[16], sy[16], so[16];
        for (int j = 0; j < 16; ++j) {
            const float pa[] = {1.0f, 2.0f, nan, 3.0f, -0.0f, nan};
            const float pb[] = {1.0f, 2.5f, 3.0f, nan, 0.0f, nan};
            sa[j] = pa[j % 6], sb[j] = pb[j % 6], sx[j] = float(10 + j), sy[j] = float(-10 - j);
        }
        TYPENET_ISA_CALL(isa, test_select_eq, sa, sb, sx, sy, so);
        for (int j = 0; j < width; ++j)
            EXPECT_EQ(so[j], sa[j] == sb[j] ? sx[j] : sy[j]) << isa_name(isa) << " select_eq lane " << j;
    }
}

}  // namespace
