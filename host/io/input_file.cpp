#include "host/io/input_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>

namespace driftlab {

std::string shown_path(std::string_view path, std::size_t limit) {
  std::string out;
  for (std::size_t i = 0; i < path.size() && i < limit; ++i) {
    const auto c = static_cast<unsigned char>(path[i]);
    if (c >= 0x20 && c != 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(c));
      out += hex;
    }
  }
  if (path.size() > limit) out += "...";
  return out;
}

int open_regular_file(const std::string& path, std::uint64_t* size) {
  // O_NONBLOCK: opening a FIFO with no writer returns at once (and is refused below).
  const int fd = ::open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | O_NOCTTY);
  if (fd < 0) throw InputFileError(std::string("cannot open, cannot read: ") + std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    const bool dir = S_ISDIR(st.st_mode);
    ::close(fd);
    throw InputFileError(dir ? "is a folder, expected a file" : "not a regular file (a FIFO, device or socket)");
  }
  const int flags = ::fcntl(fd, F_GETFL);
  if (flags != -1) ::fcntl(fd, F_SETFL, flags & ~O_NONBLOCK);
  if (size) *size = static_cast<std::uint64_t>(st.st_size);
  return fd;
}

int open_input_file(const std::string& path, std::string_view what, std::uint64_t max_bytes, std::uint64_t* size) {
  const std::string where = (what.empty() ? "" : std::string(what) + " ") + shown_path(path) + ": ";
  if (path.empty()) throw InputFileError(std::string(what.empty() ? "input" : what) + ": expected a file name, got an empty one");
  std::uint64_t bytes = 0;
  int fd = -1;
  try {
    fd = open_regular_file(path, &bytes);
  } catch (const InputFileError& e) {
    throw InputFileError(where + e.what());
  }
  if (bytes > max_bytes) {
    ::close(fd);
    throw InputFileError(where + "too large (" + std::to_string(bytes) + " bytes; at most " + std::to_string(max_bytes) + ")");
  }
  if (size) *size = bytes;
  return fd;
}

std::string read_input_file(const std::string& path, std::string_view what, std::uint64_t max_bytes, bool nonempty) {
  std::uint64_t size = 0;
  const int fd = open_input_file(path, what, max_bytes, &size);
  const std::string where = (what.empty() ? "" : std::string(what) + " ") + shown_path(path) + ": ";
  std::string text(static_cast<std::size_t>(size), '\0');
  std::size_t have = 0;
  while (have < text.size()) {
    const ssize_t n = ::read(fd, text.data() + have, text.size() - have);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      throw InputFileError(where + "cannot read: " + std::strerror(err));
    }
    if (n == 0) break;  // the file shrank while we read it
    have += static_cast<std::size_t>(n);
  }
  ::close(fd);
  text.resize(have);
  if (nonempty && text.empty()) throw InputFileError(where + "the file is empty");
  return text;
}

void check_input_file(const std::string& path, std::string_view what, std::uint64_t max_bytes, bool nonempty) {
  std::uint64_t size = 0;
  ::close(open_input_file(path, what, max_bytes, &size));
  if (nonempty && size == 0)
    throw InputFileError((what.empty() ? "" : std::string(what) + " ") + shown_path(path) + ": the file is empty");
}

}  // namespace driftlab
