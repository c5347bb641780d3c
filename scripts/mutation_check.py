#!/usr/bin/env python3
"""Mutation check of the written orders: do the known-answer tests notice a one-line change?

For each mutant below: replace one line of an order header (kernels/common/*_order.h, half.h,
exact.h, dropout.h, philox.h) or of a CPU kernel, rebuild only the known-answer test binary in a
build directory of its own (build-mutation: CPU only, incremental, ccache), run the known-answer
tests, restore the file, and record whether the mutant was killed (a test failed) or survived.
The sources are restored on every exit (finally, SIGINT, SIGTERM, SIGHUP); a backup left by a run
that was killed outright (SIGKILL) is put back at the next start.

  scripts/mutation_check.py                 # every mutant; prints a Markdown table
  scripts/mutation_check.py --only H1,H7    # some of them
  scripts/mutation_check.py --list          # the mutants, nothing built
Exit status: 0 when every mutant was killed, 1 when one survived or the unmutated tests fail,
2 for a bad command line.
"""
import argparse
import fcntl
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUILD = ROOT / "build-mutation"
BACKUP = BUILD / "mutation-backup"
# Which tests judge a mutant: its group names a test binary and a gtest filter.
#  kat:    the known-answer tests (the orders themselves, against tests/kat/make_kat.py's bits);
#  sumtile: the CPU sum tiles at every ISA level, alignment and touch, against the plain order;
#  exactsimd: the exact sum's vector tiles at every ISA level, against oracles and the scalar path;
#  replay: the CPU replays of the CUDA kernels' own per-thread steps (the GPU-only mapping
#          functions: tile copies, fragment addresses, lane-private words, launch shapes), which
#          are the only evidence for them on a machine without a GPU;
#  sweep:  the CPU sums, the read probe and the 16-bit conversions as a whole: mutants that
#          scripts/mutation_sweep.py found surviving (session 24), each killed by a test added for it;
#  sweepmm: the same for the CPU GEMM and attention (session 25).
GROUPS = {
    "kat": ("driftlab_kat_tests", "KnownAnswers.*"),
    "sumtile": ("driftlab_tests", "SumCpu.TreeTile*:SumCpu.TreeAtomic*:HalfSumCpu.Every*"),
    "exactsimd": ("driftlab_tests", "ExactSum.*:SumCpu.Exact*:HalfSumCpu.Exact*"),
    "replay": ("driftlab_tests", "DenseTileReplay.*:DenseTc.*:ExactMagnitudeWords.*:ExactFinalize.*:AttentionBlockReplay.*"),
    # sweep: the CPU sums, probe and 16-bit conversions as a whole (the operator sweep's kills).
    "sweep": ("driftlab_tests", "SumCpu.*:HalfSumCpu.*:ExactSum.*:HalfH.*:Levels/HalfConvertLevels.*"),
    # sweepmm: the CPU GEMM and attention as a whole (the session 25 sweep's kills).
    "sweepmm": ("driftlab_tests", "Gemm.*:Dense.*:Attention.*:AttentionBlockReplay.*:AttentionCli.*"),
    # dispatch: which level's path each CPU kernel family ran (isa.h's note_path, session 26): a
    # dispatcher that runs another level's or another family's path gives the same bits.
    "dispatch": ("driftlab_tests", "Dispatch.*"),
}

# (id, file, the line's text as it is, what it becomes, what the change means[, group]); group "kat"
# unless given.
MUTANTS = [
    ("H1", "kernels/common/sum_order.h",
     "inline constexpr std::size_t kLanes = 1024;", "inline constexpr std::size_t kLanes = 512;",
     "sum tree: 512 lanes instead of 1024"),
    ("H2", "kernels/common/sum_order.h",
     "template <class T> DL_HD T identity() { return T(-0.0); }",
     "template <class T> DL_HD T identity() { return T(0.0); }",
     "sum tree: lanes start at +0.0 instead of -0.0"),
    ("H3", "kernels/common/sum_order.h",
     "  return add(l0, l1);", "  return add(add(a[0], a[1]), add(a[2], a[3]));",
     "sum tree: the in-thread halvings pair lanes (0,1),(2,3) instead of (0,2),(1,3) (GPU-only function)"),
    ("H4", "kernels/common/sum_order.h",
     "  for (std::size_t j = 0; j < rest; ++j) lanes[j] = add(lanes[j], widen(row[j]));",
     "  for (std::size_t j = 0; j < rest; ++j) lanes[kLanes - rest + j] = add(lanes[kLanes - rest + j], widen(row[j]));",
     "sum tree: a short last row goes to the last lanes"),
    ("H5", "kernels/common/dense_order.h",
     "  for (std::size_t stride = 1; stride < kMaxSlices; stride *= 2)",
     "  for (std::size_t s = 1; s < S; ++s) v[0] = add(v[0], v[s]); for (std::size_t stride = kMaxSlices; stride < kMaxSlices; stride *= 2)",
     "dense tree: partials combined left to right instead of by the pairwise tree (GPU-only function)"),
    ("H6", "kernels/common/dense_order.h",
     "DL_HD std::size_t slice_len(std::size_t K, std::size_t S) { return (K + S - 1) / S; }",
     "DL_HD std::size_t slice_len(std::size_t K, std::size_t S) { return K / S + 1; }",
     "dense split-K: slice length K/S + 1 instead of ceil(K/S)"),
    ("H7", "kernels/common/attention_order.h",
     "DL_HD float finish(float acc, float l) { return l == 0.0f ? 0.0f : div(acc, l); }",
     "DL_HD float finish(float acc, float l) { return l == 0.0f ? 0.0f : mul(acc, div(1.0f, l)); }",
     "attention finish: acc * (1/l) instead of acc / l (issue 25's survivor)"),
    ("H8", "kernels/common/attention_order.h",
     "DL_HD float merge_value(float a, float b, const MergeFactors& f) { return add(mul(a, f.ca), mul(b, f.cb)); }",
     "DL_HD float merge_value(float a, float b, const MergeFactors& f) { return fma(a, f.ca, mul(b, f.cb)); }",
     "attention merge: the first product fused into the add"),
    ("H9", "kernels/common/attention_order.h",
     "  r = fma(k, 2.12194440e-4f, r);", "  // r = fma(k, 2.12194440e-4f, r);",
     "attention exp: Cody-Waite's second constant dropped"),
    ("H10", "kernels/common/attention_order.h",
     "  for (std::size_t i = 0; i < d; ++i) dot = fma(q[i], k[i], dot);",
     "  for (std::size_t i = 0; i < d; ++i) dot = add(mul(q[i], k[i]), dot);",
     "attention score: mul + add instead of the fma chain (GPU-only function)"),
    ("H11", "kernels/common/attention_order.h",
     "inline constexpr std::size_t kTile = 32;         // tokens per tile (one per lane of a warp)",
     "inline constexpr std::size_t kTile = 16;         // tokens per tile (one per lane of a warp)",
     "attention online softmax: the running max is updated every 16 tokens instead of 32"),
    ("H12", "kernels/common/exact.h",
     "    if (round && (sticky || (keep & 1u))) ++keep;", "    if (round) ++keep;",
     "exact sum: ties away from zero instead of to even"),
    ("H13", "kernels/common/exact.h",
     "    return from_bits<T>(all_neg_zero ? sign_bit : U(0));", "    return from_bits<T>(U(0));",
     "exact sum: an exact zero is always +0.0"),
    ("H14", "kernels/common/half.h",
     "  return static_cast<std::uint16_t>((u + 0x7fffu + ((u >> 16) & 1u)) >> 16);",
     "  return static_cast<std::uint16_t>((u + 0x8000u) >> 16);",
     "bf16 narrowing: ties away from zero instead of to even"),
    ("H15", "kernels/common/half.h",
     "    const std::uint32_t r = (a - 0x38000000u + 0xfffu + ((a >> 13) & 1u)) >> 13;",
     "    const std::uint32_t r = (a - 0x38000000u + 0x1000u) >> 13;",
     "f16 narrowing: ties away from zero instead of to even"),
    ("H16", "kernels/common/dropout.h",
     "      (static_cast<std::uint32_t>(call >> 32) & 0xffffu) | (layer << 16),",
     "      (static_cast<std::uint32_t>(call >> 32) & 0xffffu) | (layer << 15),",
     "dropout: the layer packed at bit 15 of the counter instead of 16"),
    ("H17", "kernels/common/philox.h",
     "    k1 += kW1;", "    k1 += kW0;",
     "Philox: the second key word bumped by the first Weyl constant"),
    ("H18", "kernels/common/dense_order.h",
     "      if (s + stride < S) v[s] = add(v[s], v[s + stride]);",
     "      v[s] = add(v[s], v[s + stride]);",
     "dense tree: the combine adds its +0.0 padding past the S partials (GPU-only function)"),
    ("K1", "kernels/cpu/gemm.cpp",
     "      for (std::size_t s = 0; s < steps; ++s) c = std::fma(A[r * lda + k0 + s], B[(k0 + s) * ldb + j], c);",
     "      for (std::size_t s = 0; s < steps; ++s) c = A[r * lda + k0 + s] * B[(k0 + s) * ldb + j] + c;",
     "cpu dense chain (scalar GEMV): mul + add instead of fma"),
    ("K2", "kernels/common/sum_order.h",
     "  for (std::size_t r = 0; r < full_rows; ++r) {",
     "  for (std::size_t r = full_rows; r-- > 0;) {",
     "cpu sum tree, the scalar tile (the header's reduce_tile, every leaf type): a tile's rows added last to first"),
    ("K3", "kernels/cpu/attention.cpp",
     "        for (std::size_t i = 0; i < d; ++i) acc[i] = std::fma(p[t], v[t * d + i], acc[i]);",
     "        for (std::size_t i = 0; i < d; ++i) acc[i] = p[t] * v[t * d + i] + acc[i];",
     "cpu attention, the scalar tile: mul + add instead of fma into acc"),
    ("K4", "kernels/cpu/sum_tile.cpp",
     "      for (; r < full_rows; ++r, p += kLanes) {                                                      \\",
     "      for (; r + 1 < full_rows; ++r, p += kLanes) {                                                  \\",
     "cpu sum tree, the avx2/avx512 tiles: each pass drops the tile's last full row"),
    ("K5", "kernels/cpu/sum_tile.cpp",
     '    for (std::size_t j = 0; j < rest; ++j) lanes[j] = order::add(lanes[j], widen1(row[j]));          \\',
     '    for (std::size_t j = 0; j < rest; ++j) lanes[kLanes - rest + j] = order::add(lanes[kLanes - rest + j], widen1(row[j]));          \\',
     "cpu sum tree, the avx2/avx512 tiles: a short last row goes to the last lanes"),
    # The aligned loads of a tile that is not vector-aligned (session 21): block 0's first vector
    # carries the previous row's last m lanes; SumCpu.TreeTileGivesTheSameBitsAtEveryAlignment judges.
    ("K6", "kernels/cpu/sum_tile.cpp",
     "        acc[0] = acc[0] + L::load(last);                                                             \\",
     "        (void)last;                                                                                  \\",
     "cpu sum tree, a tile off its vector alignment: the wrapped lanes miss the last full row", "sumtile"),
    ("K7", "kernels/cpu/sum_tile.cpp",
     "inline float neg_zero(float) { return -0.0f; }",
     "inline float neg_zero(float) { return 0.0f; }",
     "cpu sum tree, a tile off its vector alignment: the edge vectors' unused lanes add +0.0 (float)", "sumtile"),
    ("K8", "kernels/cpu/sum_tile.cpp",
     "    std::memcpy(lanes + kLanes - m, lanes - m, m * sizeof(T)); /* the wrapped lanes to their place */ \\",
     "    /* the wrapped lanes left before lanes[0] */                                                      \\",
     "cpu sum tree, a tile off its vector alignment: the wrapped lanes are never moved to their place", "sumtile"),
    # The stream form (session 21): element i to lane i % kLanes, a cache line a step.
    ("K9", "kernels/cpu/sum_tile.cpp",
     "    T* const a = lanes + (i & (kLanes - 1));",
     "    T* const a = lanes + ((i + kStep) & (kLanes - 1));",
     "cpu sum tree, the stream form: each line's elements go to the lanes one line over", "sumtile"),
    # The flag-checked lanes' own loop (session 22, flag_blocks512): a block that raised inexact
    # must be redone by the window paths, and only that block.
    ("K10", "kernels/cpu/exact_simd.cpp",
     "    break;  // this block raised inexact",
     "    continue;  // this block raised inexact",
     "cpu exact, AVX-512 flag-checked lanes: a block that raised inexact is dropped, not redone", "exactsimd"),
    ("K11", "kernels/cpu/exact_simd.cpp",
     "        c = stop;",
     "        c = stop + kChunk;",
     "cpu exact, AVX-512 flag-checked lanes: the block after the one that raised inexact is redone instead", "exactsimd"),
    ("K12", "kernels/cpu/exact_simd.cpp",
     "        if (stop >= q) break;",
     "        if (stop > q) break;",
     "cpu exact, AVX-512 flag-checked lanes: a run that reached the end takes one block more", "exactsimd"),
    ("K13", "kernels/cpu/exact_simd.cpp",
     "    break;  // this block raised inexact: the tile redoes it",
     "    continue;  // this block raised inexact: the tile redoes it",
     "cpu exact, AVX2 flag-checked lanes: a block that raised inexact is dropped, not redone", "exactsimd"),
    # The split lanes' lo parts (session 23: the test's paired streams had cancelled them).
    ("K14", "kernels/cpu/exact_simd.cpp",
     "          v[2 * k] = _mm512_add_pd(v[2 * k], l0);",
     "          v[2 * k] = _mm512_sub_pd(v[2 * k], l0);",
     "cpu exact, AVX-512 split lanes: half the lo parts negated", "exactsimd"),
    ("K15", "kernels/cpu/exact_simd.cpp",
     "          u[2 * k] = _mm512_add_pd(u[2 * k], _mm512_sub_pd(d0, l0));",
     "          u[2 * k] = _mm512_sub_pd(u[2 * k], _mm512_sub_pd(d0, l0));",
     "cpu exact, AVX-512 split lanes: half the hi parts negated", "exactsimd"),
    # The masked paths' fast blocks, which the flag-checked lanes had hidden from every test since
    # session 17 (session 23: the tests now run with the flag-checked paths off too).
    ("K16", "kernels/cpu/exact_simd.cpp",
     "              u0 = _mm256_add_pd(u0, _mm256_cvtps_pd(_mm_loadu_ps(g)));",
     "              u0 = _mm256_sub_pd(u0, _mm256_cvtps_pd(_mm_loadu_ps(g)));",
     "cpu exact, AVX2 f32 fast block: a quarter of its terms negated", "exactsimd"),
    ("K17", "kernels/cpu/exact_simd.cpp",
     "  t1 = _mm512_add_pd(t1, _mm512_cvtps_pd(_mm256_loadu_ps(p + 8)));",
     "  t1 = _mm512_sub_pd(t1, _mm512_cvtps_pd(_mm256_loadu_ps(p + 8)));",
     "cpu exact, AVX-512 f32 fast block: half its terms negated", "exactsimd"),
    ("K18", "kernels/cpu/exact_simd.cpp",
     "  mn = _mm512_min_epu32(mn, _mm512_add_epi32(a, ones));  // |bits| - 1: a zero wraps to the top",
     "  mn = _mm512_min_epu32(mn, _mm512_sub_epi32(a, ones));  // |bits| - 1: a zero wraps to the top",
     "cpu exact, AVX-512 f32 fast block: a term just below its window kept (its magnitude bits + 1, not - 1)", "exactsimd"),
    ("K19", "kernels/cpu/exact_simd.cpp",
     "            mn = _mm256_min_epu32(mn, _mm256_min_epu32(_mm256_add_epi32(a0, ones), _mm256_add_epi32(a1, ones)));",
     "            mn = _mm256_min_epu32(mn, _mm256_min_epu32(_mm256_sub_epi32(a0, ones), _mm256_add_epi32(a1, ones)));",
     "cpu exact, AVX2 fast block: a term just below its window kept (its magnitude bits + 1, not - 1)", "exactsimd"),
    ("K20", "kernels/cpu/exact_simd.cpp",
     "  t1 = _mm512_add_pd(t1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));",
     "  t1 = _mm512_sub_pd(t1, _mm512_cvtps_pd(_mm512_extractf32x8_ps(v, 1)));",
     "cpu exact, AVX-512 bf16 double-lane fast block: half its terms negated", "exactsimd"),
    ("K21", "kernels/cpu/exact_simd.cpp",
     "              u1 = _mm256_add_pd(u1, _mm256_cvtps_pd(_mm256_extractf128_ps(v0, 1)));",
     "              u1 = _mm256_sub_pd(u1, _mm256_cvtps_pd(_mm256_extractf128_ps(v0, 1)));",
     "cpu exact, AVX2 bf16 double-lane fast block: a quarter of its terms negated", "exactsimd"),
    ("K22", "kernels/cpu/exact_simd.cpp",
     "          u[2 * k + 1] = _mm512_add_pd(u[2 * k + 1], _mm512_sub_pd(d1, l1));",
     "          u[2 * k + 1] = _mm512_add_pd(u[2 * k + 1], _mm512_add_pd(d1, l1));",
     "cpu exact, AVX-512 split lanes: a hi part takes d + lo, not d - lo", "exactsimd"),
    ("K23", "kernels/cpu/exact_simd.cpp",
     "  mn = _mm512_min_epu32(mn, _mm512_add_epi32(a, ones));",
     "  mn = _mm512_max_epu32(mn, _mm512_add_epi32(a, ones));",
     "cpu exact, AVX-512 bf16 double-lane fast block: the block's largest term taken for its smallest", "exactsimd"),
    # The GPU-only mapping functions (since session 11): a wrong copy, fragment address, word index or
    # launch shape breaks only the CUDA kernel's bits or speed; the CPU replay tests must see it.
    ("D1", "kernels/common/dense_order.h",
     "DL_HD int thread_row(int tid, int i) { return (i / 4) * (kBM / 2) + (tid / 16) * 4 + i % 4; }",
     "DL_HD int thread_row(int tid, int i) { return (i / 4) * (kBM / 2) + (tid / 16) * 4 + i % 2; }",
     "dense tile: a thread's rows i and i+2 are the same row (half the tile's rows unwritten)", "replay"),
    ("D2", "kernels/common/dense_order.h",
     "  kk = 4 * (tid % (kBK / 4));", "  kk = 4 * (tid % (kBK / 8));",
     "dense tile, 16-byte A copies: k 8..15 of a tile never copied", "replay"),
    ("D3", "kernels/common/dense_order.h",
     "  c = 4 * (e % (kBN / 4));", "  c = 4 * (e % (kBN / 8));",
     "dense tile, 16-byte B copies: columns 64..127 never copied", "replay"),
    ("D4", "kernels/common/dense_order.h",
     "  return k1 - kt < static_cast<std::size_t>(kBK) ? static_cast<int>(k1 - kt) : kBK;",
     "  return kBK;",
     "dense tile: the short last k tile runs all 16 steps (fmas with padded zeros)", "replay"),
    ("D5", "kernels/common/dense_order.h",
     "    for (int j = 0; j < kTN; ++j) acc[i][j] = fma(a[i], b[j], acc[i][j]);",
     "    for (int j = 0; j < kTN; ++j) acc[i][j] = a[i] * b[j] + acc[i][j];",
     "dense tile k step: mul + add instead of fma (GPU-only function)", "replay"),
    ("D6", "kernels/common/dense_order.h",
     "    if (l.R == 1 || sms <= 0 || 2 * col_blocks * l.row_blocks >= static_cast<std::size_t>(sms)) return l;",
     "    if (l.R == 1 || sms >= 0 || 2 * col_blocks * l.row_blocks >= static_cast<std::size_t>(sms)) return l;",
     "skinny launch: a small grid is never spread over the SMs (speed only)", "replay"),
    ("D7", "kernels/common/dense_order.h",
     "  return M <= static_cast<std::size_t>(kMaxMidRows) && sms > 0 && tiles * 4 <= static_cast<std::size_t>(sms);",
     "  return M <= static_cast<std::size_t>(kMaxMidRows) && sms > 0 && tiles <= static_cast<std::size_t>(sms);",
     "skinny kernel: mid batches taken when the tiles fill a whole wave, not a quarter (speed only)", "replay"),
    ("D8", "kernels/common/dense_order.h",
     "  c = e % kCols;", "  c = e % (kCols / 2);",
     "skinny, 4-byte W copies: columns 16..31 never copied", "replay"),
    ("D9", "kernels/common/dense_order.h",
     "  c = 2 * (e % (kCols / 2));", "  c = 2 * (e % (kCols / 4));",
     "skinny, 16-bit W copied 2 values at a time: columns 16..31 never copied", "replay"),
    ("D10", "kernels/common/dense_order.h",
     "  kk = 8 * (e % (kSK / 8));", "  kk = 8 * (e % (kSK / 16));",
     "skinny, 16-bit x copies: k 16..31 of a stage never copied", "replay"),
    ("D11", "kernels/common/dense_order.h",
     "  return k1 - kt < static_cast<std::size_t>(kSK) ? static_cast<int>(k1 - kt) : kSK;",
     "  return kSK;",
     "skinny: the short last stage runs all 32 steps (fmas with padded zeros)", "replay"),
    ("D12", "kernels/common/dense_order.h",
     "  k = 8 * (lane / 16);", "  k = 8 * ((lane / 8) % 2);",
     "tensor cores, ldmatrix A: lanes 8..15 give the k + 8 half instead of lanes 16..31", "replay"),
    ("D13", "kernels/common/dense_order.h",
     "  n = 2 * (lane % 4) + c % 2;", "  n = 2 * (lane % 4) + c / 2;",
     "tensor cores, accumulator: register c's column by c / 2 instead of c % 2", "replay"),
    ("D14", "kernels/common/dense_order.h",
     "  c = 8 * (e % (kBN / 8));", "  c = 8 * (e % (kBN / 16));",
     "tensor cores, B copies: columns 64..127 never copied", "replay"),
    ("D15", "kernels/common/exact.h",
     "DL_HD constexpr int lane_word_index(int word, int lane) { return word * kLaneCopies + lane; }",
     "DL_HD constexpr int lane_word_index(int word, int lane) { return word * kLaneCopies + lane % 16; }",
     "exact, lane-private words: lanes 16..31 share lanes 0..15's words (bank conflicts; speed only)", "replay"),
    ("D16", "kernels/common/exact.h",
     "  return static_cast<std::uint32_t>(old + mag) < old ? 1u : 0u;",
     "  return static_cast<std::uint32_t>(old + mag) <= old ? 1u : 0u;",
     "exact, 32-bit words: adding 0 counted as a carry", "replay"),
    ("D17", "kernels/common/exact.h",
     "  for (int p = 0; p < parts; ++p) total += partials[p * stride];",
     "  for (int p = 1; p < parts; ++p) total += partials[p * stride];",
     "exact, a word's total: the first partial word dropped", "replay"),
    ("D18", "kernels/common/attention_order.h",
     "DL_HD std::size_t k_ld(std::size_t d) { return v_ld(d) + 4; }",
     "DL_HD std::size_t k_ld(std::size_t d) { return v_ld(d); }",
     "attention block: K rows unpadded in shared memory (bank conflicts; speed only)", "replay"),
    ("D19", "kernels/common/attention_order.h",
     "  i = width * (ue % per_row);", "  i = width * (ue % per_row) / 2;",
     "attention block: a tile's pieces land at half their dims", "replay"),
    ("D20", "kernels/common/attention_order.h",
     "  for (int c = 0; c < kDimsPerThread; ++c) acc[c] = mul(acc[c], alpha);",
     "  for (int c = 0; c < kDimsPerThread; ++c) acc[c] = acc[c];",
     "attention block: a thread's accumulators not rescaled when the running max moves", "replay"),
    ("D21", "kernels/common/dense_order.h",
     "inline constexpr int kLdA = kBM + 4;", "inline constexpr int kLdA = kBM;",
     "dense tile: the transposed A tile unpadded (bank conflicts on its stores; speed only)", "replay"),
    ("D22", "kernels/common/dense_order.h",
     "  r = 32 * (q / 2) + 4 * w + lane / 8;", "  r = 32 * (q / 2) + 4 * w + lane / 16;",
     "dense tile, 4-byte A copies: half of a warp's rows never copied", "replay"),
    ("D23", "kernels/common/dense_order.h",
     "DL_HD int rows_per_warp(std::size_t M) { return M <= 1 ? 1 : M <= 2 ? 2 : M <= 4 ? 4 : 8; }",
     "DL_HD int rows_per_warp(std::size_t M) { return M <= 1 ? 1 : M <= 2 ? 2 : 4; }",
     "skinny: at most 4 rows a thread (W read twice as often at B = 5-64; speed only)", "replay"),
    ("D24", "kernels/common/dense_order.h",
     "  return {0, float_stages * w * sizeof(float), bits, bits + kStages * w * 2, bits + (half ? kStages * (w + x) * 2 : 0)};",
     "  return {0, float_stages * w * sizeof(float), bits, bits + kStages * w * 2, bits + (half ? kStages * (w + x) : 0)};",
     "skinny, 16-bit: a block asks for half the bytes of its ring of bits (out of bounds on a GPU)", "replay"),
    ("D25", "kernels/common/dense_order.h",
     "inline constexpr int kLdA = kBK + 8, kLdB = kBN + 8;                  // row pitches (values), 16 bytes of padding",
     "inline constexpr int kLdA = kBK, kLdB = kBN + 8;                  // row pitches (values), 16 bytes of padding",
     "tensor cores: A's rows unpadded (8-way bank conflicts on ldmatrix; speed only)", "replay"),
    ("D26", "kernels/common/attention_order.h",
     "  const std::size_t p = v_ld(d), f = p + kTile, k = f + 4, v = k + 2 * kTile * k_ld(d);",
     "  const std::size_t p = v_ld(d), f = p + kTile, k = f + 2, v = k + 2 * kTile * k_ld(d);",
     "attention block: K's stages start 8 bytes after alpha and m_new (misaligned 16-byte copies)", "replay"),
    ("D27", "kernels/common/dense_order.h",
     "  return {0, float_stages * w * sizeof(float), bits, bits + kStages * w * 2, bits + (half ? kStages * (w + x) * 2 : 0)};",
     "  return {0, float_stages * w * sizeof(float), bits, bits + kStages * w, bits + (half ? kStages * (w + x) * 2 : 0)};",
     "skinny, 16-bit: the x ring of bits starts inside the W ring (values counted as bytes)", "replay"),
    ("D28", "kernels/common/dense_order.h",
     "inline constexpr std::size_t kSmemB = kSmemA + static_cast<std::size_t>(kStages) * kBM * kLdA * 2;",
     "inline constexpr std::size_t kSmemB = kSmemA + static_cast<std::size_t>(kStages) * kBM * kLdA;",
     "tensor cores: B's stages start inside A's (values counted as bytes)", "replay"),
    ("D29", "kernels/common/exact.h",
     "    if (v != 0) {",
     "    if (v > 0) {",
     "exact finalize: negative bins left out of the list", "replay"),
    ("D30", "kernels/common/exact.h",
     "  for (int b = t; b < Layout<T>::kBins; b += threads) {",
     "  for (int b = t; b + 1 < Layout<T>::kBins; b += threads) {",
     "exact finalize: the last bin never listed", "replay"),
    ("D31", "kernels/common/dense_order.h",
     "DL_HD int vec_thread_col(int tid, int j) { return (j / 4) * (kBN / 2) + ((tid % 32) / 2) * 4 + j % 4; }",
     "DL_HD int vec_thread_col(int tid, int j) { return (j / 4) * (kBN / 2) + ((tid % 32) % 16) * 4 + j % 4; }",
     "dense 16-byte tile: column runs by lane bits 0-3 (lanes n, n ^ 1 no longer share a B vector; n, n + 16 hold the same outputs)", "replay"),
    ("D32", "kernels/common/dense_order.h",
     "inline constexpr int kLdAr = kBK + 4;                           // row-major A: kBK floats + 4 of padding",
     "inline constexpr int kLdAr = kBK;                           // row-major A: kBK floats + 4 of padding",
     "dense 16-byte tile: A's rows unpadded (a load's rows r and r + 4 in the same banks; speed only)", "replay"),
    ("D33", "kernels/common/dense_order.h",
     "  r = (t / 8) * 8 + (t % 2) * 4 + (t / 2) % 4 + q * kARowStep;", "  r = t + q * kARowStep;",
     "dense 16-byte tile: a quarter warp's A copies write rows r and r + 1 (bank conflicts; speed only)", "replay"),
    ("D34", "kernels/common/dense_order.h",
     "  r = (t / 8) * 8 + (t % 2) * 4 + (t / 2) % 4 + q * kARowStep;", "  r = (t / 8) * 8 + (t % 2) * 4 + (t / 2) % 4;",
     "dense 16-byte tile: A copy 1 rewrites copy 0's rows (rows 64..127 never copied)", "replay"),
    # Found by scripts/mutation_sweep.py (session 24): each survived its file's sweep filter until a new test.
    ("W1", "kernels/cpu/half_convert.cpp",
     "  for (std::size_t i = 0; i < n; ++i) out[i] = f16_to_f32(in[i]);",
     "  for (std::size_t i = 0; i <= n; ++i) out[i] = f16_to_f32(in[i]);",
     "f16 widening, scalar loop (every vector path's tail): one element written past n", "sweep"),
    ("W2", "kernels/cpu/sum_tile.cpp",
     "  const __m512i all = _mm512_or_si512(_mm512_or_si512(acc[0], acc[1]), _mm512_or_si512(acc[2], acc[3]));",
     "  const __m512i all = _mm512_or_si512(_mm512_or_si512(acc[0], acc[2]), _mm512_or_si512(acc[2], acc[3]));",
     "read probe, AVX-512: one accumulator's words (a quarter of each block) dropped", "sweep"),
    ("W3", "kernels/cpu/sum.cpp",
     "      next[t] = tile_sum(level.data() + t * kTileItems, tile_count(level.size(), t), isa, false);",
     "      next[t] = tile_sum(level.data() + t / kTileItems, tile_count(level.size(), t), isa, false);",
     "sum tree, levels above the first: tile t > 0 read from the wrong place (needs 2^32 elements through sum_tree)", "sweep"),
    ("W4", "kernels/cpu/sum.cpp",
     "      for (std::size_t i = w * kWarp, end = std::min(n, i + kWarp); i < end; ++i) acc += x[i];",
     "      for (std::size_t i = w * kWarp, end = std::min(n, i + kWarp); i < end; ++i) acc -= x[i];",
     "atomic_element under a seeded schedule: the sum negated (inside the bound of an ill-conditioned input)", "sweep"),
    ("W5", "kernels/cpu/sum.cpp",
     "    const T* tile = x + t * kTileItems;",
     "    const T* tile = x + t / kTileItems;",
     "atomic_element on real threads: every tile reads tile 0", "sweep"),
    ("W6", "kernels/cpu/sum.cpp",
     "    w.track_neg_zero = false;",
     "    w.track_neg_zero = true;",
     "16-bit exact, AVX-512 bf16 windows: -0.0 not settled after them (v, -v pairs sum to -0.0)", "sweep"),
    ("W7", "kernels/cpu/sum.cpp",
     "    per_worker[static_cast<std::size_t>(w)] |= detail::probe_tile(bytes, tile_count(n, t) * (sizeof(T) / 4), isa, stream);",
     "    per_worker[static_cast<std::size_t>(w)] |= detail::probe_tile(bytes, tile_count(n, t) / (sizeof(T) / 4), isa, stream);",
     "read probe of doubles: half of each tile's words read", "sweep"),
    ("W8", "kernels/cpu/sum_tile.cpp",
     "  for (int index = 4; index >= 2; --index) {  // the highest level sysfs lists: L3, or L2 where there is none",
     "  for (int index = 4; index > 2; --index) {  // the highest level sysfs lists: L3, or L2 where there is none",
     "stream threshold: a machine without an L3 falls to sysconf, not its L2", "sweep"),
    ("W9", "kernels/cpu/gemm.cpp",
     "  if (B.nr_ == 0 || col_begin % B.nr_ != 0 || col_end > B.N_ || col_begin > col_end)",
     "  if (B.nr_ == 0 || col_begin % B.nr_ != 0 && col_end > B.N_ || col_begin > col_end)",
     "gemm_chain_cols: a misaligned start refused only when the end is past the matrix too", "sweepmm"),
    ("W10", "kernels/cpu/gemm.cpp",
     "  if (B.nr_ == 0 || col_begin % B.nr_ != 0 || col_end > B.N_ || col_begin > col_end)",
     "  if (B.nr_ == 0 || col_begin % B.nr_ != 0 || col_end > B.N_ && col_begin > col_end)",
     "gemm_chain_cols: an end past the matrix, or a start after the end, accepted alone", "sweepmm"),
    ("W11", "kernels/cpu/attention.cpp",
     "  for (; i + 64 <= d; i += 64) update_group_avx512<4>(acc + i, v + i, d, p, n, alpha);",
     "  for (; i + 64 <= d; i += 64) update_group_avx512<4>(acc - i, v + i, d, p, n, alpha);",
     "attention, AVX-512 V update: a group of 4 vectors after a group of 8 writes the wrong outputs (d 192..255)",
     "sweepmm"),
    # Which level's path ran (session 26): same bits at every level, so only Dispatch.* can tell.
    ("P1", "kernels/cpu/gemv_half.cpp",
     "  level = std::min(level, static_cast<int>(detail::half_isa_level()));  // avx2 there means AVX2 and F16C",
     "  level = std::max(level, static_cast<int>(detail::half_isa_level()));  // avx2 there means AVX2 and F16C",
     "16-bit GEMV: runs the higher of the gemm and half caps (F16C code where half is capped below it)",
     "dispatch"),
    ("P2", "kernels/cpu/bit_compare.cpp",
     "  level = static_cast<CompareIsa>(std::min(static_cast<int>(level), static_cast<int>(compare_isa_level())));",
     "  level = static_cast<CompareIsa>(std::max(static_cast<int>(level), static_cast<int>(compare_isa_level())));",
     "bit compare: a level asked above the family's cap runs, not the cap", "dispatch"),
    ("P3", "kernels/cpu/sum.cpp",
     "  if (level == detail::ExactSimd::avx512) {",
     "  if (level != detail::ExactSimd::avx512) {",
     "exact sum, float tiles: the AVX-512 tile below AVX-512, the scalar bins at it", "dispatch"),
    ("P6", "kernels/cpu/sum.cpp",
     "  if (level == Isa::avx512) {  // the float64 window (exact_f64.h)",
     "  if (level != Isa::avx512) {  // the float64 window (exact_f64.h)",
     "exact sum, float64 tiles: the AVX-512 tile below AVX-512, the scalar loop at it", "dispatch"),
    ("P4", "kernels/cpu/attention.cpp",
     "  switch (detail::attention_isa()) {",
     "  switch (detail::gemm_isa()) {",
     "attention: its tiles follow the gemm family's cap, not its own", "dispatch"),
    ("P5", "kernels/cpu/gemm.cpp",
     "    return gemv_run(gemv_for(isa), A + k_begin, lda, B + k_begin * ldb, ldb, C, ldc, M, N, k_end - k_begin, pool);",
     "    return gemv_run(gemv_for(detail::GemmIsa::avx2), A + k_begin, lda, B + k_begin * ldb, ldb, C, ldc, M, N, k_end - k_begin, pool);",
     "GEMV (batch <= 4): the AVX2 path whatever the level", "dispatch"),
]


class Interrupted(Exception):
    pass


def on_signal(signum, _frame):
    raise Interrupted("signal %d" % signum)


def restore_leftovers():
    """Puts back the files of a run that ended without restoring them (SIGKILL, power loss)."""
    if not BACKUP.is_dir():
        return
    for saved in BACKUP.rglob("*"):
        if saved.is_file():
            dst = ROOT / saved.relative_to(BACKUP)
            shutil.copyfile(saved, dst)
            print("mutation_check: restored %s from an interrupted run" % dst.relative_to(ROOT), file=sys.stderr)
            saved.unlink()


def run(cmd, log, cwd=ROOT):
    """Runs cmd in a process group of its own; on an interruption the whole group (make and its
    compilers too) is ended before the sources are restored.  (mutation_sweep.py uses it too.)"""
    with open(log, "w") as f:
        proc = subprocess.Popen(cmd, cwd=cwd, stdout=f, stderr=subprocess.STDOUT, start_new_session=True)
        try:
            return proc.wait()
        except BaseException:
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            proc.wait()
            raise


def configure():
    if (BUILD / "CMakeCache.txt").exists():
        return 0
    cmd = ["cmake", "-S", ".", "-B", str(BUILD), "-DCMAKE_BUILD_TYPE=Release", "-DDRIFTLAB_CUDA=OFF",
           "-DDRIFTLAB_BUILD_BENCH=OFF"]
    if shutil.which("ccache"):
        cmd.append("-DCMAKE_CXX_COMPILER_LAUNCHER=ccache")
    return run(cmd, BUILD / "configure.log")


def build(jobs, target):
    return run(["cmake", "--build", str(BUILD), "-j", str(jobs), "--target", target], BUILD / "build.log")


def group_of(mutant):
    return mutant[5] if len(mutant) > 5 else "kat"


def test(target, gtest_filter):
    """(passed, names of the failing tests)."""
    log = BUILD / "test.log"
    rc = run([str(BUILD / target), "--gtest_filter=" + gtest_filter, "--gtest_brief=1"], log)
    failed = sorted(set(re.findall(r"\[  FAILED  \] (\S+?)[, ]", log.read_text(errors="replace") + " ")))
    return rc == 0, [f for f in failed if "." in f]


def apply(path, old, new):
    text = path.read_text()
    lines = text.split("\n")
    hits = [i for i, l in enumerate(lines) if l == old]
    if len(hits) != 1:
        raise SystemExit("mutation_check: %s: the line to mutate occurs %d times (the source changed?):\n  %s"
                         % (path.relative_to(ROOT), len(hits), old))
    lines[hits[0]] = new
    return "\n".join(lines)


def start_run(lock_path, busy_message):
    """SIGINT/SIGTERM/SIGHUP raise Interrupted from here on; then the run's lock file, held for as
    long as the returned file is open, or None (and busy_message % lock_path on stderr) when
    another run holds it.  (mutation_sweep.py uses it too.)"""
    for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(s, on_signal)
    lock_path.parent.mkdir(exist_ok=True)
    lock = open(lock_path, "w")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        print(busy_message % lock_path, file=sys.stderr)
        return None
    return lock


class OneLineParser(argparse.ArgumentParser):
    """A bad command line is one line on stderr and exit status 2 (not argparse's usage block)."""

    def error(self, message):
        print("mutation_check: %s (see --help)" % message, file=sys.stderr)
        sys.exit(2)


def jobs_count(text):
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("not a whole number: %r" % text)
    if not 1 <= n <= 256:
        raise argparse.ArgumentTypeError("%d is not in 1-256" % n)
    return n


def main():
    ap = OneLineParser(description=__doc__.split("\n")[0], allow_abbrev=False)
    ap.add_argument("--only", help="comma-separated mutant ids")
    ap.add_argument("--list", action="store_true")
    ap.add_argument("--check-lines", action="store_true",
                    help="only check that every mutant's line occurs once in its file (no build)")
    ap.add_argument("--jobs", type=jobs_count, default=2, help="build jobs, 1-256 (default 2)")
    ap.add_argument("--filter", help="gtest filter for the known-answer group (default: KnownAnswers.*)")
    args = ap.parse_args()
    chosen = MUTANTS
    if args.only is not None:  # "" names no mutant: an error, not "all of them"
        ids = args.only.split(",")
        unknown = [i for i in ids if i not in {m[0] for m in MUTANTS}]
        if unknown:
            print("mutation_check: unknown mutant %s (see --list)" % ", ".join(repr(i) for i in unknown), file=sys.stderr)
            return 2
        chosen = [m for m in MUTANTS if m[0] in ids]
    if args.check_lines:  # a refactor that moves a mutant's line leaves the mutant unrunnable
        stale = []
        for m in chosen:
            lines = (ROOT / m[1]).read_text().split("\n")
            hits = sum(1 for l in lines if l == m[2])
            if hits != 1:
                stale.append("%s (%s: the line occurs %d times)" % (m[0], m[1], hits))
        if stale:
            print("mutation_check: stale mutants: %s" % "; ".join(stale), file=sys.stderr)
            return 1
        print("mutation_check: the lines of all %d mutants occur once each" % len(chosen))
        return 0
    if args.list:
        for m in chosen:
            print("%-4s %-6s %-34s %s" % (m[0], group_of(m), m[1], m[4]))
        return 0

    # One run at a time: a second one would mutate the same sources and share the backups.
    lock = start_run(BUILD / "mutation.lock", "mutation_check: another run holds %s; wait for it to end")
    if lock is None:
        return 1
    restore_leftovers()
    if configure() != 0:
        print("mutation_check: cmake configure failed (see %s)" % BUILD, file=sys.stderr)
        return 1
    groups = dict(GROUPS)
    if args.filter:
        groups["kat"] = (groups["kat"][0], args.filter)
    t0 = time.time()
    for g in sorted({group_of(m) for m in chosen}):
        target, gtest_filter = groups[g]
        if build(args.jobs, target) != 0:
            print("mutation_check: the unmutated build fails (see %s)" % (BUILD / "build.log"), file=sys.stderr)
            return 1
        ok, failed = test(target, gtest_filter)
        if not ok:
            print("mutation_check: the unmutated tests fail (%s); nothing to measure" % " ".join(failed),
                  file=sys.stderr)
            return 1
    print("mutation_check: baseline built and passing (%.0f s)" % (time.time() - t0), file=sys.stderr)

    rows = []
    for m in chosen:
        mid, rel, old, new, what = m[:5]
        target, gtest_filter = groups[group_of(m)]
        path = ROOT / rel
        backup = BACKUP / rel
        t = time.time()
        mutated = apply(path, old, new)
        backup.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, backup)
        try:
            path.write_text(mutated)
            if build(args.jobs, target) != 0:
                verdict, by = "killed (does not compile)", []
            else:
                ok, failed = test(target, gtest_filter)
                verdict, by = ("SURVIVED", []) if ok else ("killed", failed)
        finally:
            shutil.copyfile(backup, path)  # a new mtime: the next build recompiles what it touched
            backup.unlink()
        rows.append((mid, rel, what, verdict, by))
        print("mutation_check: %-4s %-9s %s (%.0f s)" % (mid, verdict.split()[0], ", ".join(by), time.time() - t),
              file=sys.stderr)

    print("| id | file | mutant | result | failing tests |")
    print("|---|---|---|---|---|")
    for mid, rel, what, verdict, by in rows:
        print("| %s | `%s` | %s | %s | %s |" % (mid, rel, what, verdict, ", ".join("`%s`" % b for b in by)))
    survivors = [r[0] for r in rows if r[3] == "SURVIVED"]
    print("\n%d mutants, %d killed, %d survived%s" % (len(rows), len(rows) - len(survivors), len(survivors),
                                                    (": " + ", ".join(survivors)) if survivors else ""))
    return 1 if survivors else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Interrupted as e:
        print("mutation_check: interrupted (%s); sources restored" % e, file=sys.stderr)
        sys.exit(1)
