#include "kernels/cpu/half_convert.h"

#include <algorithm>
#include <atomic>

#include "kernels/cpu/simd.h"

namespace driftlab::cpu {
namespace {
using detail::HalfIsa;

// ---- scalar: half.h, one element at a time (also every vector path's tail) ----
void widen_bf16_scalar(const std::uint16_t* in, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = bf16_to_f32(in[i]);
}
void widen_f16_scalar(const std::uint16_t* in, float* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = f16_to_f32(in[i]);
}
void narrow_bf16_scalar(const float* in, std::uint16_t* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = f32_to_bf16(in[i]);
}
void narrow_f16_scalar(const float* in, std::uint16_t* out, std::size_t n) {
  for (std::size_t i = 0; i < n; ++i) out[i] = f32_to_f16(in[i]);
}

#if DRIFTLAB_X86
// ---- AVX2 (+F16C): 8 lanes ----
__attribute__((target("avx2"))) inline __m256i bf16_round8(__m256i u) {
  // half.h's f32_to_bf16 on 8 lanes: NaN -> (u >> 16) | 0x40; else (u + 0x7fff + lsb) >> 16.
  const __m256i abs = _mm256_and_si256(u, _mm256_set1_epi32(0x7fffffff));
  const __m256i is_nan = _mm256_cmpgt_epi32(abs, _mm256_set1_epi32(0x7f800000));
  const __m256i lsb = _mm256_and_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(1));
  const __m256i rounded = _mm256_srli_epi32(_mm256_add_epi32(_mm256_add_epi32(u, _mm256_set1_epi32(0x7fff)), lsb), 16);
  const __m256i quiet = _mm256_or_si256(_mm256_srli_epi32(u, 16), _mm256_set1_epi32(0x40));
  return _mm256_blendv_epi8(rounded, quiet, is_nan);
}

__attribute__((target("avx2"))) void widen_bf16_avx2(const std::uint16_t* in, float* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256i w = _mm256_cvtepu16_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i)));
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm256_slli_epi32(w, 16));
  }
  widen_bf16_scalar(in + i, out + i, n - i);
}
__attribute__((target("avx2,f16c"))) void widen_f16_avx2(const std::uint16_t* in, float* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm256_storeu_ps(out + i, _mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i))));
  widen_f16_scalar(in + i, out + i, n - i);
}
__attribute__((target("avx2"))) void narrow_bf16_avx2(const float* in, std::uint16_t* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m256i a = bf16_round8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)));
    const __m256i b = bf16_round8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i + 8)));
    // Lane values are 0..0xffff, so the unsigned-saturating pack is exact; it interleaves the
    // 128-bit halves, which the permute puts back in order.
    const __m256i packed = _mm256_permute4x64_epi64(_mm256_packus_epi32(a, b), 0xd8);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), packed);
  }
  narrow_bf16_scalar(in + i, out + i, n - i);
}
__attribute__((target("avx2,f16c"))) void narrow_f16_avx2(const float* in, std::uint16_t* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 8 <= n; i += 8)
    _mm_storeu_si128(reinterpret_cast<__m128i*>(out + i),
                     _mm256_cvtps_ph(_mm256_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  narrow_f16_scalar(in + i, out + i, n - i);
}

// ---- AVX-512F: 16 lanes ----
// GCC 12's AVX-512 headers build some results from _mm512_undefined_*(), which trips a false
// -Wmaybe-uninitialized inside the headers themselves.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
__attribute__((target("avx512f"))) void widen_bf16_avx512(const std::uint16_t* in, float* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i w = _mm512_cvtepu16_epi32(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i)));
    _mm512_storeu_si512(out + i, _mm512_slli_epi32(w, 16));
  }
  widen_bf16_scalar(in + i, out + i, n - i);
}
__attribute__((target("avx512f"))) void widen_f16_avx512(const std::uint16_t* in, float* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm512_storeu_ps(out + i, _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(in + i))));
  widen_f16_scalar(in + i, out + i, n - i);
}
__attribute__((target("avx512f"))) void narrow_bf16_avx512(const float* in, std::uint16_t* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16) {
    const __m512i u = _mm512_loadu_si512(in + i);
    const __m512i abs = _mm512_and_si512(u, _mm512_set1_epi32(0x7fffffff));
    const __mmask16 is_nan = _mm512_cmpgt_epi32_mask(abs, _mm512_set1_epi32(0x7f800000));
    const __m512i lsb = _mm512_and_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(1));
    const __m512i rounded =
        _mm512_srli_epi32(_mm512_add_epi32(_mm512_add_epi32(u, _mm512_set1_epi32(0x7fff)), lsb), 16);
    const __m512i quiet = _mm512_or_si512(_mm512_srli_epi32(u, 16), _mm512_set1_epi32(0x40));
    const __m512i r = _mm512_mask_blend_epi32(is_nan, rounded, quiet);
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i), _mm512_cvtepi32_epi16(r));  // exact: r <= 0xffff
  }
  narrow_bf16_scalar(in + i, out + i, n - i);
}
__attribute__((target("avx512f"))) void narrow_f16_avx512(const float* in, std::uint16_t* out, std::size_t n) {
  std::size_t i = 0;
  for (; i + 16 <= n; i += 16)
    _mm256_storeu_si256(reinterpret_cast<__m256i*>(out + i),
                        _mm512_cvtps_ph(_mm512_loadu_ps(in + i), _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC));
  narrow_f16_scalar(in + i, out + i, n - i);
}
#pragma GCC diagnostic pop
#endif

// Each conversion's three paths; run() takes the half family's level and notes it (isa.h).
template <class In, class Out> struct Paths {
  using Fn = void (*)(const In*, Out*, std::size_t);
  Fn avx512, avx2, scalar;  // the vector ones null where DRIFTLAB_X86 is 0
};
#if DRIFTLAB_X86
#define DRIFTLAB_HALF_PATHS(name) {&name##_avx512, &name##_avx2, &name##_scalar}
#else
#define DRIFTLAB_HALF_PATHS(name) {nullptr, nullptr, &name##_scalar}
#endif

template <class In, class Out> void run(const Paths<In, Out>& p, const In* in, Out* out, std::size_t n) {
  const HalfIsa level = detail::half_isa_level();  // scalar off x86 (isa.h)
  if (level == HalfIsa::avx512) {
    detail::note_path(detail::IsaFamily::half, HalfIsa::avx512);
    return p.avx512(in, out, n);
  }
  if (level == HalfIsa::avx2) {
    detail::note_path(detail::IsaFamily::half, HalfIsa::avx2);
    return p.avx2(in, out, n);
  }
  detail::note_path(detail::IsaFamily::half, HalfIsa::scalar);
  p.scalar(in, out, n);
}

}  // namespace

void widen_bf16(const std::uint16_t* in, float* out, std::size_t n) {
  run(Paths<std::uint16_t, float>DRIFTLAB_HALF_PATHS(widen_bf16), in, out, n);
}
void widen_f16(const std::uint16_t* in, float* out, std::size_t n) {
  run(Paths<std::uint16_t, float>DRIFTLAB_HALF_PATHS(widen_f16), in, out, n);
}
void narrow_bf16(const float* in, std::uint16_t* out, std::size_t n) {
  run(Paths<float, std::uint16_t>DRIFTLAB_HALF_PATHS(narrow_bf16), in, out, n);
}
void narrow_f16(const float* in, std::uint16_t* out, std::size_t n) {
  run(Paths<float, std::uint16_t>DRIFTLAB_HALF_PATHS(narrow_f16), in, out, n);
}
#undef DRIFTLAB_HALF_PATHS

}  // namespace driftlab::cpu
