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
#include <vector>

#include "../../core/device.hpp"
#include "../../core/error.hpp"
#include "isa.hpp"
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
        pool_ = std::make_shared<cpu_detail::ThreadPool>(std::size_t(threads));
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

    /// Runs f(begin, end) over [0, count) split into threads() contiguous
    /// chunks on the pool, the calling thread taking the first; with one
    /// thread or count < 2 it calls f inline. f must not throw.
    template <class F>
    void parallel_for(std::size_t count, F&& f) const {
        const std::size_t chunks = std::min(count, static_cast<std::size_t>(threads_));
        if (chunks <= 1) {
            if (count > 0) f(std::size_t{0}, count);
            return;
        }
        const auto bound = [&](std::size_t c) { return count / chunks * c + std::min(c, count % chunks); };
        pool_->run([&](std::size_t c) {
            if (c < chunks) f(bound(c), bound(c + 1));
        });
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
    int threads_;
    CpuIsa isa_;
    std::shared_ptr<cpu_detail::ThreadPool> pool_;
};

}  // namespace typenet

#include "conv.hpp"
#include "elementwise.hpp"
#include "gemm.hpp"
#include "losses.hpp"
#include "optimizers.hpp"
#include "regularization.hpp"
#include "transfer.hpp"
