// typenet/backend/cpu/cpu.hpp - the CPU backend object and its operation set.
//
// Matrix products go to BLAS (cblas_sgemm / cblas_dgemm) when typenet was
// configured with BLAS (TYPENET_HAS_CBLAS), otherwise to Eigen's GEMM.
// Elementwise work uses Eigen's vectorised array expressions. All threads come
// from one pool of threads() workers (GEMM blocks, parallel_for over images),
// so at most threads() threads ever run.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include <Eigen/Core>

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "isa.hpp"
#include "kernels/sgemm.hpp"
#include "thread_pool.hpp"

#if defined(TYPENET_HAS_OPENBLAS)
extern "C" void openblas_set_num_threads(int num_threads);
#endif

namespace typenet {

/// The CPU backend. `Cpu{}` uses every core; `Cpu{2}` uses two threads;
/// `Cpu{2, CpuIsa::avx2}` also narrows typenet's kernels to AVX2+FMA (the
/// default is the widest path the CPU has, see isa.hpp). Copies share one
/// pool of worker threads.
class Cpu {
public:
    using device = HostDevice;
    static constexpr const char* name = "cpu";

    explicit Cpu(int threads = default_threads(), CpuIsa isa = default_isa())
        : threads_(threads), isa_(checked_isa(isa, "typenet::Cpu")) {
        detail::require(threads >= 1, "typenet::Cpu: the thread count must be at least 1 (got " +
                                          std::to_string(threads) + "); use Cpu{} for all cores");
        // Each worker allocates its SGEMM packing memory as it starts, so
        // that no training step does, whichever thread runs which product.
        pool_ = std::make_shared<cpu_detail::ThreadPool>(std::size_t(threads), cpu_kernels::sgemm_prepare_thread);
        // BLAS itself stays single-threaded: all parallel work, GEMM blocks
        // included, runs on our pool (see thread_pool.hpp for why).
#if defined(TYPENET_HAS_OPENBLAS)
        openblas_set_num_threads(1);
#endif
    }

    /// Number of threads every op may use.
    int threads() const { return threads_; }
    /// The kernel path typenet's own float kernels run.
    CpuIsa isa() const { return isa_; }
    /// "CPU backend: 2 threads, AVX-512", for summaries and logs.
    std::string description() const {
        return "CPU backend: " + std::to_string(threads_) + (threads_ == 1 ? " thread, " : " threads, ") + isa_name(isa_);
    }
    cpu_detail::ThreadPool& pool() const { return *pool_; }

    /// Ops run synchronously on the CPU; nothing to wait for.
    void synchronize() const {}

    /// Runs f(begin, end) over [0, count) in contiguous pieces that the
    /// threads claim one at a time (a few pieces per thread), so a thread
    /// that the OS descheduled holds up one small piece rather than a
    /// 1/threads() share. With one thread or count < 2 it calls f inline.
    /// f must not throw, and must not depend on which thread runs a piece.
    template <class F>
    void parallel_for(std::size_t count, F&& f) const {
        const std::size_t pieces = std::min(count, pieces_per_thread * static_cast<std::size_t>(threads_));
        if (threads_ == 1 || pieces <= 1) {
            if (count > 0) f(std::size_t{0}, count);
            return;
        }
        const auto bound = [&](std::size_t c) { return count / pieces * c + std::min(c, count % pieces); };
        pool_->run_pieces(pieces, [&](std::size_t c) { f(bound(c), bound(c + 1)); });
    }

    /// Thread count from $TYPENET_THREADS when set, else all hardware threads.
    static int default_threads() {
        if (const char* env = std::getenv("TYPENET_THREADS")) {
            const int n = std::atoi(env);
            if (n >= 1) return n;
        }
        return std::max(1u, std::thread::hardware_concurrency());
    }

private:
    // More pieces balance better under load; each costs an atomic claim.
    static constexpr std::size_t pieces_per_thread = 4;
    int threads_;
    CpuIsa isa_;
    std::shared_ptr<cpu_detail::ThreadPool> pool_;
};

namespace cpu_detail {

// Below this many values touched a loop runs inline: starting threads costs
// tens of microseconds, as much as copying ~100 KB.
inline constexpr std::size_t parallel_min_values = std::size_t{1} << 15;

template <class F>
void parallel_items(const Cpu& be, std::size_t count, std::size_t values_per_item, F&& f) {
    if (count * values_per_item < parallel_min_values)
        f(std::size_t{0}, count);
    else
        be.parallel_for(count, f);
}

// A row of values as an Eigen array (T may be const), for fills, sums and
// bias adds that Eigen vectorises at any optimisation level.
template <class T>
using VectorOf = std::conditional_t<std::is_const_v<T>, const Eigen::Array<std::remove_const_t<T>, Eigen::Dynamic, 1>,
                                    Eigen::Array<T, Eigen::Dynamic, 1>>;
template <class T>
Eigen::Map<VectorOf<T>> row(T* p, std::size_t count) {
    return {p, Eigen::Index(count)};
}

// Calls f(s) with the column stride s as a compile-time constant when it is
// 1 or 2, so the compiler can vectorise loops over x[o * s], else as a value.
template <class F>
void with_stride(std::size_t stride, F&& f) {
    if (stride == 1)
        f(std::integral_constant<std::size_t, 1>{});
    else if (stride == 2)
        f(std::integral_constant<std::size_t, 2>{});
    else
        f(stride);
}

}  // namespace cpu_detail

}  // namespace typenet

#include "augment.hpp"
#include "batch.hpp"
#include "batchnorm.hpp"
#include "conv.hpp"
#include "conv_pool.hpp"
#include "dropout.hpp"
#include "elementwise.hpp"
#include "gemm.hpp"
#include "losses.hpp"
#include "optimizers.hpp"
#include "pool.hpp"
