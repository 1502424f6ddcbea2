#include "runtime/manifest.h"

#include <charconv>
#include <cstring>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

namespace weir::runtime {
namespace {

using nlohmann::json;

// 64-bit ids and checksums are written as 16 hex digits: JSON readers that parse numbers as
// doubles (jq, JavaScript) would round them.
std::string Hex(uint64_t value) { return fmt::format("{:016x}", value); }

Result<uint64_t> ParseHex(const json& value, std::string_view field) {
  if (!value.is_string()) return InvalidArgument("'{}' is not a hex string", field);
  const std::string& text = value.get_ref<const std::string&>();
  uint64_t out = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), out, 16);
  if (ec != std::errc() || ptr != text.data() + text.size() || text.empty()) {
    return InvalidArgument("'{}' is not a hex number: '{}'", field, text);
  }
  return out;
}

json ChunkJson(const ChunkRef& chunk) {
  return json{{"file", chunk.file},
              {"offset", chunk.offset},
              {"length", chunk.length},
              {"xxh3", Hex(chunk.xxh3)}};
}

Result<ChunkRef> ParseChunk(const json& j, const Manifest& manifest) {
  ChunkRef chunk;
  chunk.file = j.at("file").get<int>();
  chunk.offset = j.at("offset").get<int64_t>();
  chunk.length = j.at("length").get<int64_t>();
  ASSIGN_OR_RETURN(chunk.xxh3, ParseHex(j.at("xxh3"), "xxh3"));
  if (chunk.file < 0 || chunk.file >= static_cast<int>(manifest.files.size())) {
    return InvalidArgument("a chunk names file #{} of {}", chunk.file, manifest.files.size());
  }
  const ManifestFile& file = manifest.files[static_cast<size_t>(chunk.file)];
  if (chunk.offset < 0 || chunk.length < 0 || chunk.offset > file.size ||
      chunk.length > file.size - chunk.offset) {
    return InvalidArgument("a chunk [{}, +{}) lies outside '{}' ({} bytes)", chunk.offset, chunk.length,
                           file.name, file.size);
  }
  return chunk;
}

// A table's pieces are packed records in one hex string: a 1 GB table has ~30 000 pieces, and
// one JSON object per piece made building and parsing the manifest the largest cost of an
// incremental checkpoint. Each record is 40 bytes, little endian: u64 id, u32 file, u32 kind,
// i64 offset, i64 length, u64 xxh3.
constexpr size_t kPieceRecordBytes = 40;

std::string EncodePieces(const std::vector<PieceRef>& pieces) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(pieces.size() * kPieceRecordBytes * 2, '0');
  char* cursor = out.data();
  for (const PieceRef& piece : pieces) {
    unsigned char record[kPieceRecordBytes];
    const uint32_t file = static_cast<uint32_t>(piece.chunk.file);
    const uint32_t kind = static_cast<uint32_t>(piece.kind);
    std::memcpy(record, &piece.id, 8);
    std::memcpy(record + 8, &file, 4);
    std::memcpy(record + 12, &kind, 4);
    std::memcpy(record + 16, &piece.chunk.offset, 8);
    std::memcpy(record + 24, &piece.chunk.length, 8);
    std::memcpy(record + 32, &piece.chunk.xxh3, 8);
    for (unsigned char byte : record) {
      *cursor++ = kDigits[byte >> 4];
      *cursor++ = kDigits[byte & 15];
    }
  }
  return out;
}

Result<std::vector<PieceRef>> DecodePieces(const json& value, const Manifest& manifest) {
  if (!value.is_string()) return InvalidArgument("'pieces' is not a string");
  const std::string& text = value.get_ref<const std::string&>();
  if (text.size() % (kPieceRecordBytes * 2) != 0) {
    return InvalidArgument("'pieces' has {} hex digits, not a multiple of {}", text.size(), kPieceRecordBytes * 2);
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::vector<PieceRef> pieces(text.size() / (kPieceRecordBytes * 2));
  const char* cursor = text.data();
  for (PieceRef& piece : pieces) {
    unsigned char record[kPieceRecordBytes];
    for (unsigned char& byte : record) {
      const int high = nibble(cursor[0]);
      const int low = nibble(cursor[1]);
      if (high < 0 || low < 0) return InvalidArgument("'pieces' holds a non-hex digit");
      byte = static_cast<unsigned char>(high << 4 | low);
      cursor += 2;
    }
    uint32_t file;
    uint32_t kind;
    std::memcpy(&piece.id, record, 8);
    std::memcpy(&file, record + 8, 4);
    std::memcpy(&kind, record + 12, 4);
    std::memcpy(&piece.chunk.offset, record + 16, 8);
    std::memcpy(&piece.chunk.length, record + 24, 8);
    std::memcpy(&piece.chunk.xxh3, record + 32, 8);
    if (kind > 2) return InvalidArgument("piece kind {}", kind);
    piece.kind = static_cast<int>(kind);
    if (file >= manifest.files.size()) {
      return InvalidArgument("a piece names file #{} of {}", file, manifest.files.size());
    }
    piece.chunk.file = static_cast<int>(file);
    const ManifestFile& named = manifest.files[file];
    if (piece.chunk.offset < 0 || piece.chunk.length < 0 || piece.chunk.offset > named.size ||
        piece.chunk.length > named.size - piece.chunk.offset) {
      return InvalidArgument("a piece [{}, +{}) lies outside '{}' ({} bytes)", piece.chunk.offset,
                             piece.chunk.length, named.name, named.size);
    }
  }
  return pieces;
}

json NamedChunksJson(const std::vector<NamedChunk>& chunks) {
  json out = json::array();
  for (const NamedChunk& chunk : chunks) {
    json j = ChunkJson(chunk.chunk);
    j["name"] = chunk.name;
    out.push_back(std::move(j));
  }
  return out;
}

Result<std::vector<NamedChunk>> ParseNamedChunks(const json& j, const Manifest& manifest) {
  std::vector<NamedChunk> out;
  for (const json& item : j) {
    NamedChunk chunk;
    chunk.name = item.at("name").get<std::string>();
    ASSIGN_OR_RETURN(chunk.chunk, ParseChunk(item, manifest));
    out.push_back(std::move(chunk));
  }
  return out;
}

Result<Manifest> ParseJson(const json& root) {
  Manifest manifest;
  const int format = root.at("format").get<int>();
  if (format != Manifest::kFormat) {
    return InvalidArgument("format {} is not supported (this weir reads format {})", format,
                           Manifest::kFormat);
  }
  manifest.job_name = root.at("job_name").get<std::string>();
  manifest.job_id = root.at("job_id").get<std::string>();
  manifest.checkpoint_id = root.at("checkpoint_id").get<int64_t>();
  manifest.savepoint = root.at("savepoint").get<bool>();
  manifest.timestamp_millis = root.at("timestamp_millis").get<int64_t>();
  manifest.max_parallelism = root.at("max_parallelism").get<int>();
  for (const json& file : root.at("files")) {
    ManifestFile out;
    out.name = file.at("name").get<std::string>();
    out.size = file.at("size").get<int64_t>();
    ASSIGN_OR_RETURN(out.xxh3, ParseHex(file.at("xxh3"), "xxh3"));
    if (out.name.empty() || out.name.front() == '/' || out.size < 0) {
      return InvalidArgument("bad file entry '{}'", out.name);
    }
    manifest.files.push_back(std::move(out));
  }
  for (const json& op : root.at("operators")) {
    OperatorState state;
    state.uid = op.at("uid").get<std::string>();
    state.name = op.at("name").get<std::string>();
    state.parallelism = op.at("parallelism").get<int>();
    if (state.parallelism < 1 || state.parallelism > manifest.max_parallelism) {
      return InvalidArgument("operator '{}' has parallelism {}", state.name, state.parallelism);
    }
    for (const json& sub : op.at("subtasks")) {
      SubtaskState subtask;
      subtask.index = sub.at("index").get<int>();
      subtask.key_group_start = sub.at("key_groups").at(0).get<int>();
      subtask.key_group_end = sub.at("key_groups").at(1).get<int>();
      for (const json& table : sub.at("tables")) {
        TableRef ref;
        ref.name = table.at("name").get<std::string>();
        ASSIGN_OR_RETURN(ref.pieces, DecodePieces(table.at("pieces"), manifest));
        subtask.tables.push_back(std::move(ref));
      }
      ASSIGN_OR_RETURN(subtask.keyed_records, ParseNamedChunks(sub.at("keyed_records"), manifest));
      ASSIGN_OR_RETURN(subtask.blobs, ParseNamedChunks(sub.at("blobs"), manifest));
      if (subtask.index < 0 || subtask.index >= state.parallelism) {
        return InvalidArgument("operator '{}' lists subtask {} of {}", state.name, subtask.index,
                               state.parallelism);
      }
      state.subtasks.push_back(std::move(subtask));
    }
    manifest.operators.push_back(std::move(state));
  }
  return manifest;
}

}  // namespace

std::string SerializeManifest(const Manifest& manifest) {
  json root;
  root["format"] = Manifest::kFormat;
  root["job_name"] = manifest.job_name;
  root["job_id"] = manifest.job_id;
  root["checkpoint_id"] = manifest.checkpoint_id;
  root["savepoint"] = manifest.savepoint;
  root["timestamp_millis"] = manifest.timestamp_millis;
  root["max_parallelism"] = manifest.max_parallelism;
  json files = json::array();
  for (const ManifestFile& file : manifest.files) {
    files.push_back(json{{"name", file.name}, {"size", file.size}, {"xxh3", Hex(file.xxh3)}});
  }
  root["files"] = std::move(files);
  json operators = json::array();
  for (const OperatorState& op : manifest.operators) {
    json subtasks = json::array();
    for (const SubtaskState& subtask : op.subtasks) {
      json tables = json::array();
      for (const TableRef& table : subtask.tables) {
        tables.push_back(json{{"name", table.name}, {"pieces", EncodePieces(table.pieces)}});
      }
      subtasks.push_back(json{{"index", subtask.index},
                              {"key_groups", json::array({subtask.key_group_start, subtask.key_group_end})},
                              {"tables", std::move(tables)},
                              {"keyed_records", NamedChunksJson(subtask.keyed_records)},
                              {"blobs", NamedChunksJson(subtask.blobs)}});
    }
    operators.push_back(json{{"uid", op.uid},
                             {"name", op.name},
                             {"parallelism", op.parallelism},
                             {"subtasks", std::move(subtasks)}});
  }
  root["operators"] = std::move(operators);
  return root.dump(1);
}

Result<Manifest> ParseManifest(std::string_view text, std::string_view where) {
  json root = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
  if (root.is_discarded() || !root.is_object()) {
    return DataLoss("{}: the manifest is not valid JSON", where);
  }
  try {
    Result<Manifest> manifest = ParseJson(root);
    if (!manifest.ok()) return DataLoss("{}: bad manifest: {}", where, manifest.status().message());
    return manifest;
  } catch (const json::exception& e) {
    // A field missing or of the wrong type: the manifest is not one weir wrote.
    return DataLoss("{}: bad manifest: {}", where, e.what());
  }
}

}  // namespace weir::runtime
