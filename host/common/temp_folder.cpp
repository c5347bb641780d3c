#include "host/common/temp_folder.h"

#include <fcntl.h>
#include <signal.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <system_error>

#include "host/common/remove_tree.h"
#include "host/common/signals.h"

namespace driftlab {
namespace {

char g_path[4096];                  // the folder a signal removes ("" when none)
void (*g_before[NSIG])(int) = {};  // each signal's handler before ours

void remove_and_chain(int sig) {
  if (g_path[0]) signal_safe::remove_tree_at(AT_FDCWD, g_path);
  chain_to_before(sig, remove_and_chain, g_before);  // the handler before, or death by the signal
}

std::filesystem::path temp_root() {
  const char* t = std::getenv("TMPDIR");
  return t && *t ? std::filesystem::path(t) : std::filesystem::path("/tmp");
}

}  // namespace

TempFolder::TempFolder(const std::string& name) {
  namespace fs = std::filesystem;
  const fs::path root = temp_root();
  const std::string prefix = "driftlab-" + name + "-";
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(root, ec)) {  // left by a process that is gone
    const std::string f = e.path().filename().string();
    if (f.rfind(prefix, 0) != 0 || f.size() == prefix.size() ||
        f.find_first_not_of("0123456789", prefix.size()) != std::string::npos)
      continue;
    if (!fs::exists("/proc/" + f.substr(prefix.size()), ec)) fs::remove_all(e.path(), ec);
  }
  path_ = root / (prefix + std::to_string(::getpid()));
  fs::remove_all(path_, ec);
  if (!fs::create_directory(path_, ec) || ec)
    throw std::runtime_error("cannot make the temporary folder " + path_.string() + ": " +
                             (ec ? ec.message() : std::string("it exists")));
  if (path_.string().size() < sizeof g_path) {
    std::snprintf(g_path, sizeof g_path, "%s", path_.c_str());
    n_old_ = chain_cleanup_handler(remove_and_chain, g_before, old_);  // ignored ones stay ignored
  }
}

TempFolder::~TempFolder() {
  for (int i = 0; i < n_old_; ++i) ::signal(old_[i].first, old_[i].second);
  g_path[0] = 0;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

}  // namespace driftlab
