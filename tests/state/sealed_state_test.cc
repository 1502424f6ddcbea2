// Keyed state written after checkpoints sealed its tables, until the memory budget runs out.
//
// A write to an entry a checkpoint sealed moves the entry out of the sealed bytes first, and that
// move needs memory. When the budget cannot give it, the write must fail like any other write the
// budget refuses: ResourceExhausted recorded in the backend, the state left as it was, no crash
// (a chunk or a map entry that is present but cannot be moved is not "absent"). Each test runs
// random operations against a reference model (std::map of vectors / maps), pinning every table
// with StateTable::Snapshot as a checkpoint does every few operations, until the budget fails;
// then every cell must equal the model, which holds only the operations that succeeded.
#include <gtest/gtest.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "base/xxhash.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "state/keyed_state.h"
#include "state/snapshot.h"
#include "state/state_table.h"
#include "state/table_snapshot.h"

namespace weir::state {
namespace {

constexpr int kMaxParallelism = 128;
constexpr uint32_t kSegmentSize = 4096;
constexpr int kKeys = 3;

// Pins every table it is given, as the synchronous part of a checkpoint does, and holds the pins
// (a checkpoint being written) until the next one replaces them.
class PinningWriter : public SnapshotWriter {
 public:
  int64_t checkpoint_id() const override { return id_; }
  Status AddTable(std::string_view, StateTable& table) override {
    pins_.push_back(table.Snapshot());
    return Status::Ok();
  }
  void AddKeyedRecord(std::string_view, int, std::string_view) override {}
  void AddBlob(std::string_view, std::string) override {}
  void Next() {
    ++id_;
    pins_.clear();
  }

 private:
  int64_t id_ = 1;
  std::vector<std::shared_ptr<TableSnapshot>> pins_;
};

class SealedStateTest : public ::testing::Test {
 protected:
  void Reset(int64_t budget_bytes) {
    writer_ = PinningWriter();  // the pins hold the old pool's segments
    backend_.reset();
    memory::SegmentPool::Options options;
    options.segment_size = kSegmentSize;
    options.segment_count = 1024;
    options.prefault = false;
    options.config_key = "taskmanager.memory.managed.size";
    auto pool = memory::SegmentPool::Create(options);
    ASSERT_TRUE(pool.ok()) << pool.status().ToString();
    pool_ = std::move(pool).value();
    budget_ = std::make_unique<memory::MemoryBudget>(budget_bytes);
    backend_ = std::make_unique<KeyedStateBackend>(pool_.get(), budget_.get(), "Op (1/1)", kMaxParallelism);
  }
  void SetKey(int index) {
    key_ = "key-" + std::to_string(index);
    backend_->SetCurrentKey(key_, Hash64(key_));
  }
  // Every few operations (random), a checkpoint: the previous one's pins go, every table is sealed.
  void MaybeCheckpoint(std::mt19937_64& random) {
    if (random() % 8 != 0) return;
    writer_.Next();
    ASSERT_TRUE(backend_->SnapshotTables(writer_, "keyed/").ok());
  }

  std::unique_ptr<memory::SegmentPool> pool_;
  std::unique_ptr<memory::MemoryBudget> budget_;
  std::unique_ptr<KeyedStateBackend> backend_;
  PinningWriter writer_;
  std::string key_;
};

TEST_F(SealedStateTest, ChunkedListsWrittenAfterCheckpointsFailCleanlyWhenTheBudgetRunsOut) {
  for (uint64_t seed = 0; seed < 24; ++seed) {
    ASSERT_NO_FATAL_FAILURE(Reset(kSegmentSize * static_cast<int64_t>(24 + seed)));
    auto* state = backend_->GetListState<int64_t>("lists");
    std::map<int, std::vector<int64_t>> model;
    std::mt19937_64 random(seed);
    int operations = 0;
    while (backend_->ok()) {
      ASSERT_NO_FATAL_FAILURE(MaybeCheckpoint(random));
      const int key = static_cast<int>(random() % kKeys);
      SetKey(key);
      if (random() % 10 < 8) {
        // Runs of adds grow lists past a segment, into chunks.
        const auto value = static_cast<int64_t>(random());
        state->Add(value);
        if (backend_->ok()) model[key].push_back(value);
      } else {
        std::vector<int64_t> values(random() % 700);
        for (int64_t& value : values) value = static_cast<int64_t>(random());
        state->Update(values);
        if (backend_->ok()) model[key] = values;
      }
      ++operations;
      ASSERT_LT(operations, 1'000'000) << "the budget never ran out";
    }
    ASSERT_EQ(backend_->status().code(), StatusCode::kResourceExhausted) << backend_->status().ToString();
    for (int key = 0; key < kKeys; ++key) {
      SetKey(key);
      EXPECT_EQ(state->Get(), model[key]) << "seed " << seed << " key " << key;
    }
  }
}

TEST_F(SealedStateTest, MapsWrittenAfterCheckpointsFailCleanlyWhenTheBudgetRunsOut) {
  for (uint64_t seed = 0; seed < 24; ++seed) {
    ASSERT_NO_FATAL_FAILURE(Reset(kSegmentSize * static_cast<int64_t>(12 + seed)));
    auto* state = backend_->GetMapState<int64_t, std::string>("maps");
    std::map<int, std::map<int64_t, std::string>> model;
    std::mt19937_64 random(seed + 100);
    int operations = 0;
    while (backend_->ok()) {
      ASSERT_NO_FATAL_FAILURE(MaybeCheckpoint(random));
      const int key = static_cast<int>(random() % kKeys);
      SetKey(key);
      const auto user_key = static_cast<int64_t>(random() % 64);
      if (random() % 10 < 7) {
        // Values of a few sizes: some puts rewrite in place, some replace the entry.
        const std::string value(8 * (1 + random() % 3), static_cast<char>('a' + random() % 26));
        state->Put(user_key, value);
        if (backend_->ok()) model[key][user_key] = value;
      } else {
        // Removing from the middle moves the last slot's key: its entry and the count are rewritten.
        state->Remove(user_key);
        if (backend_->ok()) model[key].erase(user_key);
      }
      ++operations;
      ASSERT_LT(operations, 1'000'000) << "the budget never ran out";
    }
    ASSERT_EQ(backend_->status().code(), StatusCode::kResourceExhausted) << backend_->status().ToString();
    for (int key = 0; key < kKeys; ++key) {
      SetKey(key);
      std::map<int64_t, std::string> stored;
      state->ForEach([&](const int64_t& user_key, const std::string& value) { stored[user_key] = value; });
      EXPECT_EQ(stored, model[key]) << "seed " << seed << " key " << key;
      for (const auto& [user_key, value] : model[key]) {
        EXPECT_EQ(state->Get(user_key), std::optional<std::string>(value)) << "seed " << seed;
      }
    }
  }
}

}  // namespace
}  // namespace weir::state
