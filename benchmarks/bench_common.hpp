// benchmarks/bench_common.hpp - what typenet's Google Benchmark suites share.
//
// Every case is a function template over the backend, so the CPU cases and,
// in a CUDA build, the same cases on tn::Cuda come from one body. Timing puts
// be.synchronize() inside each timed iteration (manual time), so an
// asynchronous backend is timed to completion and the CPU pays nothing.
// Counters are computed here from that time, not by Google Benchmark's rate
// flags, so every suite reports the same units the same way.
#pragma once

#include <benchmark/benchmark.h>
#include <typenet/typenet.hpp>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include <typenet/backend/cpu/kernels/fma_peak.hpp>

#include "blas_info.hpp"

// The project version, from CMake (project(typenet VERSION ...)).
#ifndef TYPENET_BENCH_VERSION
#define TYPENET_BENCH_VERSION "unknown"
#endif

namespace bench {

namespace tn = typenet;

// --- options ----------------------------------------------------------------

/// CPU thread counts every CPU case is registered with: --threads=1,2 (default 2).
inline std::vector<int>& thread_counts() {
    static std::vector<int> counts{2};
    return counts;
}

/// Removes "--threads=LIST" from argv (Google Benchmark rejects flags it does
/// not know) and stores the list. Exits with a message on a bad list.
inline void parse_threads(int& argc, char** argv) {
    int out = 1;
    for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a.rfind("--threads=", 0) != 0) {
            argv[out++] = argv[i];
            continue;
        }
        thread_counts().clear();
        std::size_t pos = 10;
        while (pos <= a.size()) {
            const std::size_t comma = std::min(a.find(',', pos), a.size());
            const int t = std::atoi(a.substr(pos, comma - pos).c_str());
            if (t < 1) {
                std::cerr << "error: --threads takes a comma-separated list of counts >= 1, e.g. --threads=1,2\n";
                std::exit(2);
            }
            thread_counts().push_back(t);
            pos = comma + 1;
        }
    }
    argc = out;
}

/// The thread counts to register backend B with: the --threads list for the
/// CPU; a single 0 (no thread count in the name) for device backends.
template <class B>
std::vector<int> threads_for() {
    if constexpr (std::is_same_v<B, tn::Cpu>) return thread_counts();
    else return {0};
}

template <class B>
B make_backend(int threads) {
    if constexpr (std::is_same_v<B, tn::Cpu>) return tn::Cpu{threads};
    else return B{};
}

/// "<family>/<op>/<backend>/<shape>[/threads:N]", the names filters match.
template <class B>
std::string case_name(const std::string& family_op, const std::string& shape, int threads) {
    std::string s = family_op + "/" + B::name + "/" + shape;
    if (threads > 0) s += "/threads:" + std::to_string(threads);
    return s;
}

// --- data -------------------------------------------------------------------

template <class B, class T = float>
using DeviceTensor = tn::Tensor<T, typename B::device>;

/// n values uniform in [lo, hi) on B's device, from a fixed seed.
template <class B>
DeviceTensor<B> random_tensor(std::size_t n, std::uint64_t seed, double lo = -1.0, double hi = 1.0) {
    tn::Rng rng(seed);
    std::vector<float> host(n);
    for (auto& v : host) v = static_cast<float>(rng.uniform(lo, hi));
    DeviceTensor<B> t(tn::Dims{n});
    t.from_host(std::span<const float>(host));
    return t;
}

/// n class labels in [0, classes) on B's device.
template <class B>
DeviceTensor<B, std::int32_t> random_labels(std::size_t n, std::size_t classes, std::uint64_t seed) {
    tn::Rng rng(seed);
    std::vector<std::int32_t> host(n);
    for (auto& v : host) v = static_cast<std::int32_t>(rng.uniform() * double(classes)) % std::int32_t(classes);
    DeviceTensor<B, std::int32_t> t(tn::Dims{n});
    t.from_host(std::span<const std::int32_t>(host));
    return t;
}

// --- timing and counters ----------------------------------------------------

/// Times op() once per iteration, synchronising inside the timed region, and
/// returns the summed seconds. One untimed call first: first-touch page
/// faults and the pool's first wake-up are not what a training loop pays.
template <class B, class F>
double time_iterations(benchmark::State& state, B& be, F&& op) {
    using clock = std::chrono::steady_clock;
    op();
    be.synchronize();
    double total = 0;
    for (auto _ : state) {
        const auto t0 = clock::now();
        op();
        be.synchronize();
        const double s = std::chrono::duration<double>(clock::now() - t0).count();
        state.SetIterationTime(s);
        total += s;
    }
    return total;
}

/// Work done by one iteration; zero fields produce no counter.
struct Work {
    double flops = 0;     // -> GFLOP/s, and %peak when a peak is given
    double images = 0;    // -> images/s (samples of the batch)
    double bytes = 0;     // -> GB/s: compulsory traffic, each array read or written once
    double elements = 0;  // -> ns/elem: the figure that shows memory-bound ops' cost per value
};

inline void set_counters(benchmark::State& state, double seconds, const Work& w, double peak_gflops = 0) {
    const double iters = double(state.iterations());
    if (seconds <= 0 || iters <= 0) return;
    const double per_iter = seconds / iters;
    if (w.flops > 0) {
        const double gflops = w.flops / per_iter * 1e-9;
        state.counters["GFLOP/s"] = gflops;
        if (peak_gflops > 0) state.counters["%peak"] = 100.0 * gflops / peak_gflops;
    }
    if (w.images > 0) state.counters["images/s"] = w.images / per_iter;
    if (w.bytes > 0) state.counters["GB/s"] = w.bytes / per_iter * 1e-9;
    if (w.elements > 0) state.counters["ns/elem"] = per_iter / w.elements * 1e9;
}

// --- the shared peak ---------------------------------------------------------

inline constexpr std::size_t peak_size = 2048;

/// GFLOP/s of a 2048^3 SGEMM through typenet's gemm on backend B with
/// `threads` threads (BLAS per pool thread on the CPU, cuBLAS on CUDA): the
/// best of 3 timed calls after a warm-up. Measured once per process and
/// (backend, thread count); every %peak counter of the run divides by it.
template <class B>
double sgemm_peak_gflops(int threads) {
    static std::map<int, double> cache;
    if (auto it = cache.find(threads); it != cache.end()) return it->second;
    using clock = std::chrono::steady_clock;
    B be = make_backend<B>(threads);
    const std::size_t n = peak_size;
    auto a = random_tensor<B>(n * n, 1), b = random_tensor<B>(n * n, 2), c = random_tensor<B>(n * n, 3);
    double best = 1e30;
    for (int rep = 0; rep < 4; ++rep) {  // rep 0 warms up
        const auto t0 = clock::now();
        gemm(be, false, false, n, n, n, 1.0f, a.data(), n, b.data(), n, 0.0f, c.data(), n);
        be.synchronize();
        const double s = std::chrono::duration<double>(clock::now() - t0).count();
        if (rep > 0) best = std::min(best, s);
    }
    return cache[threads] = 2.0 * double(n) * double(n) * double(n) / best * 1e-9;
}

/// What every %peak counter divides by. On the CPU: the machine's measured
/// fp32 FMA throughput on the backend's kernel path (a loop of independent
/// FMAs, one thread, times the thread count), so a mis-dispatched BLAS cannot
/// lower the yardstick. On a GPU: the 2048^3 SGEMM above.
template <class B>
double peak_gflops(int threads) {
    if constexpr (std::is_same_v<B, tn::Cpu>) {
        static std::map<int, double> cache;
        if (auto it = cache.find(threads); it != cache.end()) return it->second;
        return cache[threads] = tn::cpu_kernels::measure_fp32_peak_gflops(make_backend<B>(1).isa(), 0.2) * threads;
    } else {
        return sgemm_peak_gflops<B>(threads);
    }
}

#if defined(TYPENET_CUDA) && defined(__CUDACC__)
/// Whether to register the CUDA cases: only where a GPU can be used, since CI
/// builds the CUDA path on machines without one (the CPU cases still run).
inline bool cuda_available() {
    const std::string why = tn::Cuda::unavailable_reason();
    if (!why.empty()) std::cerr << "note: CUDA cases not registered: " << why << "\n";
    return why.empty();
}
#endif

// --- errors and main --------------------------------------------------------

inline int& failures() {
    static int count = 0;
    return count;
}

/// Runs a case body; an exception becomes a benchmark error (printed as
/// "ERROR OCCURRED") and a failing exit status, so a smoke run catches it.
template <class F>
void guarded(benchmark::State& state, F&& body) {
    try {
        body();
    } catch (const std::exception& e) {
        ++failures();
        state.SkipWithError(e.what());
    }
}

/// Marks a case failed when a result that must hold (a finite loss) does not.
inline void check(benchmark::State& state, bool ok, const char* what) {
    if (ok) return;
    ++failures();
    state.SkipWithError(what);
}

/// Registers a suite's cases, reg(std::type_identity<Backend>{}), for every
/// backend this build has: the CPU and, in a CUDA build with a usable GPU,
/// tn::Cuda (timed with a synchronize inside each iteration). The backend
/// travels as an argument: nvcc warns (#445) on a lambda template whose
/// parameter appears in no function parameter.
template <class Register>
void register_all_backends(Register&& reg) {
    reg(std::type_identity<tn::Cpu>{});
#if defined(TYPENET_CUDA) && defined(__CUDACC__)
    if (cuda_available()) reg(std::type_identity<tn::Cuda>{});
#endif
}

/// main() of a suite whose cases register_backend<B>() registers, for every
/// backend this build has.
#define TYPENET_BENCH_MAIN(register_backend)                                                             \
    int main(int argc, char** argv) {                                                                    \
        return ::bench::run_main(argc, argv, [] {                                                        \
            ::bench::register_all_backends([]<class B>(std::type_identity<B>) { register_backend<B>(); }); \
        });                                                                                              \
    }

/// The main of every suite: --threads, registration, Google Benchmark's flags.
/// Exits non-zero when a case failed or when the filter matched no case, so
/// a renamed case cannot silently drop out of the CI smoke run.
inline int run_main(int argc, char** argv, void (*register_cases)()) {
    parse_threads(argc, argv);
    register_cases();
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 2;
    const BlasInfo blas = blas_info();
    benchmark::AddCustomContext("typenet", TYPENET_BENCH_VERSION);
    benchmark::AddCustomContext("blas", blas.vendor + (blas.corename.empty() ? "" : " " + blas.corename));
    benchmark::AddCustomContext("OPENBLAS_CORETYPE", blas.coretype_env.empty() ? "(unset)" : blas.coretype_env);
#if defined(TYPENET_CUDA) && defined(__CUDACC__)
    if (tn::Cuda::unavailable_reason().empty()) benchmark::AddCustomContext("gpu", tn::Cuda{}.device_name());
#endif
    const std::size_t ran = benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    if (ran == 0) {
        std::cerr << "error: no benchmark matched the filter\n";
        return 1;
    }
    if (failures() > 0) {
        std::cerr << "error: " << failures() << " benchmark case(s) failed\n";
        return 1;
    }
    return 0;
}

}  // namespace bench
