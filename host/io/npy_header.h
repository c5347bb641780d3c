// The .npy header's dict, parsed and checked: the one place that reads the header's untrusted text
// (npy.cpp reads the magic, the version and the data around it).  Errors are NpyError with one line
// ("malformed header: ...", "unsupported dtype ...", "shape entry ... is negative").
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "host/io/array.h"

namespace driftlab::npy {

// What the header dict says, checked.
struct Header {
  DType dtype = DType::f32;
  bool big_endian = false;
  bool fortran_order = false;
  std::vector<std::size_t> shape;
  std::string descr;
  bool void2 = false;  // 2-byte void records ('<V2', '|V2'): bfloat16 only when the caller says so
};

// Parses the dict literal between the header length and the data ("{'descr': '<f4', ...}" with its
// space padding): exactly the keys 'descr', 'fortran_order' and 'shape', each checked.
Header parse_header(std::string_view text);

}  // namespace driftlab::npy
