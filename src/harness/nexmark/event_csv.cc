#include "harness/nexmark/event_csv.h"

#include <charconv>
#include <cstring>
#include <memory>

#include "io/file.h"
#include "serde/csv.h"

namespace weir::harness::nexmark {

namespace {

constexpr int64_t kMillisPerDay = 86'400'000;

// Days since 1970-01-01 of a proleptic Gregorian date (the era-based algorithm of
// http://howardhinnant.github.io/date_algorithms.html, days_from_civil).
int64_t DaysFromCivil(int64_t year, int month, int day) {
  year -= month <= 2 ? 1 : 0;
  const int64_t era = (year >= 0 ? year : year - 399) / 400;
  const int64_t year_of_era = year - era * 400;
  const int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
  const int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
  return era * 146'097 + day_of_era - 719'468;
}

// The inverse (civil_from_days).
void CivilFromDays(int64_t days, int64_t* year, int* month, int* day) {
  days += 719'468;
  const int64_t era = (days >= 0 ? days : days - 146'096) / 146'097;
  const int64_t day_of_era = days - era * 146'097;
  const int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36'524 - day_of_era / 146'096) / 365;
  const int64_t day_of_year =
      day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const int64_t shifted_month = (5 * day_of_year + 2) / 153;
  *day = static_cast<int>(day_of_year - (153 * shifted_month + 2) / 5 + 1);
  *month = static_cast<int>(shifted_month < 10 ? shifted_month + 3 : shifted_month - 9);
  *year = year_of_era + era * 400 + (*month <= 2 ? 1 : 0);
}

bool IsLeapYear(int64_t year) { return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0; }

int DaysInMonth(int64_t year, int month) {
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && IsLeapYear(year) ? 29 : kDays[month - 1];
}

void AppendDigits(char* out, int64_t value, int width) {
  for (int i = width - 1; i >= 0; --i) {
    out[i] = static_cast<char>('0' + value % 10);
    value /= 10;
  }
}

void AppendInt(std::string& out, int64_t value) {
  char buffer[24];
  const std::to_chars_result result = std::to_chars(buffer, buffer + sizeof(buffer), value);
  out.append(buffer, result.ptr);
}

// Whether any byte of `word` equals `byte` (the exact "has a zero byte" test on word ^
// byte*0x01..01).
bool HasByte(uint64_t word, char byte) {
  constexpr uint64_t kOnes = 0x0101010101010101ULL;
  const uint64_t x = word ^ (kOnes * static_cast<uint8_t>(byte));
  return ((x - kOnes) & ~x & (kOnes << 7)) != 0;
}

// Eight bytes per step: this runs over every string of every event written.
bool NeedsQuotes(std::string_view field) {
  size_t i = 0;
  for (; i + 8 <= field.size(); i += 8) {
    uint64_t word;
    std::memcpy(&word, field.data() + i, 8);
    if (HasByte(word, ',') | HasByte(word, '"') | HasByte(word, '\n') | HasByte(word, '\r'))
      return true;
  }
  for (; i < field.size(); ++i) {
    const char c = field[i];
    if (c == ',' || c == '"' || c == '\n' || c == '\r') return true;
  }
  return false;
}

void AppendString(std::string& out, std::string_view field) {
  if (!NeedsQuotes(field)) [[likely]] {
    out.append(field);
    return;
  }
  out += '"';
  for (const char c : field) {
    if (c == '"') out += '"';
    out += c;
  }
  out += '"';
}

// Reads the fields of one line in order.
class FieldReader {
 public:
  FieldReader(std::string_view line, std::string* unquoted, EventCsvError* error)
      : line_(line), unquoted_(unquoted), error_(error) {}

  // The next field; false (with the error set) when there is none or it is malformed.
  bool Next(std::string_view* field) {
    start_ = position_;
    if (position_ > line_.size())
      return Fail(position_, "missing field: the line has too few fields");
    if (position_ < line_.size() && line_[position_] == '"') return NextQuoted(field);
    const size_t comma = line_.find(',', position_);
    const size_t end = comma == std::string_view::npos ? line_.size() : comma;
    *field = line_.substr(position_, end - position_);
    position_ = end + 1;  // past the comma, or line_.size() + 1 at the end
    return true;
  }

  // After the last field: the line must end here.
  bool ExpectEnd(std::string_view type_name, int field_count) {
    if (position_ > line_.size()) return true;
    return Fail(position_, fmt::format("too many fields: a {} has {}", type_name, field_count));
  }

  bool Fail(size_t byte_offset, std::string what) {
    error_->column = serde::CharacterColumn(line_, byte_offset);
    error_->what = std::move(what);
    return false;
  }
  // An error about the field last returned.
  bool FailField(std::string what) { return Fail(start_, std::move(what)); }

 private:
  bool NextQuoted(std::string_view* field) {
    const size_t content = position_ + 1;
    size_t at = content;
    bool doubled = false;
    while (true) {
      const size_t quote = line_.find('"', at);
      if (quote == std::string_view::npos) return Fail(start_, "unterminated quoted field");
      if (quote + 1 < line_.size() && line_[quote + 1] == '"') {
        doubled = true;
        at = quote + 2;
        continue;
      }
      const size_t after = quote + 1;
      if (after < line_.size() && line_[after] != ',') {
        return Fail(after, "expected ',' after a quoted field");
      }
      std::string_view raw = line_.substr(content, quote - content);
      if (doubled) {
        // The parser reserved room for the whole line, so earlier views into it stay valid.
        const size_t begin = unquoted_->size();
        for (size_t i = 0; i < raw.size(); ++i) {
          unquoted_->push_back(raw[i]);
          if (raw[i] == '"') ++i;  // the second quote of a pair
        }
        raw = std::string_view(unquoted_->data() + begin, unquoted_->size() - begin);
      }
      *field = raw;
      position_ = after + 1;
      return true;
    }
  }

  std::string_view line_;
  std::string* unquoted_;
  EventCsvError* error_;
  size_t position_ = 0;
  size_t start_ = 0;
};

bool ParseInt(std::string_view text, int64_t* value) {
  if (text.empty()) return false;
  const char* end = text.data() + text.size();
  const std::from_chars_result result = std::from_chars(text.data(), end, *value);
  return result.ec == std::errc() && result.ptr == end;
}

bool ReadInt(FieldReader& reader, std::string_view name, int64_t* value) {
  std::string_view field;
  if (!reader.Next(&field)) return false;
  if (!ParseInt(field, value)) {
    return reader.FailField(fmt::format("{}: expected a 64-bit integer, got '{}'", name, field));
  }
  return true;
}

bool ReadTimestamp(FieldReader& reader, std::string_view name, int64_t* value) {
  std::string_view field;
  if (!reader.Next(&field)) return false;
  if (!ParseTimestamp(field, value)) {
    return reader.FailField(
        fmt::format("{}: expected a timestamp 'YYYY-MM-DD HH:MM:SS.mmm', got '{}'", name, field));
  }
  return true;
}

bool ReadString(FieldReader& reader, std::string_view* value) { return reader.Next(value); }

bool ParseDigits(std::string_view text, size_t at, size_t count, int64_t* value) {
  if (at + count > text.size()) return false;
  int64_t result = 0;
  for (size_t i = at; i < at + count; ++i) {
    if (text[i] < '0' || text[i] > '9') return false;
    result = result * 10 + (text[i] - '0');
  }
  *value = result;
  return true;
}

}  // namespace

void AppendTimestamp(std::string& out, int64_t millis) {
  int64_t days = millis / kMillisPerDay;
  int64_t in_day = millis % kMillisPerDay;
  if (in_day < 0) {
    in_day += kMillisPerDay;
    --days;
  }
  int64_t year;
  int month;
  int day;
  CivilFromDays(days, &year, &month, &day);
  char text[23];  // YYYY-MM-DD HH:MM:SS.mmm
  AppendDigits(text, year, 4);
  text[4] = '-';
  AppendDigits(text + 5, month, 2);
  text[7] = '-';
  AppendDigits(text + 8, day, 2);
  text[10] = ' ';
  AppendDigits(text + 11, in_day / 3'600'000, 2);
  text[13] = ':';
  AppendDigits(text + 14, in_day / 60'000 % 60, 2);
  text[16] = ':';
  AppendDigits(text + 17, in_day / 1000 % 60, 2);
  text[19] = '.';
  AppendDigits(text + 20, in_day % 1000, 3);
  out.append(text, sizeof(text));
}

bool ParseTimestamp(std::string_view text, int64_t* millis) {
  int64_t year, month, day, hour, minute, second;
  if (text.size() < 19 || !ParseDigits(text, 0, 4, &year) || text[4] != '-' ||
      !ParseDigits(text, 5, 2, &month) || text[7] != '-' || !ParseDigits(text, 8, 2, &day) ||
      (text[10] != ' ' && text[10] != 'T') || !ParseDigits(text, 11, 2, &hour) || text[13] != ':' ||
      !ParseDigits(text, 14, 2, &minute) || text[16] != ':' || !ParseDigits(text, 17, 2, &second)) {
    return false;
  }
  if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, static_cast<int>(month)) ||
      hour > 23 || minute > 59 || second > 59) {
    return false;
  }
  int64_t fraction_millis = 0;
  if (text.size() > 19) {
    const size_t digits = text.size() - 20;
    if (text[19] != '.' || digits == 0 || digits > 9) return false;
    int64_t fraction = 0;
    if (!ParseDigits(text, 20, digits, &fraction)) return false;
    for (size_t i = digits; i < 3; ++i) fraction *= 10;
    for (size_t i = 3; i < digits; ++i) fraction /= 10;
    fraction_millis = fraction;
  }
  *millis = DaysFromCivil(year, static_cast<int>(month), static_cast<int>(day)) * kMillisPerDay +
            ((hour * 60 + minute) * 60 + second) * 1000 + fraction_millis;
  return true;
}

void AppendEventCsv(std::string& out, const Event& event) {
  switch (event.type) {
    case EventType::kPerson: {
      const Person& p = event.person;
      out += "0,";
      AppendInt(out, p.id);
      out += ',';
      AppendString(out, p.name);
      out += ',';
      AppendString(out, p.email_address);
      out += ',';
      AppendString(out, p.credit_card);
      out += ',';
      AppendString(out, p.city);
      out += ',';
      AppendString(out, p.state);
      out += ',';
      AppendTimestamp(out, p.date_time);
      out += ',';
      AppendString(out, p.extra);
      return;
    }
    case EventType::kAuction: {
      const Auction& a = event.auction;
      out += "1,";
      AppendInt(out, a.id);
      out += ',';
      AppendString(out, a.item_name);
      out += ',';
      AppendString(out, a.description);
      out += ',';
      AppendInt(out, a.initial_bid);
      out += ',';
      AppendInt(out, a.reserve);
      out += ',';
      AppendTimestamp(out, a.date_time);
      out += ',';
      AppendTimestamp(out, a.expires);
      out += ',';
      AppendInt(out, a.seller);
      out += ',';
      AppendInt(out, a.category);
      out += ',';
      AppendString(out, a.extra);
      return;
    }
    case EventType::kBid: {
      const Bid& b = event.bid;
      out += "2,";
      AppendInt(out, b.auction);
      out += ',';
      AppendInt(out, b.bidder);
      out += ',';
      AppendInt(out, b.price);
      out += ',';
      AppendString(out, b.channel);
      out += ',';
      AppendString(out, b.url);
      out += ',';
      AppendTimestamp(out, b.date_time);
      out += ',';
      AppendString(out, b.extra);
      return;
    }
  }
}

bool EventCsvParser::Parse(std::string_view line, Event* event, EventCsvError* error) {
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  unquoted_.clear();
  if (unquoted_.capacity() < line.size()) unquoted_.reserve(line.size());
  FieldReader reader(line, &unquoted_, error);
  std::string_view type;
  if (!reader.Next(&type)) return false;
  if (type == "0") {
    event->type = EventType::kPerson;
    Person& p = event->person;
    return ReadInt(reader, "person.id", &p.id) && ReadString(reader, &p.name) &&
           ReadString(reader, &p.email_address) && ReadString(reader, &p.credit_card) &&
           ReadString(reader, &p.city) && ReadString(reader, &p.state) &&
           ReadTimestamp(reader, "person.dateTime", &p.date_time) && ReadString(reader, &p.extra) &&
           reader.ExpectEnd("person", 9);
  }
  if (type == "1") {
    event->type = EventType::kAuction;
    Auction& a = event->auction;
    return ReadInt(reader, "auction.id", &a.id) && ReadString(reader, &a.item_name) &&
           ReadString(reader, &a.description) &&
           ReadInt(reader, "auction.initialBid", &a.initial_bid) &&
           ReadInt(reader, "auction.reserve", &a.reserve) &&
           ReadTimestamp(reader, "auction.dateTime", &a.date_time) &&
           ReadTimestamp(reader, "auction.expires", &a.expires) &&
           ReadInt(reader, "auction.seller", &a.seller) &&
           ReadInt(reader, "auction.category", &a.category) && ReadString(reader, &a.extra) &&
           reader.ExpectEnd("auction", 11);
  }
  if (type == "2") {
    event->type = EventType::kBid;
    Bid& b = event->bid;
    return ReadInt(reader, "bid.auction", &b.auction) && ReadInt(reader, "bid.bidder", &b.bidder) &&
           ReadInt(reader, "bid.price", &b.price) && ReadString(reader, &b.channel) &&
           ReadString(reader, &b.url) && ReadTimestamp(reader, "bid.dateTime", &b.date_time) &&
           ReadString(reader, &b.extra) && reader.ExpectEnd("bid", 8);
  }
  return reader.FailField(
      fmt::format("unknown event type '{}': expected 0 (person), 1 (auction) or 2 (bid)", type));
}

Status WriteEventsCsv(const GeneratorConfig& config, int64_t count, const std::string& path) {
  RETURN_IF_ERROR(config.Validate());
  if (count < 0)
    return InvalidArgument("the number of events to generate must not be negative: {}", count);
  ASSIGN_OR_RETURN(std::unique_ptr<io::WritableFile> file, io::WritableFile::Create(path));
  NexmarkGenerator generator(config);
  constexpr size_t kChunkBytes = size_t{256} << 10;
  std::string chunk;
  chunk.reserve(kChunkBytes + 4096);
  for (int64_t n = 0; n < count; ++n) {
    AppendEventCsv(chunk, generator.Generate(n));
    chunk += '\n';
    if (chunk.size() >= kChunkBytes) {
      RETURN_IF_ERROR(file->Append(chunk));
      chunk.clear();
    }
  }
  RETURN_IF_ERROR(file->Append(chunk));
  return file->Commit();
}

}  // namespace weir::harness::nexmark
