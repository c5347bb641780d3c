// The all-reduce variants on Open MPI: one rank's side of an execution.  Built only when CMake
// finds MPI (allreduce_mpi.cpp); without it allreduce_no_mpi.cpp says why in one line.
#pragma once

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

#include "host/distributed/allreduce_sim.h"

namespace driftlab::allreduce {

// Whether this binary was built with MPI; when not, the reason as one line.
bool mpi_built();
const char* mpi_missing_reason();
// The mpirun found at build time (DRIFTLAB_MPIRUN in the environment overrides it).
std::string mpirun_path();

// True when this process was started by mpirun: Open MPI's OMPI_COMM_WORLD_RANK, _SIZE and PMIX_RANK
// are all set and agree (a variable left behind in a shell alone is not a job).
bool under_mpirun();
// This process's rank and the job's size as mpirun set them, read before MPI_Init; 0 and 1
// outside mpirun.
std::size_t mpirun_rank();
std::size_t mpirun_world_size();

struct WorkerArgs {
  Dist dist = Dist::uniform;
  std::size_t n = 0, shards = 0, runs = 1, channels = 1, fusion = 0;
  std::uint64_t seed = 1;
  std::vector<Variant> variants;
  std::string out;  // rank 0 writes the results here (empty: rank 0 prints a table instead)
};

// One variant's result on this execution (rank 0's view).
struct WorkerResult {
  Variant variant;
  std::size_t runs_non_equal = 0;  // runs whose bits differ from run 0
  double median_ms = 0;            // median over runs of the slowest rank's time
  std::uint64_t payload_bytes = 0; // most bytes one rank handed to MPI (collective buffers and sends)
  std::vector<float> out;          // run 0's result
};
struct WorkerFile {
  std::size_t ranks = 0, n = 0;
  std::vector<WorkerResult> results;
};

// Runs the variants under MPI (MPI_Init to MPI_Finalize); returns the exit code.
int run_worker(const WorkerArgs& a, std::ostream& out);

// One all-reduce of this rank's data under v, between MPI_Init and MPI_Finalize (the worker and
// the benchmark call it): mine = this rank's shards (rank_shards), x = their local_sum per element,
// shards = M.  Returns the bytes this rank handed to MPI.  Every rank must call it alike.
std::uint64_t allreduce_once(Variant v, const std::vector<const float*>& mine, const std::vector<float>& x,
                             std::size_t shards, std::size_t channels, std::size_t fusion, std::vector<float>& out);

// The result file rank 0 writes, read back by the launching process (throws on a bad file).
std::string encode_worker_file(const WorkerFile& f);
WorkerFile decode_worker_file(const std::string& bytes);

}  // namespace driftlab::allreduce
