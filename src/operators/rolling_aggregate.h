// Keyed rolling aggregation (Flink's KeyedStream.reduce / sum / min / max / minBy / maxBy): for
// every record, combine it with the key's current value and emit the new value.
//
// The current value of each key lives as Codec bytes in a StateTable (segments from managed
// memory), keyed by the key's bytes: no per-key heap object. The first record of a key is stored
// and emitted as it is; later ones emit reduce(current, record), as Flink's StreamGroupedReduce
// does. The result is encoded into a reused scratch buffer before it is stored, because it may
// hold views into the old stored value. A reducer that changes only one fixed-size field (Flink's
// sum/min/max on a field) may provide `ApplyInPlace(std::byte* stored, const T& value)`, which
// updates the stored bytes directly: no decode, encode or copy.
//
// Checkpoints pin the table ("values"); a restore refills it with the keys of the subtask's key
// groups, so the next record of a key continues from its checkpointed value.
#pragma once

#include <cstddef>
#include <cstring>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "operators/key_encoder.h"
#include "operators/stream_operator.h"
#include "serde/codec.h"
#include "state/key_groups.h"
#include "state/state_table.h"

namespace weir::operators {

template <typename T, typename KeySelector, typename Reducer>
class RollingAggregateOperator final : public OneInputOperator<T, T> {
 public:
  RollingAggregateOperator(KeySelector key_selector, Reducer reducer, std::string name)
      : key_selector_(std::move(key_selector)), reducer_(std::move(reducer)), name_(std::move(name)) {}

  Status Open(OperatorContext* context) override {
    RETURN_IF_ERROR(OneInputOperator<T, T>::Open(context));
    if (context->state_pool == nullptr || context->managed_memory == nullptr) {
      return FailedPrecondition("{} needs managed memory for keyed state", name_);
    }
    table_ = std::make_unique<state::StateTable>(context->state_pool, context->managed_memory,
                                                 context->task_name);
    return Status::Ok();
  }
  void Close() override { table_.reset(); }

  // Checkpoints: the table of current values, pinned as "values" (restored per key group).
  Status SnapshotState(state::SnapshotWriter& writer) override {
    return writer.AddTable("values", *table_);
  }
  Status RestoreState(state::RestoreReader& reader) override {
    return reader.RestoreTable("values", *table_).WithContext(name_);
  }

  void Collect(const T& value, Timestamp timestamp) override {
    const EncodedKey key = key_encoder_.Encode(key_selector_(value));
    const int key_group = state::KeyGroupForHash(key.hash, this->context()->max_parallelism);
    // One probe: the key's current value, or room for the first one.
    bool inserted = false;
    auto slot = table_->FindOrInsert(key.hash, key_group, key.bytes, {}, serde::Codec<T>::Size(value),
                                     &inserted);
    if (!slot.ok()) [[unlikely]] {
      this->context()->Fail(slot.status());
      return;
    }
    if (inserted) {
      const size_t size = Encode(value);
      std::memcpy(slot->data(), scratch_.data(), size);
    } else if constexpr (requires(std::byte* stored) { reducer_.ApplyInPlace(stored, value); }) {
      // The reducer changes one fixed-size field: update the stored bytes where they are.
      reducer_.ApplyInPlace(slot->data(), value);
      this->output()->Collect(serde::ReadUnaligned<T>(slot->data()), timestamp);
      return;
    } else {
      const T accumulated = serde::ReadUnaligned<T>(slot->data());
      const size_t size = Encode(reducer_(accumulated, value));
      if (size == slot->size()) {
        serde::CopyBytes(slot->data(), scratch_.data(), size);  // the common case: in place
      } else {
        auto stored = table_->Put(key.hash, key_group, key.bytes, {},
                                  std::span<const std::byte>(scratch_.data(), size));
        if (!stored.ok()) [[unlikely]] {
          this->context()->Fail(stored.status());
          return;
        }
      }
    }
    // Emitted from the scratch copy (aligned) rather than the stored bytes.
    this->output()->Collect(serde::Codec<T>::Read(scratch_.data()), timestamp);
  }

 private:
  // Encodes `result` into the scratch buffer (it may hold views into the stored value, so it is
  // copied out before the store is overwritten); returns its size.
  size_t Encode(const T& result) {
    const size_t size = serde::Codec<T>::Size(result);
    if (size > scratch_.size()) scratch_.resize(size * 2);
    serde::Codec<T>::Write(result, scratch_.data());
    return size;
  }

  KeySelector key_selector_;
  Reducer reducer_;
  std::string name_;
  KeyEncoder key_encoder_;
  std::unique_ptr<state::StateTable> table_;
  // 8-byte aligned, so plain-bytes values can be read in place from it.
  std::vector<std::byte> scratch_ = std::vector<std::byte>(256);
};

}  // namespace weir::operators
