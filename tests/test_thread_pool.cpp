// The CPU backend's pool (kernels/cpu/thread_pool.h): every task of a call runs exactly once, on a
// worker of the pool, whether the workers were spinning or asleep when the call came, and the pool
// ends without hanging from either state.  TSan (the CI's sanitizer leg) judges the hand-offs.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <stdexcept>
#include <thread>
#include <vector>

#include "kernels/cpu/thread_pool.h"

namespace driftlab {
namespace {

using cpu::ThreadPool;
using Clock = std::chrono::steady_clock;

// One call of `tasks` tasks; true when each ran exactly once on a worker index of the pool.
bool every_task_once(ThreadPool& pool, std::size_t tasks) {
  std::vector<std::atomic<int>> hits(tasks);
  std::atomic<int> bad_worker{0};
  pool.parallel_for(tasks, [&](std::size_t t, int w) {
    hits[t].fetch_add(1, std::memory_order_relaxed);
    if (w < 0 || w >= pool.size()) bad_worker.fetch_add(1, std::memory_order_relaxed);
  });
  for (auto& h : hits)
    if (h.load() != 1) return false;
  return bad_worker.load() == 0;
}

TEST(ThreadPool, EveryTaskRunsOnceInARunOfCalls) {
  // Back to back, so the workers are spinning when most calls come.
  for (int threads : {2, 3, 5}) {
    ThreadPool pool(threads);
    int failures = 0;
    for (int call = 0; call < 3000; ++call)
      failures += !every_task_once(pool, std::size_t{1} + static_cast<std::size_t>(call % 9) * 7);
    EXPECT_EQ(failures, 0) << threads << " threads";
  }
}

TEST(ThreadPool, EveryTaskRunsOnceAfterTheWorkersSlept) {
  ThreadPool pool(2);
  for (int call = 0; call < 20; ++call) {
    // Longer than the spin, so the worker is asleep on its condition variable.
    std::this_thread::sleep_for(std::chrono::microseconds(4 * ThreadPool::kSpinMicros));
    ASSERT_TRUE(every_task_once(pool, 16)) << "call " << call;
  }
}

// Two tasks that each wait until both have started: the call ends only if the pool's second
// thread took one, so it shows a worker woke for the call (spinning or asleep).  A deadline keeps
// a broken pool from hanging the test.
bool both_threads_took_a_task(ThreadPool& pool) {
  std::atomic<int> arrived{0};
  std::atomic<bool> timed_out{false};
  pool.parallel_for(2, [&](std::size_t, int) {
    arrived.fetch_add(1);
    const auto deadline = Clock::now() + std::chrono::seconds(20);
    while (arrived.load() < 2)
      if (Clock::now() > deadline) {
        timed_out = true;
        return;
      }
  });
  return !timed_out.load();
}

TEST(ThreadPool, AWorkerTakesPartInEveryCall) {
  ThreadPool pool(2);
  for (int call = 0; call < 200; ++call) ASSERT_TRUE(both_threads_took_a_task(pool)) << "call " << call;
  for (int call = 0; call < 5; ++call) {
    std::this_thread::sleep_for(std::chrono::microseconds(4 * ThreadPool::kSpinMicros));
    ASSERT_TRUE(both_threads_took_a_task(pool)) << "after a sleep, call " << call;
  }
}

TEST(ThreadPool, TheCallerSleepsThroughLongTasks) {
  // Each task outlasts the caller's spin, so the caller waits on its condition variable and must
  // be woken by the last worker.
  ThreadPool pool(3);
  for (int call = 0; call < 5; ++call) {
    std::atomic<int> done{0};
    pool.parallel_for(3, [&](std::size_t, int) {
      std::this_thread::sleep_for(std::chrono::microseconds(3 * ThreadPool::kSpinMicros));
      done.fetch_add(1);
    });
    EXPECT_EQ(done.load(), 3);
  }
}

TEST(ThreadPool, EndsFromSpinningAndFromSleepingWorkers) {
  for (int round = 0; round < 50; ++round) {
    ThreadPool pool(2);
    ASSERT_TRUE(every_task_once(pool, 4));
  }  // destroyed while its worker spins
  for (int round = 0; round < 3; ++round) {
    ThreadPool pool(2);
    ASSERT_TRUE(every_task_once(pool, 4));
    std::this_thread::sleep_for(std::chrono::microseconds(4 * ThreadPool::kSpinMicros));
  }  // destroyed while its worker sleeps
  ThreadPool never_called(4);  // destroyed before any call
  SUCCEED();
}

TEST(ThreadPool, AWorkersExceptionReachesTheCallerAndThePoolGoesOn) {
  ThreadPool pool(2);
  for (int call = 0; call < 100; ++call) {
    EXPECT_THROW(pool.parallel_for(8, [](std::size_t t, int) {
      if (t == 5) throw std::runtime_error("task 5");
    }),
                 std::runtime_error);
    ASSERT_TRUE(every_task_once(pool, 8)) << "after the exception of call " << call;
  }
}

TEST(ThreadPool, HasTheThreadsAskedFor) {
  for (int threads : {1, 2, 3, 7}) EXPECT_EQ(ThreadPool(threads).size(), threads);
  EXPECT_EQ(ThreadPool(0).size(), ThreadPool::hardware_threads());  // 0: every hardware thread
  EXPECT_EQ(ThreadPool().size(), ThreadPool::hardware_threads());
}

TEST(ThreadPool, SpinsOnlyWhenEveryThreadHasACpu) {
  const int cpus = ThreadPool::usable_cpus();
  EXPECT_FALSE(ThreadPool(1).spins());  // no worker to wait for
  // More threads than CPUs: a spinning thread would take the core a working one needs.
  EXPECT_FALSE(ThreadPool(cpus + 1).spins());
  ThreadPool oversubscribed(cpus + 1);
  EXPECT_TRUE(every_task_once(oversubscribed, 64));
  if (cpus < 2) GTEST_SKIP() << "this process may run on " << cpus << " CPU: no pool of 2 or more spins";
  EXPECT_TRUE(ThreadPool(2).spins());
  EXPECT_TRUE(ThreadPool(cpus).spins());
}

}  // namespace
}  // namespace driftlab
