// BlobWriter and BlobReader: the byte format of a connector's operator state (a source's read
// position, a sink's pending files) as it goes into a checkpoint blob (SnapshotWriter::AddBlob).
//
// Fixed-width little-endian integers and length-prefixed strings behind a 4-byte tag that names
// the connector and its format version, so a blob restored into the wrong operator or from a
// newer format is refused with DataLoss naming what was expected instead of being misread. Used
// only at checkpoint and restore time, never on the record path.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/check.h"
#include "base/status.h"
#include "operators/stream_operator.h"
#include "state/snapshot.h"

namespace weir::connectors {

class BlobWriter {
 public:
  // `tag`: 4 characters naming the format, e.g. "FSK1" (file sink, version 1).
  explicit BlobWriter(std::string_view tag) {
    WEIR_CHECK(tag.size() == 4);
    bytes_.append(tag);
  }

  void PutInt64(int64_t value) {
    for (int i = 0; i < 8; ++i) bytes_.push_back(static_cast<char>(static_cast<uint64_t>(value) >> (8 * i)));
  }
  void PutString(std::string_view value) {
    PutInt64(static_cast<int64_t>(value.size()));
    bytes_.append(value);
  }

  std::string Finish() && { return std::move(bytes_); }

 private:
  std::string bytes_;
};

// Reads what a BlobWriter wrote. Every read fails with DataLoss naming `what` (the operator and
// state name) when the blob is shorter than its contents claim.
class BlobReader {
 public:
  BlobReader(std::string_view bytes, std::string what) : bytes_(bytes), what_(std::move(what)) {}

  // Consumes the tag; DataLoss when it is not `tag`.
  [[nodiscard]] Status ExpectTag(std::string_view tag) {
    if (bytes_.substr(0, 4) != tag) {
      return DataLoss("{}: checkpointed state is not in format '{}' (found '{}')", what_, tag,
                      bytes_.substr(0, 4));
    }
    bytes_.remove_prefix(4);
    return Status::Ok();
  }
  [[nodiscard]] Result<int64_t> GetInt64() {
    if (bytes_.size() < 8) return Truncated();
    uint64_t value = 0;
    for (int i = 0; i < 8; ++i) value |= static_cast<uint64_t>(static_cast<unsigned char>(bytes_[i])) << (8 * i);
    bytes_.remove_prefix(8);
    return static_cast<int64_t>(value);
  }
  [[nodiscard]] Result<std::string> GetString() {
    ASSIGN_OR_RETURN(int64_t size, GetInt64());
    if (size < 0 || static_cast<uint64_t>(size) > bytes_.size()) return Truncated();
    std::string value(bytes_.substr(0, static_cast<size_t>(size)));
    bytes_.remove_prefix(static_cast<size_t>(size));
    return value;
  }
  // DataLoss unless every byte was consumed.
  [[nodiscard]] Status ExpectEnd() const {
    if (!bytes_.empty()) return DataLoss("{}: {} unexpected bytes at the end of checkpointed state", what_, bytes_.size());
    return Status::Ok();
  }
  const std::string& what() const { return what_; }

 private:
  Status Truncated() const { return DataLoss("{}: checkpointed state is truncated", what_); }

  std::string_view bytes_;
  std::string what_;
};

// The restore step every source whose position depends on its parallelism shares: the bytes of
// the blob `name` this subtask wrote, or nullopt when the checkpoint holds none (the source starts
// from its beginning). FailedPrecondition naming the task and both parallelisms when the
// checkpoint was taken at another one; `kind` ("a generator source") and `why` (what ties the
// position to the parallelism) complete that message.
inline Result<std::optional<std::string>> OwnPositionBlob(const state::RestoreReader& reader,
                                                          const operators::OperatorContext& context,
                                                          std::string_view name, std::string_view kind,
                                                          std::string_view why) {
  std::vector<std::string> blobs = reader.Blobs(name);
  if (blobs.empty()) return std::optional<std::string>();
  if (reader.old_parallelism() != context.parallelism) {
    return FailedPrecondition(
        "{}: {} cannot be restored at another parallelism (checkpoint {} was taken at parallelism {}, the "
        "job runs at {}): {}",
        context.task_name, kind, reader.checkpoint_id(), reader.old_parallelism(), context.parallelism, why);
  }
  return std::optional<std::string>(std::move(blobs[0]));
}

}  // namespace weir::connectors
