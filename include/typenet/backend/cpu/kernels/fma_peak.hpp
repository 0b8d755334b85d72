// typenet/backend/cpu/kernels/fma_peak.hpp - the single-thread FP32 FMA peak.
//
// measure_fp32_peak_gflops(isa, seconds) runs a loop of independent vector
// FMAs (enough chains to cover the FMA latency on every port) with the
// kernels of path `isa` and returns the best rate seen, in GFLOP/s (an FMA
// counts as 2 flops). Benchmarks divide by it to report % of peak: it is what
// this core reaches at its present clock, not a datasheet figure.
#pragma once

#include <chrono>
#include <cstddef>

#include "../isa.hpp"
#include "dispatch.hpp"

// nvcc's front end does not know GCC's unroll pragma (the host compiler,
// which it reaches, does): silence its warning for the kernel bodies only.
#if defined(__CUDACC__)
#pragma nv_diag_suppress 1675
#endif
#define TYPENET_ISA_BODY "fma_peak_body.hpp"
#include "foreach_isa.hpp"
#if defined(__CUDACC__)
#pragma nv_diag_default 1675
#endif

namespace typenet::cpu_kernels {

/// Best single-thread FP32 rate of `isa`'s FMA loop over about `seconds`.
inline double measure_fp32_peak_gflops(CpuIsa isa, double seconds) {
    using clock = std::chrono::steady_clock;
    const double flops_per_iteration = TYPENET_ISA_CALL(isa, fma_peak_flops_per_iteration);
    volatile float sink = 0.0f;  // keeps the loop's result alive
    long iterations = 1024;
    double best = 0.0, spent = 0.0;
    while (spent < seconds || best == 0.0) {
        const auto t0 = clock::now();
        sink = sink + TYPENET_ISA_CALL(isa, fma_peak_loop, iterations, 1.0f);
        const double s = std::chrono::duration<double>(clock::now() - t0).count();
        spent += s;
        if (s < 1e-3) {  // too short to time well: longer runs, not counted
            iterations *= 2;
            continue;
        }
        best = std::max(best, flops_per_iteration * double(iterations) / s * 1e-9);
    }
    return best;
}

}  // namespace typenet::cpu_kernels
