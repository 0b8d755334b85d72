// typenet/backend/cpu/thread_pool.hpp - the CPU backend's persistent workers.
//
// Why our own pool: OpenBLAS's threads busy-wait (sched_yield) between calls,
// and any other thread that runs meanwhile - ours for im2col or pooling -
// fights them for the cores; on 2 cores that more than doubled a training
// step. So BLAS runs single-threaded and every parallel region, GEMM
// partitions included, runs on this one pool: at most threads() threads ever.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace typenet::cpu_detail {

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
        task_ = task;
        pending_.store(size_ - 1, std::memory_order_relaxed);
        publish();
        task(0);
        // Workers finish within microseconds of the caller for balanced work:
        // spin briefly before sleeping.
        for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin)
            if (spin > spin_limit) {
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
    static constexpr int spin_limit = 4000;

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
            // Spin a little (the next parallel region usually follows soon), then sleep.
            for (int spin = 0; generation_.load(std::memory_order_acquire) == seen; ++spin)
                if (spin > spin_limit) {
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
};

}  // namespace typenet::cpu_detail
