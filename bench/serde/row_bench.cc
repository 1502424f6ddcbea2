// Row throughput: write a 5-field row (2 BIGINT, DOUBLE, TIMESTAMP(3), an 8-character VARCHAR)
// into a reused buffer and read every field back, against the floor a schema-driven row can
// approach: memcpy of an equivalent plain struct into the same buffer and back.
//
// Both loops make the buffer opaque between writing and reading (ClobberMemory), so the compiler
// cannot forward the written values to the reads, and hand every value read to DoNotOptimize.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <cstring>
#include <new>
#include <string_view>
#include <vector>

#include "serde/row.h"

namespace weir::serde {
namespace {

constexpr std::string_view kNames[] = {"symbol01", "symbol02", "symbol03", "symbol04"};

void BM_Row_WriteRead5Fields(benchmark::State& state) {
  Result<Schema> schema = ParseSchema("id BIGINT, qty BIGINT, price DOUBLE, ts TIMESTAMP(3), name STRING");
  if (!schema.ok()) {
    state.SkipWithError("schema does not parse");
    return;
  }
  RowWriter writer(*schema);
  std::vector<std::byte> buffer(256);
  benchmark::DoNotOptimize(buffer.data());
  int64_t i = 0;
  for (auto _ : state) {
    writer.Reset(buffer);
    writer.WriteBigInt(0, i);
    writer.WriteBigInt(1, i * 3);
    writer.WriteDouble(2, static_cast<double>(i) * 0.5);
    writer.WriteTimestamp(3, 1'704'067'200'000 + i);
    writer.WriteVarchar(4, kNames[i & 3]);
    if (!writer.Finish()) {
      state.SkipWithError("row does not fit");
      break;
    }
    benchmark::ClobberMemory();
    const RowView view = writer.view();
    bool is_null = view.IsNull(4);
    int64_t id = view.GetBigInt(0);
    int64_t qty = view.GetBigInt(1);
    double price = view.GetDouble(2);
    int64_t ts = view.GetTimestamp(3);
    std::string_view name = view.GetVarchar(4);
    benchmark::DoNotOptimize(is_null);
    benchmark::DoNotOptimize(id);
    benchmark::DoNotOptimize(qty);
    benchmark::DoNotOptimize(price);
    benchmark::DoNotOptimize(ts);
    benchmark::DoNotOptimize(name);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(writer.size()));
}
BENCHMARK(BM_Row_WriteRead5Fields);

// The same five values as a plain struct; the name is inline, so reading it needs no offset.
struct PlainRecord {
  int64_t id;
  int64_t qty;
  double price;
  int64_t ts;
  uint32_t name_length;
  char name[12];
};

void BM_Struct_WriteRead5Fields(benchmark::State& state) {
  std::vector<std::byte> buffer(256);
  benchmark::DoNotOptimize(buffer.data());
  int64_t i = 0;
  for (auto _ : state) {
    PlainRecord record;
    record.id = i;
    record.qty = i * 3;
    record.price = static_cast<double>(i) * 0.5;
    record.ts = 1'704'067'200'000 + i;
    const std::string_view source_name = kNames[i & 3];
    record.name_length = static_cast<uint32_t>(source_name.size());
    std::memcpy(record.name, source_name.data(), source_name.size());
    std::memcpy(buffer.data(), &record, sizeof(record));
    benchmark::ClobberMemory();
    const PlainRecord* read = std::launder(reinterpret_cast<const PlainRecord*>(buffer.data()));
    int64_t id = read->id;
    int64_t qty = read->qty;
    double price = read->price;
    int64_t ts = read->ts;
    std::string_view name(read->name, read->name_length);
    benchmark::DoNotOptimize(id);
    benchmark::DoNotOptimize(qty);
    benchmark::DoNotOptimize(price);
    benchmark::DoNotOptimize(ts);
    benchmark::DoNotOptimize(name);
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(sizeof(PlainRecord)));
}
BENCHMARK(BM_Struct_WriteRead5Fields);

}  // namespace
}  // namespace weir::serde
