// Which path each CPU kernel family runs (kernels/cpu/isa.h, note_path).  Every level's path gives
// the same bits, so the results cannot show a dispatcher that takes another level's path: a lower
// one only costs speed (an AVX-512 machine running AVX2 code), a higher one only crashes on a CPU
// without it.  These tests run each family under each cap this CPU allows and read back that the
// level's own path ran, and no other.  On QEMU's emulated CPUs (tests/check_isa_emulated.py) they
// run at the levels those CPUs have.  The sum tiles' form (stream or blocked) is checked the same way.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "kernels/common/attention_variant.h"
#include "kernels/common/float_bits.h"
#include "kernels/common/half.h"
#include "kernels/common/sum_variant.h"
#include "kernels/cpu/attention.h"
#include "kernels/cpu/bit_compare.h"
#include "kernels/cpu/gemm.h"
#include "kernels/cpu/gemv_half.h"
#include "kernels/cpu/half_convert.h"
#include "kernels/cpu/isa.h"
#include "kernels/cpu/sum.h"
#include "kernels/cpu/sum_tile.h"
#include "kernels/cpu/thread_pool.h"
#include "host/distributed/allreduce_exact_local.h"

namespace driftlab {
namespace {

using cpu::Isa;
using cpu::detail::IsaFamily;

constexpr int kFamilies = static_cast<int>(IsaFamily::count);
const char* const kFamilyNames[kFamilies] = {"gemm", "half", "exact", "sum", "compare", "attention", "allreduce"};

// The highest path a family has: the all-reduce's local passes stop at AVX2.
Isa top_path(IsaFamily f) { return f == IsaFamily::allreduce ? Isa::avx2 : Isa::avx512; }

void cap_every_family(Isa cap) {
  for (int f = 0; f < kFamilies; ++f) cpu::detail::force_isa(static_cast<IsaFamily>(f), cap);
}
struct Restore {
  ~Restore() {
    cap_every_family(Isa::avx512);
    cpu::detail::force_stream_threshold(std::nullopt);
  }
};

std::string marks_text(unsigned marks) {
  std::string s;
  for (int l = 0; l < 3; ++l)
    if (marks & (1u << l)) s += std::string(s.empty() ? "" : "+") + cpu::isa_name(static_cast<Isa>(l));
  return s.empty() ? "none" : s;
}

std::vector<float> ramp(std::size_t n, float scale) {
  std::vector<float> v(n);
  for (std::size_t i = 0; i < n; ++i) v[i] = scale * static_cast<float>((i * 2654435761u) % 1000u) / 1000.0f - 0.5f * scale;
  return v;
}

// Every family's work, each small but past its vector paths' minimum sizes.
struct Work {
  std::vector<float> x = ramp(3 * 65536 + 17, 1.0f);   // three whole tiles and a partial one
  std::vector<bf16> xb;
  std::vector<f16> xh;
  std::vector<float> A = ramp(40 * 96, 1.0f), B = ramp(96 * 72, 1.0f), C = std::vector<float>(40 * 72);
  std::vector<std::uint16_t> Bh;
  std::vector<float> q = ramp(2 * 2 * 64, 1.0f), K = ramp(2 * 2 * 300 * 64, 1.0f), V = ramp(2 * 2 * 300 * 64, 1.0f);
  std::vector<float> out = std::vector<float>(2 * 2 * 64);
  std::size_t kv_len[2] = {300, 257};
  Work() {
    xb.resize(x.size());
    xh.resize(x.size());
    cpu::narrow(x.data(), xb.data(), x.size());
    cpu::narrow(x.data(), xh.data(), x.size());
    Bh.resize(B.size());
    cpu::narrow_bf16(B.data(), Bh.data(), B.size());
  }
};

// Runs one family's work.  pool may be null.
void run_family(IsaFamily f, Work& w, cpu::ThreadPool* pool) {
  const cpu::SumContext ctx{pool, std::nullopt};
  switch (f) {
    case IsaFamily::gemm:  // the blocked GEMM (M = 40) and the GEMV path (M = 3)
      cpu::gemm_chain(w.A.data(), 96, w.B.data(), 72, w.C.data(), 72, 40, 72, 0, 96, pool);
      cpu::gemm_chain(w.A.data(), 96, w.B.data(), 72, w.C.data(), 72, 3, 72, 0, 96, pool);
      break;
    case IsaFamily::half: {  // the four conversions and the 16-bit GEMV
      std::vector<float> wide(w.x.size());
      std::vector<std::uint16_t> bits(w.x.size());
      cpu::widen_bf16(reinterpret_cast<const std::uint16_t*>(w.xb.data()), wide.data(), w.xb.size());
      cpu::widen_f16(reinterpret_cast<const std::uint16_t*>(w.xh.data()), wide.data(), w.xh.size());
      cpu::narrow_bf16(w.x.data(), bits.data(), w.x.size());
      cpu::narrow_f16(w.x.data(), bits.data(), w.x.size());
      cpu::gemv_chain_half(cpu::HalfKind::bf16, w.A.data(), 96, w.Bh.data(), 72, w.C.data(), 72, 3, 72, 0, 96, pool);
      break;
    }
    case IsaFamily::exact: {  // the exact sum's float, float64 and 16-bit tiles
      (void)cpu::sum(SumVariant::exact, w.x.data(), w.x.size(), ctx);
      const std::vector<double> x64(w.x.begin(), w.x.end());
      (void)cpu::sum(SumVariant::exact, x64.data(), x64.size(), ctx);
      (void)cpu::sum_half(SumVariant::exact, w.xb.data(), w.xb.size(), ctx);
      (void)cpu::sum_half(SumVariant::exact, w.xh.data(), w.xh.size(), ctx);
      break;
    }
    case IsaFamily::sum:  // the tree's blocked and stream tiles, the atomic variant's, the probe's
      for (const std::optional<std::size_t> threshold : {std::optional<std::size_t>{}, std::optional<std::size_t>{0}}) {
        cpu::detail::force_stream_threshold(threshold);
        (void)cpu::sum(SumVariant::tree, w.x.data(), w.x.size(), ctx);
        (void)cpu::sum(SumVariant::atomic, w.x.data(), w.x.size(), ctx);
        (void)cpu::sum_half(SumVariant::tree, w.xb.data(), w.xb.size(), ctx);
        (void)cpu::read_probe(w.x.data(), w.x.size(), ctx);
      }
      cpu::detail::force_stream_threshold(std::nullopt);
      break;
    case IsaFamily::compare:
      (void)cpu::compare_bits(w.x.data(), w.x.data() + 1, w.x.size() - 1);
      break;
    case IsaFamily::attention: {
      const cpu::AttentionProblem p{w.q.data(), w.K.data(), w.V.data(), 2, 2, 64, w.kv_len};
      for (const AttentionVariant v : {AttentionVariant::fixed_split, AttentionVariant::single})
        cpu::attention(v, p, w.out.data(), cpu::AttentionContext{pool, std::nullopt});
      break;
    }
    case IsaFamily::allreduce: {  // the three local passes at the family's level, as allreduce_mpi.cpp runs them
      const Isa level = cpu::detail::isa_level(IsaFamily::allreduce);
      std::vector<std::int32_t> acc(64, 0);
      std::vector<float> out(64);
      const std::uint32_t E = allreduce::local::block_max(level, w.x.data(), 64);
      const int lsb1 = allreduce::window_lsb(static_cast<std::uint8_t>(E), allreduce::narrow_window_bits(2));
      (void)allreduce::local::narrow(level, w.x.data(), 64, lsb1, acc.data());
      (void)allreduce::local::round_block(level, acc.data(), 64, lsb1, out.data());
      break;
    }
    case IsaFamily::count: break;
  }
}

// Each family under each cap this CPU allows, the other families uncapped: the family's own marks
// are exactly the cap's level (capped by DRIFTLAB_ISA and the CPU), so a dispatcher that read
// another family's cap fails too; every other family that ran marked the uncapped level only.
TEST(Dispatch, EachFamilyRunsThePathOfItsCapAndNoOther) {
  if (cpu::isa_env_error()) GTEST_SKIP() << "this process runs under a bad DRIFTLAB_ISA";
  Restore restore;
  Work w;
  cpu::ThreadPool pool(2);
  const Isa best = cpu::isa_level();
  for (int f = 0; f < kFamilies; ++f)
    for (int c = 0; c <= 2; ++c) {
      const Isa cap = static_cast<Isa>(c), level = std::min({cap, best, top_path(static_cast<IsaFamily>(f))});
      cap_every_family(Isa::avx512);
      cpu::detail::force_isa(static_cast<IsaFamily>(f), cap);
      for (cpu::ThreadPool* p : {static_cast<cpu::ThreadPool*>(nullptr), &pool}) {
        cpu::detail::reset_paths();
        run_family(static_cast<IsaFamily>(f), w, p);
        const std::string where = std::string(kFamilyNames[f]) + " capped at " + cpu::isa_name(cap) +
                                  (p ? ", 2 threads" : ", the calling thread");
        const unsigned own = cpu::detail::paths_run(static_cast<IsaFamily>(f));
        EXPECT_EQ(own, 1u << static_cast<int>(level))
            << where << ": ran " << marks_text(own) << ", not " << cpu::isa_name(level);
        for (int g = 0; g < kFamilies; ++g) {
          if (g == f) continue;
          const unsigned marks = cpu::detail::paths_run(static_cast<IsaFamily>(g));
          EXPECT_TRUE(marks == 0 || marks == 1u << static_cast<int>(std::min(best, top_path(static_cast<IsaFamily>(g)))))
              << where << ": uncapped " << kFamilyNames[g] << " ran " << marks_text(marks);
        }
      }
    }
}

// gemv_half's 16-bit GEMV is both families' code: it runs the lower of the gemm and half caps.
TEST(Dispatch, HalfGemvRunsTheLowerOfTheGemmAndHalfCaps) {
  if (cpu::isa_env_error()) GTEST_SKIP() << "this process runs under a bad DRIFTLAB_ISA";
  Restore restore;
  Work w;
  for (int cg = 0; cg <= 2; ++cg)
    for (int ch = 0; ch <= 2; ++ch) {
      cpu::detail::force_isa(IsaFamily::gemm, static_cast<Isa>(cg));
      cpu::detail::force_isa(IsaFamily::half, static_cast<Isa>(ch));
      cpu::detail::reset_paths();
      cpu::gemv_chain_half(cpu::HalfKind::f16, w.A.data(), 96, w.Bh.data(), 72, w.C.data(), 72, 2, 72, 0, 96, nullptr);
      const Isa level = std::min({static_cast<Isa>(cg), static_cast<Isa>(ch), cpu::isa_level()});
      EXPECT_EQ(cpu::detail::paths_run(IsaFamily::half), 1u << static_cast<int>(level))
          << "gemm capped at " << cpu::isa_name(static_cast<Isa>(cg)) << ", half at " << cpu::isa_name(static_cast<Isa>(ch))
          << ": ran " << marks_text(cpu::detail::paths_run(IsaFamily::half));
    }
}

// compare_bits_at(level): a level above the compare family's cap runs the cap's path (bit_compare.h).
TEST(Dispatch, CompareAtALevelAboveItsCapRunsTheCap) {
  if (cpu::isa_env_error()) GTEST_SKIP() << "this process runs under a bad DRIFTLAB_ISA";
  Restore restore;
  Work w;
  for (int cap = 0; cap <= 2; ++cap)
    for (int asked = 0; asked <= 2; ++asked) {
      cpu::detail::force_isa(IsaFamily::compare, static_cast<Isa>(cap));
      cpu::detail::reset_paths();
      (void)cpu::detail::compare_bits_at(static_cast<Isa>(asked), w.x.data(), w.x.data() + 1, 1000);
      const Isa level = std::min({static_cast<Isa>(cap), static_cast<Isa>(asked), cpu::isa_level()});
      EXPECT_EQ(cpu::detail::paths_run(IsaFamily::compare), 1u << static_cast<int>(level))
          << "cap " << cpu::isa_name(static_cast<Isa>(cap)) << ", asked " << cpu::isa_name(static_cast<Isa>(asked));
    }
}

// The marks themselves: a note sets its level's bit once, the reset clears every family's.
TEST(Dispatch, MarksAreSetByNotesAndClearedByReset) {
  cpu::detail::reset_paths();
  for (int f = 0; f < kFamilies; ++f) EXPECT_EQ(cpu::detail::paths_run(static_cast<IsaFamily>(f)), 0u);
  cpu::detail::note_path(IsaFamily::sum, Isa::avx2);
  cpu::detail::note_path(IsaFamily::sum, Isa::avx2);
  cpu::detail::note_path(IsaFamily::compare, Isa::scalar);
  cpu::detail::note_path(IsaFamily::compare, Isa::avx512);
  EXPECT_EQ(cpu::detail::paths_run(IsaFamily::sum), 2u);
  EXPECT_EQ(cpu::detail::paths_run(IsaFamily::compare), 5u);
  EXPECT_EQ(cpu::detail::paths_run(IsaFamily::gemm), 0u);
  EXPECT_EQ(cpu::detail::forms_run(), 0u);
  cpu::detail::note_form(cpu::detail::TileForm::stream);
  cpu::detail::note_form(cpu::detail::TileForm::stream);
  EXPECT_EQ(cpu::detail::forms_run(), 2u);
  cpu::detail::note_form(cpu::detail::TileForm::blocked);
  EXPECT_EQ(cpu::detail::forms_run(), 3u);
  cpu::detail::reset_paths();
  EXPECT_EQ(cpu::detail::paths_run(IsaFamily::sum), 0u);
  EXPECT_EQ(cpu::detail::paths_run(IsaFamily::compare), 0u);
  EXPECT_EQ(cpu::detail::forms_run(), 0u);
}

// The sum tiles' form (isa.h's note_form), a speed-only choice the bits cannot show: an input of
// the stream threshold's size runs the stream form and one a byte under it the blocked form, at
// each vector level, in the tree, the atomic variant and the 16-bit tree (whose level of tile
// partials is always blocked); the probe likewise at AVX-512.  The scalar tiles and the AVX2 probe
// have one form and note none.
TEST(Dispatch, SumTilesStreamFromTheThresholdUp) {
  if (cpu::isa_env_error()) GTEST_SKIP() << "this process runs under a bad DRIFTLAB_ISA";
  Restore restore;
  Work w;
  cpu::ThreadPool pool(2);
  const cpu::SumContext ctx{&pool, std::nullopt};
  const unsigned blocked = 1u << static_cast<int>(cpu::detail::TileForm::blocked),
                 stream = 1u << static_cast<int>(cpu::detail::TileForm::stream);
  for (int c = 0; c <= 2; ++c) {
    const Isa level = std::min(static_cast<Isa>(c), cpu::isa_level());
    cpu::detail::force_isa(IsaFamily::sum, static_cast<Isa>(c));
    for (const bool above : {false, true}) {
      const unsigned want = level == Isa::scalar ? 0u : above ? stream : blocked;
      const unsigned want_probe = level == Isa::avx512 ? want : 0u;
      // The tree then adds its 4 tile partials, in cache, in the blocked form.
      const unsigned want_tree = level == Isa::scalar ? 0u : above ? stream | blocked : blocked;
      // The threshold at the input's bytes (it streams), or a byte more (it does not).
      auto at = [&](std::size_t bytes) { cpu::detail::force_stream_threshold(above ? bytes : bytes + 1); };
      auto forms = [&](auto run) {
        cpu::detail::reset_paths();
        run();
        return cpu::detail::forms_run();
      };
      const std::string where = std::string(cpu::isa_name(level)) + (above ? ", at the threshold" : ", a byte under the threshold");
      at(w.x.size() * sizeof(float));
      EXPECT_EQ(forms([&] { (void)cpu::sum(SumVariant::tree, w.x.data(), w.x.size(), ctx); }), want_tree) << "tree, " << where;
      EXPECT_EQ(forms([&] { (void)cpu::sum(SumVariant::atomic, w.x.data(), w.x.size(), ctx); }), want) << "atomic, " << where;
      EXPECT_EQ(forms([&] { (void)cpu::read_probe(w.x.data(), w.x.size(), ctx); }), want_probe) << "probe, " << where;
      at(w.xb.size() * sizeof(bf16));
      EXPECT_EQ(forms([&] { (void)cpu::sum_half(SumVariant::tree, w.xb.data(), w.xb.size(), ctx); }), want_tree)
          << "bf16 tree, " << where;
    }
  }
}

// The exact sum's tile form (isa.h's note_form), speed only like the levels: at a vector level a
// tile whose exponents the windows cover stays in the level's vector form, and one spanning 200
// binades goes to the scalar code (packed bins, f64's loop), except where the level has a vector
// form for any range (bf16's int64 groups at AVX-512; f16's split lanes, whose 40 binades always
// fit); f64 likewise (exact_f64.h).  The scalar level notes neither.  A dispatcher that gave every
// tile to the scalar code, or a window rule that never took a wide tile out of the windows, gives
// the same bits and fails here.
TEST(Dispatch, ExactTilesKeepTheirVectorFormWhereTheWindowsCoverTheRange) {
  if (cpu::isa_env_error()) GTEST_SKIP() << "this process runs under a bad DRIFTLAB_ISA";
  Restore restore;
  Work w;
  std::vector<float> wide(2 * 65536 + 5);
  for (std::size_t i = 0; i < wide.size(); ++i)
    wide[i] = std::ldexp(1.0f + static_cast<float>(i % 7) / 8.0f, static_cast<int>(i * 37 % 200) - 100) * (i % 3 ? 1.0f : -1.0f);
  const std::vector<double> x64(w.x.begin(), w.x.end()), wide64(wide.begin(), wide.end());
  std::vector<bf16> wide_b(wide.size());
  cpu::narrow(wide.data(), wide_b.data(), wide.size());
  cpu::ThreadPool pool(2);
  const cpu::SumContext ctx{&pool, std::nullopt};
  const unsigned vector = 1u << static_cast<int>(cpu::detail::TileForm::vector),
                 scalar = 1u << static_cast<int>(cpu::detail::TileForm::scalar);
  auto forms = [&](auto run) {
    cpu::detail::reset_paths();
    run();
    return cpu::detail::forms_run();
  };
  for (int c = 0; c <= 2; ++c) {
    const Isa level = std::min(static_cast<Isa>(c), cpu::isa_level());
    cpu::detail::force_isa(IsaFamily::exact, static_cast<Isa>(c));
    const bool vec = level != Isa::scalar;
    const std::string where = cpu::isa_name(level);
    EXPECT_EQ(forms([&] { (void)cpu::sum(SumVariant::exact, w.x.data(), w.x.size(), ctx); }), vec ? vector : 0u)
        << "f32, a few binades, " << where;
    EXPECT_EQ(forms([&] { (void)cpu::sum(SumVariant::exact, wide.data(), wide.size(), ctx); }), vec ? scalar : 0u)
        << "f32, 200 binades, " << where;
    EXPECT_EQ(forms([&] { (void)cpu::sum_half(SumVariant::exact, w.xb.data(), w.xb.size(), ctx); }), vec ? vector : 0u)
        << "bf16, a few binades, " << where;
    EXPECT_EQ(forms([&] { (void)cpu::sum_half(SumVariant::exact, wide_b.data(), wide_b.size(), ctx); }),
              level == Isa::avx512 ? vector : vec ? scalar : 0u)
        << "bf16, 200 binades, " << where;
    EXPECT_EQ(forms([&] { (void)cpu::sum_half(SumVariant::exact, w.xh.data(), w.xh.size(), ctx); }), vec ? vector : 0u)
        << "f16, " << where;
    EXPECT_EQ(forms([&] { (void)cpu::sum(SumVariant::exact, x64.data(), x64.size(), ctx); }), vec ? vector : 0u)
        << "f64, a few binades, " << where;
    EXPECT_EQ(forms([&] { (void)cpu::sum(SumVariant::exact, wide64.data(), wide64.size(), ctx); }), vec ? scalar : 0u)
        << "f64, 200 binades, " << where;
    // The same bits whichever form took the tiles (every level, every form: integer bins).
    cpu::detail::force_isa(IsaFamily::exact, Isa::scalar);
    const float want = cpu::sum(SumVariant::exact, wide.data(), wide.size(), ctx);
    cpu::detail::force_isa(IsaFamily::exact, static_cast<Isa>(c));
    EXPECT_EQ(to_bits(cpu::sum(SumVariant::exact, wide.data(), wide.size(), ctx)), to_bits(want)) << where;
  }
}

}  // namespace
}  // namespace driftlab
