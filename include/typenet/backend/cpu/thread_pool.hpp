// typenet/backend/cpu/thread_pool.hpp - the CPU backend's persistent workers.
//
// Why our own pool: OpenBLAS's threads busy-wait (sched_yield) between calls,
// and any other thread that runs meanwhile - ours for im2col or pooling -
// fights them for the cores; on 2 cores that more than doubled a training
// step. So BLAS runs single-threaded and every parallel region, GEMM
// partitions included, runs on this one pool: at most threads() threads ever.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <thread>
#include <vector>

namespace typenet::cpu_detail {

class ThreadPool {
public:
    explicit ThreadPool(std::size_t threads) : size_(threads < 1 ? 1 : threads) {
        for (std::size_t i = 1; i < size_; ++i) workers_.emplace_back([this, i] { work(i); });
    }
    ~ThreadPool() {
        stop_.store(true, std::memory_order_relaxed);
        generation_.fetch_add(1, std::memory_order_release);
        generation_.notify_all();
        for (auto& w : workers_) w.join();
    }
    ThreadPool(const ThreadPool&) = delete;
    ThreadPool& operator=(const ThreadPool&) = delete;

    std::size_t size() const { return size_; }

    /// Runs task(i) for i in [0, size()) - i = 0 on the caller - and returns
    /// when all are done. Not re-entrant: tasks must not call run().
    void run(const std::function<void(std::size_t)>& task) {
        if (size_ == 1) {
            task(0);
            return;
        }
        task_ = &task;
        pending_.store(size_ - 1, std::memory_order_relaxed);
        generation_.fetch_add(1, std::memory_order_release);
        generation_.notify_all();
        task(0);
        // Workers finish within microseconds of the caller for balanced work:
        // spin briefly before sleeping.
        for (int spin = 0; pending_.load(std::memory_order_acquire) != 0; ++spin)
            if (spin > 4000) pending_.wait(pending_.load(std::memory_order_acquire), std::memory_order_acquire);
    }

private:
    void work(std::size_t index) {
        std::uint64_t seen = 0;
        while (true) {
            // Spin a little (the next parallel region usually follows soon),
            // then sleep on the generation counter.
            for (int spin = 0; generation_.load(std::memory_order_acquire) == seen; ++spin)
                if (spin > 4000) generation_.wait(seen, std::memory_order_acquire);
            seen = generation_.load(std::memory_order_acquire);
            if (stop_.load(std::memory_order_relaxed)) return;
            (*task_)(index);
            if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) pending_.notify_one();
        }
    }

    std::size_t size_;
    std::vector<std::thread> workers_;
    const std::function<void(std::size_t)>* task_ = nullptr;
    std::atomic<std::uint64_t> generation_{0};
    std::atomic<std::size_t> pending_{0};
    std::atomic<bool> stop_{false};
};

}  // namespace typenet::cpu_detail
