// Nexmark event files: one event per line, CSV (RFC 4180 quoting within a line), in arrival
// order. The first field is the event type of nexmark's `datagen` table (0 person, 1 auction,
// 2 bid), then that type's columns in the order of nexmark's ddl_gen.sql:
//
//   0,id,name,emailAddress,creditCard,city,state,dateTime,extra
//   1,id,itemName,description,initialBid,reserve,dateTime,expires,seller,category,extra
//   2,auction,bidder,price,channel,url,dateTime,extra
//
// TIMESTAMP(3) values are written "YYYY-MM-DD HH:MM:SS.mmm" in UTC. A string field containing a
// comma, a double quote, CR or LF is quoted, its quotes doubled; no other field is quoted. The
// parser reads what the writer writes, plus quoted fields anywhere and timestamps without a
// fraction or with 1 to 9 fraction digits (beyond milliseconds truncated, as TIMESTAMP(3)), so
// hand-edited files work. Event files are read line by line, so a quoted field with a line break
// is written correctly but cannot be read back from a file (nexmark's generator makes none).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "harness/nexmark/generator.h"
#include "harness/nexmark/model.h"

namespace weir::harness::nexmark {

// Appends `event` as one CSV line, without a line terminator.
void AppendEventCsv(std::string& out, const Event& event);

// Appends `millis` (ms since the epoch, UTC) as "YYYY-MM-DD HH:MM:SS.mmm" (years 0000-9999).
void AppendTimestamp(std::string& out, int64_t millis);
// Parses "YYYY-MM-DD HH:MM:SS[.fraction]" (or 'T' for the space) as UTC; false when malformed.
bool ParseTimestamp(std::string_view text, int64_t* millis);

// Why a line is not an event: the 1-based character column where the offending field starts
// (the end of the line + 1 for a missing field) and what is wrong.
struct EventCsvError {
  int64_t column = 0;
  std::string what;
};

// Turns lines into events. One per reader thread (it keeps scratch space).
class EventCsvParser {
 public:
  // Parses one line (without '\n'; a trailing '\r' is ignored). true: *event is the line's event,
  // its strings view into `line` or, for quoted fields with doubled quotes, into this parser's
  // scratch buffer: valid while `line` is and until the next Parse. false: *error says where and
  // what. No allocation once the scratch buffer has grown to the longest line.
  bool Parse(std::string_view line, Event* event, EventCsvError* error);

 private:
  std::string unquoted_;
};

// Writes events 0 .. count-1 of `config`'s generator to `path`, one CSV line each, through a
// buffered atomic file (the path appears complete or not at all; "-" is standard output).
// Errors: InvalidArgument for a bad config or count; the file's errors name the path.
Status WriteEventsCsv(const GeneratorConfig& config, int64_t count, const std::string& path);

}  // namespace weir::harness::nexmark
