// JSON lines <-> rows: one JSON object per line, fields matched by name (Flink's 'json' format).
//
// Decoding: members whose name is not a field are skipped (whatever their value); a field with
// no member, or with null, is NULL (an error for a NOT NULL field); a repeated member is an error.
// Accepted values per type: BOOLEAN true/false (or a string "true"/"false"); INT, BIGINT an
// integer number (or a string holding one); DOUBLE any number (or a string, including "NaN" and
// "Infinity"); DECIMAL any number, converted exactly from its text, never through a double (or a
// string); VARCHAR a string, or a number / true / false taken as its text; TIMESTAMP a string in
// ParseTimestamp's form. Any other value (an object, an array, a mismatched kind) is an error.
//
// The parser is weir's own strict RFC 8259 scanner for one flat object (nested values of skipped
// members are checked for balance and string syntax): it keeps the exact text of numbers and the
// position of every value, and it allocates nothing per line once its scratch string has grown
// (strings without escapes are read in place). Bytes of strings are not checked for valid UTF-8.
//
// Errors are InvalidArgument "line <n>, column <c>: <what>", c the 1-based character column of
// the offending value (or of the syntax error); the caller prefixes the file name.
//
// Encoding: {"name":value,...} in schema order; NULL as null; DECIMAL as a number with exactly its
// scale's digits; DOUBLE as a number in Java's spelling, or "NaN" / "Infinity" / "-Infinity" as
// strings (JSON has no such numbers); TIMESTAMP as a "YYYY-MM-DD HH:MM:SS.mmm" string.
//
// Thread safety: one thread at a time per decoder (scratch space) or encoder.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "serde/row.h"
#include "serde/schema.h"

namespace weir::serde {

class JsonRowDecoder {
 public:
  explicit JsonRowDecoder(Schema schema);
  JsonRowDecoder(const JsonRowDecoder&) = delete;
  JsonRowDecoder& operator=(const JsonRowDecoder&) = delete;

  // Decodes one line (a trailing '\r' is ignored, as is whitespace around the object) into
  // `writer`, which the caller has Reset (and Finishes afterwards). Sets every field. On error the
  // writer's row is incomplete and must be discarded. REQUIRES: writer is for this schema.
  [[nodiscard]] Status Decode(std::string_view line, int64_t line_number, RowWriter& writer);

  const Schema& schema() const { return schema_; }

 private:
  Schema schema_;
  std::vector<uint8_t> seen_;  // per field: set in the current line
  std::string scratch_;        // an unescaped string; reused
};

class JsonRowEncoder {
 public:
  explicit JsonRowEncoder(Schema schema);

  // Appends the row as one JSON object, without a line terminator. REQUIRES: row is of the schema.
  void Encode(const RowView& row, std::string& out) const;

 private:
  Schema schema_;
};

// Appends `text` as a JSON string literal (quotes, escapes for '"', '\\' and control characters).
void AppendJsonString(std::string& out, std::string_view text);

}  // namespace weir::serde
