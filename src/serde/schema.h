// Schema: the ordered, named, typed fields of a row, the contract between a RowWriter that lays a
// row out and every RowView, operator and format that reads it. Field positions (0-based ints)
// are what the row API takes; names are for formats and users.
//
// A Schema is an immutable value: build it once (Make or ParseSchema) and copy or share it freely
// between threads.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "serde/types.h"

namespace weir::serde {

struct Field {
  std::string name;
  DataType type;

  bool operator==(const Field&) const = default;
};

class Schema {
 public:
  // The empty schema (no fields).
  Schema() = default;

  // Errors (InvalidArgument): an empty field name, a duplicate name.
  [[nodiscard]] static Result<Schema> Make(std::vector<Field> fields);

  int field_count() const { return static_cast<int>(fields_.size()); }
  // REQUIRES: 0 <= index < field_count().
  const Field& field(int index) const { return fields_[static_cast<size_t>(index)]; }
  const DataType& type(int index) const { return fields_[static_cast<size_t>(index)].type; }
  const std::vector<Field>& fields() const { return fields_; }

  // The position of the field with this exact (case-sensitive, as Flink's identifiers) name.
  std::optional<int> IndexOf(std::string_view name) const;
  // As IndexOf, with a NotFound error listing the fields when there is none.
  [[nodiscard]] Result<int> FieldIndex(std::string_view name) const;

  // "id BIGINT, name STRING, price DECIMAL(10, 2)"; ParseSchema(ToString()) == *this.
  std::string ToString() const;

  bool operator==(const Schema&) const = default;

 private:
  explicit Schema(std::vector<Field> fields) : fields_(std::move(fields)) {}

  std::vector<Field> fields_;
};

// Parses "name TYPE, name TYPE, ..." (types as ParseDataType; names are identifiers
// [A-Za-z_][A-Za-z0-9_]* or `back-quoted`). Commas inside a type's parentheses do not split
// fields. Errors are InvalidArgument naming the field and its 1-based character position:
// "schema field 3 at position 18 ('price DECIMAL(30, 2)'): invalid data type ...".
[[nodiscard]] Result<Schema> ParseSchema(std::string_view text);

}  // namespace weir::serde
