#include "connectors/checkpointing_config.h"

namespace weir::connectors {

bool CheckpointingEnabled(const Configuration& config) {
  const auto found = config.entries().find(kCheckpointingIntervalKey);
  if (found == config.entries().end()) return false;
  Result<int64_t> millis = ParseDurationMillis(found->second);
  return millis.ok() && *millis > 0;
}

}  // namespace weir::connectors
