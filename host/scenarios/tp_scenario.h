// The tensor-parallel scenario, "splitting a layer over more GPUs changes predict's output": the
// MLP with each dense layer's K split over 1, 2, 3, 4 and 8 ranks and the partials all-reduced,
// with driftlab predict --tp's machinery -- the simulation of ring, exact and invariant always, and
// the Open MPI execution of mpi, ring, exact and invariant when this build has MPI and mpirun runs
// (else the row says it used the simulation, and why; never under ThreadSanitizer).
// `driftlab scenarios` lists it (key tp_ranks); its verdict comes from the `tp` rule
// (docs/verdicts.md): order = the most distinct outputs across TP sizes among mpi, ring and exact;
// invariant = invariant's.
#pragma once

#include <optional>
#include <string>

#include "host/commands/predict_tp.h"
#include "host/scenarios/scenarios.h"

namespace driftlab {

// predict --tp over `tp` sizes: the simulation, and the MPI execution when it runs (else mpi_why).
struct TpAcrossSizes {
  PredictArgs args;
  TpReport simulated;
  std::optional<TpReport> mpi;
  std::string mpi_why;  // empty when `mpi` is set
};
// quick: batch 2 (else 8); the model is 600-50-10 (K = 600 spans three invariant chunks), init seed 3.
TpAcrossSizes tp_across_sizes(bool quick);

// Returns the row with its ran/measured texts and numbers (order, invariant, then each variant's
// counts); run_scenarios sets the claim and the verdict.
ScenarioResult tp_ranks_scenario(bool quick);

}  // namespace driftlab
