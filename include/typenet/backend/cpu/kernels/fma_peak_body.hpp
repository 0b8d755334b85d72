// typenet/backend/cpu/kernels/fma_peak_body.hpp - the FMA loop of one path.
// Included by foreach_isa.hpp (through fma_peak.hpp) once per path: no #include.

// Independent chains: FMA latency (4) x ports (2) vectors must be in flight;
// 24 zmm (of 32), 12 ymm and 8 xmm (of 16) leave room for the constants.
#if TYPENET_ISA == 2
inline constexpr int fma_peak_chains = 24;
#elif TYPENET_ISA == 1
inline constexpr int fma_peak_chains = 12;
#else
inline constexpr int fma_peak_chains = 8;
#endif

inline double fma_peak_flops_per_iteration() { return 2.0 * fma_peak_chains * Vec::width; }

/// `iterations` rounds of fma_peak_chains vector FMAs; returns their sum.
inline float fma_peak_loop(long iterations, float seed) {
    Vec acc[fma_peak_chains];
#pragma GCC unroll 32
    for (int i = 0; i < fma_peak_chains; ++i) acc[i] = Vec::set1(seed + float(i));
    // x < 1 and a small y keep every chain finite and normal however long it runs.
    const Vec x = Vec::set1(0.9999f), y = Vec::set1(1e-3f);
    for (long it = 0; it < iterations; ++it)
#pragma GCC unroll 32
        for (int i = 0; i < fma_peak_chains; ++i) acc[i] = Vec::fmadd(acc[i], x, y);
    Vec s = acc[0];
#pragma GCC unroll 32
    for (int i = 1; i < fma_peak_chains; ++i) s = Vec::add(s, acc[i]);
    return Vec::sum(s);
}
