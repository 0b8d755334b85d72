// The CPU backend's thread pool: every task index and every piece runs once
// per region, regions back to back and after long pauses (when the workers
// have gone from spinning to sleeping), a region never waits for a worker
// that is not running, workers' start-up hook, and the spin policy's decision.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__linux__)
#include <csignal>
#include <ctime>
#include <dirent.h>
#include <sys/syscall.h>
#include <unistd.h>
#endif

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

#if defined(__linux__)
namespace {
// A worker frozen by a signal, as a descheduled thread is: its handler waits
// (async-signal-safe: an atomic and nanosleep) until the test thaws it.
std::atomic<bool> thaw{false};
std::atomic<int> frozen{0};
extern "C" void freeze_handler(int) {
    frozen.fetch_add(1);
    const timespec nap{0, 100'000};
    while (!thaw.load()) nanosleep(&nap, nullptr);
    frozen.fetch_sub(1);
}

// The process's threads other than the calling one.
std::vector<pid_t> other_threads() {
    std::vector<pid_t> tids;
    if (DIR* dir = opendir("/proc/self/task")) {
        const auto self = static_cast<pid_t>(syscall(SYS_gettid));
        while (const dirent* e = readdir(dir))
            if (e->d_name[0] != '.' && std::atoi(e->d_name) != self) tids.push_back(std::atoi(e->d_name));
        closedir(dir);
    }
    return tids;
}
}  // namespace

TEST(ThreadPool, RegionsDoNotWaitForAWorkerThatIsNotRunning) {
#if defined(__SANITIZE_THREAD__)
    GTEST_SKIP() << "ThreadSanitizer defers signals, so the worker cannot be frozen";
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
    GTEST_SKIP() << "ThreadSanitizer defers signals, so the worker cannot be frozen";
#endif
#endif
    ThreadPool pool(2);
    // Declared after the pool, so destroyed before it: whatever fails below,
    // the worker is thawed before the pool joins it.
    struct ThawAtExit {
        ~ThawAtExit() { thaw.store(true); }
    } thaw_at_exit;
    pool.run([](std::size_t) {});  // the worker exists and has run
    // Let it finish the region and fall asleep, so that the signal cannot
    // freeze it while it holds the pool's mutex (a region would then wait
    // for that, not for the worker).
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    struct sigaction action {}, previous{};
    action.sa_handler = freeze_handler;
    sigemptyset(&action.sa_mask);
    ASSERT_EQ(sigaction(SIGUSR1, &action, &previous), 0);
    thaw.store(false);
    const std::vector<pid_t> others = other_threads();
    ASSERT_FALSE(others.empty());
    for (const pid_t tid : others) syscall(SYS_tgkill, getpid(), tid, SIGUSR1);
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (frozen.load() < static_cast<int>(others.size()) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::yield();
    ASSERT_EQ(frozen.load(), static_cast<int>(others.size()));

    // Should a region wait for the frozen worker, this thread thaws it after
    // 5 s, and the regions below finish with `thawed_by_timeout` set.
    std::mutex m;
    std::condition_variable cv;
    bool regions_done = false;
    std::atomic<bool> thawed_by_timeout{false};
    std::thread watchdog([&] {
        std::unique_lock lock(m);
        if (!cv.wait_for(lock, std::chrono::seconds(5), [&] { return regions_done; })) thawed_by_timeout.store(true);
        thaw.store(true);
    });
    std::vector<std::atomic<int>> hits(2);
    for (int region = 0; region < 200; ++region) pool.run([&](std::size_t i) { hits[i].fetch_add(1); });
    pool.run_pieces(7, [&](std::size_t) { hits[0].fetch_add(1); });
    {
        std::lock_guard lock(m);
        regions_done = true;
    }
    cv.notify_all();
    watchdog.join();
    EXPECT_FALSE(thawed_by_timeout.load()) << "a region waited for a worker that was not running";
    EXPECT_EQ(hits[0].load(), 207);
    EXPECT_EQ(hits[1].load(), 200);

    // Thawed, the worker takes part again: some index runs off this thread.
    while (frozen.load() > 0) std::this_thread::yield();
    sigaction(SIGUSR1, &previous, nullptr);
    const auto caller = std::this_thread::get_id();
    std::atomic<int> elsewhere{0};
    for (int region = 0; region < 200 && elsewhere.load() == 0; ++region)
        pool.run([&](std::size_t) {
            std::this_thread::sleep_for(std::chrono::microseconds(500));
            if (std::this_thread::get_id() != caller) elsewhere.fetch_add(1);
        });
    EXPECT_GT(elsewhere.load(), 0);
}
#endif

namespace {
std::atomic<int> prepared{0};
std::atomic<bool> prepared_on_caller{false};
thread_local bool is_test_thread = false;
void prepare_worker() {
    prepared.fetch_add(1);
    if (is_test_thread) prepared_on_caller.store(true);
}
}  // namespace

TEST(ThreadPool, PrepareRunsOnEachWorkerBeforeTheConstructorReturns) {
    is_test_thread = true;
    for (std::size_t threads : {1u, 2u, 4u}) {
        prepared.store(0);
        ThreadPool pool(threads, prepare_worker);
        EXPECT_EQ(prepared.load(), static_cast<int>(threads) - 1) << threads << " threads";
        std::atomic<int> hits{0};
        pool.run([&](std::size_t) { hits.fetch_add(1); });
        EXPECT_EQ(hits.load(), static_cast<int>(threads));
    }
    EXPECT_FALSE(prepared_on_caller.load());
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
