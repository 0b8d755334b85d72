// benchmarks/blas_info.hpp - which BLAS the benchmarks run on, for result headers.
//
// OpenBLAS picks its kernels at run time (OPENBLAS_CORETYPE overrides the
// detection), and the kernel set moves the SGEMM peak by tens of percent, so
// every published figure names it.
#pragma once

#include <cstdlib>
#include <string>

#if defined(TYPENET_HAS_OPENBLAS)
extern "C" char* openblas_get_config(void);
extern "C" char* openblas_get_corename(void);
#endif

namespace bench {

struct BlasInfo {
    std::string vendor;    // "OpenBLAS", "cblas" or "none (Eigen GEMM)"
    std::string config;    // openblas_get_config(): version and build options
    std::string corename;  // openblas_get_corename(): the kernel set in use
    std::string coretype_env;  // $OPENBLAS_CORETYPE, or "" when unset
};

inline BlasInfo blas_info() {
    BlasInfo b;
#if defined(TYPENET_HAS_OPENBLAS)
    b.vendor = "OpenBLAS";
    b.config = openblas_get_config();
    b.corename = openblas_get_corename();
#elif defined(TYPENET_HAS_CBLAS)
    b.vendor = "cblas";
#else
    b.vendor = "none (Eigen GEMM)";
#endif
    if (const char* env = std::getenv("OPENBLAS_CORETYPE")) b.coretype_env = env;
    return b;
}

}  // namespace bench
