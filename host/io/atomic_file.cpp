#include "host/io/atomic_file.h"
#include "host/common/signals.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <climits>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <vector>

namespace driftlab {
namespace {

std::string shown(const std::string& path) {
  std::string out;
  for (std::size_t i = 0; i < path.size() && i < 4096; ++i) {
    const auto c = static_cast<unsigned char>(path[i]);
    if (c >= 0x20 && c < 0x7f) {
      out += static_cast<char>(c);
    } else {
      char hex[8];
      std::snprintf(hex, sizeof hex, "\\x%02x", static_cast<unsigned>(c));
      out += hex;
    }
  }
  if (path.size() > 4096) out += "...";
  return out;
}

}  // namespace

std::string parent_folder(const std::string& path) {
  const auto slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

std::string file_name(const std::string& path) {
  const auto slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// One rule for every output that is a symbolic link: it is followed, and the file it names is
// what gets checked and replaced (the link stays a link), as an editor saving through a link does.
// A link to a device is then refused as the device itself is.
std::string resolved_output(const std::string& path) {
  struct stat st {};
  if (path.empty() || ::lstat(path.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return path;
  std::string target = path;
  for (int hops = 0; hops < 40; ++hops) {
    if (::lstat(target.c_str(), &st) != 0 || !S_ISLNK(st.st_mode)) return target;
    std::vector<char> buf(4096);
    const ssize_t n = ::readlink(target.c_str(), buf.data(), buf.size());
    if (n <= 0 || static_cast<std::size_t>(n) >= buf.size()) return target;
    const std::string link(buf.data(), static_cast<std::size_t>(n));
    target = link.front() == '/' ? link : parent_folder(target) + "/" + link;
  }
  return target;  // a loop: stat() below reports ELOOP
}

void check_output_path(const std::string& given, std::string_view what) {
  const std::string where = (what.empty() ? "" : std::string(what) + " ") + shown(given) + ": ";
  auto fail = [&](const std::string& why) { throw FileWriteError(where + why); };
  if (given.empty()) throw FileWriteError((what.empty() ? std::string("output") : std::string(what)) + ": the file name is empty");
  if (given.find('\0') != std::string::npos) fail("the file name contains a NUL byte");
  const std::string path = resolved_output(given);
  if (path.back() == '/' || file_name(path) == "." || file_name(path) == "..")
    fail("is a folder, expected a file name");
  if (file_name(path).size() > NAME_MAX) fail("the file name is longer than " + std::to_string(NAME_MAX) + " bytes");
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (S_ISDIR(st.st_mode)) fail("is a folder, expected a file name");
    if (!S_ISREG(st.st_mode)) fail("exists and is not a regular file (a device, FIFO or socket); refusing to replace it");
  } else if (errno != ENOENT) {
    fail(std::string("cannot write: ") + std::strerror(errno));
  }

  const std::string folder = parent_folder(path);
  if (::stat(folder.c_str(), &st) != 0) fail("cannot write into " + shown(folder) + ": " + std::strerror(errno));
  if (!S_ISDIR(st.st_mode)) fail(shown(folder) + " is not a folder");
  // The temporary file is created in that folder: a folder the user cannot write into is found
  // here, before the work, not when the results are written.
  if (::access(folder.c_str(), W_OK | X_OK) != 0) fail("cannot write into " + shown(folder) + ": " + std::strerror(errno));
}

namespace {
void (*g_before_commit)() = nullptr;

// A written temporary waiting for OutputGroup::commit: its stop slot (signals.h) held until then.
struct Pending {
  std::string tmp, path, where;
  int slot;
};
using Group = std::vector<Pending>;
Group* g_group = nullptr;  // the open OutputGroup's writes

void drop(Pending& p) {
  ::unlink(p.tmp.c_str());
  forget_temp(p.slot);
}

void run_before_commit(const std::string& tmp) {
  if (!g_before_commit) return;
  try {
    g_before_commit();
  } catch (...) {
    if (!tmp.empty()) ::unlink(tmp.c_str());
    throw;
  }
}

void rename_into_place(const std::string& tmp, const std::string& path, const std::string& where) {
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    throw FileWriteError(where + "cannot write: " + std::strerror(err));
  }
}
}  // namespace

void set_before_commit(void (*check)()) { g_before_commit = check; }

OutputGroup::OutputGroup() {
  if (g_group) throw std::logic_error("OutputGroup: groups do not nest");
  g_group = new Group;
}

OutputGroup::~OutputGroup() {
  if (!g_group) return;
  for (Pending& p : *g_group) drop(p);
  delete g_group;
  g_group = nullptr;
}

void OutputGroup::commit() {
  Group* const group = g_group;
  if (!group) return;
  g_group = nullptr;  // what follows writes at once; the destructor has nothing left to do
  struct Owned {
    Group* group;
    std::size_t next = 0;
    ~Owned() {  // the temporaries not renamed (a check or a rename failed) are removed
      for (std::size_t i = next; i < group->size(); ++i) drop((*group)[i]);
      delete group;
    }
  } owned{group};
  run_before_commit("");
  for (; owned.next < group->size(); ++owned.next) {
    Pending& p = (*group)[owned.next];
    rename_into_place(p.tmp, p.path, p.where);
    forget_temp(p.slot);
    p.slot = -1;
  }
}

bool same_output(const std::string& a, const std::string& b) {
  const std::string ra = resolved_output(a), rb = resolved_output(b);
  struct stat sa {}, sb {};
  if (::stat(ra.c_str(), &sa) == 0 && ::stat(rb.c_str(), &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
  std::error_code ea, eb;
  const std::filesystem::path ca = std::filesystem::weakly_canonical(ra, ea), cb = std::filesystem::weakly_canonical(rb, eb);
  return !ea && !eb ? ca == cb : ra == rb;
}

void write_file_atomic(const std::string& given, std::string_view bytes, std::string_view what) {
  check_output_path(given, what);
  const std::string path = resolved_output(given);
  const std::string where = (what.empty() ? "" : std::string(what) + " ") + shown(given) + ": ";
  auto fail = [&](const std::string& why) { throw FileWriteError(where + why); };
  struct stat st {};

  // The temporary name is hidden and unique in the target's folder, so rename() is atomic; it
  // stays within NAME_MAX bytes (a valid 255-byte file name gets a short temporary name).
  const std::string base = file_name(path);
  std::string tmp = parent_folder(path) + "/." + (base.size() + 12 <= NAME_MAX ? base : std::string("driftlab")) + ".tmp-XXXXXX";
  std::vector<char> name(tmp.begin(), tmp.end());
  name.push_back('\0');
  const int fd = ::mkstemp(name.data());
  if (fd < 0) fail(std::string("cannot write: ") + std::strerror(errno));
  tmp.assign(name.data());
  // Removed by a stop signal (signals.h) until it is renamed or unlinked here.
  struct Remembered {
    int slot;
    ~Remembered() { forget_temp(slot); }
  } remembered{remember_temp(tmp.c_str())};
  auto abandon = [&](int err) {
    ::close(fd);
    ::unlink(tmp.c_str());
    fail(std::string("cannot write: ") + std::strerror(err));
  };
  // mkstemp creates 0600; give the new file the mode an ordinary create would (0666 & ~umask),
  // or the mode of the file it replaces.
  mode_t mode = 0;
  if (::stat(path.c_str(), &st) == 0) {
    mode = st.st_mode & 07777;
  } else {
    const mode_t mask = ::umask(0);
    ::umask(mask);
    mode = 0666 & ~mask;
  }
  if (::fchmod(fd, mode) != 0) abandon(errno);
  std::size_t done = 0;
  while (done < bytes.size()) {
    const ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) abandon(n < 0 ? errno : EIO);
    done += static_cast<std::size_t>(n);
  }
  if (::fsync(fd) != 0) abandon(errno);
  if (::close(fd) != 0) {
    const int err = errno;
    ::unlink(tmp.c_str());
    fail(std::string("cannot write: ") + std::strerror(err));
  }
  // In an open group, the rename waits for OutputGroup::commit; the temporary stays removable by a
  // stop until then.
  if (g_group) {
    try {
      g_group->push_back({tmp, path, where, remembered.slot});
    } catch (...) {
      ::unlink(tmp.c_str());
      throw;
    }
    remembered.slot = -1;
    return;
  }
  // The command's own last check before the file replaces an old one (cli.cpp: its table reached
  // standard output): a command that fails changes no file.
  run_before_commit(tmp);
  rename_into_place(tmp, path, where);
}

std::string variant_path(const std::string& path, const char* variant) {
  const std::string folder = parent_folder(path), name = file_name(path);
  const std::string stem = name.size() > 4 && name.ends_with(".npy") ? name.substr(0, name.size() - 4) : name;
  return (path.find('/') == std::string::npos ? std::string() : folder + (folder == "/" ? "" : "/")) + stem + "." +
         variant + ".npy";
}

}  // namespace driftlab
