// The attention scenario, "the batch you are served in changes your output": sequence 0's decode
// output inside batches of other sizes and with other sequences' KV lengths, split_count against
// fixed_split and single.  `driftlab scenarios` lists it (key attention_batch); its verdict comes
// from the shared `batch` rule (docs/verdicts.md): splitk = split_count's distinct outputs,
// invariant = the larger of fixed_split's and single's.
#pragma once

#include <cstddef>
#include <string>

#include "host/scenarios/scenarios.h"

namespace driftlab {

// Runs the sweep on `backend` (cpu, cuda or auto) and returns scenario `id` with its numbers
// (splitk, invariant, then each variant's count); run_scenarios sets the claim and the verdict.
// quick: a smaller head dimension (8 heads of 64 instead of 128).
ScenarioResult attention_batch_scenario(int id, const std::string& backend, int threads, bool quick);

}  // namespace driftlab
