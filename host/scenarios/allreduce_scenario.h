// The all-reduce scenario, "the number of ranks changes the bits": the same gradient shards
// all-reduced over 1, 2, 3, 4 and 8 ranks with driftlab allreduce's machinery -- the simulation
// of ring, tree and exact always, and the Open MPI execution of mpi, ring, tree and exact when
// this build has MPI and mpirun runs (else the row says it used the simulation, and why).
// `driftlab scenarios` lists it (key allreduce_ranks); its verdict comes from the `ranks` rule
// (docs/verdicts.md): order = the most distinct results across rank counts among mpi, ring and
// tree; exact = exact's.
#pragma once

#include "host/scenarios/scenarios.h"

namespace driftlab {

// Returns the row with its ran/measured texts and numbers (order, exact, then each variant's
// counts); run_scenarios sets the claim and the verdict.  quick: 4096 floats per shard (else 2^16).
ScenarioResult allreduce_ranks_scenario(bool quick);

}  // namespace driftlab
