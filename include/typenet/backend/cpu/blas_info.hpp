// typenet/backend/cpu/blas_info.hpp - which kernel family the BLAS runs.
//
// OpenBLAS picks its kernels at run time from the CPU (or $OPENBLAS_CORETYPE)
// and a build or CPU it does not know gets narrower code than the CPU runs:
// on an AVX-512 machine "Prescott" SGEMM is several times slower. blas_isa()
// maps openblas_get_corename() to a CpuIsa, so the backend can compare it
// with supported_isa() and prefer typenet's own kernels when BLAS is narrower.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

#include "isa.hpp"

#if defined(TYPENET_HAS_OPENBLAS)
extern "C" char* openblas_get_corename(void);
#endif

namespace typenet {

/// The widest path an OpenBLAS core name's SGEMM kernels use: SkylakeX,
/// Cooperlake and SapphireRapids are AVX-512; Haswell and Zen are AVX2+FMA;
/// anything else (Prescott, Sandybridge, an unknown name) counts as portable.
inline CpuIsa blas_isa_from_corename(std::string_view name) {
    auto is = [&](std::string_view want) {
        if (name.size() != want.size()) return false;
        for (std::size_t i = 0; i < name.size(); ++i)
            if (std::tolower(static_cast<unsigned char>(name[i])) != std::tolower(static_cast<unsigned char>(want[i])))
                return false;
        return true;
    };
    if (is("SkylakeX") || is("Cooperlake") || is("SapphireRapids")) return CpuIsa::avx512;
    if (is("Haswell") || is("Zen")) return CpuIsa::avx2;
    return CpuIsa::portable;
}

/// openblas_get_corename(), or "" without OpenBLAS.
inline std::string blas_corename() {
#if defined(TYPENET_HAS_OPENBLAS)
    const char* name = openblas_get_corename();
    return name ? std::string(name) : std::string();
#else
    return {};
#endif
}

/// The kernel family the linked BLAS runs its SGEMM with (portable without OpenBLAS).
inline CpuIsa blas_isa() { return blas_isa_from_corename(blas_corename()); }

}  // namespace typenet
