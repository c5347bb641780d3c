#include "host/common/columns.h"
#include "host/commands/attention_command.h"

#include <algorithm>
#include <iomanip>
#include <span>
#include <sstream>
#include <vector>

#include "host/backends/attention_backend.h"
#include "host/common/cli_args.h"
#include "kernels/common/attention_order.h"
#include "kernels/common/rng.h"
#include "host/backends/gpu.h"
#include "host/io/atomic_file.h"
#include "host/io/input_file.h"
#include "host/io/json.h"
#include "host/io/npy.h"
#include "host/common/memory_bound.h"
#include "host/commands/row_json.h"
#include "host/commands/variants_command.h"

namespace driftlab {

const std::string kAttentionHelp = std::string(R"(usage: driftlab attention [options]

One decode step of multi-head attention, out = softmax(q K^T / sqrt(d)) V per sequence and head,
run many times with each split-KV variant: how the output drifts, how far it is from float64,
what it costs (GB/s of K and V read), and whether sequence 0's bits depend on the batch it is in
(the batch size, and the KV lengths of the other sequences).

shape:
  --batch B             sequences (default 4)
  --heads H             heads (default 8)
  --head-dim D          head dim, 1 to 256 (default 128)
  --kv-len L            KV length of every sequence (default 1024)
  --kv-lens L0,L1,...   one KV length per sequence (sets B)
  --split-size S        fixed_split's chunk in tokens (default 256; refused without fixed_split)
  --seed S              seed of q, K, V (standard normal; default 1)
runs:
  --variant NAME|all    )") + variant_choices(kAttentionVariants) + R"(, or all (default)
  --runs R              calls per variant (default 5)
  --backend cpu|cuda|auto
  --threads T           cpu backend: worker threads (default: every hardware thread)
  --schedule shuffle:SEED
                        cpu backend: add atomic's chunk contributions in a seeded random order per
                        run -- a reproducible MODEL of a GPU scheduler -- instead of racing threads
                        (refused when --variant does not run atomic)
  --batch-sweep LIST    run sequence 0 inside batches of these sizes (default 1,2,3,4,8,16; 'off'
                        for none), the other sequences as long as sequence 0
  --other-kv-lens LIST  and inside a batch of B whose other sequences have these KV lengths
                        (default 1 and 4 L0)
outputs:
  --save-output FILE.npy  run 0's output [B x H x D], float32 (with several variants:
                        FILE.<variant>.npy each)
  --json FILE           the rows as JSON
  --help                this text

split_count plans its chunks as FlashAttention-2 does, from B*H, the SM count and the longest KV
in the batch; the cpu backend plans with a nominal 132 SMs (an H100/H200), a GPU with its own.

metrics per variant: chunk (tokens per chunk at this batch), distinct_outputs (distinct bit
patterns of the whole output over the runs), ratio_non_equal, max_ulp, max_abs_diff,
ref_max_rel_err (run 0 vs float64: max|y-ref|/max|ref|), median_ms, gbps (K and V bytes / median
time), cost_vs_atomic; with the sweep, batch_distinct and batch_max_ulp of sequence 0's output.
)";

namespace {

std::size_t bounded(std::string_view v, const char* flag, std::size_t lo, std::size_t hi) {
  const auto n = parse_count(v, flag);
  if (n < lo || n > hi) throw UsageError(std::string(flag) + ": expected " + std::to_string(lo) + " to " + std::to_string(hi));
  return static_cast<std::size_t>(n);
}

constexpr std::size_t kMaxLen = std::size_t(1) << 24;

}  // namespace

std::vector<std::size_t> AttentionArgs::lens() const {
  return kv_lens.empty() ? std::vector<std::size_t>(batch, kv_len) : kv_lens;
}

AttentionArgs parse_attention_args(std::span<const std::string_view> argv) {
  AttentionArgs a;
  ArgReader r(argv);
  bool batch_given = false, len_given = false, split_size_given = false;
  while (!r.done()) {
    const std::string_view f = r.flag();
    if (f == "--help" || f == "-h") a.help = true;
    else if (f == "--batch") {
      a.batch = bounded(r.value(), "--batch", 1, 4096);
      batch_given = true;
    } else if (f == "--heads") a.heads = bounded(r.value(), "--heads", 1, 1024);
    else if (f == "--head-dim") a.head_dim = bounded(r.value(), "--head-dim", 1, attention::kMaxHeadDim);
    else if (f == "--kv-len") {
      a.kv_len = bounded(r.value(), "--kv-len", 1, kMaxLen);
      len_given = true;
    } else if (f == "--kv-lens") a.kv_lens = parse_list(r.value(), "--kv-lens", 1, kMaxLen, {}, Repeats::allowed);
    else if (f == "--split-size") {
      a.split_size = bounded(r.value(), "--split-size", 1, kMaxLen);
      split_size_given = true;
    }
    else if (f == "--seed") a.seed = parse_count(r.value(), "--seed");
    else if (f == "--variant") {
      a.variant = r.value();
      if (a.variant != "all" && !parse_attention_variant(a.variant))
        throw UsageError("--variant: unknown variant '" + a.variant + "' (" + variant_names(kAttentionVariants) + ", all)");
    } else if (f == "--runs") a.runs = bounded(r.value(), "--runs", 1, 10000);
    else if (f == "--backend") a.backend = parse_backend(r.value());
    else if (f == "--threads") a.threads = static_cast<int>(bounded(r.value(), "--threads", 0, 4096));
    else if (f == "--schedule") {
      const std::string_view v = r.value();
      if (v.substr(0, 8) != "shuffle:") throw UsageError("--schedule: expected shuffle:SEED, got '" + std::string(v) + "'");
      a.shuffle_seed = parse_count(v.substr(8), "--schedule shuffle:SEED");
    } else if (f == "--batch-sweep") {
      const std::string_view v = r.value();
      a.batch_sweep = v == "off" ? std::vector<std::size_t>{} : parse_list(v, "--batch-sweep", 1, 4096);
    } else if (f == "--other-kv-lens") a.other_kv_lens = parse_list(r.value(), "--other-kv-lens", 1, kMaxLen);
    else if (f == "--json") a.json = parse_path(r.value(), "--json");
    else if (f == "--save-output") a.save_output = parse_path(r.value(), "--save-output");
    else throw UsageError("unknown option '" + std::string(f) + "' (see driftlab attention --help)");
  }
  if (!a.kv_lens.empty()) {
    if (len_given) throw UsageError("--kv-len and --kv-lens cannot be used together");
    if (batch_given && a.batch != a.kv_lens.size())
      throw UsageError("--batch " + std::to_string(a.batch) + " but --kv-lens lists " + std::to_string(a.kv_lens.size()) +
                       " lengths");
    if (a.kv_lens.size() > 4096) throw UsageError("--kv-lens: at most 4096 sequences");
    a.batch = a.kv_lens.size();
  }
  if (a.batch * a.heads > 65535) throw UsageError("--batch x --heads: at most 65535 (sequence, head) pairs");
  if (!a.other_kv_lens.empty() && a.batch == 1)
    throw UsageError("--other-kv-lens: a batch of 1 has no other sequences (give --batch 2 or more, or --kv-lens)");
  for (const std::size_t bs : a.batch_sweep)
    if (bs * a.heads > 65535) throw UsageError("--batch-sweep: batch x heads at most 65535");
  std::vector<AttentionVariant> chosen;  // empty: all
  if (a.variant != "all") chosen.push_back(*parse_attention_variant(a.variant));
  check_flag_applies(a.shuffle_seed.has_value(), "--schedule", std::span<const AttentionVariant>(chosen),
                     kAttentionVariants, races, "no atomic adds to reorder");
  check_flag_applies(split_size_given, "--split-size", std::span<const AttentionVariant>(chosen), kAttentionVariants,
                     [](const auto& r) { return r.variant == AttentionVariant::fixed_split; }, "no fixed chunk");
  return a;
}

namespace {

std::unique_ptr<AttentionBackend> pick_backend(const AttentionArgs& a) {
  const bool cuda = use_cuda(a.backend);
  if (cuda) {
    if (a.shuffle_seed) throw UsageError("--schedule models a GPU scheduler on the cpu backend; use --backend cpu");
    if (a.threads) throw UsageError("--threads applies to the cpu backend; use --backend cpu");
    return make_cuda_attention_backend();
  }
  return make_cpu_attention_backend(a.threads);
}

std::vector<AttentionVariant> pick_variants(const AttentionArgs& a) {
  if (a.variant != "all") return {*parse_attention_variant(a.variant)};
  std::vector<AttentionVariant> vs;
  for (const auto& i : kAttentionVariants) vs.push_back(i.variant);
  return vs;
}

std::uint64_t max_ulp_between(const float* a, const float* b, std::size_t n) {
  std::uint64_t u = 0;
  for (std::size_t e = 0; e < n; ++e) u = std::max(u, ulp_distance(a[e], b[e]));
  return u;
}

std::size_t max_of(const std::vector<std::size_t>& v) { return *std::max_element(v.begin(), v.end()); }

// Sequence 0 of `main` inside the sweep's batches; fills row.sweep, batch_distinct, batch_max_ulp.
void batch_sweep(const AttentionArgs& a, const AttentionReport& rep, const AttentionInput& main, AttentionBackend& be,
                 std::vector<AttentionRow>& rows) {
  const std::size_t L0 = main.kv_len[0], hd = main.H * main.d;
  struct Point {
    std::size_t batch, other;
  };
  std::vector<Point> points;
  for (const std::size_t bs : a.batch_sweep) points.push_back({bs, L0});
  for (const std::size_t lo : rep.other_kv_lens) points.push_back({rep.batch, lo});
  std::vector<OutputDriftStream> row0(rows.size(), OutputDriftStream(1, hd));  // sequence 0, streamed
  for (const Point& pt : points) {
    std::vector<std::size_t> lens(pt.batch, pt.other);
    lens[0] = L0;
    AttentionInput in = make_attention_input(pt.batch, main.H, main.d, lens, a.seed + 1000003 * pt.batch + 7919 * pt.other);
    copy_sequence(main, 0, in, 0);
    be.set_input(in);
    std::vector<float> out(pt.batch * hd);
    for (std::size_t k = 0; k < rows.size(); ++k) {
      AttentionCall c{rows[k].variant, a.split_size,
                      a.shuffle_seed ? std::optional<std::uint64_t>(*a.shuffle_seed) : std::nullopt};
      be.run(c, out.data());
      const std::span<const float> seq0(out.data(), hd);
      row0[k].add(seq0);
      SweepPoint sp;
      sp.batch = pt.batch;
      sp.other_kv_len = pt.other;
      sp.chunk = attention::plan_chunk(rows[k].variant, pt.batch, main.H, main.d, max_of(lens), a.split_size, be.num_sms());
      sp.ulp_vs_first = max_ulp_between(seq0.data(), row0[k].first().data(), hd);
      rows[k].sweep.push_back(sp);
    }
  }
  for (std::size_t k = 0; k < rows.size(); ++k) {
    const OutputDrift d = row0[k].result();
    rows[k].batch_distinct = d.distinct_outputs;
    rows[k].batch_max_ulp = d.max_ulp;
  }
}

}  // namespace

namespace {

// The points of the batch sweep: sequence 0 inside batches of --batch-sweep sizes (the others as
// long as it), then inside the command's batch with the other sequences at --other-kv-lens.
std::vector<std::pair<std::size_t, std::size_t>> sweep_points(const AttentionArgs& a, const AttentionReport& rep) {
  std::vector<std::pair<std::size_t, std::size_t>> points;
  for (const std::size_t bs : a.batch_sweep) points.emplace_back(bs, rep.kv_lens[0]);
  for (const std::size_t lo : rep.other_kv_lens) points.emplace_back(rep.batch, lo);
  return points;
}

// The one memory bound (memory_bound.h), naming attention's own flags: K and V (float32) of the
// batch, q, the float64 reference, the drift state (run 0, per-element extremes, one run), and the
// largest sweep point's K and V, which is alive beside the batch's.  Sets rep.sweep_kv_bytes.
void check_attention_memory(const AttentionArgs& a, AttentionReport& rep) {
  const double hd = static_cast<double>(a.heads) * static_cast<double>(a.head_dim);
  double tokens = 0;
  for (const std::size_t L : rep.kv_lens) tokens += static_cast<double>(L);
  const double kv = 2 * 4 * tokens * hd, count = static_cast<double>(rep.batch) * hd;
  for (const auto& [bs, other] : sweep_points(a, rep))
    rep.sweep_kv_bytes = std::max(rep.sweep_kv_bytes, 2 * 4 * (static_cast<double>(rep.kv_lens[0]) +
                                                                static_cast<double>(bs - 1) * static_cast<double>(other)) * hd);
  const double bytes = kv + rep.sweep_kv_bytes + count * (4 + 8 + 4 * 5);
  std::ostringstream what;
  what << "attention --batch " << rep.batch << " --heads " << a.heads << " --head-dim " << a.head_dim
       << (a.kv_lens.empty()       ? " --kv-len " + std::to_string(a.kv_len)
           : a.kv_lens.size() <= 8 ? " --kv-lens " + join(a.kv_lens)
                                   : " --kv-lens (" + std::to_string(a.kv_lens.size()) + " lengths, " +
                                         std::to_string(static_cast<std::uint64_t>(tokens)) + " tokens)")
       << (rep.sweep_kv_bytes > 0 ? " (with the batch sweep: --batch-sweep, --other-kv-lens)" : "");
  if (const auto refusal = memory_refusal(bytes, what.str())) throw UsageError(*refusal);
}

}  // namespace

AttentionReport run_attention(const AttentionArgs& a) {
  auto be = pick_backend(a);
  AttentionReport rep;
  rep.backend = be->name();
  rep.device = be->device();
  rep.atomic_note = be->atomic_note(a.shuffle_seed.has_value());
  rep.num_sms = be->num_sms();
  rep.kv_lens = a.lens();
  rep.batch = rep.kv_lens.size();
  rep.heads = a.heads;
  rep.head_dim = a.head_dim;
  rep.runs = a.runs;
  rep.split_size = a.split_size;
  rep.batch_sweep = a.batch_sweep;
  const std::size_t L0 = rep.kv_lens[0];
  rep.other_kv_lens = a.other_kv_lens;
  if (rep.other_kv_lens.empty() && !a.batch_sweep.empty() && rep.batch > 1)
    rep.other_kv_lens = {1, std::min<std::size_t>(4 * L0, std::max<std::size_t>(L0, 16384))};
  if (rep.batch == 1) rep.other_kv_lens.clear();  // no other sequences

  check_attention_memory(a, rep);  // before anything is allocated
  const AttentionInput in = make_attention_input(rep.batch, a.heads, a.head_dim, rep.kv_lens, a.seed);
  rep.kv_bytes = 2.0 * static_cast<double>(in.kv_floats()) * sizeof(float);
  const std::vector<double> ref = attention_reference(in);
  be->set_input(in);
  const std::size_t count = rep.batch * a.heads * a.head_dim;
  for (const AttentionVariant v : pick_variants(a)) {
    AttentionRow row;
    row.variant = v;
    row.chunk = attention::plan_chunk(v, rep.batch, a.heads, a.head_dim, max_of(rep.kv_lens), a.split_size, be->num_sms());
    // Each run is compared with run 0 as it arrives (metrics.h): memory does not grow with --runs.
    OutputDriftStream drift(rep.batch * a.heads, a.head_dim);
    std::vector<double> ms;
    std::vector<float> out(count);
    AttentionCall c{v, a.split_size, std::nullopt};
    be->run(c, out.data());  // warm-up
    for (std::size_t r = 0; r < a.runs; ++r) {
      if (a.shuffle_seed) c.schedule_seed = mix_seed(*a.shuffle_seed, r);
      ms.push_back(be->run(c, out.data()));
      drift.add(out);
    }
    row.drift = drift.result();
    row.ref_max_rel_err = max_rel_err(drift.first(), ref);
    if (a.save_output) row.first_output = drift.first();
    row.median_ms = median(ms);
    row.gbps = row.median_ms > 0 ? rep.kv_bytes / (row.median_ms * 1e-3) / 1e9 : 0;
    rep.rows.push_back(std::move(row));
  }
  const auto atomic = std::find_if(rep.rows.begin(), rep.rows.end(),
                                   [](const AttentionRow& r) { return r.variant == AttentionVariant::atomic; });
  if (atomic != rep.rows.end() && atomic->median_ms > 0 && rep.rows.size() > 1)
    for (auto& r : rep.rows) r.cost_vs_atomic = r.median_ms / atomic->median_ms;
  if (!a.batch_sweep.empty() || !rep.other_kv_lens.empty()) batch_sweep(a, rep, in, *be, rep.rows);
  return rep;
}

namespace {
std::string chunk_text(std::size_t c) { return c == 0 ? "L_b" : std::to_string(c); }
}  // namespace

void print_attention_table(const AttentionReport& r, std::ostream& out) {
  const bool same_len = std::all_of(r.kv_lens.begin(), r.kv_lens.end(), [&](std::size_t L) { return L == r.kv_lens[0]; });
  out << "driftlab attention: decode step, batch " << r.batch << ", " << r.heads << " heads, head dim " << r.head_dim
      << ", KV length " << (same_len ? std::to_string(r.kv_lens[0]) : join(r.kv_lens)) << " (" << sig(r.kv_bytes / 1e6, 4)
      << " MB of K and V), float32\n"
      << r.runs << " runs per variant; split_count planned for " << r.num_sms << " SMs"
      << (r.backend == "cpu" ? " (nominal: an H100/H200)" : "") << "; fixed_split " << r.split_size << " tokens\n"
      << "backend " << r.backend << ": " << r.device << "\n"
      << r.atomic_note << "\n";
  if (r.sweep_kv_bytes > 0)
    out << "the batch sweep's largest point holds " << sig(r.sweep_kv_bytes / 1e6, 4)
        << " MB of K and V beside these (--batch-sweep off and --other-kv-lens set it)\n";
  out << "\n";
  const bool sweep = !r.rows.empty() && r.rows[0].batch_distinct.has_value();
  out << std::left << std::setw(13) << "variant" << std::setw(42) << "determinism" << std::right << std::setw(7) << "chunk"
      << std::setw(9) << "distinct" << std::setw(10) << "non_equal" << std::setw(9) << "max_ulp" << std::setw(10)
      << "ref_err" << std::setw(11) << "median_ms" << std::setw(10) << "GB/s" << std::setw(8) << "cost";
  if (sweep) out << std::setw(10) << "batch_dst" << std::setw(10) << "batch_ulp";
  out << "\n";
  for (const auto& row : r.rows) {
    const auto& d = row.drift;
    out << std::left << std::setw(13) << info(row.variant).name << std::setw(42) << info(row.variant).determinism
        << std::right << Col{7} << chunk_text(row.chunk) << Col{9} << d.distinct_outputs << Col{10}
        << sig(d.ratio_non_equal, 2) << Col{9} << ulp_text(d.max_ulp) << Col{10}
        << sig(row.ref_max_rel_err, 2) << Col{11} << sig(row.median_ms, 4) << Col{10} << sig(row.gbps, 3)
        << Col{8} << (row.cost_vs_atomic ? sig(*row.cost_vs_atomic, 3) + "x" : std::string("-"));
    if (sweep) out << Col{10} << *row.batch_distinct << Col{10} << ulp_text(*row.batch_max_ulp);
    out << "\n";
  }
  out << "\nchunk = tokens per chunk at this batch (L_b: the whole KV).  distinct = distinct bit patterns of the whole "
         "output over "
      << r.runs << " runs.\n";
  if (sweep) {
    out << "batch_dst/batch_ulp: sequence 0 (KV " << r.kv_lens[0] << ")";
    if (!r.batch_sweep.empty()) out << " inside batches of " << join(r.batch_sweep) << (r.other_kv_lens.empty() ? "" : ", and");
    if (!r.other_kv_lens.empty()) out << " in a batch of " << r.batch << " whose other sequences have KV " << join(r.other_kv_lens);
    out << ".\n\nsequence 0 across the sweep: chunk / ULPs from the first point\n" << std::left << std::setw(13) << "variant";
    for (const auto& p : r.rows[0].sweep)
      out << std::right << std::setw(12) << ("B=" + std::to_string(p.batch) + (p.other_kv_len != r.kv_lens[0] ? ",L=" + std::to_string(p.other_kv_len) : ""));
    out << "\n";
    for (const auto& row : r.rows) {
      out << std::left << std::setw(13) << info(row.variant).name;
      for (const auto& p : row.sweep) out << std::right << std::setw(12) << (chunk_text(p.chunk) + "/" + ulp_text(p.ulp_vs_first));
      out << "\n";
    }
  }
}

void write_attention_json(const AttentionReport& r, std::ostream& out) {
  JsonWriter j(out);
  j.begin_object().field("command", "attention").key("rows").begin_array();
  for (const auto& row : r.rows) {
    const auto& d = row.drift;
    row_header(j.begin_object(), r.backend, r.device, info(row.variant))
        .field("batch", static_cast<std::uint64_t>(r.batch))
        .field("heads", static_cast<std::uint64_t>(r.heads))
        .field("head_dim", static_cast<std::uint64_t>(r.head_dim))
        .field("kv_lens", join(r.kv_lens))
        .field("split_size", static_cast<std::uint64_t>(r.split_size))
        .field("num_sms", static_cast<std::int64_t>(r.num_sms))
        .field("chunk", static_cast<std::uint64_t>(row.chunk))
        .field("runs", static_cast<std::uint64_t>(r.runs));
    drift_fields(j, d)
        .field("max_abs_diff", d.max_abs_diff)
        .field("ref_max_rel_err", row.ref_max_rel_err)
        .field("median_ms", row.median_ms)
        .field("kv_bytes", r.kv_bytes)
        .field("gbps", row.gbps);
    j.key("cost_vs_atomic");
    j.value_or_null(row.cost_vs_atomic);
    if (row.batch_distinct) {
      j.field("batch_sizes", join(r.batch_sweep))
          .field("other_kv_lens", join(r.other_kv_lens))
          .field("batch_distinct", static_cast<std::uint64_t>(*row.batch_distinct))
          .key("batch_max_ulp");
      j.value_or_null(*row.batch_max_ulp, kUnorderedUlp);
      j.key("sweep").begin_array();
      for (const auto& p : row.sweep) {
        j.begin_object()
            .field("batch", static_cast<std::uint64_t>(p.batch))
            .field("other_kv_len", static_cast<std::uint64_t>(p.other_kv_len))
            .field("chunk", static_cast<std::uint64_t>(p.chunk))
            .key("ulp_vs_first");
        j.value_or_null(p.ulp_vs_first, kUnorderedUlp);
        j.end_object();
      }
      j.end_array();
    }
    j.end_object();
  }
  j.end_array().end_object();
}

int attention_main(std::span<const std::string_view> args, std::ostream& out) {
  const AttentionArgs a = parse_attention_args(args);
  if (a.help) {
    out << kAttentionHelp;
    return 0;
  }
  // Every output checked before the work, not after it; with several variants --save-output is
  // FILE.<variant>.npy each (atomic_file.h's variant_path), and none may be --json.
  const std::vector<AttentionVariant> variants = pick_variants(a);
  const auto save_path = [&](AttentionVariant v) {
    return variants.size() > 1 ? variant_path(*a.save_output, info(v).name) : *a.save_output;
  };
  if (a.json) check_output_path(*a.json, "--json");
  if (a.save_output)
    for (const AttentionVariant v : variants) {
      check_output_path(save_path(v), "--save-output");
      if (a.json && same_output(save_path(v), *a.json))
        throw UsageError("--json and --save-output name the same file (" + shown_path(save_path(v)) +
                         "): one would replace the other");
    }
  // The .npy files and --json are replaced together or not at all (atomic_file.h).
  OutputGroup outputs;
  const AttentionReport rep = run_attention(a);
  print_attention_table(rep, out);
  if (a.save_output)
    for (const AttentionRow& row : rep.rows)
      npy::write_output(save_path(row.variant), {rep.batch, rep.heads, rep.head_dim}, row.first_output, "--save-output");
  if (a.json) write_json_file(*a.json, [&](std::ostream& f) { write_attention_json(rep, f); });
  outputs.commit();
  return 0;
}

}  // namespace driftlab
