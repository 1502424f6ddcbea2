#include "runtime/task_snapshot.h"

#include <cstring>

namespace weir::runtime {

Status OperatorSnapshotWriter::AddTable(std::string_view name, state::StateTable& table) {
  for (const OperatorSnapshot::Table& existing : out_->tables) {
    if (existing.name == name) {
      return InvalidArgument("two state tables named '{}' in one operator", name);
    }
  }
  out_->tables.push_back({std::string(name), table.Snapshot(full_)});
  return Status::Ok();
}

void OperatorSnapshotWriter::AddKeyedRecord(std::string_view name, int key_group,
                                            std::string_view bytes) {
  std::string& out = out_->keyed_records[std::string(name)];
  const auto group = static_cast<uint16_t>(key_group);
  const auto size = static_cast<uint32_t>(bytes.size());
  char header[6];
  std::memcpy(header, &group, 2);
  std::memcpy(header + 2, &size, 4);
  out.append(header, sizeof(header));
  out.append(bytes);
}

void OperatorSnapshotWriter::AddBlob(std::string_view name, std::string bytes) {
  out_->blobs[std::string(name)] = std::move(bytes);
}

Status ForEachSerializedKeyedRecord(std::string_view bytes, std::string_view where,
                                    const std::function<Status(int, std::string_view)>& visit) {
  size_t offset = 0;
  while (offset < bytes.size()) {
    if (bytes.size() - offset < 6) {
      return DataLoss("{}: keyed record header truncated at offset {}", where, offset);
    }
    uint16_t group;
    uint32_t size;
    std::memcpy(&group, bytes.data() + offset, 2);
    std::memcpy(&size, bytes.data() + offset + 2, 4);
    offset += 6;
    if (size > bytes.size() - offset) {
      return DataLoss("{}: keyed record of {} bytes at offset {} runs past the end ({} bytes)", where,
                      size, offset - 6, bytes.size());
    }
    if (group >= state::kMaxParallelismUpperBound) {
      return DataLoss("{}: keyed record at offset {} has key group {}", where, offset - 6, group);
    }
    RETURN_IF_ERROR(visit(group, bytes.substr(offset, size)));
    offset += size;
  }
  return Status::Ok();
}

}  // namespace weir::runtime
