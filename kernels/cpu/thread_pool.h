// A small persistent pool: the CPU backend's "blocks" are tasks taken dynamically by workers,
// as a GPU's block scheduler hands tiles to SMs.
//
// Waiting.  A worker that finished its part of a call, and a caller waiting for its workers, first
// spin on an atomic for up to kSpinMicros, then sleep on a condition variable.  Waking a sleeping
// thread costs tens of microseconds on a VM, more than the work of a small call; a run of calls
// (a predict's layers, a benchmark's loop) finds the workers awake.  A pool with more threads than
// the process may run on (its CPU affinity) never spins: a spinning thread would take the core a
// working one needs.
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
  // The CPUs this process may run on (its affinity mask), or hardware_threads() where unknown.
  static int usable_cpus();

  // How long a waiting thread spins before it sleeps; whether this pool spins at all.
  static constexpr int kSpinMicros = 100;
  bool spins() const { return spin_; }

 private:
  void work(int worker);
  void drain(int worker);
  void stop_and_join();
  template <class Ready>
  bool spin_until(Ready ready) const;

  std::vector<std::thread> workers_;
  bool spin_ = false;
  std::mutex mu_;
  std::condition_variable start_cv_, done_cv_;
  // Written under mu_, read by spinning threads without it: atomics.  generation_ is stored with
  // release after fn_, num_tasks_ and next_, so a worker that sees a new generation sees the call.
  // Each on a cache line of its own, so that a spinning thread's reads do not take the line a
  // working one writes (next_ at every task).
  alignas(64) std::atomic<std::uint64_t> generation_{0};
  std::atomic<bool> stop_{false};
  alignas(64) std::atomic<int> busy_{0};
  const std::function<void(std::size_t, int)>* fn_ = nullptr;
  std::size_t num_tasks_ = 0;
  alignas(64) std::atomic<std::size_t> next_{0};
  std::mutex error_mu_;
  std::exception_ptr error_;
};

}  // namespace driftlab::cpu
