// Nexmark's queries (nexmark/nexmark, nexmark-flink/src/main/resources/queries/qN.sql) as weir
// jobs written with the public DataStream API, for `weir bench nexmark`.
//
// Each query builds on the stream of datagen events (timestamps = dateTime and watermarks =
// max dateTime - 4000 ms, the DDL's `WATERMARK FOR dateTime AS dateTime - INTERVAL '4' SECOND`,
// assigned by the source) and ends in harness::EmitResults. Its rows are the SQL's rows written
// as CSV in the sink table's column order (positional INSERT, as Flink does it), with Flink's
// value formats: BIGINT as digits, DECIMAL(p, s) with exactly s digits after the point,
// TIMESTAMP(3) as "YYYY-MM-DD HH:MM:SS.mmm" in UTC, VARCHAR as-is, quoted as the repo's CSV
// encoder quotes (serde/csv.h).
//
// Semantics as in Flink SQL:
//   - window TVFs and group windows (TUMBLE, HOP, SESSION) drop an event for every window whose
//     end - 1 the watermark has already reached when the event arrives (Flink's window
//     operators, no allowed lateness); a window emits when the watermark reaches its end - 1;
//   - regular joins and non-windowed aggregations drop nothing and keep their state, and a query
//     whose result updates (q4, q9) emits its changelog as upserts by the sink table's key; the
//     table the run ends with (ResultCollector::Csv) is the SQL's final result;
//   - results come in no defined order (no query has an ORDER BY): compare them as multisets.
//
// Latency anchors (the rows' traits' DueEventTime, see run_context.h): the event time whose due
// instant the row was waiting for.
//   q0, q1, q2  the bid's dateTime (a row per bid); also q14, q21, q22
//   q3          the later dateTime of the joined person and auction
//   q4          the later dateTime of the auction and the bid whose arrival changed the row
//   q5, q8      window end - 1 + 4000: the dateTime whose watermark (dateTime - 4 s) fires it
//   q7          the later of the bid's dateTime and its window's end - 1 + 4000
//   q9          the later dateTime of the auction and the bid whose arrival changed the row
//   q11         session end - 1 + 4000
//   q12         the latest bid dateTime in the window (processing-time windows fire on the wall
//               clock, not on any event's due instant; this is the last event the row includes)
//
// Ids: the queries that join on ids (q3, q4, q9) use nexmark's id rules where it matters for
// state size: a person id and an auction id occur once (the generator's persons and auctions are
// numbered), so q4 and q9 keep one auction per id and, once it has arrived, only the best bid
// for it instead of every bid (the same result). q3 is a plain two-sided join.
#pragma once

#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

#include "api/data_stream.h"
#include "harness/nexmark/model.h"
#include "harness/run_context.h"

namespace weir::harness::nexmark {

struct NexmarkQuery {
  std::string_view name;     // "q0"
  std::string_view summary;  // one line
  std::string_view columns;  // the sink table's columns, comma-separated
  // Builds the query on `events` (timestamps and watermarks already assigned by the source) and
  // ends it in harness::EmitResults(rows, traits, context).
  void (*build)(api::DataStream<Event> events, const RunContext& context);
};

// q0, q1, q2, q3, q4, q5, q7, q8, q9, q11, q12, q14, q21, q22, in that order.
std::span<const NexmarkQuery> NexmarkQueries();
// nullptr when there is no query of that name.
const NexmarkQuery* FindNexmarkQuery(std::string_view name);

// The build functions of NexmarkQueries(), one per query (see the SQL in the summary of each).
void BuildQ0(api::DataStream<Event> events, const RunContext& context);
void BuildQ1(api::DataStream<Event> events, const RunContext& context);
void BuildQ2(api::DataStream<Event> events, const RunContext& context);
void BuildQ3(api::DataStream<Event> events, const RunContext& context);
void BuildQ4(api::DataStream<Event> events, const RunContext& context);
void BuildQ5(api::DataStream<Event> events, const RunContext& context);
void BuildQ7(api::DataStream<Event> events, const RunContext& context);
void BuildQ8(api::DataStream<Event> events, const RunContext& context);
void BuildQ9(api::DataStream<Event> events, const RunContext& context);
void BuildQ11(api::DataStream<Event> events, const RunContext& context);
void BuildQ12(api::DataStream<Event> events, const RunContext& context);
void BuildQ14(api::DataStream<Event> events, const RunContext& context);
void BuildQ21(api::DataStream<Event> events, const RunContext& context);
void BuildQ22(api::DataStream<Event> events, const RunContext& context);

namespace internal {

// CSV fields of the result rows (a ',' is written before every field but the first).
void AppendCsvInt(std::string& out, int64_t value);
// VARCHAR, quoted (with doubled quotes) when it holds ',', '"', '\r' or '\n', starts or ends with
// a space, or is empty -- serde::CsvRowEncoder's rule.
void AppendCsvString(std::string& out, std::string_view value);

// 0.908 * price as Flink computes it: DECIMAL(4, 3) times BIGINT is DECIMAL(23, 3), exactly
// price * 908 thousandths (formatted from 128 bits: a DECIMAL(23, 3) can exceed int64).
void AppendEuroPrice(std::string& out, int64_t price);

// Codec of a row struct given by its members (int64_t or std::string_view), encoded back to back
// as serde's tuples are. Row structs with string views are trivially copyable, so without this
// they would cross exchanges as raw pointers.
template <typename T, auto... kMembers>
struct MemberCodec {
  static constexpr bool kFixedSize = false;
  static size_t Size(const T& value) {
    return (serde::Codec<MemberType<kMembers>>::Size(value.*kMembers) + ...);
  }
  static void Write(const T& value, std::byte* out) {
    ((serde::Codec<MemberType<kMembers>>::Write(value.*kMembers, out),
      out += serde::Codec<MemberType<kMembers>>::Size(value.*kMembers)),
     ...);
  }
  static T Read(const std::byte* in) {
    T value{};
    ((value.*kMembers = serde::internal::ReadMember<MemberType<kMembers>>(in),
      in += serde::Codec<MemberType<kMembers>>::Size(value.*kMembers)),
     ...);
    return value;
  }

 private:
  template <auto kMember>
  using MemberType = std::remove_cvref_t<decltype(std::declval<const T&>().*kMember)>;
};

}  // namespace internal

}  // namespace weir::harness::nexmark
