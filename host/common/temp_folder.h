// A command's temporary folder that never outlives it: $TMPDIR (or /tmp) /driftlab-<name>-<pid>
// (a $TMPDIR that does not exist is an error; it is not made), removed when the TempFolder is
// destroyed and also when a stop signal (signals.h: SIGINT, SIGTERM, SIGHUP, ...) ends the
// process (the handler removes it with async-signal-safe calls, then hands the signal to the
// handler that was there before, e.g. `driftlab report`'s cleanup, or dies of it).  Folders of
// the same name whose process is gone (a SIGKILL leaves one) are removed when the next one is made.
// One TempFolder at a time per process.
#pragma once

#include <filesystem>
#include <string>
#include <utility>

#include "host/common/signals.h"

namespace driftlab {

class TempFolder {
 public:
  explicit TempFolder(const std::string& name);  // throws std::runtime_error when it cannot be made
  ~TempFolder();
  TempFolder(const TempFolder&) = delete;
  TempFolder& operator=(const TempFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
  std::pair<int, void (*)(int)> old_[kStopCount] = {};  // the handlers to put back
  int n_old_ = 0;
};

}  // namespace driftlab
