// The cleanup handlers (temporary folders, mpirun's process group, the report's staging folder,
// driftlab_bench's --benchmark_out temporary) are installed for SIGINT, SIGTERM and SIGHUP only
// where the signal is not ignored: a signal ignored when driftlab started stays ignored (nohup's
// SIGHUP, SIGINT in a script's background job), as for any program that does not catch it.
#pragma once

#include <signal.h>

namespace driftlab {

inline bool signal_ignored(int sig) {
  struct sigaction now {};
  return ::sigaction(sig, nullptr, &now) == 0 && !(now.sa_flags & SA_SIGINFO) && now.sa_handler == SIG_IGN;
}

}  // namespace driftlab
