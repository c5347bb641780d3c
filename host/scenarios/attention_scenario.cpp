#include "host/scenarios/attention_scenario.h"

#include <string>

#include "host/commands/attention_command.h"

namespace driftlab {

ScenarioResult attention_batch_scenario(int id, const std::string& backend, int threads, bool quick) {
  AttentionArgs a;
  a.backend = backend;
  a.threads = threads;
  a.runs = 1;
  a.batch = 4;
  a.heads = 8;  // quick keeps 8 heads: with fewer, the split no longer changes with these batches
  a.head_dim = quick ? 64 : 128;
  a.kv_len = 1024;
  a.batch_sweep = {1, 2, 3, 4, 8, 16};
  const AttentionReport rep = run_attention(a);
  std::size_t distinct[4] = {0, 0, 0, 0};
  std::string per;
  for (const auto& row : rep.rows) {
    distinct[static_cast<int>(row.variant)] = *row.batch_distinct;
    per += (per.empty() ? "" : ", ") + std::string(info(row.variant).name) + " " + std::to_string(*row.batch_distinct) +
           " (" + std::to_string(*row.batch_max_ulp) + " ULP)";
  }
  const auto sc = distinct[static_cast<int>(AttentionVariant::split_count)];
  const auto fs = distinct[static_cast<int>(AttentionVariant::fixed_split)];
  const auto sg = distinct[static_cast<int>(AttentionVariant::single)];
  std::string others;
  for (const std::size_t L : rep.other_kv_lens) others += (others.empty() ? "" : ", ") + std::to_string(L);
  ScenarioResult r;
  r.id = id;
  r.key = "attention_batch";
  r.ran = "attention decode, " + std::to_string(rep.heads) + " heads x " + std::to_string(rep.head_dim) +
          ", sequence 0 (KV 1024) in batches of 1, 2, 3, 4, 8, 16 and beside sequences of KV " + others + ", " +
          rep.backend + (rep.backend == "cpu" ? " (split planned for a nominal 132 SMs)" : "");
  r.measured = "distinct sequence-0 outputs: " + per;
  r.numbers = {{"splitkv", double(sc)}, {"invariant", double(fs > sg ? fs : sg)}, {"split_count", double(sc)},
               {"fixed_split", double(fs)}, {"single", double(sg)}};
  return r;
}

}  // namespace driftlab
