// A small persistent pool: the CPU backend's "blocks" are tasks taken dynamically by workers,
// as a GPU's block scheduler hands tiles to SMs.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace driftlab::cpu {

class ThreadPool {
 public:
  // `threads` workers in all, the calling thread included; 0 means every hardware thread.
  explicit ThreadPool(int threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Calls fn(task, worker) for every task in [0, num_tasks); workers take the next task from a
  // shared counter, so which worker runs which task depends on timing.  Returns when all are done.
  void parallel_for(std::size_t num_tasks, const std::function<void(std::size_t, int)>& fn);

  static int hardware_threads();

 private:
  void work(int worker);
  void drain(int worker);

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  std::uint64_t generation_ = 0;
  int busy_ = 0;
  bool stop_ = false;
  const std::function<void(std::size_t, int)>* fn_ = nullptr;
  std::size_t num_tasks_ = 0;
  std::atomic<std::size_t> next_{0};
};

}  // namespace driftlab::cpu
