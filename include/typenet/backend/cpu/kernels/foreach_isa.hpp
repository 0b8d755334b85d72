// typenet/backend/cpu/kernels/foreach_isa.hpp - compiles one kernel body per ISA.
//
// Usage (no include guard, on purpose):
//     #define TYPENET_ISA_BODY "my_kernel_body.hpp"
//     #include "foreach_isa.hpp"
// includes the body three times, in namespaces typenet::cpu_kernels::avx512,
// ::avx2 and ::portable. Inside, TYPENET_ISA is 2, 1 or 0 and simd.hpp's Vec
// is that path's vector type. The x86 bodies sit in regions whose functions
// (templates too) get the target's options, so they compile to AVX-512 or
// AVX2+FMA whatever flags the includer uses, and only run when dispatched.
// Dispatch with TYPENET_ISA_CALL(isa, function, args...).
#ifndef TYPENET_ISA_BODY
#error "define TYPENET_ISA_BODY (the body header's name) before including foreach_isa.hpp"
#endif

// The kernels are compiled at -O3 whatever the includer's level (GCC; each
// path's region of options ends the pragma's effect): at -O2 (CMake's
// RelWithDebInfo) conv2's forward and backward ran 4-11% slower, at -O0
// (Debug) the CNN's epoch took 82 s rather than 25 s. nvcc's front end does not
// know the pragma; the host compiler, which it reaches, does.
// -DTYPENET_KERNELS_O3=0 keeps the includer's level: the sanitizer builds
// set it (they check correctness; under ASan at -O2 the -O3 kernels took
// tests/test_kernels_conv.cpp's compile from 110 to 139 s).
#if !defined(TYPENET_KERNELS_O3)
#define TYPENET_KERNELS_O3 1
#endif
#if defined(__CUDACC__)
#pragma nv_diagnostic push
#pragma nv_diag_suppress 1675
#endif

#if defined(TYPENET_X86_KERNELS)
// GCC 12's AVX-512 intrinsics start from _mm512_undefined_ps(), which its
// -W(maybe-)uninitialized flags once inlined; the values are never read.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#endif
#if defined(__clang__)
#pragma clang attribute push(__attribute__((target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi2"))), \
                             apply_to = function)
#else
#pragma GCC push_options
#pragma GCC target("avx512f,avx512vl,avx512bw,avx512dq,avx2,fma,bmi2")
#if TYPENET_KERNELS_O3
#pragma GCC optimize("O3")
#endif
#endif
#define TYPENET_ISA 2
namespace typenet::cpu_kernels::avx512 {
#include "simd.hpp"
#include TYPENET_ISA_BODY
}  // namespace typenet::cpu_kernels::avx512
#undef TYPENET_ISA
#if defined(__clang__)
#pragma clang attribute pop
#pragma clang attribute push(__attribute__((target("avx2,fma,bmi2"))), apply_to = function)
#else
#pragma GCC pop_options
#pragma GCC push_options
#pragma GCC target("avx2,fma,bmi2")
#if TYPENET_KERNELS_O3
#pragma GCC optimize("O3")
#endif
#endif
#define TYPENET_ISA 1
namespace typenet::cpu_kernels::avx2 {
#include "simd.hpp"
#include TYPENET_ISA_BODY
}  // namespace typenet::cpu_kernels::avx2
#undef TYPENET_ISA
#if defined(__clang__)
#pragma clang attribute pop
#else
#pragma GCC pop_options
#endif
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic pop
#endif
#endif  // TYPENET_X86_KERNELS

#if defined(__GNUC__) && !defined(__clang__) && TYPENET_KERNELS_O3
#pragma GCC push_options
#pragma GCC optimize("O3")
#endif
#define TYPENET_ISA 0
namespace typenet::cpu_kernels::portable {
#include "simd.hpp"
#include TYPENET_ISA_BODY
}  // namespace typenet::cpu_kernels::portable
#undef TYPENET_ISA
#if defined(__GNUC__) && !defined(__clang__) && TYPENET_KERNELS_O3
#pragma GCC pop_options
#endif
#undef TYPENET_ISA_BODY

#if defined(__CUDACC__)
#pragma nv_diagnostic pop
#endif
