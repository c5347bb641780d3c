#include <cstdlib>
#include <iostream>

#include "host/backends/openblas_kernels.h"
#include "host/cli/cli.h"
#include "host/commands/predict_runs.h"
#include "host/common/signals.h"
#include "host/distributed/allreduce_mpi.h"

int main(int argc, char** argv) {
  // A fair CPU baseline: OpenBLAS's SSE-era kernels on a CPU it does not know start the process
  // again with OPENBLAS_CORETYPE (host/backends/openblas_kernels.h); children inherit it.
  driftlab::restart_with_best_openblas_kernels(argv);
  // A signal ends driftlab with one line and exit 1 (signals.h); a predict child and an mpirun
  // rank other than 0 leave that line to their parent or to rank 0.
  if (!std::getenv(driftlab::kChildFdEnv) && driftlab::allreduce::mpirun_rank() == 0)
    driftlab::install_stop_line("driftlab");
  if (!driftlab::standard_fds_open()) {  // the table would be lost: refuse before any work
    std::cerr << "driftlab: cannot write to standard output: it is closed\n";
    return 1;
  }
  return driftlab::run_cli(argc, argv, std::cout, std::cerr);
}
