// A host array of float32 or float64: the input of every command.
#pragma once

#include <cstddef>
#include <string_view>
#include <vector>

namespace driftlab {

enum class DType { f32, f64 };

inline const char* dtype_name(DType d) { return d == DType::f32 ? "f32" : "f64"; }
inline std::size_t dtype_size(DType d) { return d == DType::f32 ? 4 : 8; }

struct HostArray {
  DType dtype = DType::f32;
  std::vector<std::size_t> shape;  // row-major (C order)
  std::vector<float> f32;          // holds the data when dtype == f32
  std::vector<double> f64;         // holds the data when dtype == f64

  std::size_t size() const { return dtype == DType::f32 ? f32.size() : f64.size(); }
  const void* data() const {
    return dtype == DType::f32 ? static_cast<const void*>(f32.data()) : static_cast<const void*>(f64.data());
  }
  template <class T> const std::vector<T>& values() const {
    if constexpr (sizeof(T) == 4) return f32; else return f64;
  }
  template <class T> std::vector<T>& values() {
    if constexpr (sizeof(T) == 4) return f32; else return f64;
  }
};

}  // namespace driftlab
