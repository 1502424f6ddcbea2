#include "cli/cli.h"

int main(int argc, char** argv) { return weir::cli::RunCli(argc, argv); }
