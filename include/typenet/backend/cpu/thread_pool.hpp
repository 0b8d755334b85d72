// typenet/backend/cpu/thread_pool.hpp - the CPU backend's persistent workers.
//
// Why our own pool: OpenBLAS's threads busy-wait (sched_yield) between calls,
// and any other thread that runs meanwhile - ours for im2col or pooling -
// fights them for the cores; on 2 cores that more than doubled a training
// step. So BLAS runs single-threaded and every parallel region, GEMM
// partitions included, runs on this one pool: at most threads() threads ever.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

#if __has_include(<sys/resource.h>)
#include <sys/resource.h>
#define TYPENET_HAS_RUSAGE 1
#endif

namespace typenet::cpu_detail {

/// How long a pool thread spins before it sleeps, from how often the
/// process's threads were preempted: a sleeping thread costs a wake-up of
/// tens of microseconds (an IPI and, in a VM, an exit) at every parallel
/// region, which on 2 cores cost 1.2-1.6x per training step; but spinning
/// while the cores are shared burns the time slices the other threads need.
/// Quiet (measured 10-130 preemptions/s per thread) spin long; shared
/// (~2,700/s per thread beside a one-core busy loop) spin briefly.
struct SpinPolicy {
    static constexpr long long long_ns = 100'000;
    static constexpr long long short_ns = 4'000;
    static constexpr double preemptions_per_thread_per_s = 500.0;

    static long long spin_ns(long preemptions, double seconds, std::size_t threads) {
        const double rate = static_cast<double>(preemptions) / (seconds * static_cast<double>(threads));
        return rate > preemptions_per_thread_per_s ? short_ns : long_ns;
    }
};

/// A non-owning reference to a callable void(std::size_t): unlike
/// std::function it never allocates, so a parallel region costs no heap
/// allocation in the training loop.
class TaskRef {
public:
    template <class F>
    TaskRef(F& f)
        : object_(const_cast<void*>(static_cast<const void*>(&f))),
          call_([](void* o, std::size_t i) { (*static_cast<F*>(o))(i); }) {}
    void operator()(std::size_t i) const { call_(object_, i); }

private:
    void* object_;
    void (*call_)(void*, std::size_t);
};

class ThreadPool {
public:
    explicit ThreadPool(std::size_t threads) : size_(threads < 1 ? 1 : threads) {
        for (std::size_t i = 1; i < size_; ++i) workers_.emplace_back([this, i] { work(i); });
    }
    ~ThreadPool() {
        stop_.store(true, std::memory_order_relaxed);
        publish();
        for (auto& w : workers_) w.join();
    }
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    std::size_t size() const { return size_; }

    /// Runs task(i) for i in [0, size()) - i = 0 on the caller - and returns
    /// when all are done. Not re-entrant: tasks must not call run().
    template <class F>
    void run(F&& f) {
        TaskRef task(f);
        if (size_ == 1) {
            task(0);
            return;
        }
        adapt_spin();
        task_ = task;
        pending_.store(size_ - 1, std::memory_order_relaxed);
        publish();
        task(0);
        // Workers finish within microseconds of the caller for balanced work:
        // spin before sleeping.
        if (!spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; })) {
            std::unique_lock lock(mutex_);
            done_.wait(lock, [&] { return pending_.load(std::memory_order_acquire) == 0; });
        }
    }

    /// Runs piece(p) for p in [0, pieces), each once, on all threads: each
    /// claims the next unclaimed piece until none is left, so the work
    /// follows whichever threads the OS runs. No allocation (the counter is
    /// on this stack frame, which run() outlives every task's use of).
    template <class F>
    void run_pieces(std::size_t pieces, F&& piece) {
        std::atomic<std::size_t> next{0};
        run([&](std::size_t) {
            for (std::size_t p = next.fetch_add(1, std::memory_order_relaxed); p < pieces;
                 p = next.fetch_add(1, std::memory_order_relaxed))
                piece(p);
        });
    }

private:
    // Sleeping uses a mutex and condition variables (the counters change
    // under the mutex), so no wake-up is lost; spinning first keeps the
    // common back-to-back regions free of system calls.
    static long preemptions_so_far() {
#ifdef TYPENET_HAS_RUSAGE
        rusage usage{};
        if (getrusage(RUSAGE_SELF, &usage) == 0) return static_cast<long>(usage.ru_nivcsw);
#endif
        return 0;
    }

    // The caller re-reads the preemption count at most every 10 ms.
    void adapt_spin() {
#ifdef TYPENET_HAS_RUSAGE
        const auto now = std::chrono::steady_clock::now();
        const double seconds = std::chrono::duration<double>(now - checked_at_).count();
        if (seconds < 0.01) return;
        const long preemptions = preemptions_so_far();
        spin_ns_.store(SpinPolicy::spin_ns(preemptions - preemptions_, seconds, size_),
                       std::memory_order_relaxed);
        preemptions_ = preemptions;
        checked_at_ = now;
#endif
    }

    // True when done() held within the spin budget; pause keeps the spinning
    // hyperthread from starving its sibling.
    template <class Done>
    bool spin_until(Done done) const {
        if (done()) return true;
        const auto budget = std::chrono::nanoseconds(spin_ns_.load(std::memory_order_relaxed));
        const auto start = std::chrono::steady_clock::now();
        while (true) {
            for (int k = 0; k < 16; ++k) {
#if defined(__x86_64__) || defined(__i386__)
                __builtin_ia32_pause();
#endif
                if (done()) return true;
            }
            if (std::chrono::steady_clock::now() - start > budget) return done();
        }
    }

    void publish() {
        {
            std::lock_guard lock(mutex_);
            generation_.fetch_add(1, std::memory_order_release);
        }
        wake_.notify_all();
    }

    void work(std::size_t index) {
        std::uint64_t seen = 0;
        while (true) {
            // Spin (the next parallel region usually follows soon), then sleep.
            if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, [&] { return generation_.load(std::memory_order_acquire) != seen; });
            }
            seen = generation_.load(std::memory_order_acquire);
            if (stop_.load(std::memory_order_relaxed)) return;
            task_(index);
            if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
                std::lock_guard lock(mutex_);
                done_.notify_one();
            }
        }
    }

    static inline auto noop_ = [](std::size_t) {};
    std::size_t size_;
    std::vector<std::thread> workers_;
    TaskRef task_{noop_};
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<std::size_t> pending_{0};
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::atomic<long long> spin_ns_{SpinPolicy::long_ns};
    std::chrono::steady_clock::time_point checked_at_ = std::chrono::steady_clock::now();
    long preemptions_ = preemptions_so_far();
};

}  // namespace typenet::cpu_detail
