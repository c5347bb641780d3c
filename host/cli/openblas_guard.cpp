// OpenBLAS (pthreads build) starts its worker threads in its library constructor, before main.
// Under a tight process limit (`ulimit -u`) that fails and OpenBLAS ends the process with two
// lines of its own and exit 130 -- even `driftlab --help`.  A library constructor cannot be
// preceded by code in main, and a setenv() at that time is lost (libc resets the environment
// when it initialises), so the one thing that works is to start again with OPENBLAS_NUM_THREADS=1
// in the environment: OpenBLAS then starts no thread at load time.  Every driftlab binary that
// links OpenBLAS compiles this file in.  Thread counts are not lost: every caller of OpenBLAS
// sets its count (openblas_set_num_threads) before it calls sgemm.
//
// It runs from .preinit_array (before any library's constructor) and restarts only when the
// process limit is finite and below kTightProcessLimit (the default limits of Linux
// distributions are higher; a user who set OPENBLAS_NUM_THREADS keeps their value), or when the
// address space or the data segment is limited (`ulimit -v`, `ulimit -d`): there a worker thread
// of OpenBLAS 0.3.21 whose 128 MiB buffer cannot be allocated retries forever, and the process
// hangs at exit joining it, even a command that never calls OpenBLAS.  Threads OpenBLAS starts
// later go through set_openblas_threads (host/backends/openblas_kernels.h), which checks the room first.
#include <sys/resource.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

namespace {

constexpr rlim_t kTightProcessLimit = 65536;
constexpr const char* kMarker = "DRIFTLAB_OPENBLAS_RESTARTED=1";

bool starts_with(const char* s, const char* prefix) { return std::strncmp(s, prefix, std::strlen(prefix)) == 0; }

void restart_with_one_openblas_thread(int, char** argv, char** envp) {
  const auto limited = [](int resource, rlim_t below) {
    struct rlimit rl {};
    return getrlimit(resource, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < below;
  };
  if (!limited(RLIMIT_NPROC, kTightProcessLimit) && !limited(RLIMIT_AS, RLIM_INFINITY) &&
      !limited(RLIMIT_DATA, RLIM_INFINITY))
    return;
  std::size_t n = 0;
  for (; envp && envp[n]; ++n)
    if (starts_with(envp[n], "OPENBLAS_NUM_THREADS=") || starts_with(envp[n], "DRIFTLAB_OPENBLAS_RESTARTED=")) return;
  static char* env[8192];  // no malloc this early; a larger environment is left as it is
  if (n + 3 > sizeof env / sizeof env[0]) return;
  for (std::size_t i = 0; i < n; ++i) env[i] = envp[i];
  env[n] = const_cast<char*>("OPENBLAS_NUM_THREADS=1");
  env[n + 1] = const_cast<char*>(kMarker);
  env[n + 2] = nullptr;
  execve("/proc/self/exe", argv, env);  // on failure: carry on as before
}

// The restart's variables are not handed on to the commands' own children (predict's processes,
// driftlab_bench), which decide for themselves.
__attribute__((constructor)) void forget_restart() {
  if (const char* m = std::getenv("DRIFTLAB_OPENBLAS_RESTARTED"); m && std::strcmp(m, "1") == 0) {
    unsetenv("DRIFTLAB_OPENBLAS_RESTARTED");
    unsetenv("OPENBLAS_NUM_THREADS");
  }
}

}  // namespace

__attribute__((section(".preinit_array"), used)) static void (*const driftlab_openblas_guard)(int, char**, char**) =
    restart_with_one_openblas_thread;
