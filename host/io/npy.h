// NumPy .npy files (format versions 1.0, 2.0 and 3.0), float32 and float64, either byte order.
// Errors are NpyError with a one-line message a user can act on.
#pragma once

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>

#include "array.h"

namespace driftlab::npy {

struct NpyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Parses a whole .npy image.  dtype must be '<f4', '>f4', '<f8' or '>f8' ('=' and '|' count as
// native little-endian); fortran_order True is accepted and converted to C order.
HostArray parse(std::span<const std::byte> bytes);

// Reads and parses a file; the message names the file.
HostArray read(const std::string& path);

// Untrusted text (paths, header bytes, member names) made safe for a one-line message: control
// and non-ASCII bytes become \xNN and long text is cut short.  Also used by npz.cpp.
std::string printable(std::string_view s, std::size_t max_len = 60);

// Writes `a` as a version 1.0 .npy in little-endian C order (shape from a.shape, or 1-D).
void write(const std::string& path, const HostArray& a);

}  // namespace driftlab::npy
