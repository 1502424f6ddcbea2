#include "state/timer_service.h"

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

#include "base/xxhash.h"
#include "state/state_table.h"

namespace weir::state {
namespace {

// Bucket record header: key hash u64 @0, key size u32 @8, namespace size u32 @12, key group u16
// @16, then the key and namespace bytes.
constexpr size_t kRecordHeaderSize = 18;
// Free buckets keep their byte capacity while the retained total stays below this; beyond it a
// drained bucket's bytes go back to the allocator and the budget. Small buckets (a timestamp with
// a few timers, as processing-time timers at millisecond resolution are) are always kept: they
// cost about what the bucket's heap and index slots cost, which are kept at their peak too, and
// keeping them makes a steady state of one timer per timestamp allocation-free.
constexpr int64_t kMaxRetainedBucketBytes = int64_t{1} << 20;
constexpr int64_t kSmallBucketBytes = 256;
// Stale records (left by deletions) trigger a rebuild when they exceed this and the live timers.
constexpr size_t kMinStaleRecordsForRebuild = 4096;
constexpr uint32_t kNoBucket = 0xffffffff;

uint64_t ToBigEndian(uint64_t value) {
  if constexpr (std::endian::native == std::endian::little) return __builtin_bswap64(value);
  return value;
}

Timestamp ReadTimestamp(std::string_view table_ns) {
  uint64_t big_endian;
  std::memcpy(&big_endian, table_ns.data(), sizeof(big_endian));
  return static_cast<Timestamp>(ToBigEndian(big_endian));
}

struct Record {
  uint64_t hash;
  int key_group;
  std::string_view key;
  std::string_view ns;
  size_t size;
};

Record ReadRecord(const std::byte* data) {
  Record record;
  uint32_t key_size;
  uint32_t ns_size;
  uint16_t key_group;
  std::memcpy(&record.hash, data, 8);
  std::memcpy(&key_size, data + 8, 4);
  std::memcpy(&ns_size, data + 12, 4);
  std::memcpy(&key_group, data + 16, 2);
  const char* bytes = reinterpret_cast<const char*>(data + kRecordHeaderSize);
  record.key_group = key_group;
  record.key = std::string_view(bytes, key_size);
  record.ns = std::string_view(bytes + key_size, ns_size);
  record.size = kRecordHeaderSize + key_size + ns_size;
  return record;
}

size_t RecordSize(std::string_view key, std::string_view ns) {
  return kRecordHeaderSize + key.size() + ns.size();
}

// REQUIRES: the vector's capacity holds the record.
void WriteRecord(std::vector<std::byte>& bytes, uint64_t hash, int key_group, std::string_view key,
                 std::string_view ns) {
  const size_t offset = bytes.size();
  WEIR_DCHECK(offset + RecordSize(key, ns) <= bytes.capacity());
  bytes.resize(offset + RecordSize(key, ns));
  std::byte* data = bytes.data() + offset;
  const auto key_size = static_cast<uint32_t>(key.size());
  const auto ns_size = static_cast<uint32_t>(ns.size());
  const auto group = static_cast<uint16_t>(key_group);
  std::memcpy(data, &hash, 8);
  std::memcpy(data + 8, &key_size, 4);
  std::memcpy(data + 12, &ns_size, 4);
  std::memcpy(data + 16, &group, 2);
  if (!key.empty()) std::memcpy(data + kRecordHeaderSize, key.data(), key.size());
  if (!ns.empty()) std::memcpy(data + kRecordHeaderSize + key.size(), ns.data(), ns.size());
}

}  // namespace

struct TimerService::Queue {
  Queue(memory::SegmentPool* pool, memory::MemoryBudget* budget, const std::string& owner)
      : table(pool, budget, owner) {}

  struct HeapEntry {
    Timestamp time;
    uint32_t bucket;
  };
  // Orders std::*_heap as a min-heap on time.
  static bool Later(const HeapEntry& a, const HeapEntry& b) { return a.time > b.time; }

  struct Bucket {
    std::vector<std::byte> bytes;
    size_t cursor = 0;  // records before it have been drained
    // Record boundaries up to which PrefetchAhead has issued its two stages (>= cursor or stale).
    size_t slot_ahead = 0;
    size_t entry_ahead = 0;
  };

  struct IndexSlot {
    Timestamp time;
    uint32_t bucket;  // kNoBucket when empty
  };

  size_t IndexHome(Timestamp time) const {
    return (static_cast<uint64_t>(time) * 0x9E3779B97F4A7C15ull) >> index_shift;
  }
  uint32_t IndexFind(Timestamp time) const {
    if (index.empty()) return kNoBucket;
    for (size_t slot = IndexHome(time);; slot = (slot + 1) & index_mask) {
      if (index[slot].bucket == kNoBucket) return kNoBucket;
      if (index[slot].time == time) return index[slot].bucket;
    }
  }
  // REQUIRES: the time is absent and the index has room.
  void IndexInsert(Timestamp time, uint32_t bucket) {
    size_t slot = IndexHome(time);
    while (index[slot].bucket != kNoBucket) slot = (slot + 1) & index_mask;
    index[slot] = {time, bucket};
    ++index_used;
  }
  // Backward-shift deletion: no tombstones. REQUIRES: the time is present.
  void IndexErase(Timestamp time) {
    size_t hole = IndexHome(time);
    while (index[hole].time != time || index[hole].bucket == kNoBucket) {
      hole = (hole + 1) & index_mask;
    }
    for (size_t next = (hole + 1) & index_mask; index[next].bucket != kNoBucket;
         next = (next + 1) & index_mask) {
      const size_t home = IndexHome(index[next].time);
      if (((next - home) & index_mask) >= ((next - hole) & index_mask)) {
        index[hole] = index[next];
        hole = next;
      }
    }
    index[hole].bucket = kNoBucket;
    --index_used;
  }

  StateTable table;
  std::vector<HeapEntry> heap;
  std::vector<Bucket> buckets;
  std::vector<uint32_t> free_buckets;  // capacity kept >= buckets.capacity(): pushes never fail
  int64_t retained_bytes = 0;          // byte capacity of the free buckets
  std::vector<IndexSlot> index;        // power-of-two size, at most half full
  size_t index_used = 0;
  size_t index_mask = 0;
  int index_shift = 64;
  // The bucket of the last appended time (kNoBucket when none).
  Timestamp cached_time = 0;
  uint32_t cached_bucket = kNoBucket;
  // Records in buckets whose timer was deleted (or re-registered after deletion) and that were
  // not drained yet.
  size_t stale_records = 0;
};

TimerService::TimerService(memory::SegmentPool* pool, memory::MemoryBudget* budget,
                           std::string owner)
    : budget_(budget),
      owner_(std::move(owner)),
      event_queue_(std::make_unique<Queue>(pool, budget, owner_)),
      processing_queue_(std::make_unique<Queue>(pool, budget, owner_)) {}

TimerService::~TimerService() = default;

void TimerService::RegisterEventTimeTimer(const CurrentKey& key, std::string_view ns,
                                          Timestamp time) {
  Register(*event_queue_, key, ns, time);
}

void TimerService::DeleteEventTimeTimer(const CurrentKey& key, std::string_view ns,
                                        Timestamp time) {
  Delete(*event_queue_, key, ns, time);
}

void TimerService::RegisterProcessingTimeTimer(const CurrentKey& key, std::string_view ns,
                                               Timestamp time) {
  Register(*processing_queue_, key, ns, time);
}

void TimerService::DeleteProcessingTimeTimer(const CurrentKey& key, std::string_view ns,
                                             Timestamp time) {
  Delete(*processing_queue_, key, ns, time);
}

Timestamp TimerService::next_processing_time() const {
  return processing_queue_->heap.empty() ? kMaxTimestamp : processing_queue_->heap.front().time;
}

Timestamp TimerService::next_event_time() const {
  return event_queue_->heap.empty() ? kMaxTimestamp : event_queue_->heap.front().time;
}

size_t TimerService::event_timer_count() const { return event_queue_->table.size(); }

size_t TimerService::processing_timer_count() const { return processing_queue_->table.size(); }

const StateTable& TimerService::event_timers() const { return event_queue_->table; }

const StateTable& TimerService::processing_timers() const { return processing_queue_->table; }

int64_t TimerService::memory_bytes() const {
  return reserved_bytes_ + event_queue_->table.memory_bytes() +
         processing_queue_->table.memory_bytes();
}

std::string_view TimerService::TableNamespace(Timestamp time, std::string_view ns) {
  ns_scratch_.resize(sizeof(uint64_t) + ns.size());
  const uint64_t big_endian = ToBigEndian(static_cast<uint64_t>(time));
  std::memcpy(ns_scratch_.data(), &big_endian, sizeof(big_endian));
  if (!ns.empty()) std::memcpy(ns_scratch_.data() + sizeof(big_endian), ns.data(), ns.size());
  return ns_scratch_;
}

void TimerService::Register(Queue& queue, const CurrentKey& key, std::string_view ns,
                            Timestamp time) {
  WEIR_DCHECK(key.hash == Hash64(key.bytes));
  const std::string_view table_ns = TableNamespace(time, ns);
  bool inserted;
  Result<std::span<std::byte>> entry =
      queue.table.FindOrInsert(key.hash, key.key_group, key.bytes, table_ns, 0, &inserted);
  if (!entry.ok()) {
    Fail(entry.status().WithContext("registering a timer"));
    return;
  }
  if (!inserted) return;
  Status appended = Append(queue, time, key, ns);
  if (!appended.ok()) {
    queue.table.Remove(key.hash, key.key_group, key.bytes, table_ns);
    Fail(std::move(appended));
  }
}

void TimerService::Delete(Queue& queue, const CurrentKey& key, std::string_view ns,
                          Timestamp time) {
  if (!queue.table.Remove(key.hash, key.key_group, key.bytes, TableNamespace(time, ns))) return;
  ++queue.stale_records;
  if (!firing_) {
    if (!queue.heap.empty() && queue.heap.front().time == time) Prune(queue);
    MaybeCompact(queue);
  }
}

Status TimerService::Append(Queue& queue, Timestamp time, const CurrentKey& key,
                            std::string_view ns) {
  const size_t record_size = RecordSize(key.bytes, ns);
  uint32_t bucket = queue.cached_bucket;
  if (bucket == kNoBucket || queue.cached_time != time) {
    bucket = queue.IndexFind(time);
    if (bucket == kNoBucket) {
      ASSIGN_OR_RETURN(bucket, NewBucket(queue, time, record_size));
    }
    queue.cached_time = time;
    queue.cached_bucket = bucket;
  }
  std::vector<std::byte>& bytes = queue.buckets[bucket].bytes;
  RETURN_IF_ERROR(GrowFor(bytes, record_size));
  WriteRecord(bytes, key.hash, key.key_group, key.bytes, ns);
  return Status::Ok();
}

Result<uint32_t> TimerService::NewBucket(Queue& queue, Timestamp time, size_t record_size) {
  // Every reservation first, so that a failure leaves the queue as it was.
  RETURN_IF_ERROR(GrowFor(queue.heap, 1));
  if ((queue.index_used + 1) * 2 > queue.index.size()) RETURN_IF_ERROR(GrowIndex(queue));
  uint32_t bucket;
  if (!queue.free_buckets.empty()) {
    bucket = queue.free_buckets.back();
    const int64_t capacity = static_cast<int64_t>(queue.buckets[bucket].bytes.capacity());
    RETURN_IF_ERROR(GrowFor(queue.buckets[bucket].bytes, record_size));
    queue.free_buckets.pop_back();
    queue.retained_bytes -= capacity;
  } else {
    RETURN_IF_ERROR(GrowFor(queue.buckets, 1));
    if (queue.free_buckets.capacity() < queue.buckets.capacity()) {
      RETURN_IF_ERROR(GrowFor(queue.free_buckets, queue.buckets.capacity()));
    }
    std::vector<std::byte> bytes;
    RETURN_IF_ERROR(GrowFor(bytes, record_size));
    bucket = static_cast<uint32_t>(queue.buckets.size());
    queue.buckets.push_back({std::move(bytes), 0});
  }
  queue.heap.push_back({time, bucket});
  std::push_heap(queue.heap.begin(), queue.heap.end(), Queue::Later);
  queue.IndexInsert(time, bucket);
  return bucket;
}

void TimerService::PopTop(Queue& queue) {
  const uint32_t bucket = queue.heap.front().bucket;
  queue.IndexErase(queue.heap.front().time);
  std::pop_heap(queue.heap.begin(), queue.heap.end(), Queue::Later);
  queue.heap.pop_back();
  RecycleBucket(queue, bucket);
}

void TimerService::RecycleBucket(Queue& queue, uint32_t bucket) {
  if (queue.cached_bucket == bucket) queue.cached_bucket = kNoBucket;
  Queue::Bucket& drained = queue.buckets[bucket];
  drained.bytes.clear();
  drained.cursor = 0;
  drained.slot_ahead = 0;
  drained.entry_ahead = 0;
  const auto capacity = static_cast<int64_t>(drained.bytes.capacity());
  if (capacity > kSmallBucketBytes && queue.retained_bytes + capacity > kMaxRetainedBucketBytes) {
    std::vector<std::byte>().swap(drained.bytes);
    Unreserve(capacity);
  } else {
    queue.retained_bytes += capacity;
  }
  queue.free_buckets.push_back(bucket);
}

bool TimerService::PopDue(Queue& queue, Timestamp limit, FiredTimer* timer) {
  while (!queue.heap.empty()) {
    const Queue::HeapEntry top = queue.heap.front();
    if (top.time > limit) return false;
    Queue::Bucket& bucket = queue.buckets[top.bucket];
    if (bucket.cursor == bucket.bytes.size()) {
      PopTop(queue);
      continue;
    }
    PrefetchAhead(queue, top.time, top.bucket);
    const Record record = ReadRecord(bucket.bytes.data() + bucket.cursor);
    bucket.cursor += record.size;
    if (!queue.table.Remove(record.hash, record.key_group, record.key,
                            TableNamespace(top.time, record.ns))) {
      --queue.stale_records;
      continue;
    }
    // Callbacks may append to this bucket (reallocating it), so the timer is handed out from a
    // copy.
    fired_scratch_.assign(record.key);
    fired_scratch_.append(record.ns);
    const std::string_view fired = fired_scratch_;
    timer->timestamp = top.time;
    timer->key = CurrentKey{fired.substr(0, record.key.size()), record.hash, record.key_group};
    timer->ns = fired.substr(record.key.size());
    return true;
  }
  return false;
}

void TimerService::PrefetchAhead(Queue& queue, Timestamp time, uint32_t bucket_index) {
  Queue::Bucket& bucket = queue.buckets[bucket_index];
  // Walks the records from `*ahead` up to `distance` bytes past the cursor, issuing `stage`.
  auto issue = [&](size_t* ahead, size_t distance, int stage) {
    const std::byte* bytes = bucket.bytes.data();
    size_t at = std::max(*ahead, bucket.cursor);
    const size_t limit = std::min(bucket.bytes.size(), bucket.cursor + distance);
    while (at < limit) {
      const Record record = ReadRecord(bytes + at);
      const std::string_view ns = TableNamespace(time, record.ns);
      if (stage == 1) {
        queue.table.PrefetchSlot(record.hash, ns);
      } else {
        queue.table.PrefetchEntry(record.hash, ns);
      }
      if (prefetch_hook_ != nullptr) {
        prefetch_hook_(prefetch_context_, CurrentKey{record.key, record.hash, record.key_group}, record.ns,
                       time, stage);
      }
      at += record.size;
    }
    *ahead = at;
  };
  issue(&bucket.slot_ahead, kPrefetchSlotBytes, 1);
  issue(&bucket.entry_ahead, kPrefetchEntryBytes, 2);
}

void TimerService::FinishFiring() {
  // Callbacks may have deleted timers of either domain without pruning.
  for (Queue* queue : {event_queue_.get(), processing_queue_.get()}) {
    Prune(*queue);
    MaybeCompact(*queue);
  }
}

void TimerService::Prune(Queue& queue) {
  while (!queue.heap.empty()) {
    const Queue::HeapEntry top = queue.heap.front();
    Queue::Bucket& bucket = queue.buckets[top.bucket];
    while (bucket.cursor < bucket.bytes.size()) {
      const Record record = ReadRecord(bucket.bytes.data() + bucket.cursor);
      // Get returns a null span for an absent entry; a present one (with its empty value) points
      // into the table. (Get: an existence check must not relocate an entry a checkpoint sealed.)
      if (queue.table
              .Get(record.hash, record.key_group, record.key, TableNamespace(top.time, record.ns))
              .data() != nullptr) {
        return;
      }
      bucket.cursor += record.size;
      --queue.stale_records;
    }
    PopTop(queue);
  }
}

void TimerService::MaybeCompact(Queue& queue) {
  if (queue.stale_records >= kMinStaleRecordsForRebuild &&
      queue.stale_records > queue.table.size()) {
    Rebuild(queue);
  }
}

void TimerService::Rebuild(Queue& queue) {
  for (const Queue::HeapEntry& entry : queue.heap) {
    Queue::Bucket& bucket = queue.buckets[entry.bucket];
    bucket.bytes.clear();
    bucket.cursor = 0;
    bucket.slot_ahead = 0;
    bucket.entry_ahead = 0;
  }
  // Each live timer had at least one record in its bucket, so the bucket's capacity holds the
  // rebuilt records.
  queue.table.ForEach([&](int key_group, std::string_view key, std::string_view table_ns,
                          std::span<const std::byte>) {
    const Timestamp time = ReadTimestamp(table_ns);
    const uint32_t bucket = queue.IndexFind(time);
    WEIR_CHECK(bucket != kNoBucket);
    std::vector<std::byte>& bytes = queue.buckets[bucket].bytes;
    const std::string_view ns = table_ns.substr(sizeof(uint64_t));
    WEIR_CHECK(bytes.size() + RecordSize(key, ns) <= bytes.capacity());
    WriteRecord(bytes, Hash64(key), key_group, key, ns);
  });
  queue.stale_records = 0;
  // Buckets left empty leave the heap; the heap order is kept by re-popping them from the top.
  size_t kept = 0;
  for (size_t i = 0; i < queue.heap.size(); ++i) {
    const Queue::HeapEntry entry = queue.heap[i];
    if (!queue.buckets[entry.bucket].bytes.empty()) {
      queue.heap[kept++] = entry;
      continue;
    }
    queue.IndexErase(entry.time);
    RecycleBucket(queue, entry.bucket);
  }
  queue.heap.resize(kept);
  std::make_heap(queue.heap.begin(), queue.heap.end(), Queue::Later);
}

Status TimerService::SnapshotTables(SnapshotWriter& writer, std::string_view prefix) {
  WEIR_CHECK_MSG(!firing_, "timers cannot be snapshotted inside a timer callback");
  RETURN_IF_ERROR(writer.AddTable(std::string(prefix) + "event", event_queue_->table));
  return writer.AddTable(std::string(prefix) + "processing", processing_queue_->table);
}

Status TimerService::RestoreTables(RestoreReader& reader, std::string_view prefix) {
  WEIR_CHECK_MSG(event_queue_->heap.empty() && processing_queue_->heap.empty() &&
                     event_queue_->table.size() == 0 && processing_queue_->table.size() == 0,
                 "timers of {} restored into a service that holds timers", owner_);
  for (auto [queue, domain] : {std::pair{event_queue_.get(), "event"},
                               std::pair{processing_queue_.get(), "processing"}}) {
    const std::string name = std::string(prefix) + domain;
    RETURN_IF_ERROR(reader.RestoreTable(name, queue->table)
                        .WithContext(fmt::format("restoring the {} timers of {}", domain, owner_)));
    RETURN_IF_ERROR(IndexRestored(*queue));
  }
  return Status::Ok();
}

Status TimerService::IndexRestored(Queue& queue) {
  Status status;
  queue.table.ForEach([&](int key_group, std::string_view key, std::string_view table_ns,
                          std::span<const std::byte>) {
    if (!status.ok()) return;
    if (table_ns.size() < sizeof(uint64_t)) {
      status = DataLoss("a restored timer of {} has a {}-byte namespace (at least 8 expected)",
                        owner_, table_ns.size());
      return;
    }
    // The key hash is recomputed as Register's callers compute it (CurrentKey's contract).
    const CurrentKey timer_key{key, Hash64(key), key_group};
    status = Append(queue, ReadTimestamp(table_ns), timer_key, table_ns.substr(sizeof(uint64_t)));
  });
  return status;
}

template <typename T>
Status TimerService::GrowFor(std::vector<T>& vector, size_t extra) {
  const size_t needed = vector.size() + extra;
  if (needed <= vector.capacity()) return Status::Ok();
  const size_t capacity = std::max({needed, vector.capacity() * 2, 64 / sizeof(T)});
  RETURN_IF_ERROR(Reserve(static_cast<int64_t>((capacity - vector.capacity()) * sizeof(T))));
  vector.reserve(capacity);
  return Status::Ok();
}

Status TimerService::GrowIndex(Queue& queue) {
  const size_t capacity = std::max<size_t>(16, queue.index.size() * 2);
  RETURN_IF_ERROR(Reserve(static_cast<int64_t>(capacity * sizeof(Queue::IndexSlot))));
  std::vector<Queue::IndexSlot> old(capacity, Queue::IndexSlot{0, kNoBucket});
  old.swap(queue.index);
  queue.index_mask = capacity - 1;
  queue.index_shift = 64 - std::countr_zero(capacity);
  queue.index_used = 0;
  for (const Queue::IndexSlot& slot : old) {
    if (slot.bucket != kNoBucket) queue.IndexInsert(slot.time, slot.bucket);
  }
  Unreserve(static_cast<int64_t>(old.size() * sizeof(Queue::IndexSlot)));
  return Status::Ok();
}

Status TimerService::Reserve(int64_t bytes) {
  Status status;
  if (has_reservation_) {
    status = reservation_.Grow(bytes);
  } else {
    Result<memory::MemoryBudget::Reservation> reservation = budget_->Reserve(owner_, bytes);
    if (reservation.ok()) {
      reservation_ = std::move(reservation).value();
      has_reservation_ = true;
    } else {
      status = std::move(reservation).status();
    }
  }
  if (!status.ok()) {
    return status.WithContext(fmt::format(
        "timers of operator {} ({} event-time, {} processing-time) need {} more bytes of managed "
        "memory",
        owner_, event_timer_count(), processing_timer_count(), bytes));
  }
  reserved_bytes_ += bytes;
  return Status::Ok();
}

void TimerService::Unreserve(int64_t bytes) {
  reservation_.Shrink(bytes);
  reserved_bytes_ -= bytes;
}

}  // namespace weir::state
