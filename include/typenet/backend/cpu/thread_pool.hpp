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
    /// `prepare`, when given, runs once on each worker thread before the
    /// constructor returns: per-thread buffers that kernels allocate on a
    /// thread's first use exist before training starts, whichever thread
    /// claims which index later.
    explicit ThreadPool(std::size_t threads, void (*prepare)() = nullptr) : size_(threads < 1 ? 1 : threads) {
        try {
            for (std::size_t i = 1; i < size_; ++i)
                workers_.emplace_back([this, prepare] {
                    if (prepare) prepare();
                    {
                        std::lock_guard lock(mutex_);
                        ++started_;
                    }
                    done_.notify_one();
                    work();
                });
        } catch (...) {  // std::system_error: stop the threads that did start
            stop();
            throw;
        }
        std::unique_lock lock(mutex_);
        done_.wait(lock, [&] { return started_ == workers_.size(); });
    }
    ~ThreadPool() { stop(); }
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    std::size_t size() const { return size_; }

    /// Runs task(i) for i in [0, size()), each index once, and returns when
    /// all are done. The caller and the workers claim indices one at a time,
    /// so when a worker is descheduled (the cores are shared) or still
    /// waking up, the caller runs its index too and returns without waiting
    /// for it; a worker waits only for indices that a running thread claimed.
    /// task(i) must not depend on which thread runs it. Not re-entrant:
    /// tasks must not call run().
    template <class F>
    void run(F&& f) {
        TaskRef task(f);
        if (size_ == 1) {
            task(0);
            return;
        }
        adapt_spin();
        task_ = task;
        finished_.store(0, std::memory_order_relaxed);
        const std::uint32_t region = ++regions_;
        publish(region);
        for (std::size_t i = claim(region); i < size_; i = claim(region)) {
            task(i);
            finished_.fetch_add(1, std::memory_order_acq_rel);
        }
        // A worker that claimed an index is running it (or was preempted in
        // it): spin for a balanced finish before sleeping.
        if (!spin_until([&] { return finished_.load(std::memory_order_acquire) == size_; })) {
            std::unique_lock lock(mutex_);
            done_.wait(lock, [&] { return finished_.load(std::memory_order_acquire) == size_; });
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

    void stop() {
        stop_.store(true, std::memory_order_relaxed);
        publish(++regions_);
        for (auto& w : workers_) w.join();
    }

    // state_ holds the region's number (high 32 bits) and how many of its
    // indices are claimed (low 32 bits), so that a claim made by a worker
    // that saw an earlier region fails instead of running this one's task.
    // Region numbers wrap; a worker compares them only for equality.
    static constexpr std::uint64_t claimed_mask = 0xffff'ffffu;
    static std::uint32_t region_of(std::uint64_t state) { return static_cast<std::uint32_t>(state >> 32); }

    void publish(std::uint32_t region) {
        {
            std::lock_guard lock(mutex_);
            state_.store(std::uint64_t{region} << 32, std::memory_order_release);
        }
        wake_.notify_all();
    }

    // The next unclaimed index of `region`, or size_ when none is left or
    // the region is over.
    std::size_t claim(std::uint32_t region) {
        std::uint64_t s = state_.load(std::memory_order_acquire);
        while (region_of(s) == region && (s & claimed_mask) < size_)
            if (state_.compare_exchange_weak(s, s + 1, std::memory_order_acq_rel, std::memory_order_acquire))
                return static_cast<std::size_t>(s & claimed_mask);
        return size_;
    }

    void work() {
        std::uint32_t seen = 0;
        while (true) {
            // Spin (the next parallel region usually follows soon), then sleep.
            const auto fresh = [&] { return region_of(state_.load(std::memory_order_acquire)) != seen; };
            if (!spin_until(fresh)) {
                std::unique_lock lock(mutex_);
                wake_.wait(lock, fresh);
            }
            seen = region_of(state_.load(std::memory_order_acquire));
            if (stop_.load(std::memory_order_relaxed)) return;
            // task_ is this region's while an index claimed in it is unfinished.
            for (std::size_t i = claim(seen); i < size_; i = claim(seen)) {
                task_(i);
                if (finished_.fetch_add(1, std::memory_order_acq_rel) + 1 == size_) {
                    std::lock_guard lock(mutex_);
                    done_.notify_one();
                }
            }
        }
    }

    static inline auto noop_ = [](std::size_t) {};
    std::size_t size_;
    std::vector<std::thread> workers_;
    TaskRef task_{noop_};
    std::size_t started_ = 0;    // workers past `prepare` (under mutex_)
    std::uint32_t regions_ = 0;  // the caller's count of regions run
    std::atomic<std::uint64_t> state_{0};
    std::atomic<std::size_t> finished_{0};
    std::atomic<bool> stop_{false};
    std::mutex mutex_;
    std::condition_variable wake_, done_;
    std::atomic<long long> spin_ns_{SpinPolicy::long_ns};
    std::chrono::steady_clock::time_point checked_at_ = std::chrono::steady_clock::now();
    long preemptions_ = preemptions_so_far();
};

}  // namespace typenet::cpu_detail
