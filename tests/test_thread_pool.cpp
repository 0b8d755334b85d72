// The CPU backend's thread pool: every task index and every piece runs once
// per region, regions back to back and after long pauses (when the workers
// have gone from spinning to sleeping), and the spin policy's decision.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "typenet/backend/cpu/thread_pool.hpp"

using typenet::cpu_detail::SpinPolicy;
using typenet::cpu_detail::ThreadPool;

TEST(ThreadPool, EachIndexRunsOncePerRegionBackToBack) {
    for (std::size_t threads : {1u, 2u, 3u, 5u}) {
        ThreadPool pool(threads);
        std::vector<std::atomic<int>> hits(threads);
        for (int region = 0; region < 2000; ++region) pool.run([&](std::size_t i) { hits[i].fetch_add(1); });
        for (std::size_t i = 0; i < threads; ++i) EXPECT_EQ(hits[i].load(), 2000) << threads << " threads, index " << i;
    }
}

TEST(ThreadPool, RegionsAfterTheWorkersHaveGoneToSleepStillRun) {
    ThreadPool pool(2);
    std::atomic<int> hits{0};
    for (int region = 0; region < 3; ++region) {
        // Longer than the longest spin (SpinPolicy::long_ns), so the workers sleep.
        std::this_thread::sleep_for(std::chrono::nanoseconds(3 * SpinPolicy::long_ns));
        pool.run([&](std::size_t) { hits.fetch_add(1); });
    }
    EXPECT_EQ(hits.load(), 6);
}

TEST(ThreadPool, RunWaitsForASlowWorker) {
    ThreadPool pool(2);
    std::atomic<bool> finished{false};
    pool.run([&](std::size_t i) {
        if (i == 1) {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));  // past the caller's spin
            finished.store(true);
        }
    });
    EXPECT_TRUE(finished.load());
}

TEST(ThreadPool, EveryPieceIsClaimedExactlyOnce) {
    ThreadPool pool(2);
    for (std::size_t pieces : {0u, 1u, 2u, 7u, 1000u}) {
        std::vector<std::atomic<int>> hits(pieces);
        pool.run_pieces(pieces, [&](std::size_t p) { hits[p].fetch_add(1); });
        for (std::size_t p = 0; p < pieces; ++p) EXPECT_EQ(hits[p].load(), 1) << pieces << " pieces, piece " << p;
    }
}

TEST(ThreadPool, SpinPolicySpinsLongOnQuietCoresAndBrieflyOnSharedOnes) {
    // Rates measured on a 2-vCPU VM: quiet 20-260 preemptions/s for the
    // process, beside a one-core busy loop 5,000-6,300/s.
    EXPECT_EQ(SpinPolicy::spin_ns(13, 0.05, 2), SpinPolicy::long_ns);    // 260/s
    EXPECT_EQ(SpinPolicy::spin_ns(0, 0.05, 2), SpinPolicy::long_ns);
    EXPECT_EQ(SpinPolicy::spin_ns(275, 0.05, 2), SpinPolicy::short_ns);  // 5,500/s
    // Per thread: 16 threads at 150/s each are not oversubscribed.
    EXPECT_EQ(SpinPolicy::spin_ns(120, 0.05, 16), SpinPolicy::long_ns);
    EXPECT_EQ(SpinPolicy::spin_ns(120, 0.05, 2), SpinPolicy::short_ns);
    EXPECT_LT(SpinPolicy::short_ns, SpinPolicy::long_ns);
}
