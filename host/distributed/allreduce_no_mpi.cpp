// Built without MPI: `driftlab allreduce` runs only --simulate, and says why otherwise.
#include <stdexcept>

#include "host/distributed/allreduce_mpi.h"

namespace driftlab::allreduce {

bool mpi_built() { return false; }
const char* mpi_missing_reason() {
  return "this driftlab was built without MPI (install Open MPI with scripts/setup.sh and rebuild); "
         "--simulate runs the orders in one process";
}
std::string mpirun_path() { return {}; }
bool under_mpirun() { return false; }
std::size_t mpirun_rank() { return 0; }
std::size_t mpirun_world_size() { return 1; }
int run_worker(const WorkerArgs&, std::ostream&) { throw std::runtime_error(mpi_missing_reason()); }

}  // namespace driftlab::allreduce
