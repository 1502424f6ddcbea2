// CSV lines <-> rows, RFC 4180 within one line, with Flink's CSV format conventions.
//
// A line-based reader hands the decoder one line at a time (without its '\n'; a trailing '\r' is
// dropped), so a quoted field may contain delimiters and doubled quotes ("a ""b"", c") but not
// a line break: a quote left open at the end of the line is an error. A quote inside an unquoted
// field is an ordinary character.
//
// Values: as ParseFieldText / AppendFieldText (row.h). NULL: an empty field is NULL for every
// non-string type (as Flink's CSV format) and an empty string for VARCHAR; with a null literal set,
// an unquoted field equal to it is NULL for every type. NULL in a NOT NULL field is an error.
//
// Errors are InvalidArgument "line <n>, column <c>: <what>", c the 1-based character (UTF-8 code
// point) column where the offending field starts; the caller prefixes the file name.
//
// Thread safety: a decoder or encoder is used by one thread at a time (the decoder keeps scratch
// space); make one per task.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "serde/row.h"
#include "serde/schema.h"

namespace weir::serde {

struct CsvOptions {
  char field_delimiter = ',';
  char quote_character = '"';
  // Flink's 'csv.null-literal': when set, an unquoted field with this text is NULL, and the encoder
  // writes NULL as this text (quoting a VARCHAR that happens to equal it).
  std::optional<std::string> null_literal;
};

class CsvRowDecoder {
 public:
  explicit CsvRowDecoder(Schema schema, CsvOptions options = {});
  CsvRowDecoder(const CsvRowDecoder&) = delete;
  CsvRowDecoder& operator=(const CsvRowDecoder&) = delete;

  // Decodes one line into `writer`, which the caller has Reset (and Finishes afterwards, retrying
  // in a new buffer when the row does not fit). Sets every field. `line_number` only names the line
  // in errors. On error the writer's row is incomplete and must be discarded.
  // REQUIRES: writer was made for this decoder's schema.
  [[nodiscard]] Status Decode(std::string_view line, int64_t line_number, RowWriter& writer);

  const Schema& schema() const { return schema_; }

 private:
  Schema schema_;
  CsvOptions options_;
  std::string unquoted_;  // a quoted field with doubled quotes, unescaped; reused
};

class CsvRowEncoder {
 public:
  explicit CsvRowEncoder(Schema schema, CsvOptions options = {});

  // Appends the row as one CSV line, without a line terminator. A field is quoted when it contains
  // the delimiter, the quote character, '\r' or '\n', starts or ends with a space, is an empty
  // VARCHAR (so it stays distinct from NULL when a null literal is set), or equals the null literal.
  // REQUIRES: row is a row of the schema.
  void Encode(const RowView& row, std::string& out) const;

 private:
  Schema schema_;
  CsvOptions options_;
};

// The 1-based character column of byte `byte_offset` of `line`: UTF-8 continuation bytes do not
// count. For error messages (csv.h and json.h).
int64_t CharacterColumn(std::string_view line, size_t byte_offset);

}  // namespace weir::serde
