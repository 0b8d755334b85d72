// typenet/backend/cpu/isa.hpp - which vector instructions the CPU kernels use.
//
// typenet's own float kernels (backend/cpu/kernels/) are compiled three times
// in the user's translation unit - for AVX-512, for AVX2+FMA and portably -
// with per-function target options, so a build without -march still has the
// wide code, and the binary runs on any x86-64. The widest path that the CPU
// and the operating system support is chosen once, from CPUID and XGETBV;
// $TYPENET_CPU_ISA (portable | avx2 | avx512) or Cpu{threads, isa} picks a
// narrower one. Off x86-64 there is only the portable path.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "../../core/error.hpp"

#if (defined(__x86_64__) || defined(_M_X64)) && (defined(__GNUC__) || defined(__clang__))
#define TYPENET_X86_KERNELS 1
#include <cpuid.h>
#include <immintrin.h>  // declares every intrinsic; target regions enable them
#endif

namespace typenet {

/// A family of kernel variants, narrowest first.
enum class CpuIsa : int { portable = 0, avx2 = 1, avx512 = 2 };

/// "portable", "AVX2+FMA", "AVX-512" (for summaries and benchmark tables).
constexpr const char* isa_name(CpuIsa isa) {
    switch (isa) {
        case CpuIsa::avx512: return "AVX-512";
        case CpuIsa::avx2: return "AVX2+FMA";
        case CpuIsa::portable: break;
    }
    return "portable";
}

/// The value $TYPENET_CPU_ISA takes for each path.
constexpr const char* isa_key(CpuIsa isa) {
    switch (isa) {
        case CpuIsa::avx512: return "avx512";
        case CpuIsa::avx2: return "avx2";
        case CpuIsa::portable: break;
    }
    return "portable";
}

namespace cpu_detail {

#if defined(TYPENET_X86_KERNELS)
inline unsigned long long read_xcr0() {
    unsigned lo = 0, hi = 0;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return (static_cast<unsigned long long>(hi) << 32) | lo;
}
#endif

/// The widest path this CPU and OS run: AVX-512 needs F, BW, DQ and VL with
/// the OS saving ZMM state; AVX2 needs AVX2, FMA and saved YMM state.
inline CpuIsa detect_isa() noexcept {
#if defined(TYPENET_X86_KERNELS)
    unsigned a = 0, b = 0, c = 0, d = 0;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return CpuIsa::portable;
    const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
    if (!(fma && osxsave && avx)) return CpuIsa::portable;
    const unsigned long long xcr0 = read_xcr0();
    if ((xcr0 & 0x6) != 0x6) return CpuIsa::portable;  // XMM and YMM state
    if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return CpuIsa::portable;
    const bool avx2 = b & (1u << 5);
    if (!avx2) return CpuIsa::portable;
    const bool f = b & (1u << 16), dq = b & (1u << 17), bw = b & (1u << 30), vl = b & (1u << 31);
    if (f && dq && bw && vl && (xcr0 & 0xe0) == 0xe0) return CpuIsa::avx512;  // opmask, ZMM0-15, ZMM16-31
    return CpuIsa::avx2;
#else
    return CpuIsa::portable;
#endif
}

/// Parses a $TYPENET_CPU_ISA value; throws ArgumentError naming the choices.
inline CpuIsa parse_isa(const char* text) {
    for (CpuIsa isa : {CpuIsa::portable, CpuIsa::avx2, CpuIsa::avx512})
        if (std::strcmp(text, isa_key(isa)) == 0) return isa;
    throw ArgumentError(std::string("typenet: TYPENET_CPU_ISA='") + text +
                        "' is not a kernel path; use portable, avx2 or avx512 (or unset it for the widest the CPU has)");
}

}  // namespace cpu_detail

/// The widest kernel path this machine supports (CPUID, read once).
inline CpuIsa supported_isa() {
    static const CpuIsa isa = cpu_detail::detect_isa();
    return isa;
}

/// Throws BackendError when `isa` is wider than this machine supports.
inline CpuIsa checked_isa(CpuIsa isa, const char* where) {
    if (static_cast<int>(isa) > static_cast<int>(supported_isa()))
        throw BackendError(std::string("typenet: ") + where + " asks for the " + isa_name(isa) +
                           " kernels, but this CPU supports at most " + isa_name(supported_isa()) +
                           "; ask for a narrower path or leave the choice to typenet");
    return isa;
}

/// The path the CPU backend uses by default: supported_isa(), or
/// $TYPENET_CPU_ISA when set (which may only narrow it).
inline CpuIsa default_isa() {
    const char* env = std::getenv("TYPENET_CPU_ISA");
    if (!env || !*env) return supported_isa();
    return checked_isa(cpu_detail::parse_isa(env), "TYPENET_CPU_ISA");
}

}  // namespace typenet
