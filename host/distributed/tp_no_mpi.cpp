// Built without MPI: `driftlab predict --tp` runs only --simulate, and says why otherwise.
#include <stdexcept>

#include "host/distributed/allreduce_mpi.h"
#include "host/distributed/tp_mpi.h"

namespace driftlab::tp {

int run_tp_worker(const TpWorkerArgs&, const Model&, const std::vector<float>&, std::size_t, std::ostream&) {
  throw std::runtime_error(allreduce::mpi_missing_reason());
}

}  // namespace driftlab::tp
