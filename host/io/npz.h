// NumPy .npz archives: a zip of "NAME.npy" members, stored or deflated, as numpy.savez and
// numpy.savez_compressed write them (zip64 included).  Each member is a .npy image (see npy.h).
// Errors are NpzError with a one-line message that starts with the archive's path.
//
// driftlab reads a user's model from an .npz: arrays named W0, b0, W1, b1, ... are layer i's
// kernel Wi [K x N] and bias bi [N].  That interpretation is the caller's job, not this module's:
// here an archive is only a map from names to arrays.
#pragma once

#include <map>
#include <stdexcept>
#include <string>

#include "host/io/array.h"
#include "host/io/npy.h"

namespace driftlab::npz {

struct NpzError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Reads every member; the keys are the member names without ".npy".  Throws NpzError for a
// missing or unreadable file, a file that is not a zip archive or is corrupt (truncated, bad CRC,
// broken deflate stream), a member not named *.npy, a member whose declared size is implausible
// (over 16 GiB, or more than its compressed size allows), duplicate names, or a member that
// npy::parse rejects (the message names the member).  opts as for npy::read: float16 members are
// read as DType::f16; '<V2' members (ml_dtypes' bfloat16) only with opts.void2_as_bf16.
std::map<std::string, HostArray> read(const std::string& path, const npy::ReadOptions& opts = {});

// Writes each array as the member "NAME.npy" in the format npy::write produces, deflated when
// `compress` is true, else stored; replaces `path`.  numpy.load reads the result.  Temporary files
// are made next to `path` and removed again.
void write(const std::string& path, const std::map<std::string, HostArray>& arrays, bool compress);

}  // namespace driftlab::npz
