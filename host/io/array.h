// A host array of float32, float64, bfloat16 or float16: the input of every command.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace driftlab {

// bf16 and f16 are stored as their 16-bit patterns (kernels/common/half.h defines the values).
enum class DType { f32, f64, bf16, f16 };

inline const char* dtype_name(DType d) {
  switch (d) {
    case DType::f32: return "f32";
    case DType::f64: return "f64";
    case DType::bf16: return "bf16";
    case DType::f16: return "f16";
  }
  return "?";
}
inline std::size_t dtype_size(DType d) { return d == DType::f64 ? 8 : d == DType::f32 ? 4 : 2; }
inline bool is_half(DType d) { return d == DType::bf16 || d == DType::f16; }

struct HostArray {
  DType dtype = DType::f32;
  std::vector<std::size_t> shape;  // row-major (C order)
  std::vector<float> f32;          // holds the data when dtype == f32
  std::vector<double> f64;         // holds the data when dtype == f64
  std::vector<std::uint16_t> u16;  // holds the bit patterns when dtype is bf16 or f16

  std::size_t size() const {
    return dtype == DType::f32 ? f32.size() : dtype == DType::f64 ? f64.size() : u16.size();
  }
  const void* data() const {
    if (dtype == DType::f32) return f32.data();
    if (dtype == DType::f64) return f64.data();
    return u16.data();
  }
  template <class T> const std::vector<T>& values() const {
    if constexpr (sizeof(T) == 4) return f32; else return f64;
  }
  template <class T> std::vector<T>& values() {
    if constexpr (sizeof(T) == 4) return f32; else return f64;
  }
};

}  // namespace driftlab
