// Removing a folder and everything in it from a signal handler: async-signal-safe calls only
// (openat, getdents64, unlinkat, close), no allocation.  Used by `driftlab report` (its staging
// folder) and `driftlab scenarios` (its temporary folder) when a stop signal (signals.h) ends
// them, so that a killed command leaves no folder behind.
#pragma once

#include <dirent.h>
#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstring>

namespace driftlab::signal_safe {

// Removes `name` (relative to the folder open as `parent`, or to the working folder with
// AT_FDCWD; an absolute name ignores `parent`) and what it holds, at most 8 levels deep.
// A file is unlinked; a symbolic link is removed, never followed.
inline void remove_tree_at(int parent, const char* name, int depth = 0) {
  if (depth > 8) return;
  const int fd = ::openat(parent, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) {
    ::unlinkat(parent, name, 0);
    return;
  }
  alignas(8) char buf[4096];
  for (;;) {
    const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) break;
    for (long off = 0; off < n;) {
      const auto* d = reinterpret_cast<const struct dirent64*>(buf + off);
      off += d->d_reclen;
      if (std::strcmp(d->d_name, ".") == 0 || std::strcmp(d->d_name, "..") == 0) continue;
      if (d->d_type == DT_DIR) remove_tree_at(fd, d->d_name, depth + 1);
      else ::unlinkat(fd, d->d_name, 0);
    }
  }
  ::close(fd);
  ::unlinkat(parent, name, AT_REMOVEDIR);
}

}  // namespace driftlab::signal_safe
