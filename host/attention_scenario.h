// The attention scenario, "the batch you are served in changes your output": sequence 0's decode
// output inside batches of other sizes and with other sequences' KV lengths, split_count against
// fixed_split and single.  A separate function (not yet listed in run_scenarios) so that it can be
// added to `driftlab scenarios` with one line.
#pragma once

#include <cstddef>
#include <string>

#include "scenarios.h"

namespace driftlab {

// Verdict from the measurements alone: split_count's distinct sequence-0 outputs across the sweep,
// and fixed_split's and single's.
VerdictText verdict_attention_batch(std::size_t split_count_distinct, std::size_t fixed_split_distinct,
                                    std::size_t single_distinct);

// Runs the sweep on `backend` (cpu, cuda or auto) and returns scenario `id`.  quick: a smaller
// shape (2 heads of 64 instead of 8 of 128).
ScenarioResult attention_batch_scenario(int id, const std::string& backend, int threads, bool quick);

}  // namespace driftlab
