// bench_sgemm_kernel - typenet's own SGEMM kernel (backend/cpu/kernels/sgemm.hpp)
// against cblas_sgemm, one thread, at the reference networks' product shapes.
//
// Cases: sgemm/<impl>/<shape>, impl = typenet-avx512 | typenet-avx2 |
// typenet-portable (the paths this CPU supports) | blas (cblas_sgemm on one
// thread; OpenBLAS's kernel set is in the context line, and
// OPENBLAS_CORETYPE=Prescott shows the mis-dispatched case). Each reports
// GFLOP/s (mean), best_GFLOP/s (fastest iteration: the machine is shared and
// noisy, the best is the repeatable figure) and %peak = best / the measured
// single-thread FMA peak of the widest path (fma/peak case).
#include <benchmark/benchmark.h>

#include <typenet/backend/cpu/blas_info.hpp>
#include <typenet/backend/cpu/kernels/fma_peak.hpp>
#include <typenet/backend/cpu/kernels/sgemm.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <iostream>
#include <string>
#include <vector>

#if defined(TYPENET_HAS_CBLAS)
#include <cblas.h>
#endif
#if defined(TYPENET_HAS_OPENBLAS)
extern "C" void openblas_set_num_threads(int);
#endif

namespace {

using typenet::CpuIsa;

struct Shape {
    const char* name;
    bool ta, tb;
    std::size_t m, n, k;
};

// Dense (row-major weight (out,in)): fwd x W^T, bwd_weights dY^T X, bwd_data dY W.
// Conv via im2col over a batch of 64 (layers/conv2d.hpp): fwd W col,
// bwd_data W^T dY, bwd_filter dY col^T.
constexpr Shape shapes[] = {
    {"cnn.dense0.fwd", false, true, 64, 70, 576},
    {"cnn.dense0.bwd_weights", true, false, 70, 576, 64},
    {"cnn.dense0.bwd_data", false, false, 64, 576, 70},
    {"mlp_wide.dense0.fwd", false, true, 128, 512, 784},
    {"mlp_wide.dense0.bwd_weights", true, false, 512, 784, 128},
    {"mlp_wide.dense1.bwd_data", false, false, 128, 512, 10},
    {"mlp_small.dense0.fwd", false, true, 500, 70, 784},
    {"mlp_small.dense0.bwd_weights", true, false, 70, 784, 500},
    {"conv1.fwd", false, false, 32, 64 * 676, 9},
    {"conv1.bwd_filter", false, true, 32, 9, 64 * 676},
    {"conv2.fwd", false, false, 64, 64 * 121, 288},
    {"conv2.bwd_data", true, false, 288, 64 * 121, 64},
    {"conv2.bwd_filter", false, true, 64, 288, 64 * 121},
    {"conv3.fwd", false, false, 64, 64 * 9, 576},
    {"conv3.bwd_data", true, false, 576, 64 * 9, 64},
    {"conv3.bwd_filter", false, true, 64, 576, 64 * 9},
    {"square1024", false, false, 1024, 1024, 1024},
    {"square1024.tn", true, false, 1024, 1024, 1024},
    {"square1024.nt", false, true, 1024, 1024, 1024},
};

double& peak_gflops() {
    static double peak = 0;
    return peak;
}

std::vector<float> random_values(std::size_t count, std::uint32_t seed) {
    std::vector<float> v(count);
    std::uint32_t s = seed * 2654435761u + 1;
    for (auto& x : v) {
        s = s * 1664525u + 1013904223u;
        x = float(int(s >> 9) % 2001 - 1000) / 1000.0f;
    }
    return v;
}

/// impl: 0..2 = typenet's path of that CpuIsa, 3 = cblas_sgemm.
void run_shape(benchmark::State& state, Shape s, int impl) {
    const std::size_t lda = s.ta ? s.m : s.k, ldb = s.tb ? s.k : s.n, ldc = s.n;
    const auto a = random_values(s.m * s.k, 1), b = random_values(s.k * s.n, 2);
    auto c = random_values(s.m * s.n, 3);
    auto call = [&] {
        if (impl < 3) {
            typenet::cpu_kernels::sgemm(CpuIsa(impl), s.ta, s.tb, s.m, s.n, s.k, 1.0f, a.data(), lda, b.data(), ldb,
                                        0.0f, c.data(), ldc);
        } else {
#if defined(TYPENET_HAS_CBLAS)
            cblas_sgemm(CblasRowMajor, s.ta ? CblasTrans : CblasNoTrans, s.tb ? CblasTrans : CblasNoTrans, int(s.m),
                        int(s.n), int(s.k), 1.0f, a.data(), int(lda), b.data(), int(ldb), 0.0f, c.data(), int(ldc));
#endif
        }
    };
    using clock = std::chrono::steady_clock;
    call();  // warm-up: packing buffers, page faults
    double total = 0, best = 1e30;
    for (auto _ : state) {
        const auto t0 = clock::now();
        call();
        const double sec = std::chrono::duration<double>(clock::now() - t0).count();
        state.SetIterationTime(sec);
        total += sec;
        best = std::min(best, sec);
    }
    benchmark::DoNotOptimize(c.data());
    const double flops = 2.0 * double(s.m) * double(s.n) * double(s.k);
    state.counters["GFLOP/s"] = flops / (total / double(state.iterations())) * 1e-9;
    state.counters["best_GFLOP/s"] = flops / best * 1e-9;
    if (peak_gflops() > 0) state.counters["%peak"] = 100.0 * flops / best * 1e-9 / peak_gflops();
}

void fma_peak(benchmark::State& state, int isa) {
    double best = 0;
    for (auto _ : state) best = std::max(best, typenet::cpu_kernels::measure_fp32_peak_gflops(CpuIsa(isa), 0.05));
    state.counters["peak_GFLOP/s"] = best;
}

}  // namespace

int main(int argc, char** argv) {
#if defined(TYPENET_HAS_OPENBLAS)
    openblas_set_num_threads(1);
#endif
    const CpuIsa widest = typenet::supported_isa();
    // The peak every %peak divides by: the widest path's best over 0.3 s.
    peak_gflops() = typenet::cpu_kernels::measure_fp32_peak_gflops(widest, 0.3);
    for (int isa = 0; isa <= int(widest); ++isa)
        benchmark::RegisterBenchmark((std::string("fma/peak/") + typenet::isa_key(CpuIsa(isa))).c_str(), fma_peak, isa)
            ->Iterations(3);
    for (const Shape& s : shapes) {
        const std::string shape = std::string(s.name) + "/" + std::to_string(s.m) + "x" + std::to_string(s.n) + "x" +
                                  std::to_string(s.k);
        for (int impl = int(widest); impl >= 0; --impl)
            benchmark::RegisterBenchmark(
                (std::string("sgemm/typenet-") + typenet::isa_key(CpuIsa(impl)) + "/" + shape).c_str(), run_shape, s,
                impl)
                ->UseManualTime()
                ->Unit(benchmark::kMicrosecond);
#if defined(TYPENET_HAS_CBLAS)
        benchmark::RegisterBenchmark(("sgemm/blas/" + shape).c_str(), run_shape, s, 3)
            ->UseManualTime()
            ->Unit(benchmark::kMicrosecond);
#endif
    }
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
    const std::string core = typenet::blas_corename();
    benchmark::AddCustomContext("blas", core.empty() ? "none" : "OpenBLAS " + core + " (" +
                                                                   typenet::isa_name(typenet::blas_isa()) + ")");
    benchmark::AddCustomContext("cpu_isa", typenet::isa_name(widest));
    benchmark::AddCustomContext("fma_peak_GFLOP/s", std::to_string(peak_gflops()));
    const std::size_t ran = benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (ran == 0) {
        std::cerr << "error: no benchmark matched the filter\n";
        return 1;
    }
    return 0;
}
