// Output files that cannot be lost: written as git writes a ref.  The bytes go to a temporary
// file in the target's folder, are flushed, fsync'ed and checked, and only then renamed over the
// target.  On any failure the old file is left as it was and no temporary file remains.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>

namespace driftlab {

struct FileWriteError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// Replaces `path` with `bytes`.  `what` names the flag in messages ("--json"; empty: the path alone).
// Refuses an empty path, a folder, and a target that exists but is not a regular file (a device
// such as /dev/full, a FIFO): renaming over those would replace them, writing into them is not a
// file the user can keep.  Throws FileWriteError with one line naming `what` and the path.
void write_file_atomic(const std::string& path, std::string_view bytes, std::string_view what);

// A check write_file_atomic makes after the temporary is written and before it replaces the target
// (nullptr: none); what it throws leaves the target as it was.  The command line sets one that
// flushes standard output and throws when the table could not be written there (cli.cpp).
void set_before_commit(void (*check)());

// The outputs of one command, replaced together (predict: --save-output's files and --json).  While
// a group is open, write_file_atomic writes, flushes and checks each temporary as usual but
// leaves the rename to commit(), which runs the before-commit check once and then renames them
// all, in the order written.  A group destroyed uncommitted (a later output failed, or the command
// threw) removes every temporary: no target is changed.  Groups do not nest; a write made with none
// open replaces its target at once.  After the checks, the renames are within each target's own
// folder, so only a failing file system stops one midway (then it and the rest are not replaced).
class OutputGroup {
 public:
  OutputGroup();
  ~OutputGroup();
  OutputGroup(const OutputGroup&) = delete;
  OutputGroup& operator=(const OutputGroup&) = delete;
  void commit();
};
// The checks write_file_atomic makes before writing, plus: the target's folder exists.  Commands
// call it before they compute, so a bad output path costs nothing and prints only its one line.
// Also refused up front: a file name over NAME_MAX bytes, a folder the user cannot write into.
void check_output_path(const std::string& path, std::string_view what);

// An output that is a symbolic link is followed: the file it names is checked and replaced, the
// link kept (one rule for every output: --json, --save-output, the report's files).  `path`
// itself when it is not a link.
std::string resolved_output(const std::string& path);

// Whether two output paths name one file (after links, `.` and `..`; a file that exists by its
// device and inode): a command with two outputs refuses that, or the second would replace the first.
bool same_output(const std::string& a, const std::string& b);
// The folder part of `path` ("." when it has none) and the file name part.
std::string parent_folder(const std::string& path);
std::string file_name(const std::string& path);
// --save-output FILE with several variants: FILE.<variant>.npy (FILE's ".npy" replaced), always in
// FILE's own folder.
std::string variant_path(const std::string& path, const char* variant);

}  // namespace driftlab
