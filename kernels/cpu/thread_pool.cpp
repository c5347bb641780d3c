#include "kernels/cpu/thread_pool.h"

#include <string>
#include <system_error>

#include "kernels/cpu/fp_env.h"

namespace driftlab::cpu {

int ThreadPool::hardware_threads() {
  const unsigned n = std::thread::hardware_concurrency();
  return n ? static_cast<int>(n) : 1;
}

ThreadPool::ThreadPool(int threads) {
  const int total = threads > 0 ? threads : hardware_threads();
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
    stop_ = true;
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
  for (;;) {
    {
      std::unique_lock<std::mutex> lock(mu_);
      start_cv_.wait(lock, [&] { return stop_ || generation_ != seen; });
      if (stop_) return;
      seen = generation_;
    }
    drain(worker);
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (--busy_ == 0) done_cv_.notify_one();
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
    busy_ = static_cast<int>(workers_.size());
    error_ = nullptr;
    ++generation_;
  }
  start_cv_.notify_all();
  drain(0);
  std::exception_ptr error;
  {
    std::unique_lock<std::mutex> lock(mu_);
    done_cv_.wait(lock, [&] { return busy_ == 0; });
    fn_ = nullptr;
    std::lock_guard<std::mutex> elock(error_mu_);
    error = error_;
    error_ = nullptr;
  }
  if (error) std::rethrow_exception(error);  // a worker's exception reaches the caller
}

}  // namespace driftlab::cpu
