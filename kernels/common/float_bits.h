// IEEE-754 bit access shared by the kernels, their CPU twins and the metrics.
#pragma once

#include <cstdint>
#include <cstring>

#include "kernels/common/hd.h"

namespace driftlab {

template <class T> struct FloatBits;

template <> struct FloatBits<float> {
  using UInt = std::uint32_t;
  static constexpr int kMantissaBits = 23;  // stored fraction bits
  static constexpr int kExponentBits = 8;
  static constexpr int kBias = 127;
  static constexpr UInt kExpMax = 0xff;  // biased exponent of Inf/NaN
  static constexpr UInt kQuietNaN = 0x7fc00000u;
  static constexpr const char* kName = "f32";
};

template <> struct FloatBits<double> {
  using UInt = std::uint64_t;
  static constexpr int kMantissaBits = 52;
  static constexpr int kExponentBits = 11;
  static constexpr int kBias = 1023;
  static constexpr UInt kExpMax = 0x7ff;
  static constexpr UInt kQuietNaN = 0x7ff8000000000000ull;
  static constexpr const char* kName = "f64";
};

DL_HD std::uint32_t to_bits(float x) {
#if defined(__CUDA_ARCH__)
  return __float_as_uint(x);
#else
  std::uint32_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}

DL_HD std::uint64_t to_bits(double x) {
#if defined(__CUDA_ARCH__)
  return static_cast<std::uint64_t>(__double_as_longlong(x));
#else
  std::uint64_t u;
  std::memcpy(&u, &x, sizeof u);
  return u;
#endif
}

template <class T> DL_HD T from_bits(typename FloatBits<T>::UInt u) {
#if defined(__CUDA_ARCH__)
  if constexpr (sizeof(T) == 4) return __uint_as_float(u);
  else return __longlong_as_double(static_cast<long long>(u));
#else
  T x;
  std::memcpy(&x, &u, sizeof x);
  return x;
#endif
}

}  // namespace driftlab
