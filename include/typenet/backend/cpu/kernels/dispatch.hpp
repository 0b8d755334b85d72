// typenet/backend/cpu/kernels/dispatch.hpp - calling the variant of a path.
#pragma once

#include "../isa.hpp"

namespace typenet::cpu_kernels {}

// TYPENET_ISA_CALL(isa, f, args...) calls cpu_kernels::<path>::f(args...)
// for the CpuIsa value isa. Off x86-64 every path is the portable one.
#if defined(TYPENET_X86_KERNELS)
#define TYPENET_ISA_CALL(isa, f, ...)                                                            \
    ((isa) == ::typenet::CpuIsa::avx512 ? ::typenet::cpu_kernels::avx512::f(__VA_ARGS__)         \
     : (isa) == ::typenet::CpuIsa::avx2 ? ::typenet::cpu_kernels::avx2::f(__VA_ARGS__)           \
                                        : ::typenet::cpu_kernels::portable::f(__VA_ARGS__))
#else
#define TYPENET_ISA_CALL(isa, f, ...) ((void)(isa), ::typenet::cpu_kernels::portable::f(__VA_ARGS__))
#endif
