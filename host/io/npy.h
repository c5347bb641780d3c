// NumPy .npy files (format versions 1.0, 2.0 and 3.0), float16, float32 and float64, either byte
// order, and bfloat16 as ml_dtypes saves it ('<V2') when the caller says the records are bf16.
// Errors are NpyError with a one-line message a user can act on.
#pragma once

#include <cstddef>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "host/io/array.h"

namespace driftlab::npy {

struct NpyError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct ReadOptions {
  // np.save of an ml_dtypes.bfloat16 array writes descr '<V2' (ml_dtypes 0.6, NumPy 2.4): 2-byte
  // void records, which any 2-byte user dtype also gives (and a NumPy void array: '|V2').  So
  // they are read as bfloat16 (DType::bf16) only when this is set; else refused with one line.
  bool void2_as_bf16 = false;
};

// Parses a whole .npy image.  dtype must be '<f2', '>f2', '<f4', '>f4', '<f8' or '>f8' ('=' and
// '|' count as native little-endian), or '<V2'/'|V2' with opts.void2_as_bf16; fortran_order True
// is accepted and converted to C order.  16-bit data lands in HostArray::u16 as bit patterns.
HostArray parse(std::span<const std::byte> bytes, const ReadOptions& opts = {});

// Reads and parses a file; the message names the file.
HostArray read(const std::string& path, const ReadOptions& opts = {});

// Untrusted text (paths, header bytes, member names) made safe for a one-line message: control
// and non-ASCII bytes become \xNN and long text is cut short.  Also used by npz.cpp.
std::string printable(std::string_view s, std::size_t max_len = 60);

// Writes `a` as a version 1.0 .npy in little-endian C order (shape from a.shape, or 1-D); f16 as
// '<f2', bf16 as '<V2' (what ml_dtypes writes; np.load(...).view(ml_dtypes.bfloat16) reads it).
void write(const std::string& path, const HostArray& a);

// A command's float32 output (--save-output): `values` as an array of `shape`, written by write();
// an NpyError becomes a std::runtime_error whose line starts with `flag`.
void write_output(const std::string& path, std::vector<std::size_t> shape, std::vector<float> values,
                  std::string_view flag);

}  // namespace driftlab::npy
