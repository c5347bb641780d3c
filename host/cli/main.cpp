#include <iostream>

#include "host/cli/cli.h"

int main(int argc, char** argv) {
  if (!driftlab::standard_fds_open()) {  // the table would be lost: refuse before any work
    std::cerr << "driftlab: cannot write to standard output: it is closed\n";
    return 1;
  }
  return driftlab::run_cli(argc, argv, std::cout, std::cerr);
}
