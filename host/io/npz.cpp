// NumPy .npz reader and writer (see npz.h), on libzip.  An .npz is an ordinary zip archive whose
// members are .npy images; numpy.savez stores them, numpy.savez_compressed deflates them, and both
// write zip64 local headers.  libzip does the zip format, npy.cpp the members.
//
// Every archive byte is untrusted: a member's declared size is checked against a hard cap and
// against what its compressed size can expand to before anything is allocated, and each member is
// read to its end so that libzip verifies the CRC and a stream longer than declared is caught.
#include "host/io/npz.h"

#include "host/io/atomic_file.h"
#include "host/io/input_file.h"

#include <sys/stat.h>

#include <zip.h>

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <filesystem>
#include <limits>
#include <list>
#include <memory>
#include <new>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include "host/io/npy.h"

namespace driftlab::npz {
namespace {

using npy::printable;

constexpr std::string_view kSuffix = ".npy";
constexpr std::uint64_t kMaxMemberBytes = std::uint64_t{16} << 30;  // 16 GiB
// Deflate expands at most about 1032:1 (a 258-byte match costs at least two bits), so a deflated
// member that claims more than this is corrupt or hostile, however small its claim.
constexpr std::uint64_t kMaxDeflateRatio = 1032;

[[noreturn]] void fail(const std::string& message) { throw NpzError(message); }


std::string errno_text(int err) { return err ? std::strerror(err) : "unknown error"; }

struct ArchiveCloser {
  void operator()(zip_t* za) const { zip_discard(za); }  // a successful write calls zip_close itself
};
using Archive = std::unique_ptr<zip_t, ArchiveCloser>;

struct FileCloser {
  void operator()(std::FILE* f) const { std::fclose(f); }
};
using File = std::unique_ptr<std::FILE, FileCloser>;

struct MemberCloser {
  void operator()(zip_file_t* f) const { zip_fclose(f); }
};
using Member = std::unique_ptr<zip_file_t, MemberCloser>;

// libzip's text for an error code from zip_open; for system errors it reads errno, so call it
// straight after the failing call.
std::string zip_error_text(int code) {
  zip_error_t error;
  zip_error_init_with_code(&error, code);
  std::string text = zip_error_strerror(&error);
  zip_error_fini(&error);
  return text;
}

// ------------------------------------------------------------------------------------------------
// Reading.

bool starts_with_npy_magic(const std::string& path) {
  File f(std::fopen(path.c_str(), "rb"));
  std::array<char, 6> magic{};
  return f && std::fread(magic.data(), 1, magic.size(), f.get()) == magic.size() &&
         std::string_view(magic.data(), magic.size()) == std::string_view("\x93NUMPY", 6);
}

Archive open_for_reading(const std::string& path) {
  // A FIFO would block zip_open and a device never ends: only a regular file is opened (the one
  // input-file check, input_file.h).  A missing file is left to zip_open's own message.
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    try {
      ::close(open_regular_file(path, nullptr));
    } catch (const InputFileError& e) {
      fail(std::string(e.what()) + "; give a .npz file");
    }
  }
  int code = ZIP_ER_OK;
  errno = 0;
  Archive za(zip_open(path.c_str(), ZIP_RDONLY | ZIP_CHECKCONS, &code));
  if (za) return za;
  const std::string text = zip_error_text(code);
  switch (code) {
    case ZIP_ER_NOENT:
      fail("no such file");
    case ZIP_ER_NOZIP:
      if (starts_with_npy_magic(path)) fail("this is a single .npy array, not a .npz archive (read it as .npy)");
      fail("not a .npz file: no zip archive found, or a truncated one (libzip: " + text + ")");
    case ZIP_ER_EXISTS:  // ZIP_CHECKCONS refuses two central directory entries with one name
      fail("corrupt .npz archive: two members have the same name");
    case ZIP_ER_INCONS:
    case ZIP_ER_EOF:
      fail("corrupt or truncated zip archive (" + text + ")");
    default:
      fail("cannot open as a zip archive: " + text);
  }
}

// Refuses, before any allocation, a member whose declared sizes cannot be right.
void check_member_sizes(const zip_stat_t& st, std::uint64_t archive_bytes) {
  constexpr zip_uint64_t kNeeded = ZIP_STAT_SIZE | ZIP_STAT_COMP_SIZE | ZIP_STAT_COMP_METHOD | ZIP_STAT_ENCRYPTION_METHOD;
  if ((st.valid & kNeeded) != kNeeded) fail("the archive does not record its sizes and compression method");
  if (st.encryption_method != ZIP_EM_NONE) fail("the member is encrypted (numpy never encrypts .npz members)");
  if (st.comp_method != ZIP_CM_STORE && st.comp_method != ZIP_CM_DEFLATE) {
    fail("unsupported compression method " + std::to_string(st.comp_method) +
         " (numpy writes stored or deflated members)");
  }
  if (st.comp_size > archive_bytes) {
    fail("compressed size " + std::to_string(st.comp_size) + " is larger than the whole archive (" +
         std::to_string(archive_bytes) + " bytes): corrupt archive");
  }
  if (st.size > kMaxMemberBytes || st.size > std::numeric_limits<std::size_t>::max()) {
    fail("declared size " + std::to_string(st.size) + " bytes is over the limit of " +
         std::to_string(kMaxMemberBytes) + " bytes per member");
  }
  const std::uint64_t most = st.comp_method == ZIP_CM_STORE ? st.comp_size : st.comp_size * kMaxDeflateRatio;
  if (st.size > most) {
    fail("declared size " + std::to_string(st.size) + " bytes cannot come from " + std::to_string(st.comp_size) +
         (st.comp_method == ZIP_CM_STORE ? " stored" : " deflated") + " bytes: corrupt archive");
  }
}

// The member's bytes, exactly as many as declared, CRC-checked.
std::vector<std::byte> read_member(zip_t* za, zip_uint64_t index, const zip_stat_t& st) {
  Member f(zip_fopen_index(za, index, 0));
  if (!f) fail("cannot open: " + std::string(zip_strerror(za)));
  std::vector<std::byte> bytes(static_cast<std::size_t>(st.size));
  std::size_t got = 0;
  while (got < bytes.size()) {
    const zip_int64_t n = zip_fread(f.get(), bytes.data() + got, bytes.size() - got);
    if (n < 0) fail("cannot read: " + std::string(zip_file_strerror(f.get())));
    if (n == 0) {
      fail("truncated data: " + std::to_string(got) + " of the " + std::to_string(bytes.size()) +
           " bytes the archive declares");
    }
    got += static_cast<std::size_t>(n);
  }
  // libzip checks the CRC only when a read reaches the end of the stream; this read also catches
  // a stream that is longer than its declared size.
  std::byte extra;
  const zip_int64_t n = zip_fread(f.get(), &extra, 1);
  if (n < 0) fail("cannot read: " + std::string(zip_file_strerror(f.get())));
  if (n > 0) fail("the data is longer than the " + std::to_string(bytes.size()) + " bytes the archive declares");
  return bytes;
}

std::map<std::string, HostArray> read_archive(const std::string& path, const npy::ReadOptions& opts) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) fail("is a directory, not a .npz file");
  const std::uintmax_t archive_bytes = std::filesystem::file_size(path, ec);
  // libzip opens an empty file as an empty archive; numpy would not, and it is surely a mistake.
  if (!ec && archive_bytes == 0) fail("empty file (0 bytes), not a .npz archive");
  const Archive za = open_for_reading(path);
  if (ec) fail("cannot determine the file size: " + ec.message());

  const zip_int64_t count = zip_get_num_entries(za.get(), 0);
  if (count < 0) fail("cannot list the members: " + std::string(zip_strerror(za.get())));
  std::map<std::string, HostArray> arrays;
  for (zip_uint64_t i = 0; i < static_cast<zip_uint64_t>(count); ++i) {
    zip_stat_t st;
    zip_stat_init(&st);
    if (zip_stat_index(za.get(), i, 0, &st) != 0 || !(st.valid & ZIP_STAT_NAME) || !st.name) {
      fail("cannot read the entry of member " + std::to_string(i) + ": " + zip_strerror(za.get()));
    }
    const std::string name = st.name;
    const std::string member = "member '" + printable(name) + "': ";
    if (!name.ends_with(kSuffix)) fail(member + "not a .npy array (an .npz holds only NAME.npy members)");
    std::string key = name.substr(0, name.size() - kSuffix.size());
    if (arrays.contains(key)) fail(member + "the archive holds two members with this name");
    try {
      check_member_sizes(st, archive_bytes);
      arrays.emplace(std::move(key), npy::parse(read_member(za.get(), i, st), opts));
    } catch (const npy::NpyError& e) {
      fail(member + e.what());
    } catch (const NpzError& e) {
      fail(member + e.what());
    }
  }
  return arrays;
}

// ------------------------------------------------------------------------------------------------
// Writing.

// A file created (uniquely, with O_EXCL) next to the archive and removed with this object.
class TempFile {
 public:
  explicit TempFile(const std::string& near) : path_(near + ".XXXXXX") {
    errno = 0;
    const int fd = ::mkstemp(path_.data());
    if (fd < 0) fail("cannot create a temporary file next to it: " + errno_text(errno));
    ::close(fd);
  }
  ~TempFile() { std::remove(path_.c_str()); }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// npy::write's message names the temporary file, which means nothing to the user.
std::string without_prefix(const std::string& message, const std::string& path) {
  const std::string prefix = printable(path, 4096) + ": ";  // as npy::write spells it
  return message.starts_with(prefix) ? message.substr(prefix.size()) : message;
}

// A fixed member time (1980-01-01 00:00, as numpy writes) makes the archive a pure function of
// the arrays: writing the same arrays twice gives the same bytes.
std::time_t fixed_member_time() {
  std::tm t{};
  t.tm_year = 80;
  t.tm_mday = 1;
  t.tm_isdst = -1;
  return std::mktime(&t);
}

// libzip deletes an archive that ends up with no members, but numpy.savez() with no arrays writes
// one: the 22-byte end-of-central-directory record alone.
void write_empty_archive(const std::string& path) {
  std::string record("PK\x05\x06", 4);
  record.append(18, '\0');
  try {
    write_file_atomic(path, record, "");  // as libzip writes archives: a temporary file, then rename
  } catch (const FileWriteError& e) {
    fail(without_prefix(e.what(), path));
  }
}

void add_member(zip_t* za, const std::string& name, const std::string& npy_path, bool compress) {
  // libzip reads the file only in zip_close, so it must exist until then.
  zip_source_t* src = zip_source_file(za, npy_path.c_str(), 0, -1);
  if (!src) fail("cannot add: " + std::string(zip_strerror(za)));
  const std::string member = name + std::string(kSuffix);
  const zip_int64_t index = zip_file_add(za, member.c_str(), src, ZIP_FL_ENC_UTF_8);
  if (index < 0) {
    zip_source_free(src);  // on failure zip_file_add leaves the source to us
    fail("cannot add: " + std::string(zip_strerror(za)));
  }
  const auto i = static_cast<zip_uint64_t>(index);
  if (zip_set_file_compression(za, i, compress ? ZIP_CM_DEFLATE : ZIP_CM_STORE, 0) != 0 ||
      zip_file_set_mtime(za, i, fixed_member_time(), 0) != 0) {
    fail("cannot add: " + std::string(zip_strerror(za)));
  }
}

void write_archive(const std::string& path, const std::map<std::string, HostArray>& arrays, bool compress) {
  if (arrays.empty()) return write_empty_archive(path);
  // The .npy images go through npy::write, the one definition of the format, into temporary
  // files.  Declared before the archive, they outlive its zip_close or zip_discard.
  std::list<TempFile> npy_files;
  int code = ZIP_ER_OK;
  errno = 0;
  Archive za(zip_open(path.c_str(), ZIP_CREATE | ZIP_TRUNCATE, &code));
  if (!za) fail("cannot open for writing: " + zip_error_text(code));
  for (const auto& [name, array] : arrays) {
    const std::string label = "array '" + printable(name) + "': ";
    if (name.find('\0') != std::string::npos) fail(label + "a member name cannot contain a NUL byte");
    const TempFile& npy_file = npy_files.emplace_back(path);
    try {
      npy::write(npy_file.path(), array);
    } catch (const npy::NpyError& e) {
      fail(label + without_prefix(e.what(), npy_file.path()));
    }
    try {
      add_member(za.get(), name, npy_file.path(), compress);
    } catch (const NpzError& e) {
      fail(label + e.what());
    }
  }
  if (zip_close(za.get()) != 0) fail("cannot write: " + std::string(zip_strerror(za.get())));
  za.release();  // zip_close freed it
}

}  // namespace

std::map<std::string, HostArray> read(const std::string& path, const npy::ReadOptions& opts) {
  const std::string where = printable(path, 4096) + ": ";
  try {
    return read_archive(path, opts);
  } catch (const NpzError& e) {
    fail(where + e.what());
  } catch (const std::bad_alloc&) {
    fail(where + "out of memory while reading the archive");
  }
}

void write(const std::string& path, const std::map<std::string, HostArray>& arrays, bool compress) {
  const std::string where = printable(path, 4096) + ": ";
  try {
    write_archive(path, arrays, compress);
  } catch (const NpzError& e) {
    fail(where + e.what());
  } catch (const std::bad_alloc&) {
    fail(where + "out of memory while writing the archive");
  }
}

}  // namespace driftlab::npz
