// The `driftlab` command line: dispatches subcommands and turns every error into one line on
// stderr and a nonzero exit (2 for a bad command line, 1 for anything else).
#pragma once

#include <ostream>

namespace driftlab {

int run_cli(int argc, const char* const* argv, std::ostream& out, std::ostream& err);

}  // namespace driftlab
