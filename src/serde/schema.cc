#include "serde/schema.h"

#include <fmt/format.h>

namespace weir::serde {
namespace {

bool IsSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsIdentifierStart(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_'; }
bool IsIdentifierPart(char c) { return IsIdentifierStart(c) || (c >= '0' && c <= '9'); }

bool IsPlainIdentifier(std::string_view name) {
  if (name.empty() || !IsIdentifierStart(name[0])) return false;
  for (char c : name) {
    if (!IsIdentifierPart(c)) return false;
  }
  return true;
}

std::string_view Trim(std::string_view text) {
  while (!text.empty() && IsSpace(text.front())) text.remove_prefix(1);
  while (!text.empty() && IsSpace(text.back())) text.remove_suffix(1);
  return text;
}

}  // namespace

Result<Schema> Schema::Make(std::vector<Field> fields) {
  for (size_t i = 0; i < fields.size(); ++i) {
    if (fields[i].name.empty()) return InvalidArgument("schema field {} has an empty name", i + 1);
    for (size_t j = 0; j < i; ++j) {
      if (fields[j].name == fields[i].name) {
        return InvalidArgument("schema field {} duplicates the name '{}' of field {}", i + 1, fields[i].name, j + 1);
      }
    }
  }
  return Schema(std::move(fields));
}

std::optional<int> Schema::IndexOf(std::string_view name) const {
  for (size_t i = 0; i < fields_.size(); ++i) {
    if (fields_[i].name == name) return static_cast<int>(i);
  }
  return std::nullopt;
}

Result<int> Schema::FieldIndex(std::string_view name) const {
  if (std::optional<int> index = IndexOf(name)) return *index;
  std::string names;
  for (const Field& field : fields_) {
    if (!names.empty()) names += ", ";
    names += field.name;
  }
  return NotFound("no field '{}' in the schema (fields: {})", name, names);
}

std::string Schema::ToString() const {
  std::string text;
  for (const Field& field : fields_) {
    if (!text.empty()) text += ", ";
    if (IsPlainIdentifier(field.name)) {
      text += field.name;
    } else {
      text += '`';
      for (char c : field.name) {
        text += c;
        if (c == '`') text += '`';
      }
      text += '`';
    }
    text += ' ';
    text += field.type.ToString();
  }
  return text;
}

Result<Schema> ParseSchema(std::string_view text) {
  std::vector<Field> fields;
  size_t pos = 0;
  while (true) {
    while (pos < text.size() && IsSpace(text[pos])) ++pos;
    const size_t start = pos;
    const int number = static_cast<int>(fields.size()) + 1;
    // The field's text runs to the next comma outside parentheses and back quotes.
    size_t end = pos;
    int depth = 0;
    bool quoted = false;
    while (end < text.size()) {
      char c = text[end];
      if (c == '`') quoted = !quoted;
      if (!quoted && c == '(') ++depth;
      if (!quoted && c == ')') --depth;
      if (!quoted && depth == 0 && c == ',') break;
      ++end;
    }
    std::string_view field_text = Trim(text.substr(start, end - start));
    auto error = [&](std::string_view what) {
      return InvalidArgument("schema field {} at position {} ('{}'): {}", number, start + 1, field_text, what);
    };
    if (field_text.empty()) {
      if (fields.empty() && end == text.size()) return error("the schema has no fields");
      return error("empty field");
    }
    std::string name;
    size_t type_start = 0;
    if (field_text[0] == '`') {
      size_t i = 1;
      bool closed = false;
      while (i < field_text.size()) {
        if (field_text[i] == '`') {
          if (i + 1 < field_text.size() && field_text[i + 1] == '`') {
            name += '`';
            i += 2;
            continue;
          }
          closed = true;
          ++i;
          break;
        }
        name += field_text[i++];
      }
      if (!closed) return error("unterminated back-quoted name");
      type_start = i;
    } else {
      if (!IsIdentifierStart(field_text[0])) return error("expected a field name");
      size_t i = 0;
      while (i < field_text.size() && IsIdentifierPart(field_text[i])) ++i;
      name = std::string(field_text.substr(0, i));
      type_start = i;
    }
    std::string_view type_text = Trim(field_text.substr(type_start));
    if (type_text.empty()) return error(fmt::format("field '{}' has no type", name));
    if (type_start < field_text.size() && !IsSpace(field_text[type_start])) {
      return error("expected whitespace between the name and the type");
    }
    Result<DataType> type = ParseDataType(type_text);
    if (!type.ok()) return error(type.status().message());
    for (const Field& field : fields) {
      if (field.name == name) return error(fmt::format("duplicate field name '{}'", name));
    }
    fields.push_back(Field{std::move(name), *type});
    if (end == text.size()) break;
    pos = end + 1;
  }
  return Schema::Make(std::move(fields));
}

}  // namespace weir::serde
