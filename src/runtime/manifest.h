// The `_metadata` manifest of a checkpoint or savepoint (docs/checkpoints.md, "Manifest"): which
// operators and subtasks hold which state, and where each byte of it lies.
//
// It is JSON (nlohmann), read once per restore and readable by a person debugging one; only the
// tables' piece lists are packed binary (hex) records, because a large table has tens of
// thousands of pieces. Every byte range it names carries its own xxh3; every file its
// size and xxh3. File names are relative to the manifest's directory, so a savepoint directory can
// be moved; an incremental checkpoint names files of earlier checkpoints as "../chk-<n>/<file>".
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace weir::runtime {

struct ManifestFile {
  std::string name;  // relative to the manifest's directory
  int64_t size = 0;
  uint64_t xxh3 = 0;
};

// A byte range of one of the manifest's files.
struct ChunkRef {
  int file = -1;  // index into Manifest::files
  int64_t offset = 0;
  int64_t length = 0;
  uint64_t xxh3 = 0;
};

struct PieceRef {
  uint64_t id = 0;
  int kind = 0;  // state::TablePiece::Kind
  ChunkRef chunk;
};

struct TableRef {
  std::string name;
  std::vector<PieceRef> pieces;
};

struct NamedChunk {
  std::string name;
  ChunkRef chunk;
};

struct SubtaskState {
  int index = 0;
  int key_group_start = 0;  // inclusive range of the key groups the subtask owned
  int key_group_end = -1;
  std::vector<TableRef> tables;
  std::vector<NamedChunk> keyed_records;
  std::vector<NamedChunk> blobs;
};

struct OperatorState {
  std::string uid;   // stable identity of the operator within the job (see JobIdentity)
  std::string name;  // for messages
  int parallelism = 1;
  std::vector<SubtaskState> subtasks;  // by index; subtasks without state are listed empty
};

struct Manifest {
  static constexpr int kFormat = 1;
  std::string job_name;
  std::string job_id;
  int64_t checkpoint_id = 0;
  bool savepoint = false;
  int64_t timestamp_millis = 0;  // wall clock when the checkpoint was triggered
  int max_parallelism = 128;
  std::vector<ManifestFile> files;
  std::vector<OperatorState> operators;
};

std::string SerializeManifest(const Manifest& manifest);
// DataLoss naming `where` when the text is not a manifest of a known format or is inconsistent
// (a chunk naming a file that is not listed, a range past a file's end).
Result<Manifest> ParseManifest(std::string_view text, std::string_view where);

}  // namespace weir::runtime
