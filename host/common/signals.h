// The stop signals (kStopSignals, below: SIGINT, SIGTERM, SIGHUP, SIGQUIT, the user signals, the
// timers, SIGXCPU, SIGPWR) have one list.  The cleanup handlers (temporary folders, mpirun's process
// group, the report's staging folder, driftlab_bench's --benchmark_out temporary) are installed
// for them only where the signal is not ignored: a signal ignored when driftlab started stays
// ignored (nohup's SIGHUP, SIGINT in a script's background job), as for any program that does not
// catch it.
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

#include <atomic>
#include <iterator>
#include <utility>
#include <cstdio>
#include <cstring>

namespace driftlab {

inline bool signal_ignored(int sig) {
  struct sigaction now {};
  return ::sigaction(sig, nullptr, &now) == 0 && !(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_IGN;
}

// The signals that stop driftlab.  Left at their defaults, each would end the process with no
// line (and SIGQUIT, SIGXCPU with a core dump): the three a terminal or a job manager sends, the two
// user signals, the timers (SIGALRM, SIGVTALRM, SIGPROF), SIGXCPU (the CPU time limit, `ulimit -t`)
// and SIGPWR.  SIGPIPE and SIGXFSZ are write errors instead (write_errors_not_signals, below).
inline constexpr int kStopSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2,
                                       SIGALRM, SIGVTALRM, SIGPROF, SIGXCPU, SIGPWR};
inline constexpr int kStopCount = static_cast<int>(std::size(kStopSignals));

namespace stop_line_detail {
// Temporary files being written (atomic_file.cpp's, between mkstemp and rename): a stop removes
// them, so that a signal leaves no hidden partial file behind (a 200 MB .out.npy.tmp-* once).
// Slots: 0 free, 1 being filled, 2 a name the handler may unlink.  Lock-free atomics only.
inline constexpr int kTempSlots = 16;
inline char g_temp[kTempSlots][4096];
inline std::atomic<int> g_temp_state[kTempSlots];
static_assert(std::atomic<int>::is_always_lock_free, "async-signal-safe slots");
inline void remove_temps() {
  for (int i = 0; i < kTempSlots; ++i)
    if (g_temp_state[i].load() == 2) ::unlink(g_temp[i]);
}
inline constexpr const char* kNames[kStopCount] = {"SIGINT",  "SIGTERM",   "SIGHUP",  "SIGQUIT",
                                                   "SIGUSR1", "SIGUSR2",   "SIGALRM", "SIGVTALRM",
                                                   "SIGPROF", "SIGXCPU (the CPU time limit)", "SIGPWR"};
inline char g_line[kStopCount][128];  // "PROGRAM: stopped by SIGxxx\n", made before any signal can come
inline std::size_t g_size[kStopCount];
inline volatile sig_atomic_t g_taken[NSIG];  // the signals install_stop_line put its handler on
inline void on_stop(int sig) {
  remove_temps();
  for (int i = 0; i < kStopCount; ++i)
    if (kStopSignals[i] == sig) {
      const ssize_t written = ::write(2, g_line[i], g_size[i]);  // async-signal-safe
      (void)written;
    }
  ::_exit(1);
}
// The three signals that were always stops (a terminal's and a job manager's).  The others are
// stops only where their handler was the default when install_stop_line ran: a profiler's SIGPROF
// handler, or any a host program installed, stays in place.
inline bool classic(int sig) { return sig == SIGINT || sig == SIGTERM || sig == SIGHUP; }
}  // namespace stop_line_detail

// Whether a cleanup handler (a temporary folder, mpirun's process group, the report's staging
// folder) should be put on `sig`: not when the signal is ignored (nohup's SIGHUP stays ignored);
// SIGINT, SIGTERM and SIGHUP always otherwise; the others where install_stop_line took them.
inline bool stop_signal_taken(int sig) {
  if (signal_ignored(sig)) return false;
  return stop_line_detail::classic(sig) || (sig > 0 && sig < NSIG && stop_line_detail::g_taken[sig]);
}

// The shape every cleanup handler shares: put `handler` on each stop signal taken (above),
// remember in before[sig] the handler it replaces (SIG_DFL for an SA_SIGINFO one; kept when that
// was `handler` itself), and record each (signal, old handler) in `old` when given (kStopCount
// entries), for a destructor to put back.  Returns how many it recorded.
inline int chain_cleanup_handler(void (*handler)(int), void (*(&before)[NSIG])(int),
                                 std::pair<int, void (*)(int)>* old = nullptr) {
  int n = 0;
  for (const int sig : kStopSignals) {
    if (!stop_signal_taken(sig)) continue;
    struct sigaction now {};
    ::sigaction(sig, nullptr, &now);  // known before ours is in place
    if (now.sa_handler != handler) before[sig] = (now.sa_flags & SA_SIGINFO) ? SIG_DFL : now.sa_handler;
    void (*const was)(int) = ::signal(sig, handler);
    if (old) old[n++] = {sig, was};
  }
  return n;
}

// A cleanup handler's last step: the handler before it runs (the signal, raised again, is delivered
// when this one returns; the stop line's: one line and exit 1), or the process dies of the signal.
inline void chain_to_before(int sig, void (*self)(int), void (*(&before)[NSIG])(int)) {
  void (*const was)(int) = before[sig];
  ::signal(sig, was && was != SIG_ERR && was != SIG_IGN && was != self ? was : SIG_DFL);
  ::raise(sig);
}

// A temporary file that a stop (install_stop_line's handler) removes until forget_temp(slot);
// returns the slot, or -1 when none is free or the name is too long (then it is not removed).
inline int remember_temp(const char* path) {
  using namespace stop_line_detail;
  if (std::strlen(path) >= sizeof g_temp[0]) return -1;
  for (int i = 0; i < kTempSlots; ++i) {
    int expected = 0;
    if (g_temp_state[i].compare_exchange_strong(expected, 1)) {
      std::memcpy(g_temp[i], path, std::strlen(path) + 1);
      g_temp_state[i].store(2);
      return i;
    }
  }
  return -1;
}
inline void forget_temp(int slot) {
  if (slot >= 0 && slot < stop_line_detail::kTempSlots) stop_line_detail::g_temp_state[slot].store(0);
}

// SIGPIPE (standard output into a closed pipe) and SIGXFSZ (a file past `ulimit -f`) would end the
// process silently, and SIGXFSZ with a partial file left; caught by a handler that does nothing,
// the write fails instead (EPIPE, EFBIG) and the command says so in its one line.  A handler, not
// SIG_IGN: it goes back to the default in the programs driftlab starts (exec resets it).
inline void write_errors_not_signals() {
  struct sigaction sa {};
  sa.sa_handler = [](int) {};
  sigemptyset(&sa.sa_mask);
  for (const int sig : {SIGPIPE, SIGXFSZ})
    if (!signal_ignored(sig)) ::sigaction(sig, &sa, nullptr);
}

inline void install_stop_line(const char* program) {
  using namespace stop_line_detail;
  write_errors_not_signals();
  for (int i = 0; i < kStopCount; ++i) {
    std::snprintf(g_line[i], sizeof g_line[i], "%s: stopped by %s\n", program, kNames[i]);
    g_size[i] = std::strlen(g_line[i]);
    const int sig = kStopSignals[i];
    if (signal_ignored(sig)) continue;  // stays ignored (above)
    struct sigaction now {};
    if (!classic(sig) && (::sigaction(sig, nullptr, &now) != 0 || (now.sa_flags & SA_SIGINFO) || now.sa_handler != SIG_DFL))
      continue;  // someone else's handler (a profiler's SIGPROF) stays
    struct sigaction sa {};
    sa.sa_handler = on_stop;
    sigemptyset(&sa.sa_mask);
    for (const int other : kStopSignals) sigaddset(&sa.sa_mask, other);  // one line, even for two signals
    if (::sigaction(sig, &sa, nullptr) == 0) g_taken[sig] = 1;
  }
}

}  // namespace driftlab
