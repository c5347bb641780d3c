// The exact sum: a fixed-point accumulator wide enough for every finite input, rounded once.
//
// Determinism level: any order, any device.  Integer addition is associative, so the bins hold
// the same integers whatever the order, thread count or device, and the one rounding at the end
// gives the same bits everywhere.
//
// Representation.  Every finite float is m * 2^k with an integer significand m.  We count in
// units of the smallest subnormal, u = 2^(1 - bias - mantissa_bits).  A value with biased
// exponent e and significand m (hidden bit included when e >= 1) equals m * 2^(max(e,1) - 1) u.
// Bin b holds a signed 64-bit sum of such m for one exponent, with weight 2^(max(b,1) - 1) u.
//   float:  bin = e (0..254), |m| < 2^24, so a bin takes 2^39 terms before it could overflow
//           (bins 255..287 exist for the CPU's vectorized path; see Layout<float>).
//   double: m (53 bits) is split: lo = m mod 2^26 goes to bin max(e,1), hi = m >> 26 to bin
//           max(e,1) + 26; |lo|, |hi| < 2^27, so a bin takes 2^36 terms.
// Specials and signed zeros are flags: NaN, +Inf, -Inf, "some term was seen", "some term was
// not -0.0".  Following IEEE 754: any NaN or +Inf with -Inf gives NaN; Infs of one sign give that
// Inf; an exact zero is -0.0 only when every term was -0.0 (and there was at least one);
// subnormals are exact; an exact sum beyond the range rounds to +-Inf (round to nearest even).
#pragma once

#include <cstdint>

#include "kernels/common/float_bits.h"
#include "kernels/common/hd.h"

namespace driftlab::exact {

enum : std::uint32_t {
  kSeen = 1u,         // at least one term
  kNotNegZero = 2u,   // at least one term that is not -0.0
  kNaN = 4u,
  kPosInf = 8u,
  kNegInf = 16u,
};

template <class T> struct Layout;
template <> struct Layout<float> {
  // Biased exponents 0..254 (255 is never stored), plus bins up to 287 for the high halves of the
  // CPU's vectorized window sums (kernels/cpu/exact_simd.cpp), which land up to 32 bins higher.
  static constexpr int kBins = 288;
  static constexpr int kLimbs = 6;  // 384-bit two's complement: 24 + 286 + 39 bits + sign fit
  static constexpr std::uint64_t kMaxTermsPerBin = 1ull << 39;
};
template <> struct Layout<double> {
  static constexpr int kSplit = 26;
  static constexpr int kBins = 2048 + kSplit;  // max(e,1) in 1..2046, plus 26 for hi parts
  static constexpr int kLimbs = 34;             // 2176 bits: 27 + 2071 + 36 bits + sign fit
  static constexpr std::uint64_t kMaxTermsPerBin = 1ull << 36;
};

// --- Decoding one term -----------------------------------------------------------------------

// float: bin and signed significand.  For e == 255 (Inf/NaN) bin is 255 and m must be ignored;
// callers test `is_special` and record flags with `special_flags`.
struct TermF32 {
  std::uint32_t bin;
  std::int32_t m;
};
DL_HD TermF32 decode(float x) {
  const std::uint32_t b = to_bits(x);
  const std::uint32_t e = (b >> 23) & 0xffu;
  const std::uint32_t f = b & 0x7fffffu;
  const std::int32_t mag = static_cast<std::int32_t>(e ? (f | 0x800000u) : f);
  return {e, (b >> 31) ? -mag : mag};
}

struct TermF64 {
  std::uint32_t bin;  // lo goes to bin, hi to bin + kSplit
  std::int64_t lo, hi;
};
DL_HD TermF64 decode(double x) {
  const std::uint64_t b = to_bits(x);
  const std::uint32_t e = static_cast<std::uint32_t>((b >> 52) & 0x7ffu);
  const std::uint64_t f = b & 0xfffffffffffffull;
  const std::uint64_t mag = e ? (f | (1ull << 52)) : f;
  std::int64_t lo = static_cast<std::int64_t>(mag & ((1ull << Layout<double>::kSplit) - 1));
  std::int64_t hi = static_cast<std::int64_t>(mag >> Layout<double>::kSplit);
  if (b >> 63) { lo = -lo; hi = -hi; }
  return {e ? e : 1u, lo, hi};
}

template <class T> DL_HD bool is_special(T x) {
  using FB = FloatBits<T>;
  return ((to_bits(x) >> FB::kMantissaBits) & FB::kExpMax) == FB::kExpMax;
}

// Flags one term contributes; cheap enough for every term of the slow path.
template <class T> DL_HD std::uint32_t term_flags(T x) {
  using FB = FloatBits<T>;
  using U = typename FB::UInt;
  const U b = to_bits(x);
  const U sign = U(1) << (8 * sizeof(U) - 1);
  std::uint32_t fl = kSeen | (b != sign ? kNotNegZero : 0u);
  if (is_special(x)) {
    if ((b & ((U(1) << FB::kMantissaBits) - 1)) != 0) fl |= kNaN;
    else fl |= (b & sign) ? kNegInf : kPosInf;
  }
  return fl;
}

// Adds one finite term to the bins.
DL_HD void add_term(std::int64_t* bins, float x) {
  const TermF32 t = decode(x);
  bins[t.bin] += t.m;
}
DL_HD void add_term(std::int64_t* bins, double x) {
  const TermF64 t = decode(x);
  bins[t.bin] += t.lo;
  bins[t.bin + Layout<double>::kSplit] += t.hi;
}

// --- float fast path: packed bins --------------------------------------------------------------
// One packed bin per (sign, biased exponent), indexed by the float's top 9 bits.  Each term adds
// 2^40 + its 23-bit fraction: bits 40..63 count the terms, bits 0..39 sum the fractions, exact for
// up to kPackedMaxTerms terms per bin between folds.  The hidden bits (count * 2^23), the signs,
// the specials and the signed zeros are all recovered from the counts when folding, so the hot
// loop does one shift, one mask, one add and one read-modify-write per term.
inline constexpr int kPackedBinsF32 = 512;
inline constexpr int kPackedCountShift = 40;
inline constexpr std::uint64_t kPackedMaxTerms = 1ull << 17;

DL_HD void add_packed(std::uint64_t* packed, float x) {
  const std::uint32_t b = to_bits(x);
  packed[b >> 23] += (1ull << kPackedCountShift) + (b & 0x7fffffu);
}

// Adds packed bins into the wide bins of Layout<float> and records the flags they imply.
DL_HD void fold_packed(const std::uint64_t* packed, std::int64_t* bins, std::uint32_t& flags) {
  constexpr std::uint64_t kFractionMask = (1ull << kPackedCountShift) - 1;
  for (int idx = 0; idx < kPackedBinsF32; ++idx) {
    const std::uint64_t v = packed[idx];
    if (!v) continue;
    const std::uint64_t count = v >> kPackedCountShift, fractions = v & kFractionMask;
    const int e = idx & 0xff;
    const bool negative = idx >> 8;
    flags |= kSeen;
    if (!(negative && e == 0 && fractions == 0)) flags |= kNotNegZero;  // else: only -0.0 terms
    if (e == 0xff) {  // Inf has a zero fraction, NaN does not
      flags |= fractions ? kNaN : (negative ? kNegInf : kPosInf);
      continue;
    }
    const auto m = static_cast<std::int64_t>(fractions + (e ? count << 23 : 0));
    bins[e] += negative ? -m : m;
  }
}

// --- 32-bit magnitude bins with carries (the CUDA exact kernel's shared-memory form) -----------
// GPUs have a native 32-bit shared-memory atomic add but only a compare-and-swap loop for 64 bits.
// So the kernel keeps one UNSIGNED 32-bit word per (sign, bin) and adds magnitudes only: a word
// only grows, and an add wraps (old + mag < old, at most once per add since mag < 2^32) exactly
// when the true sum passed another multiple of 2^32.  The lane whose atomic add wrapped counts one
// carry of 2^32 in a second word.  The word's true total is then words + carries * 2^32, whatever
// the order of the adds (each atomic returns the exact old value), and it folds into the signed
// bins above.  Layout of the index: [0, kMagnitudeHalf) positive terms, [kMagnitudeHalf, 2x)
// negative, each half indexed by the wide bin (float: e; double: max(e,1) for lo, + kSplit for hi).
template <class T> struct Magnitude;
template <> struct Magnitude<float> {
  static constexpr int kHalf = 256;  // the float's top 9 bits are the index: sign, biased exponent
  static constexpr int kWords = 2 * kHalf;
};
template <> struct Magnitude<double> {
  static constexpr int kHalf = Layout<double>::kBins;  // 2074
  static constexpr int kWords = 2 * kHalf;
};

// One float: its word (top 9 bits) and magnitude (hidden bit included, < 2^24).  Inf and NaN get
// magnitude 0 (their words, e = 255, stay 0 and are never folded), so that a hot loop adds every
// term without a branch and records the specials with flags_after_seen.
struct MagnitudeF32 {
  std::uint32_t word, mag;
};
DL_HD MagnitudeF32 decode_magnitude(float x) {
  const std::uint32_t b = to_bits(x);
  const std::uint32_t e = (b >> 23) & 0xffu;
  const std::uint32_t f = b & 0x7fffffu;
  return {b >> 23, e == 0xffu ? 0u : (e ? (f | 0x800000u) : f)};
}
// One double: two words and magnitudes (< 2^26 and < 2^27), as decode(double) splits it; Inf and
// NaN get magnitudes 0 as for float.
struct MagnitudeF64 {
  std::uint32_t word_lo, word_hi, mag_lo, mag_hi;
};
DL_HD MagnitudeF64 decode_magnitude(double x) {
  const std::uint64_t b = to_bits(x);
  const std::uint32_t e = static_cast<std::uint32_t>((b >> 52) & 0x7ffu);
  const std::uint64_t f = b & 0xfffffffffffffull;
  const std::uint64_t mag = e == 0x7ffu ? 0ull : (e ? (f | (1ull << 52)) : f);
  const std::uint32_t bin = e ? e : 1u;
  const std::uint32_t half = (b >> 63) ? static_cast<std::uint32_t>(Magnitude<double>::kHalf) : 0u;
  return {half + bin, half + bin + static_cast<std::uint32_t>(Layout<double>::kSplit),
          static_cast<std::uint32_t>(mag & ((1ull << Layout<double>::kSplit) - 1)),
          static_cast<std::uint32_t>(mag >> Layout<double>::kSplit)};
}

// term_flags for a hot loop, in pieces: kSeen once for all terms; kNotNegZero from an OR of
// not_neg_zero_bits over the terms (nonzero iff some term is not -0.0: one instruction a term);
// the special flags by term_flags, only for the terms of a batch in which decode_magnitude saw
// an Inf or NaN (is_special_word).  The OR of these equals the OR of term_flags.
template <class T> DL_HD typename FloatBits<T>::UInt not_neg_zero_bits(T x) {
  using U = typename FloatBits<T>::UInt;
  return to_bits(x) ^ (U(1) << (8 * sizeof(U) - 1));
}

// True for the word of an Inf or NaN (biased exponent all ones).
DL_HD bool is_special_word(const MagnitudeF32& t) { return (t.word & 0xffu) == 0xffu; }
DL_HD bool is_special_word(const MagnitudeF64& t) {
  return t.word_lo == 0x7ffu || t.word_lo == static_cast<std::uint32_t>(Magnitude<double>::kHalf) + 0x7ffu;
}

// 1 when adding `mag` to a 32-bit word holding `old` wrapped (one carry of 2^32), else 0.
DL_HD std::uint32_t add_carry(std::uint32_t old, std::uint32_t mag) {
  return static_cast<std::uint32_t>(old + mag) < old ? 1u : 0u;
}

// A serial 32-bit add with its carry counted: what one atomicAdd and its carry check do.
DL_HD void add_magnitude(std::uint32_t* words, std::uint32_t* carries, std::uint32_t word, std::uint32_t mag) {
  const std::uint32_t old = words[word];
  words[word] = old + mag;
  carries[word] += add_carry(old, mag);
}

// What one word's true total (the sum of its partial words, plus carries * 2^32; < 2^63) adds to
// the signed bins of Layout<T>: word b is +total to bin b, word kHalf + b is -total to bin b.
struct WideAdd {
  int bin;
  std::int64_t value;
};
template <class T> DL_HD WideAdd wide_add(int word, std::uint64_t total) {
  const int half = Magnitude<T>::kHalf;
  const auto v = static_cast<std::int64_t>(total);
  return word < half ? WideAdd{word, v} : WideAdd{word - half, -v};
}
template <class T> DL_HD void fold_magnitude(std::int64_t* bins, int word, std::uint64_t total) {
  const WideAdd a = wide_add<T>(word, total);
  bins[a.bin] += a.value;
}
// The true total of a word from `parts` partial words (e.g. one per warp) and its carry count.
DL_HD std::uint64_t magnitude_total(const std::uint32_t* partials, int parts, int stride, std::uint32_t carries) {
  std::uint64_t total = static_cast<std::uint64_t>(carries) << 32;
  for (int p = 0; p < parts; ++p) total += partials[p * stride];
  return total;
}

// --- Lane-private words: the CUDA float exact kernel's shared-memory layout --------------------
// 32 copies of the 512 magnitude words of Magnitude<float>, one per lane of a warp: word w of lane
// l at index w * 32 + l (64 KiB).  Shared memory has 32 banks of 4-byte words, bank = index mod
// 32 = l: the 32 atomic adds of one warp instruction always fall in 32 distinct banks and never
// on one address, whatever the data.  Which copy a term goes to changes no word's total (integer
// addition; see magnitude_total), so the bins, and the result, are those of any other layout.
inline constexpr int kLaneCopies = 32;
DL_HD constexpr int lane_word_index(int word, int lane) { return word * kLaneCopies + lane; }

// --- Rounding the bins once ------------------------------------------------------------------

// limbs += v * 2^shift for an unsigned v, over kLimbs 64-bit limbs (mod 2^(64 kLimbs)); the carry
// runs only as far as it must (one to three limbs, almost always).
template <int kLimbs> DL_HD void add_shifted(std::uint64_t* limbs, std::uint64_t v, int shift) {
  const int bit = shift % 64;
  std::uint64_t add = v << bit, next = bit ? v >> (64 - bit) : 0, carry = 0;
  for (int k = shift / 64; k < kLimbs && (add | next | carry); ++k) {
    const std::uint64_t s1 = limbs[k] + add;
    const std::uint64_t s2 = s1 + carry;
    carry = static_cast<std::uint64_t>(s1 < add) | static_cast<std::uint64_t>(s2 < s1);
    limbs[k] = s2;
    add = next;
    next = 0;
  }
}

template <int kLimbs> DL_HD bool bit_at(const std::uint64_t* limbs, int pos) {
  return (limbs[pos / 64] >> (pos % 64)) & 1u;
}

// Any bit below `pos` set?
template <int kLimbs> DL_HD bool any_below(const std::uint64_t* limbs, int pos) {
  for (int k = 0; k < pos / 64; ++k)
    if (limbs[k]) return true;
  const int bit = pos % 64;
  return bit && (limbs[pos / 64] & ((1ull << bit) - 1));
}

// `width` (<= 64) bits starting at `pos`.
template <int kLimbs> DL_HD std::uint64_t bits_at(const std::uint64_t* limbs, int pos, int width) {
  const int word = pos / 64, bit = pos % 64;
  std::uint64_t v = limbs[word] >> bit;
  if (bit && word + 1 < kLimbs) v |= limbs[word + 1] << (64 - bit);
  return width == 64 ? v : (v & ((1ull << width) - 1));
}

// One bin (bin b weighs 2^(max(b,1)-1) units) into the sum of the positive bins or into the sum
// of the negative bins' magnitudes: the step of sum_bins and sum_listed_bins.
template <class T> DL_HD void add_bin(std::uint64_t* pos, std::uint64_t* neg, int b, std::int64_t v) {
  const int shift = (b > 1 ? b : 1) - 1;
  if (v > 0) add_shifted<Layout<T>::kLimbs>(pos, static_cast<std::uint64_t>(v), shift);
  else if (v < 0) add_shifted<Layout<T>::kLimbs>(neg, 0ull - static_cast<std::uint64_t>(v), shift);
}

// pos -= neg over kLimbs limbs: the signed sum, two's complement.
// On the GPU the loop stays a loop: unrolled over the 34 limbs of the f64 layout, it held both
// numbers in registers and spilled (tests/check_spills.py).
template <int kLimbs> DL_HD void subtract_limbs(std::uint64_t* pos, const std::uint64_t* neg) {
  std::uint64_t borrow = 0;
#if defined(__CUDA_ARCH__)
#pragma unroll 1
#endif
  for (int k = 0; k < kLimbs; ++k) {
    const std::uint64_t d1 = pos[k] - neg[k];
    const std::uint64_t d2 = d1 - borrow;
    borrow = static_cast<std::uint64_t>(pos[k] < neg[k]) | static_cast<std::uint64_t>(d1 < borrow);
    pos[k] = d2;
  }
}

// The exact sum of the bins as a two's complement number of Layout<T>::kLimbs 64-bit limbs.  The
// positive bins and the magnitudes of the negative ones are summed apart, so that no add carries a
// sign extension through every limb above it (the f64 layout has 34 limbs), then subtracted.
// Integer arithmetic mod 2^(64 kLimbs): the same limbs whatever the grouping or the order.
// Calls f(b, bins[b]) for every nonzero bin b < count, in increasing b.  Eight bins at a time:
// most are zero (one tile's terms fill a few dozen of the f64 layout's 2074), and an OR of eight
// is one test where a bin at a time is eight.  sum_bins and the CPU's merge of workers' bins.
template <class F> DL_HD void for_each_nonzero_bin(const std::int64_t* bins, int count, F&& f) {
  constexpr int kBlock = 8;
  for (int b0 = 0; b0 < count; b0 += kBlock) {
    const int end = b0 + kBlock < count ? b0 + kBlock : count;
    std::int64_t any = 0;
    for (int b = b0; b < end; ++b) any |= bins[b];
    if (any == 0) continue;
    for (int b = b0; b < end; ++b)
      if (bins[b] != 0) f(b, bins[b]);
  }
}

template <class T> DL_HD void sum_bins(const std::int64_t* bins, std::uint64_t* limbs) {
  constexpr int kLimbs = Layout<T>::kLimbs;
  std::uint64_t neg[kLimbs];
  for (int k = 0; k < kLimbs; ++k) limbs[k] = neg[k] = 0;
  for_each_nonzero_bin(bins, Layout<T>::kBins, [&](int b, std::int64_t v) { add_bin<T>(limbs, neg, b, v); });
  subtract_limbs<kLimbs>(limbs, neg);
}

// sum_bins over a list of the nonzero bins (`values[i]` in bin `bins[i]`, any order): what sum.cu's
// exact_finalize_kernel gives the one thread that rounds.  On the GPU the limb loops stay loops (see
// subtract_limbs).
template <class T> DL_HD void sum_listed_bins(const std::int64_t* values, const std::uint16_t* bins, int count,
                                              std::uint64_t* limbs) {
  constexpr int kLimbs = Layout<T>::kLimbs;
  std::uint64_t neg[kLimbs];
#if defined(__CUDA_ARCH__)
#pragma unroll 1
#endif
  for (int k = 0; k < kLimbs; ++k) limbs[k] = neg[k] = 0;
#if defined(__CUDA_ARCH__)
#pragma unroll 1
#endif
  for (int i = 0; i < count; ++i) add_bin<T>(limbs, neg, bins[i], values[i]);
  subtract_limbs<kLimbs>(limbs, neg);
}

// One slot of exact_finalize_kernel's list: an atomic counter in shared memory on the device; the
// CPU replay (tests/test_exact.cpp) runs the threads one after another, in a shuffled order.
DL_HD int claim_slot(int* count) {
#if defined(__CUDA_ARCH__)
  return atomicAdd(count, 1);
#else
  return (*count)++;
#endif
}

// Thread t of `threads` in exact_finalize_kernel: reads bins t, t + threads, ... (coalesced) and
// lists each nonzero one (its value and its bin) at a slot claim_slot gives it.  The list's order
// is whatever the atomics give; sum_listed_bins does not depend on it.
template <class T> DL_HD void list_nonzero_bins(const unsigned long long* bins, int t, int threads, int* count,
                                                std::int64_t* values, std::uint16_t* where) {
  for (int b = t; b < Layout<T>::kBins; b += threads) {
    const auto v = static_cast<std::int64_t>(bins[b]);
    if (v != 0) {
      const int at = claim_slot(count);
      values[at] = v;
      where[at] = static_cast<std::uint16_t>(b);
    }
  }
}

// The specials (from flags), else sum_bins' number rounded once to nearest-even; `limbs` is
// used up.
template <class T> DL_HD T round_limbs(std::uint64_t* limbs, std::uint32_t flags) {
  using FB = FloatBits<T>;
  using U = typename FB::UInt;
  constexpr int M = FB::kMantissaBits;
  constexpr int kLimbs = Layout<T>::kLimbs;
  const U sign_bit = U(1) << (8 * sizeof(U) - 1);
  const U inf = static_cast<U>(FB::kExpMax) << M;

  if ((flags & kNaN) || ((flags & kPosInf) && (flags & kNegInf))) return from_bits<T>(FB::kQuietNaN);
  if (flags & kPosInf) return from_bits<T>(inf);
  if (flags & kNegInf) return from_bits<T>(inf | sign_bit);

  const bool negative = limbs[kLimbs - 1] >> 63;
  if (negative) {  // two's complement negation: invert and add one
    std::uint64_t carry = 1;
    for (int k = 0; k < kLimbs; ++k) {
      const std::uint64_t v = ~limbs[k] + carry;
      carry = carry && v == 0;
      limbs[k] = v;
    }
  }
  int top = -1;
  for (int k = kLimbs - 1; k >= 0 && top < 0; --k)
    if (limbs[k])
      for (int bit = 63; bit >= 0; --bit)
        if ((limbs[k] >> bit) & 1u) { top = 64 * k + bit; break; }

  if (top < 0) {  // exact zero
    const bool all_neg_zero = (flags & kSeen) && !(flags & kNotNegZero);
    return from_bits<T>(all_neg_zero ? sign_bit : U(0));
  }
  U bits;
  if (top <= M) {
    // Below 2^(M+1) units the encoding of S units is S itself (subnormals and the first binade).
    bits = static_cast<U>(limbs[0]);
  } else {
    int shift = top - M;
    std::uint64_t keep = bits_at<kLimbs>(limbs, shift, M + 1);
    const bool round = bit_at<kLimbs>(limbs, shift - 1);
    const bool sticky = any_below<kLimbs>(limbs, shift - 1);
    if (round && (sticky || (keep & 1u))) ++keep;
    if (keep >> (M + 1)) { keep >>= 1; ++shift; }
    const std::uint64_t biased = static_cast<std::uint64_t>(shift) + 1;
    if (biased >= FB::kExpMax) bits = inf;
    else bits = static_cast<U>((biased << M) | (keep & ((1ull << M) - 1)));
  }
  return from_bits<T>(negative ? (bits | sign_bit) : bits);
}

// The exact sum of everything added to `bins`, rounded once to nearest-even.
template <class T> DL_HD T finalize(const std::int64_t* bins, std::uint32_t flags) {
  std::uint64_t limbs[Layout<T>::kLimbs];
  sum_bins<T>(bins, limbs);
  return round_limbs<T>(limbs, flags);
}

}  // namespace driftlab::exact
