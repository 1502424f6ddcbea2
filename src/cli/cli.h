// The `weir` command line: parses flags and -D options, runs the chosen command, and maps any
// error to a one-line message on stderr and a non-zero exit code.
#pragma once

namespace weir::cli {

// Runs the command line; returns the process exit code.
int RunCli(int argc, char** argv);

}  // namespace weir::cli
