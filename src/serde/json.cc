#include "serde/json.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "serde/csv.h"

namespace weir::serde {
namespace {

bool IsJsonSpace(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }

enum class ValueKind { kString, kNumber, kTrue, kFalse, kNull, kObject, kArray };

std::string_view ValueKindName(ValueKind kind) {
  switch (kind) {
    case ValueKind::kString:
      return "a string";
    case ValueKind::kNumber:
      return "a number";
    case ValueKind::kTrue:
    case ValueKind::kFalse:
      return "a boolean";
    case ValueKind::kNull:
      return "null";
    case ValueKind::kObject:
      return "an object";
    case ValueKind::kArray:
      return "an array";
  }
  return "a value";
}

void AppendUtf8(std::string& out, uint32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

// A scanner over one line. Every method reports a syntax error through `error_` (byte offset and
// message) and returns false; the decoder turns it into a Status with line and column.
class JsonScanner {
 public:
  JsonScanner(std::string_view line, std::string& scratch) : line_(line), scratch_(scratch) {}

  size_t pos() const { return pos_; }
  bool AtEnd() const { return pos_ >= line_.size(); }
  char Peek() const { return pos_ < line_.size() ? line_[pos_] : '\0'; }
  void SkipSpace() {
    while (pos_ < line_.size() && IsJsonSpace(line_[pos_])) ++pos_;
  }
  bool Expect(char c, std::string_view what) {
    SkipSpace();
    if (Peek() != c) return Fail(pos_, what);
    ++pos_;
    return true;
  }
  bool Fail(size_t at, std::string_view what) {
    error_offset_ = at;
    error_ = what;
    return false;
  }
  size_t error_offset() const { return error_offset_; }
  std::string_view error() const { return error_; }

  // A string literal at pos(); `out` views its unescaped text: the line itself when it has no
  // escapes, else the scratch string (valid until the next string is read).
  bool String(std::string_view& out) {
    const size_t start = pos_;
    ++pos_;  // the opening quote
    const size_t content = pos_;
    while (pos_ < line_.size() && line_[pos_] != '"' && line_[pos_] != '\\') {
      if (static_cast<uint8_t>(line_[pos_]) < 0x20) return Fail(pos_, "control character in a string");
      ++pos_;
    }
    if (pos_ >= line_.size()) return Fail(start, "unterminated string");
    if (line_[pos_] == '"') {
      out = line_.substr(content, pos_ - content);
      ++pos_;
      return true;
    }
    scratch_.assign(line_.substr(content, pos_ - content));
    while (true) {
      if (pos_ >= line_.size()) return Fail(start, "unterminated string");
      const char c = line_[pos_];
      if (c == '"') break;
      if (static_cast<uint8_t>(c) < 0x20) return Fail(pos_, "control character in a string");
      if (c != '\\') {
        scratch_.push_back(c);
        ++pos_;
        continue;
      }
      const size_t escape = pos_;
      if (pos_ + 1 >= line_.size()) return Fail(start, "unterminated string");
      const char e = line_[pos_ + 1];
      pos_ += 2;
      switch (e) {
        case '"':
        case '\\':
        case '/':
          scratch_.push_back(e);
          break;
        case 'b':
          scratch_.push_back('\b');
          break;
        case 'f':
          scratch_.push_back('\f');
          break;
        case 'n':
          scratch_.push_back('\n');
          break;
        case 'r':
          scratch_.push_back('\r');
          break;
        case 't':
          scratch_.push_back('\t');
          break;
        case 'u': {
          uint32_t code_point = 0;
          if (!Hex4(code_point)) return Fail(escape, "bad \\u escape");
          if (code_point >= 0xD800 && code_point <= 0xDBFF) {
            uint32_t low = 0;
            if (pos_ + 1 >= line_.size() || line_[pos_] != '\\' || line_[pos_ + 1] != 'u') {
              return Fail(escape, "unpaired surrogate in a \\u escape");
            }
            pos_ += 2;
            if (!Hex4(low) || low < 0xDC00 || low > 0xDFFF) return Fail(escape, "unpaired surrogate in a \\u escape");
            code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
          } else if (code_point >= 0xDC00 && code_point <= 0xDFFF) {
            return Fail(escape, "unpaired surrogate in a \\u escape");
          }
          AppendUtf8(scratch_, code_point);
          break;
        }
        default:
          return Fail(escape, "bad escape in a string");
      }
    }
    ++pos_;  // the closing quote
    out = scratch_;
    return true;
  }

  // A number at pos() in JSON's grammar; `out` is its text.
  bool Number(std::string_view& out) {
    const size_t start = pos_;
    if (Peek() == '-') ++pos_;
    if (Peek() == '0') {
      ++pos_;
    } else if (IsDigit(Peek())) {
      while (IsDigit(Peek())) ++pos_;
    } else {
      return Fail(start, "bad number");
    }
    if (Peek() == '.') {
      ++pos_;
      if (!IsDigit(Peek())) return Fail(start, "bad number");
      while (IsDigit(Peek())) ++pos_;
    }
    if (Peek() == 'e' || Peek() == 'E') {
      ++pos_;
      if (Peek() == '+' || Peek() == '-') ++pos_;
      if (!IsDigit(Peek())) return Fail(start, "bad number");
      while (IsDigit(Peek())) ++pos_;
    }
    out = line_.substr(start, pos_ - start);
    return true;
  }

  // Any value at pos() (after whitespace): its kind, start offset and, for scalars, its text
  // (strings unescaped). Objects and arrays are skipped whole.
  bool Value(ValueKind& kind, size_t& start, std::string_view& text) {
    SkipSpace();
    start = pos_;
    const char c = Peek();
    if (c == '"') {
      kind = ValueKind::kString;
      return String(text);
    }
    if (c == '-' || IsDigit(c)) {
      kind = ValueKind::kNumber;
      return Number(text);
    }
    if (c == '{' || c == '[') {
      kind = c == '{' ? ValueKind::kObject : ValueKind::kArray;
      return SkipContainer();
    }
    for (auto [word, word_kind] : {std::pair{std::string_view("true"), ValueKind::kTrue},
                                   std::pair{std::string_view("false"), ValueKind::kFalse},
                                   std::pair{std::string_view("null"), ValueKind::kNull}}) {
      if (line_.substr(pos_, word.size()) == word) {
        kind = word_kind;
        text = word;
        pos_ += word.size();
        return true;
      }
    }
    return Fail(start, AtEnd() ? "expected a value, found the end of the line" : "expected a value");
  }

 private:
  bool Hex4(uint32_t& value) {
    if (pos_ + 4 > line_.size()) return false;
    value = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = line_[pos_++];
      value <<= 4;
      if (h >= '0' && h <= '9') {
        value |= static_cast<uint32_t>(h - '0');
      } else if (h >= 'a' && h <= 'f') {
        value |= static_cast<uint32_t>(h - 'a' + 10);
      } else if (h >= 'A' && h <= 'F') {
        value |= static_cast<uint32_t>(h - 'A' + 10);
      } else {
        return false;
      }
    }
    return true;
  }

  // Skips a nested object or array, checking its grammar.
  bool SkipContainer() {
    const char open = line_[pos_];
    const size_t start = pos_;
    ++pos_;
    SkipSpace();
    const char close = open == '{' ? '}' : ']';
    if (Peek() == close) {
      ++pos_;
      return true;
    }
    while (true) {
      if (open == '{') {
        SkipSpace();
        if (Peek() != '"') return Fail(pos_, "expected a member name");
        std::string_view name;
        if (!String(name)) return false;
        if (!Expect(':', "expected ':'")) return false;
      }
      ValueKind kind;
      size_t value_start;
      std::string_view text;
      if (!Value(kind, value_start, text)) return false;
      SkipSpace();
      if (Peek() == ',') {
        ++pos_;
        continue;
      }
      if (Peek() == close) {
        ++pos_;
        return true;
      }
      return Fail(AtEnd() ? start : pos_, AtEnd() ? "unterminated object or array" : "expected ',' or a closing bracket");
    }
  }

  std::string_view line_;
  std::string& scratch_;
  size_t pos_ = 0;
  size_t error_offset_ = 0;
  std::string_view error_;
};

}  // namespace

JsonRowDecoder::JsonRowDecoder(Schema schema)
    : schema_(std::move(schema)), seen_(static_cast<size_t>(schema_.field_count()), 0) {}

Status JsonRowDecoder::Decode(std::string_view line, int64_t line_number, RowWriter& writer) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  std::fill(seen_.begin(), seen_.end(), 0);
  JsonScanner scanner(line, scratch_);
  auto error = [&](size_t byte_offset, std::string_view what) {
    return InvalidArgument("line {}, column {}: {}", line_number, CharacterColumn(line, byte_offset), what);
  };
  auto syntax_error = [&]() { return error(scanner.error_offset(), scanner.error()); };

  if (!scanner.Expect('{', "expected a JSON object '{'")) return syntax_error();
  const int field_count = schema_.field_count();
  int expected_field = 0;  // members usually come in schema order: try that field first
  scanner.SkipSpace();
  if (scanner.Peek() == '}') {
    scanner.Expect('}', "");
  } else {
    while (true) {
      scanner.SkipSpace();
      if (scanner.Peek() != '"') return error(scanner.pos(), "expected a member name");
      const size_t name_start = scanner.pos();
      std::string_view name;
      if (!scanner.String(name)) return syntax_error();
      int field = -1;
      if (expected_field < field_count && schema_.field(expected_field).name == name) {
        field = expected_field;
      } else if (std::optional<int> index = schema_.IndexOf(name)) {
        field = *index;
      }
      if (field >= 0 && seen_[static_cast<size_t>(field)]) {
        return error(name_start, fmt::format("duplicate member '{}'", name));
      }
      // `name` may view the scratch string, which reading the value overwrites.
      if (!scanner.Expect(':', "expected ':' after the member name")) return syntax_error();
      ValueKind kind;
      size_t value_start = 0;
      std::string_view text;
      if (!scanner.Value(kind, value_start, text)) return syntax_error();
      if (field >= 0) {
        seen_[static_cast<size_t>(field)] = 1;
        expected_field = field + 1;
        const DataType& type = schema_.type(field);
        const std::string& field_name = schema_.field(field).name;
        bool accepted = false;
        switch (type.kind()) {
          case TypeKind::kBoolean:
            accepted = kind == ValueKind::kTrue || kind == ValueKind::kFalse || kind == ValueKind::kString;
            break;
          case TypeKind::kInt:
          case TypeKind::kBigInt:
          case TypeKind::kDouble:
          case TypeKind::kDecimal:
            accepted = kind == ValueKind::kNumber || kind == ValueKind::kString;
            break;
          case TypeKind::kVarchar:
            accepted = kind == ValueKind::kString || kind == ValueKind::kNumber || kind == ValueKind::kTrue ||
                       kind == ValueKind::kFalse;
            break;
          case TypeKind::kTimestamp:
            accepted = kind == ValueKind::kString;
            break;
        }
        if (kind == ValueKind::kNull) {
          if (!type.nullable()) {
            return error(value_start, fmt::format("field '{}' is {} and cannot be null", field_name, type.ToString()));
          }
          writer.SetNull(field);
        } else if (!accepted) {
          return error(value_start, fmt::format("field '{}' ({}) cannot be {}", field_name, type.ToString(),
                                                ValueKindName(kind)));
        } else if (Status status = ParseFieldText(writer, field, type, text); !status.ok()) {
          return error(value_start, fmt::format("field '{}' ({}): {}", field_name, type.ToString(), status.message()));
        }
      }
      scanner.SkipSpace();
      if (scanner.Peek() == ',') {
        scanner.Expect(',', "");
        continue;
      }
      if (scanner.Peek() == '}') {
        scanner.Expect('}', "");
        break;
      }
      return error(scanner.pos(), scanner.AtEnd() ? "unterminated object" : "expected ',' or '}'");
    }
  }
  scanner.SkipSpace();
  if (!scanner.AtEnd()) return error(scanner.pos(), "unexpected text after the object");
  for (int i = 0; i < field_count; ++i) {
    if (seen_[static_cast<size_t>(i)]) continue;
    const DataType& type = schema_.type(i);
    if (!type.nullable()) {
      return error(scanner.pos(), fmt::format("missing member for field '{}' ({})", schema_.field(i).name,
                                              type.ToString()));
    }
    writer.SetNull(i);
  }
  return Status::Ok();
}

void AppendJsonString(std::string& out, std::string_view text) {
  static constexpr char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (char c : text) {
    const uint8_t byte = static_cast<uint8_t>(c);
    if (c == '"' || c == '\\') {
      out.push_back('\\');
      out.push_back(c);
    } else if (byte < 0x20) {
      switch (c) {
        case '\n':
          out.append("\\n");
          break;
        case '\r':
          out.append("\\r");
          break;
        case '\t':
          out.append("\\t");
          break;
        default:
          out.append("\\u00");
          out.push_back(kHex[byte >> 4]);
          out.push_back(kHex[byte & 0xF]);
          break;
      }
    } else {
      out.push_back(c);
    }
  }
  out.push_back('"');
}

JsonRowEncoder::JsonRowEncoder(Schema schema) : schema_(std::move(schema)) {}

void JsonRowEncoder::Encode(const RowView& row, std::string& out) const {
  out.push_back('{');
  for (int i = 0; i < schema_.field_count(); ++i) {
    if (i > 0) out.push_back(',');
    AppendJsonString(out, schema_.field(i).name);
    out.push_back(':');
    if (row.IsNull(i)) {
      out.append("null");
      continue;
    }
    switch (schema_.type(i).kind()) {
      case TypeKind::kVarchar:
        AppendJsonString(out, row.GetVarchar(i));
        break;
      case TypeKind::kTimestamp:
        out.push_back('"');
        AppendTimestamp(out, row.GetTimestamp(i));
        out.push_back('"');
        break;
      case TypeKind::kDouble: {
        const double value = row.GetDouble(i);
        const bool finite = value - value == 0;
        if (!finite) out.push_back('"');
        AppendDouble(out, value);
        if (!finite) out.push_back('"');
        break;
      }
      default:
        AppendFieldText(out, row, schema_, i);
        break;
    }
  }
  out.push_back('}');
}

}  // namespace weir::serde
