// The cleanup handlers (temporary folders, mpirun's process group, the report's staging folder,
// driftlab_bench's --benchmark_out temporary) are installed for SIGINT, SIGTERM and SIGHUP only
// where the signal is not ignored: a signal ignored when driftlab started stays ignored (nohup's
// SIGHUP, SIGINT in a script's background job), as for any program that does not catch it.
//
// Every binary's last word on those signals is one line on stderr and exit 1 (the bad-input
// promise): install_stop_line, called first in main, puts a handler in place that writes
// "PROGRAM: stopped by SIGINT" and calls _exit(1).  The cleanup handlers installed later run
// first and chain to the handler that was there before theirs: this one.  A predict child and an
// mpirun rank other than 0 do not install it (their parent, or rank 0, says it): they die of the
// signal, and nobody prints a line twice.
#pragma once

#include <signal.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>

namespace driftlab {

inline bool signal_ignored(int sig) {
  struct sigaction now {};
  return ::sigaction(sig, nullptr, &now) == 0 && !(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_IGN;
}

namespace stop_line_detail {
inline constexpr int kSignals[3] = {SIGINT, SIGTERM, SIGHUP};
inline constexpr const char* kNames[3] = {"SIGINT", "SIGTERM", "SIGHUP"};
inline char g_line[3][128];  // "PROGRAM: stopped by SIGxxx\n", made before any signal can come
inline std::size_t g_size[3];
inline void on_stop(int sig) {
  for (int i = 0; i < 3; ++i)
    if (kSignals[i] == sig) {
      const ssize_t written = ::write(2, g_line[i], g_size[i]);  // async-signal-safe
      (void)written;
    }
  ::_exit(1);
}
}  // namespace stop_line_detail

inline void install_stop_line(const char* program) {
  using namespace stop_line_detail;
  for (int i = 0; i < 3; ++i) {
    std::snprintf(g_line[i], sizeof g_line[i], "%s: stopped by %s\n", program, kNames[i]);
    g_size[i] = std::strlen(g_line[i]);
    if (signal_ignored(kSignals[i])) continue;  // stays ignored (above)
    struct sigaction sa {};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    for (const int other : kSignals) sigaddset(&sa.sa_mask, other);  // one line, even for two signals
    ::sigaction(kSignals[i], &sa, nullptr);
  }
}

}  // namespace driftlab
