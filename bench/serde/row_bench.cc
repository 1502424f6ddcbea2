// Row codec throughput: write + read a 5-field row in a reused buffer, against a plain struct
// memcpy of the same fields (the floor a schema-driven row can approach).
#include <benchmark/benchmark.h>

#include <cstring>
#include <string>
#include <vector>

#include "serde/row.h"

namespace weir::serde {
namespace {

const char* const kNames[] = {"symbol01", "symbol02", "symbol03", "symbol04"};

void BM_Row_WriteRead5Fields(benchmark::State& state) {
  const Schema schema = *ParseSchema("id BIGINT, qty BIGINT, price DOUBLE, ts TIMESTAMP(3), name STRING");
  RowWriter writer(schema);
  std::vector<std::byte> buffer(256);
  int64_t i = 0;
  int64_t checksum = 0;
  for (auto _ : state) {
    writer.Reset(buffer);
    writer.WriteBigInt(0, i);
    writer.WriteBigInt(1, i * 3);
    writer.WriteDouble(2, static_cast<double>(i) * 0.5);
    writer.WriteTimestamp(3, 1704067200000 + i);
    writer.WriteVarchar(4, kNames[i & 3]);
    if (!writer.Finish()) state.SkipWithError("row does not fit");
    const RowView view = writer.view();
    checksum += view.GetBigInt(0) + view.GetBigInt(1) + static_cast<int64_t>(view.GetDouble(2)) +
                view.GetTimestamp(3) + static_cast<int64_t>(view.GetVarchar(4).size()) + view.IsNull(2);
    benchmark::DoNotOptimize(checksum);
    benchmark::ClobberMemory();
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(writer.size()));
}
BENCHMARK(BM_Row_WriteRead5Fields);

struct PlainRecord {
  int64_t id;
  int64_t qty;
  double price;
  int64_t ts;
  char name[8];
  uint32_t name_length;
};

void BM_Struct_WriteRead5Fields(benchmark::State& state) {
  std::vector<std::byte> buffer(256);
  int64_t i = 0;
  int64_t checksum = 0;
  for (auto _ : state) {
    PlainRecord record;
    record.id = i;
    record.qty = i * 3;
    record.price = static_cast<double>(i) * 0.5;
    record.ts = 1704067200000 + i;
    record.name_length = 8;
    std::memcpy(record.name, kNames[i & 3], 8);
    std::memcpy(buffer.data(), &record, sizeof(record));
    PlainRecord read;
    std::memcpy(&read, buffer.data(), sizeof(read));
    checksum += read.id + read.qty + static_cast<int64_t>(read.price) + read.ts + read.name_length;
    benchmark::DoNotOptimize(checksum);
    benchmark::ClobberMemory();
    ++i;
  }
  state.SetItemsProcessed(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(sizeof(PlainRecord)));
}
BENCHMARK(BM_Struct_WriteRead5Fields);

}  // namespace
}  // namespace weir::serde
