// The one check every file input goes through (--input, --weights, --keras, --bench-json): only a
// regular file is opened, without blocking (a FIFO with no writer must not hang the command), and
// only as far as its size and a stated bound (a device such as /dev/zero never ends).
#pragma once

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>

namespace driftlab {

struct InputFileError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// The check itself, for readers with their own message prefix (npy.cpp, npz.cpp): opens `path`
// read-only and without blocking when it is a regular file; else throws InputFileError whose
// message is the reason alone ("is a folder, ...", "not a regular file (...)", "cannot read ...").
int open_regular_file(const std::string& path, std::uint64_t* size);

// Opens `path` read-only when it is a regular file and returns the descriptor (the caller closes
// it) and its size.  Refuses a missing file, a folder, a FIFO, device or socket, and a file larger
// than `max_bytes`.  Errors are one line: "WHAT PATH: reason" (`what` names the flag).
int open_input_file(const std::string& path, std::string_view what, std::uint64_t max_bytes, std::uint64_t* size);

// The whole file (open_input_file's checks); `nonempty`: an empty file is refused too.
std::string read_input_file(const std::string& path, std::string_view what, std::uint64_t max_bytes, bool nonempty = false);

// open_input_file's checks without reading: for a file used later in the run (checked up front).
void check_input_file(const std::string& path, std::string_view what, std::uint64_t max_bytes, bool nonempty = false);

// `path` as a terminal shows it: control bytes as \xNN, at most `limit` bytes (then "...").
std::string shown_path(std::string_view path, std::size_t limit = 4096);

}  // namespace driftlab
