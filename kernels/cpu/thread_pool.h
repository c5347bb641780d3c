// A small persistent pool: the CPU backend's "blocks" are tasks taken dynamically by workers,
// as a GPU's block scheduler hands tiles to SMs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace driftlab::cpu {

// The pool's workers could not all be started (thread limits, memory); the ones that were are
// joined before this is thrown, so the failure is a message, never a hang.
struct ThreadPoolError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

class ThreadPool {
 public:
  // `threads` workers in all, the calling thread included; 0 means every hardware thread.
  // Throws ThreadPoolError when they cannot all be started.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(task, worker) for every task in [0, num_tasks); workers take the next task from a
  // shared counter, so which worker runs which task depends on timing.  Returns when all are done.
  // An exception thrown by fn (in any worker) is rethrown here; the tasks not yet taken are skipped.
  void parallel_for(std::size_t num_tasks, const std::function<void(std::size_t, int)>& fn);

  static int hardware_threads();

 private:
  void work(int worker);
  void drain(int worker);
  void stop_and_join();

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  std::uint64_t generation_ = 0;
  int busy_ = 0;
  bool stop_ = false;
  const std::function<void(std::size_t, int)>* fn_ = nullptr;
  std::size_t num_tasks_ = 0;
  std::atomic<std::size_t> next_{0};
  std::mutex error_mu_;
  std::exception_ptr error_;
};

}  // namespace driftlab::cpu
