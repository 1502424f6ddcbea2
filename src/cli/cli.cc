#include "cli/cli.h"

#include <cstdio>

namespace weir::cli {

int RunCli(int argc, char** argv) {
  std::printf("weir %s\n", WEIR_VERSION);
  return 0;
}

}  // namespace weir::cli
