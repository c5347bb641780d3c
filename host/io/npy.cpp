// NumPy .npy reader and writer (see npy.h): the magic, version and header length, the data in
// either byte order and either memory order, and the file read and written; the header's dict is
// parsed in npy_header.cpp.  Format reference:
// https://numpy.org/doc/stable/reference/generated/numpy.lib.format.html
//
// Layout: "\x93NUMPY", major, minor, header length (uint16 LE in 1.0, uint32 LE in 2.0/3.0),
// then a Python dict literal padded with spaces and ending in '\n', then the raw data.
// Every input byte is untrusted: each read is bounds-checked and the data size is checked
// against the shape (with overflow checks) before anything is allocated.
#include "host/io/npy.h"

#include "host/io/atomic_file.h"
#include "host/io/input_file.h"
#include "host/io/npy_header.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <bit>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <limits>
#include <memory>
#include <new>
#include <optional>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace driftlab::npy {
namespace {

constexpr std::string_view kMagic{"\x93NUMPY", 6};
constexpr std::size_t kAlign = 64;  // NumPy pads the header so the data starts 64-byte aligned

[[noreturn]] void fail(const std::string& message) { throw NpyError(message); }

// Python's repr of a tuple of ints: (), (5,), (2, 3).
std::string python_tuple(const std::vector<std::size_t>& shape) {
  std::string s = "(";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  if (shape.size() == 1) s += ',';
  return s + ")";
}

// Product of the dimensions times `item_size`, or nullopt when it overflows size_t.  Like NumPy,
// zero-length axes are skipped in the overflow check, so (huge, 0) is a valid empty shape.
std::optional<std::size_t> byte_count(const std::vector<std::size_t>& shape, std::size_t item_size) {
  if (std::find(shape.begin(), shape.end(), std::size_t{0}) != shape.end()) return 0;  // (2^62, 0) too
  std::size_t bytes = item_size;
  bool empty = false;
  for (std::size_t d : shape) {
    if (d == 0) {
      empty = true;
    } else if (bytes > std::numeric_limits<std::size_t>::max() / d) {
      return std::nullopt;
    } else {
      bytes *= d;
    }
  }
  return empty ? 0 : bytes;
}

// ------------------------------------------------------------------------------------------------
// The data.

// For each element in file order, its offset in the row-major result.  Fortran order stores the
// first axis fastest, so we count a multi-index that way and keep the row-major offset in step
// with it: one pass, no divisions.  C order is the same walk over a single axis.
class RowMajorOffsets {
 public:
  explicit RowMajorOffsets(std::vector<std::size_t> shape)
      : shape_(std::move(shape)), index_(shape_.size(), 0), stride_(shape_.size(), 1) {
    for (std::size_t k = shape_.size(); k-- > 1;) stride_[k - 1] = stride_[k] * shape_[k];
  }
  std::size_t offset() const { return offset_; }
  void advance() {
    for (std::size_t k = 0; k < shape_.size(); ++k) {
      offset_ += stride_[k];
      if (++index_[k] < shape_[k]) return;
      offset_ -= stride_[k] * shape_[k];
      index_[k] = 0;
    }
  }

 private:
  std::vector<std::size_t> shape_, index_, stride_;
  std::size_t offset_ = 0;
};

// Elements are moved as bytes (memcpy), never loaded as floats, so NaN payloads survive bitwise.
template <class T>
std::vector<T> decode(std::span<const std::byte> data, const Header& h) {
  const std::size_t n = data.size() / sizeof(T);
  std::vector<T> out(n);
  const bool swap = h.big_endian != (std::endian::native == std::endian::big);
  if (!swap && !h.fortran_order) {
    if (n) std::memcpy(out.data(), data.data(), n * sizeof(T));
    return out;
  }
  RowMajorOffsets dst(h.fortran_order ? h.shape : std::vector<std::size_t>{n});
  for (std::size_t i = 0; i < n; ++i, dst.advance()) {
    std::array<std::byte, sizeof(T)> element;
    std::memcpy(element.data(), data.data() + i * sizeof(T), sizeof(T));
    if (swap) std::reverse(element.begin(), element.end());
    std::memcpy(&out[dst.offset()], element.data(), sizeof(T));
  }
  return out;
}

std::uint32_t read_le(std::span<const std::byte> bytes, std::size_t offset, std::size_t width) {
  std::uint32_t v = 0;
  for (std::size_t i = 0; i < width; ++i) v |= std::to_integer<std::uint32_t>(bytes[offset + i]) << (8 * i);
  return v;
}

HostArray parse_image(std::span<const std::byte> bytes, const ReadOptions& opts) {
  if (bytes.size() < kMagic.size() || std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0) {
    fail("not a .npy file (it does not start with the magic string \\x93NUMPY)");
  }
  if (bytes.size() < kMagic.size() + 2) fail("truncated .npy file: the format version is missing");
  const auto major = std::to_integer<unsigned>(bytes[6]);
  const auto minor = std::to_integer<unsigned>(bytes[7]);
  if (major < 1 || major > 3 || minor != 0) {
    fail("unsupported .npy format version " + std::to_string(major) + "." + std::to_string(minor) +
         " (supported: 1.0, 2.0, 3.0)");
  }
  const std::size_t length_width = major == 1 ? 2 : 4;
  const std::size_t header_start = kMagic.size() + 2 + length_width;
  if (bytes.size() < header_start) fail("truncated .npy file: the header length is incomplete");
  const std::size_t header_length = read_le(bytes, kMagic.size() + 2, length_width);
  if (header_length > bytes.size() - header_start) {
    fail("header length " + std::to_string(header_length) + " runs past the end of the file (only " +
         std::to_string(bytes.size() - header_start) + " bytes follow)");
  }
  // Version 3.0 headers are UTF-8, earlier ones latin-1; either way the parser only needs ASCII
  // outside string literals, so the bytes are read as they are.
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + header_start, header_length);
  const Header h = parse_header(text);
  if (h.void2 && !opts.void2_as_bf16) {
    fail("2-byte void records ('" + h.descr +
         "'): ml_dtypes saves bfloat16 arrays this way, but any 2-byte record type looks the same, so "
         "they are read as bfloat16 only with --dtype bf16");
  }

  const std::span<const std::byte> data = bytes.subspan(header_start + header_length);
  const std::optional<std::size_t> expected = byte_count(h.shape, dtype_size(h.dtype));
  const std::string what = "shape " + python_tuple(h.shape) + " of '" + h.descr + "'";
  if (!expected) fail(what + " is too large: its byte count overflows size_t");
  if (data.size() != *expected) {
    fail((data.size() < *expected ? "truncated data: " : "trailing bytes after the data: ") + what +
         " needs " + std::to_string(*expected) + " data bytes, found " + std::to_string(data.size()));
  }

  HostArray a;
  a.dtype = h.dtype;
  a.shape = h.shape;
  if (h.dtype == DType::f32) a.f32 = decode<float>(data, h);
  else if (h.dtype == DType::f64) a.f64 = decode<double>(data, h);
  else a.u16 = decode<std::uint16_t>(data, h);  // bit patterns, byte order fixed
  return a;
}

// ------------------------------------------------------------------------------------------------
// Files.

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

std::string errno_text(int err) { return err ? std::strerror(err) : "unknown error"; }

// Only a regular file is read, and only as far as its size: a FIFO would block in open() and a
// device such as /dev/zero never ends.  The magic string is checked before the rest is read.
std::vector<std::byte> read_all(const std::string& path) {
  // The one input-file check (input_file.h).
  std::uint64_t file_size = 0;
  int fd = -1;
  try {
    fd = open_regular_file(path, &file_size);
  } catch (const InputFileError& e) {
    fail(std::string(e.what()) + "; give a .npy file");
  }
  File f(::fdopen(fd, "rb"));
  if (!f) {
    ::close(fd);
    fail("cannot open for reading: " + errno_text(errno));
  }
  const std::uint64_t size = file_size;
  std::vector<std::byte> bytes(static_cast<std::size_t>(std::min<std::uint64_t>(size, kMagic.size())));
  if (std::fread(bytes.data(), 1, bytes.size(), f.get()) != bytes.size())
    fail("cannot read: " + errno_text(errno));
  if (bytes.size() < kMagic.size() || std::memcmp(bytes.data(), kMagic.data(), kMagic.size()) != 0)
    fail("not a .npy file (it does not start with the magic string \\x93NUMPY)");
  if (size > bytes.max_size()) fail("too large to read (" + std::to_string(size) + " bytes)");
  bytes.resize(static_cast<std::size_t>(size));
  std::size_t have = kMagic.size();
  while (have < bytes.size()) {
    const std::size_t got = std::fread(bytes.data() + have, 1, bytes.size() - have, f.get());
    if (got == 0) break;
    have += got;
  }
  if (std::ferror(f.get())) fail("cannot read: " + errno_text(errno));
  bytes.resize(have);  // the file shrank while we read it: parse what is there
  return bytes;
}

// Magic, version, length, dict, space padding and '\n', with the total a multiple of 64 bytes.
// NumPy writes version 1.0 unless the header outgrows its 16-bit length; then 2.0.
std::string file_header(const std::string& dict) {
  std::size_t length_width = 2;
  auto padded_length = [&] {
    const std::size_t unpadded = kMagic.size() + 2 + length_width + dict.size() + 1;
    return dict.size() + (kAlign - unpadded % kAlign) % kAlign + 1;
  };
  if (padded_length() > 0xffff) length_width = 4;
  const std::size_t length = padded_length();
  if (length > 0xffffffff) fail("the .npy header would be too long (" + std::to_string(length) + " bytes)");

  std::string out(kMagic);
  out += static_cast<char>(length_width == 2 ? 1 : 2);
  out += '\0';
  for (std::size_t i = 0; i < length_width; ++i) out += static_cast<char>((length >> (8 * i)) & 0xff);
  out += dict;
  out.append(length - dict.size() - 1, ' ');
  out += '\n';
  return out;
}

template <class T>
void append_little_endian(std::string& out, const std::vector<T>& values) {
  if (values.empty()) return;  // data() may be null, which memcpy must not get
  const std::size_t start = out.size();
  out.resize(start + values.size() * sizeof(T));
  std::memcpy(out.data() + start, values.data(), values.size() * sizeof(T));
  if constexpr (std::endian::native != std::endian::little)
    for (std::size_t i = start; i < out.size(); i += sizeof(T)) std::reverse(out.begin() + i, out.begin() + i + sizeof(T));
}

}  // namespace

HostArray parse(std::span<const std::byte> bytes, const ReadOptions& opts) {
  try {
    return parse_image(bytes, opts);
  } catch (const std::bad_alloc&) {
    fail("out of memory while reading the array");
  }
}

HostArray read(const std::string& path, const ReadOptions& opts) {
  const std::string where = printable(path, 4096) + ": ";
  try {
    return parse(read_all(path), opts);
  } catch (const NpyError& e) {
    fail(where + e.what());
  } catch (const std::bad_alloc&) {
    fail(where + "out of memory while reading the file");
  }
}

void write(const std::string& path, const HostArray& a) {
  const std::string where = printable(path, 4096) + ": ";
  const std::vector<std::size_t> shape = a.shape.empty() ? std::vector<std::size_t>{a.size()} : a.shape;
  const std::optional<std::size_t> bytes = byte_count(shape, dtype_size(a.dtype));
  if (!bytes || *bytes / dtype_size(a.dtype) != a.size()) {
    fail(where + "shape " + python_tuple(shape) + " does not match the " + std::to_string(a.size()) +
         " elements of the array");
  }
  // bf16 as ml_dtypes writes it ('<V2'); np.load returns void records: .view(ml_dtypes.bfloat16).
  const std::string descr = a.dtype == DType::f32   ? "<f4"
                            : a.dtype == DType::f64 ? "<f8"
                            : a.dtype == DType::f16 ? "<f2"
                                                    : "<V2";
  const std::string header =
      file_header("{'descr': '" + descr + "', 'fortran_order': False, 'shape': " + python_tuple(shape) + ", }");

  // Replaced atomically (atomic_file.h): a failed write leaves the old file as it was.
  try {
    std::string image = header;
    image.reserve(header.size() + *bytes);
    if (a.dtype == DType::f32) append_little_endian(image, a.f32);
    else if (a.dtype == DType::f64) append_little_endian(image, a.f64);
    else append_little_endian(image, a.u16);
    write_file_atomic(path, image, "");
  } catch (const FileWriteError& e) {
    fail(e.what());
  } catch (const std::bad_alloc&) {
    fail(where + "out of memory while writing the file");
  }
}

std::string printable(std::string_view s, std::size_t max_len) {
  std::string out;
  for (std::size_t i = 0; i < s.size() && i < max_len; ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(c));
      out += hex;
    }
  }
  if (s.size() > max_len) out += "...";
  return out;
}

void write_output(const std::string& path, std::vector<std::size_t> shape, std::vector<float> values,
                  std::string_view flag) {
  HostArray o;
  o.dtype = DType::f32;
  o.shape = std::move(shape);
  o.f32 = std::move(values);
  try {
    write(path, o);
  } catch (const NpyError& e) {
    throw std::runtime_error(std::string(flag) + " " + e.what());
  }
}

}  // namespace driftlab::npy
