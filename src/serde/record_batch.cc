#include "serde/record_batch.h"

#include <cstdlib>

#include "base/check.h"

namespace weir::serde {

void RecordBatch::FreeDeleter::operator()(std::byte* block) const { std::free(block); }

RecordBatch RecordBatch::Oversized(size_t capacity) {
  WEIR_CHECK_MSG(capacity <= UINT32_MAX, "record of {} bytes is larger than 4 GiB", capacity);
  const size_t rounded = (capacity + 63) & ~size_t{63};
  auto* block = static_cast<std::byte*>(std::aligned_alloc(64, rounded));
  WEIR_CHECK_MSG(block != nullptr, "out of memory allocating a {} byte record buffer", rounded);
  RecordBatch batch;
  batch.oversized_.reset(block);
  batch.data_ = block;
  batch.capacity_ = static_cast<uint32_t>(rounded);
  return batch;
}

void RecordBatch::Release() {
  segment_.Reset();
  oversized_.reset();
  data_ = nullptr;
  capacity_ = 0;
  Clear();
}

}  // namespace weir::serde
