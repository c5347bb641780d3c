// Tensor-parallel inference on Open MPI, one rank's side (kernels/common/tp_order.h).  Built only
// when CMake finds MPI (tp_mpi.cpp); without it tp_no_mpi.cpp says why in one line.  Every
// all-reduce is allreduce_mpi.h's allreduce_once, the same code as `driftlab allreduce`.
#pragma once

#include <cstddef>
#include <ostream>
#include <string>
#include <vector>

#include "host/distributed/tp_sim.h"
#include "host/model/model.h"

namespace driftlab::tp {

struct TpWorkerArgs {
  std::vector<TpVariant> variants;
  std::size_t runs = 1;
  std::size_t expected_ranks = 0;  // the job's size must be this (0: any, a user's own mpirun)
  std::string out;  // rank 0 writes a TpFile here (empty: rank 0 prints a table instead)
};

// Runs the variants under MPI (MPI_Init to MPI_Finalize) on model m and input x [B x K], which
// every rank builds alike; returns the exit code.
int run_tp_worker(const TpWorkerArgs& a, const Model& m, const std::vector<float>& x, std::size_t B, std::ostream& out);

}  // namespace driftlab::tp
