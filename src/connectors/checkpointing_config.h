// Whether a job's Configuration turns periodic checkpoints on, for connectors that behave
// differently under checkpoints (the examples' --output picks FileSink; the socket source warns
// that it cannot replay).
#pragma once

#include <string_view>

#include "base/config.h"

namespace weir::connectors {

// Flink's key for the checkpoint interval; checkpointing is on when it is set to a positive
// duration. Read by name so this compiles whether or not base/config.h declares the option.
inline constexpr std::string_view kCheckpointingIntervalKey = "execution.checkpointing.interval";

// True when `config` sets execution.checkpointing.interval to a positive duration. A value that
// does not parse counts as off (Configuration::Set validates declared options before this runs).
bool CheckpointingEnabled(const Configuration& config);

}  // namespace weir::connectors
