#include "serde/row.h"

#include <charconv>

namespace weir::serde {

std::string_view RowKindShortString(RowKind kind) {
  switch (kind) {
    case RowKind::kInsert:
      return "+I";
    case RowKind::kUpdateBefore:
      return "-U";
    case RowKind::kUpdateAfter:
      return "+U";
    case RowKind::kDelete:
      return "-D";
  }
  return "??";
}

Status ValidateRow(const std::byte* data, size_t size, const Schema& schema) {
  const int field_count = schema.field_count();
  const size_t fixed_size = RowFixedSize(field_count);
  if (size < fixed_size || size % 8 != 0 || size > UINT32_MAX) {
    return DataLoss("row of {} bytes is malformed: {} fields need at least {} bytes, a multiple of 8", size,
                    field_count, fixed_size);
  }
  if (static_cast<uint8_t>(data[0]) > static_cast<uint8_t>(RowKind::kDelete)) {
    return DataLoss("row has an unknown row kind byte {}", static_cast<int>(data[0]));
  }
  RowView view(data, size, field_count);
  for (int i = 0; i < field_count; ++i) {
    if (schema.type(i).kind() != TypeKind::kVarchar || view.IsNull(i)) continue;
    const uint64_t slot = view.GetSlot(i);
    const uint64_t offset = static_cast<uint32_t>(slot);
    const uint64_t length = slot >> 32;
    if (offset < fixed_size || offset + length > size) {
      return DataLoss("row field {} ('{}') points outside the row: offset {}, length {}, row size {}", i + 1,
                      schema.field(i).name, offset, length, size);
    }
  }
  return Status::Ok();
}

RowWriter::RowWriter(const Schema& schema)
    : header_size_(RowHeaderSize(schema.field_count())),
      fixed_size_(RowFixedSize(schema.field_count())),
      scratch_(std::make_unique<std::byte[]>(RowFixedSize(schema.field_count()))) {
  kinds_.reserve(static_cast<size_t>(schema.field_count()));
  nullable_.reserve(static_cast<size_t>(schema.field_count()));
  for (const Field& field : schema.fields()) {
    kinds_.push_back(field.type.kind());
    nullable_.push_back(field.type.nullable());
  }
  base_ = scratch_.get();
}

void AppendFieldText(std::string& out, const RowView& view, const Schema& schema, int i) {
  if (view.IsNull(i)) {
    out.append("null");
    return;
  }
  const DataType& type = schema.type(i);
  char buffer[24];
  switch (type.kind()) {
    case TypeKind::kBoolean:
      out.append(view.GetBool(i) ? "true" : "false");
      break;
    case TypeKind::kInt: {
      auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), view.GetInt(i));
      out.append(buffer, end);
      break;
    }
    case TypeKind::kBigInt: {
      auto [end, ec] = std::to_chars(buffer, buffer + sizeof(buffer), view.GetBigInt(i));
      out.append(buffer, end);
      break;
    }
    case TypeKind::kDouble:
      AppendDouble(out, view.GetDouble(i));
      break;
    case TypeKind::kDecimal:
      AppendDecimal(out, view.GetDecimal(i), type.scale());
      break;
    case TypeKind::kVarchar:
      out.append(view.GetVarchar(i));
      break;
    case TypeKind::kTimestamp:
      AppendTimestamp(out, view.GetTimestamp(i));
      break;
  }
}

Status ParseFieldText(RowWriter& writer, int i, const DataType& type, std::string_view text) {
  switch (type.kind()) {
    case TypeKind::kBoolean: {
      ASSIGN_OR_RETURN(bool value, ParseBool(text));
      writer.WriteBool(i, value);
      break;
    }
    case TypeKind::kInt: {
      ASSIGN_OR_RETURN(int32_t value, ParseInt(text));
      writer.WriteInt(i, value);
      break;
    }
    case TypeKind::kBigInt: {
      ASSIGN_OR_RETURN(int64_t value, ParseBigInt(text));
      writer.WriteBigInt(i, value);
      break;
    }
    case TypeKind::kDouble: {
      ASSIGN_OR_RETURN(double value, ParseDouble(text));
      writer.WriteDouble(i, value);
      break;
    }
    case TypeKind::kDecimal: {
      ASSIGN_OR_RETURN(int64_t value, ParseDecimal(text, type.precision(), type.scale()));
      writer.WriteDecimal(i, value);
      break;
    }
    case TypeKind::kVarchar:
      writer.WriteVarchar(i, text);
      break;
    case TypeKind::kTimestamp: {
      ASSIGN_OR_RETURN(int64_t value, ParseTimestamp(text));
      writer.WriteTimestamp(i, value);
      break;
    }
  }
  return Status::Ok();
}

void AppendRow(std::string& out, const RowView& view, const Schema& schema) {
  out.append(RowKindShortString(view.row_kind()));
  out.push_back('[');
  for (int i = 0; i < schema.field_count(); ++i) {
    if (i > 0) out.append(", ");
    AppendFieldText(out, view, schema, i);
  }
  out.push_back(']');
}

std::string FormatRow(const RowView& view, const Schema& schema) {
  std::string out;
  AppendRow(out, view, schema);
  return out;
}

}  // namespace weir::serde
