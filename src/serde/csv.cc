#include "serde/csv.h"

#include <cstring>

namespace weir::serde {

int64_t CharacterColumn(std::string_view line, size_t byte_offset) {
  int64_t column = 1;
  for (size_t i = 0; i < byte_offset && i < line.size(); ++i) {
    if ((static_cast<uint8_t>(line[i]) & 0xC0) != 0x80) ++column;
  }
  return column;
}

CsvRowDecoder::CsvRowDecoder(Schema schema, CsvOptions options)
    : schema_(std::move(schema)), options_(std::move(options)) {}

Status CsvRowDecoder::Decode(std::string_view line, int64_t line_number, RowWriter& writer) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  const char delimiter = options_.field_delimiter;
  const char quote = options_.quote_character;
  const int field_count = schema_.field_count();
  auto error = [&](size_t byte_offset, std::string_view what) {
    return InvalidArgument("line {}, column {}: {}", line_number, CharacterColumn(line, byte_offset), what);
  };

  size_t pos = 0;
  int field = 0;
  while (true) {
    const size_t start = pos;
    if (field == field_count) {
      return error(start, fmt::format("too many fields: expected {}", field_count));
    }
    std::string_view text;
    bool quoted = false;
    if (pos < line.size() && line[pos] == quote) {
      quoted = true;
      ++pos;
      const size_t content_start = pos;
      bool doubled = false;
      while (true) {
        const void* found = pos < line.size() ? std::memchr(line.data() + pos, quote, line.size() - pos) : nullptr;
        if (found == nullptr) return error(start, "unterminated quoted field");
        pos = static_cast<size_t>(static_cast<const char*>(found) - line.data());
        if (pos + 1 < line.size() && line[pos + 1] == quote) {
          doubled = true;
          pos += 2;
          continue;
        }
        break;
      }
      text = line.substr(content_start, pos - content_start);
      ++pos;  // the closing quote
      if (pos < line.size() && line[pos] != delimiter) {
        return error(start, fmt::format("unexpected character '{}' after the closing quote", line[pos]));
      }
      if (doubled) {
        unquoted_.clear();
        for (size_t i = 0; i < text.size(); ++i) {
          unquoted_.push_back(text[i]);
          if (text[i] == quote) ++i;  // skip the second quote of a pair
        }
        text = unquoted_;
      }
    } else {
      const void* found = pos < line.size() ? std::memchr(line.data() + pos, delimiter, line.size() - pos) : nullptr;
      const size_t end = found ? static_cast<size_t>(static_cast<const char*>(found) - line.data()) : line.size();
      text = line.substr(pos, end - pos);
      pos = end;
    }

    const DataType& type = schema_.type(field);
    const bool is_null = (!quoted && options_.null_literal && text == *options_.null_literal) ||
                         (text.empty() && type.kind() != TypeKind::kVarchar);
    if (is_null) {
      if (!type.nullable()) {
        return error(start, fmt::format("field '{}' is {} and cannot be empty (NULL)", schema_.field(field).name,
                                        type.ToString()));
      }
      writer.SetNull(field);
    } else if (Status status = ParseFieldText(writer, field, type, text); !status.ok()) {
      return error(start, fmt::format("field '{}' ({}): {}", schema_.field(field).name, type.ToString(),
                                      status.message()));
    }
    ++field;
    if (pos >= line.size()) break;
    ++pos;  // the delimiter
  }
  if (field < field_count) {
    return error(line.size(), fmt::format("expected {} fields, found {}", field_count, field));
  }
  return Status::Ok();
}

CsvRowEncoder::CsvRowEncoder(Schema schema, CsvOptions options)
    : schema_(std::move(schema)), options_(std::move(options)) {}

void CsvRowEncoder::Encode(const RowView& row, std::string& out) const {
  const char delimiter = options_.field_delimiter;
  const char quote = options_.quote_character;
  for (int i = 0; i < schema_.field_count(); ++i) {
    if (i > 0) out.push_back(delimiter);
    if (row.IsNull(i)) {
      if (options_.null_literal) out.append(*options_.null_literal);
      continue;
    }
    const size_t start = out.size();
    AppendFieldText(out, row, schema_, i);
    const std::string_view text = std::string_view(out).substr(start);
    bool needs_quotes = false;
    if (schema_.type(i).kind() == TypeKind::kVarchar) {
      needs_quotes = text.empty() || text.front() == ' ' || text.back() == ' ' ||
                     (options_.null_literal && text == *options_.null_literal);
      for (char c : text) {
        if (c == delimiter || c == quote || c == '\n' || c == '\r') needs_quotes = true;
      }
    }
    if (!needs_quotes) continue;
    // Quote in place, back to front, doubling quote characters.
    size_t quotes = 0;
    for (char c : text) quotes += c == quote;
    const size_t length = text.size();
    out.resize(start + length + quotes + 2);
    char* bytes = out.data();
    size_t to = start + length + quotes + 1;
    bytes[to] = quote;
    for (size_t k = length; k-- > 0;) {
      const char c = bytes[start + k];
      bytes[--to] = c;
      if (c == quote) bytes[--to] = quote;
    }
    bytes[--to] = quote;
  }
}

}  // namespace weir::serde
