#include "kernels/cpu/thread_pool.h"

#include <chrono>
#include <string>
#include <system_error>

#if defined(__linux__)
#include <sched.h>
#endif

#include "kernels/cpu/fp_env.h"

namespace driftlab::cpu {

int ThreadPool::hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

int ThreadPool::usable_cpus() {
#if defined(__linux__)
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n > 0) return n;
  }
#endif
  return hardware_threads();
}

namespace {

inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield" ::: "memory");
#endif
}

}  // namespace

// True as soon as ready() is; false after about kSpinMicros without it (at once when the pool
// does not spin): the caller then sleeps on its condition variable.
template <class Ready>
bool ThreadPool::spin_until(Ready ready) const {
  if (ready()) return true;
  if (!spin_) return false;
  const auto until = std::chrono::steady_clock::now() + std::chrono::microseconds(kSpinMicros);
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      cpu_relax();
      if (ready()) return true;
    }
    if (std::chrono::steady_clock::now() >= until) return false;
  }
}

ThreadPool::ThreadPool(int threads) {
  const int total = threads > 0 ? threads : hardware_threads();
  spin_ = total > 1 && total <= usable_cpus();
  try {
    workers_.reserve(static_cast<std::size_t>(total - 1));
    // A worker computes in the default floating-point environment, whatever its creator's (fp_env.h).
    for (int w = 1; w < total; ++w)
      workers_.emplace_back([this, w] {
        set_default_fp_env();
        work(w);
      });
  } catch (const std::exception& e) {
    // The workers already started wait on start_cv_: stop and join them before failing, or the
    // destruction of the condition variables would block forever.
    const std::size_t started = workers_.size();
    stop_and_join();
    throw ThreadPoolError("cannot start " + std::to_string(total) + " worker threads (started " +
                          std::to_string(started + 1) + "): " + e.what() + "; try a smaller --threads");
  }
}

ThreadPool::~ThreadPool() { stop_and_join(); }

void ThreadPool::stop_and_join() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stop_.store(true, std::memory_order_release);
  }
  start_cv_.notify_all();
  for (auto& t : workers_)
    if (t.joinable()) t.join();
}

void ThreadPool::drain(int worker) {
  for (std::size_t t; (t = next_.fetch_add(1, std::memory_order_relaxed)) < num_tasks_;) {
    try {
      (*fn_)(t, worker);
    } catch (...) {
      // Keep the first exception; the remaining tasks are skipped so the call ends soon.
      std::lock_guard<std::mutex> lock(error_mu_);
      if (!error_) error_ = std::current_exception();
      next_.store(num_tasks_, std::memory_order_relaxed);
    }
  }
}

void ThreadPool::work(int worker) {
  std::uint64_t seen = 0;
  const auto ready = [&] {
    return stop_.load(std::memory_order_acquire) || generation_.load(std::memory_order_acquire) != seen;
  };
  for (;;) {
    if (!spin_until(ready)) {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, ready);
    }
    if (stop_.load(std::memory_order_acquire)) return;
    // The caller waits for every worker before it returns, so no generation is skipped: this is
    // the call after `seen`.
    seen = generation_.load(std::memory_order_acquire);
    drain(worker);
    if (busy_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
      // The caller may be between its last look at busy_ and its wait: take the lock so the
      // notification cannot fall between the two.
      std::lock_guard<std::mutex> lock(mu_);
      done_cv_.notify_one();
    }
  }
}

void ThreadPool::parallel_for(std::size_t num_tasks, const std::function<void(std::size_t, int)>& fn) {
  if (num_tasks == 0) return;
  if (workers_.empty() || num_tasks == 1) {
    for (std::size_t t = 0; t < num_tasks; ++t) fn(t, 0);
    return;
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = &fn;
    num_tasks_ = num_tasks;
    next_.store(0, std::memory_order_relaxed);
    busy_.store(static_cast<int>(workers_.size()), std::memory_order_relaxed);
    error_ = nullptr;
    generation_.fetch_add(1, std::memory_order_release);
  }
  start_cv_.notify_all();  // no system call when every worker is spinning
  drain(0);
  const auto done = [&] { return busy_.load(std::memory_order_acquire) == 0; };
  if (!spin_until(done)) {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, done);
  }
  std::exception_ptr error;
  {
    std::lock_guard<std::mutex> lock(mu_);
    fn_ = nullptr;
    std::lock_guard<std::mutex> elock(error_mu_);
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);  // a worker's exception reaches the caller
}

}  // namespace driftlab::cpu
