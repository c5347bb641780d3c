// The `driftlab` command line: dispatches subcommands and turns every error into one line on
// stderr and a nonzero exit (2 for a bad command line, 1 for anything else).
#pragma once

#include <ostream>

namespace driftlab {

// Before anything else in main: a closed standard descriptor (0, 1, 2) is held with /dev/null, so
// no file the command opens takes its number.  False when standard output was closed.
bool standard_fds_open();

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace driftlab
