#include "state/keyed_state.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <tuple>
#include <utility>
#include <vector>

#include "base/xxhash.h"
#include "memory/memory_budget.h"
#include "memory/segment_pool.h"
#include "state/key_groups.h"

namespace weir::state {
namespace {

constexpr int kMaxParallelism = 128;
constexpr uint32_t kSegmentSize = 32 * 1024;
constexpr char kOwner[] = "Window (2/4)";

// (key index, namespace index): the coordinates of one value in the reference models.
using Cell = std::pair<int, int>;

std::unique_ptr<memory::SegmentPool> MakePool(size_t segment_count,
                                              uint32_t segment_size = kSegmentSize) {
  memory::SegmentPool::Options options;
  options.segment_size = segment_size;
  options.segment_count = segment_count;
  options.prefault = false;
  options.config_key = "taskmanager.memory.managed.size";
  auto pool = memory::SegmentPool::Create(options);
  EXPECT_TRUE(pool.ok()) << pool.status().ToString();
  return std::move(pool).value();
}

std::string RandomString(std::mt19937_64& random, size_t max_size) {
  std::string text(random() % (max_size + 1), '\0');
  for (char& c : text) c = static_cast<char>('a' + random() % 26);
  return text;
}

// A plain struct whose fields need their alignment: read in place from state.
struct Tick {
  int64_t time;
  double price;
  int32_t volume;
  friend bool operator==(const Tick&, const Tick&) = default;
};

class KeyedStateTestBase : public ::testing::Test {
 protected:
  void SetUp() override {
    pool_ = MakePool(2048);
    for (int i = 0; i < 400; ++i) keys_.push_back("key-" + std::to_string(i));
    // Namespaces that are prefixes of each other and contain the bytes of a length.
    namespaces_ = {
        "", "a", "ab", "window-17", std::string("\x01\x00\x00\x00", 4), std::string("a\x00", 2)};
    UseBudget(int64_t{1} << 30);
  }

  // Replaces the backend with one whose budget holds `bytes`.
  void UseBudget(int64_t bytes) {
    backend_.reset();
    budget_ = std::make_unique<memory::MemoryBudget>(bytes);
    backend_ =
        std::make_unique<KeyedStateBackend>(pool_.get(), budget_.get(), kOwner, kMaxParallelism);
  }

  // Replaces the pool (and the backend) with one of `segment_size` segments.
  void UsePool(uint32_t segment_size, int64_t budget_bytes = int64_t{1} << 30) {
    backend_.reset();
    pool_ = MakePool(size_t{64} * 1024 * 1024 / segment_size, segment_size);
    UseBudget(budget_bytes);
  }

  void SetKey(int index) {
    const std::string& key = keys_[index];
    backend_->SetCurrentKey(key, Hash64(key));
  }

  // Points `state` at the cell (key, namespace).
  void Select(StateBase* state, Cell cell) {
    SetKey(cell.first);
    state->SetCurrentNamespace(namespaces_[cell.second]);
  }

  Cell RandomCell(std::mt19937_64& random, int keys) {
    return {static_cast<int>(random() % keys), static_cast<int>(random() % namespaces_.size())};
  }

  // Distinct namespace indexes drawn at random, possibly repeated and possibly the target's.
  std::vector<std::string_view> RandomSources(std::mt19937_64& random) {
    std::vector<std::string_view> sources;
    const size_t count = random() % 4;
    for (size_t i = 0; i < count; ++i) {
      sources.push_back(namespaces_[random() % namespaces_.size()]);
    }
    return sources;
  }

  // The sources a merge reads, in order: without the target and without repeats (the contract).
  std::vector<int> EffectiveSources(const std::vector<std::string_view>& sources, int target) {
    std::vector<int> result;
    for (size_t i = 0; i < sources.size(); ++i) {
      int index = 0;
      while (namespaces_[index] != sources[i]) ++index;
      bool repeated = index == target;
      for (int seen : result) repeated = repeated || seen == index;
      if (!repeated) result.push_back(index);
    }
    return result;
  }

  void ExpectResourceExhausted() {
    ASSERT_FALSE(backend_->ok());
    EXPECT_EQ(backend_->status().code(), StatusCode::kResourceExhausted)
        << backend_->status().ToString();
    EXPECT_NE(backend_->status().message().find(kOwner), std::string_view::npos)
        << backend_->status().ToString();
    EXPECT_NE(backend_->status().message().find("taskmanager.memory.managed.size"),
              std::string_view::npos)
        << backend_->status().ToString();
  }

  std::unique_ptr<memory::SegmentPool> pool_;
  std::unique_ptr<memory::MemoryBudget> budget_;
  std::unique_ptr<KeyedStateBackend> backend_;
  std::vector<std::string> keys_;
  std::vector<std::string> namespaces_;
};

// KeyedStateBackend ---------------------------------------------------------------------------

class KeyedStateBackendTest : public KeyedStateTestBase {};

TEST_F(KeyedStateBackendTest, SameNameReturnsTheSameStateAndListsIt) {
  auto* count = backend_->GetValueState<int64_t>("count");
  auto* elements = backend_->GetListState<int64_t>("elements");
  EXPECT_EQ(backend_->GetValueState<int64_t>("count"), count);
  EXPECT_EQ(backend_->GetListState<int64_t>("elements"), elements);
  const auto sum = [](int64_t a, int64_t b) { return a + b; };
  auto* total = backend_->GetReducingState<int64_t>("total", sum);
  EXPECT_EQ(backend_->GetReducingState<int64_t>("total", sum), total);
  ASSERT_EQ(backend_->states().size(), 3u);
  EXPECT_EQ(backend_->states().at("count").get(), count);
  EXPECT_EQ(count->name(), "count");
}

TEST_F(KeyedStateBackendTest, SameNameWithAnotherKindOrTypeIsAProgrammingError) {
  backend_->GetValueState<int64_t>("count");
  EXPECT_DEATH(backend_->GetValueState<int32_t>("count"), "another kind or type");
  EXPECT_DEATH(backend_->GetListState<int64_t>("count"), "another kind or type");
}

TEST_F(KeyedStateBackendTest, CurrentKeyCarriesTheKeyGroupOfItsHash) {
  for (int max_parallelism : {1, 2, 100, 128, 4096, kMaxParallelismUpperBound}) {
    KeyedStateBackend backend(pool_.get(), budget_.get(), kOwner, max_parallelism);
    for (int i = 0; i < 200; ++i) {
      const uint64_t hash = Hash64(keys_[i]);
      backend.SetCurrentKey(keys_[i], hash);
      EXPECT_EQ(backend.current_key().bytes, keys_[i]);
      EXPECT_EQ(backend.current_key().hash, hash);
      EXPECT_EQ(backend.current_key().key_group, KeyGroupForHash(hash, max_parallelism))
          << max_parallelism;
    }
  }
}

TEST_F(KeyedStateBackendTest, StatesOfOneNameAreSeparateFromOtherNames) {
  auto* first = backend_->GetValueState<int64_t>("first");
  auto* second = backend_->GetValueState<int64_t>("second");
  SetKey(0);
  first->Update(1);
  EXPECT_FALSE(second->Value().has_value());
  second->Update(2);
  EXPECT_EQ(first->Value(), 1);
  EXPECT_EQ(second->Value(), 2);
}

TEST_F(KeyedStateBackendTest, MemoryBytesIsWhatTheBudgetAccountsAndStatusKeepsTheFirstFailure) {
  auto* values = backend_->GetValueState<int64_t>("values");
  auto* lists = backend_->GetListState<std::string_view>("lists");
  EXPECT_EQ(backend_->memory_bytes(), 0);
  for (int i = 0; i < 300; ++i) {
    SetKey(i);
    values->Update(i);
    lists->Add(keys_[i]);
  }
  EXPECT_GT(backend_->memory_bytes(), 0);
  EXPECT_EQ(backend_->memory_bytes(), budget_->used());
  EXPECT_TRUE(backend_->ok());
  backend_->Fail(ResourceExhausted("first"));
  backend_->Fail(InvalidArgument("second"));
  EXPECT_EQ(backend_->status().code(), StatusCode::kResourceExhausted);
  EXPECT_EQ(backend_->status().message(), "first");
}

// ValueState ----------------------------------------------------------------------------------

class ValueStateTest : public KeyedStateTestBase {};

TEST_F(ValueStateTest, AbsentUntilUpdatedAndAfterClear) {
  auto* state = backend_->GetValueState<int64_t>("v");
  SetKey(3);
  EXPECT_FALSE(state->Value().has_value());
  state->Update(0);
  EXPECT_EQ(state->Value(), 0);
  state->SetCurrentNamespace("w");
  EXPECT_FALSE(state->Value().has_value());
  state->SetCurrentNamespace("");
  state->Clear();
  EXPECT_FALSE(state->Value().has_value());
  EXPECT_EQ(state->table().size(), 0u);
}

TEST_F(ValueStateTest, RandomOperationsMatchAMap) {
  auto* state = backend_->GetValueState<int64_t>("counter");
  std::map<Cell, int64_t> model;
  std::mt19937_64 random(11);
  for (int op = 0; op < 60000; ++op) {
    const Cell cell = RandomCell(random, 300);
    Select(state, cell);
    const uint64_t choice = random() % 10;
    if (choice < 4) {
      const auto value = static_cast<int64_t>(random());
      state->Update(value);
      model[cell] = value;
    } else if (choice == 4) {
      state->Clear();
      model.erase(cell);
    } else if (choice < 8) {
      // Read-modify-write, the operator's pattern.
      const int64_t next = state->Value().value_or(0) + 1;
      state->Update(next);
      const auto it = model.find(cell);
      ASSERT_EQ(next, (it == model.end() ? 0 : it->second) + 1);
      model[cell] = next;
    } else {
      const auto it = model.find(cell);
      const std::optional<int64_t> value = state->Value();
      ASSERT_EQ(value.has_value(), it != model.end());
      if (value) {
        ASSERT_EQ(*value, it->second);
      }
    }
  }
  ASSERT_TRUE(backend_->ok());
  EXPECT_EQ(state->table().size(), model.size());
  for (const auto& [cell, value] : model) {
    Select(state, cell);
    ASSERT_EQ(state->Value(), value);
  }
}

TEST_F(ValueStateTest, StringValuesOfChangingSizesMatchAMap) {
  auto* views = backend_->GetValueState<std::string_view>("views");
  auto* strings = backend_->GetValueState<std::string>("strings");
  std::map<Cell, std::string> model;
  std::mt19937_64 random(12);
  for (int op = 0; op < 40000; ++op) {
    const Cell cell = RandomCell(random, 200);
    Select(views, cell);
    strings->SetCurrentNamespace(namespaces_[cell.second]);
    const uint64_t choice = random() % 8;
    if (choice < 4) {
      const std::string value = RandomString(random, 300);
      views->Update(value);
      strings->Update(value);
      model[cell] = value;
    } else if (choice == 4) {
      views->Clear();
      strings->Clear();
      model.erase(cell);
    } else if (choice == 5) {
      // A value read from the state written back to it (the bytes alias the stored entry).
      const std::optional<std::string_view> value = views->Value();
      if (value) views->Update(*value);
    } else {
      const auto it = model.find(cell);
      const std::optional<std::string_view> view = views->Value();
      const std::optional<std::string> copy = strings->Value();
      ASSERT_EQ(view.has_value(), it != model.end());
      ASSERT_EQ(copy.has_value(), it != model.end());
      if (view) {
        ASSERT_EQ(*view, it->second);
        ASSERT_EQ(*copy, it->second);
      }
    }
  }
  ASSERT_TRUE(backend_->ok());
  EXPECT_EQ(views->table().size(), model.size());
  for (const auto& [cell, value] : model) {
    Select(views, cell);
    strings->SetCurrentNamespace(namespaces_[cell.second]);
    ASSERT_EQ(views->Value(), value);
    ASSERT_EQ(strings->Value(), value);
  }
}

TEST_F(ValueStateTest, PlainStructsAndTuplesRoundTrip) {
  auto* ticks = backend_->GetValueState<Tick>("ticks");
  auto* pairs = backend_->GetValueState<std::tuple<int32_t, std::string, double>>("tuples");
  for (int i = 0; i < 100; ++i) {
    SetKey(i);
    ticks->Update(Tick{i, i * 0.5, -i});
    pairs->Update({i, std::string(i, 'x'), i * 0.25});
  }
  for (int i = 0; i < 100; ++i) {
    SetKey(i);
    EXPECT_EQ(ticks->Value(), (Tick{i, i * 0.5, -i}));
    EXPECT_EQ(pairs->Value(), std::make_tuple(i, std::string(i, 'x'), i * 0.25));
  }
}

TEST_F(ValueStateTest, UpdateOfAnExistingFixedSizeValueIsInPlace) {
  auto* state = backend_->GetValueState<int64_t>("counter");
  for (int i = 0; i < 100; ++i) {
    SetKey(i);
    state->Update(i);
  }
  const int64_t live = state->table().live_bytes();
  const int64_t memory = budget_->used();
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 100; ++i) {
      SetKey(i);
      state->Update(*state->Value() + 1);
    }
  }
  EXPECT_EQ(state->table().live_bytes(), live);
  EXPECT_EQ(state->table().dead_bytes(), 0);
  EXPECT_EQ(budget_->used(), memory);
}

TEST_F(ValueStateTest, BudgetExhaustionIsRecordedAndLeavesTheStateUnchanged) {
  UseBudget(kSegmentSize + 4096);
  auto* state = backend_->GetValueState<std::string>("v");
  std::map<int, std::string> model;
  std::mt19937_64 random(13);
  int failed = -1;
  for (int i = 0; i < 400; ++i) {
    SetKey(i);
    const std::string value = RandomString(random, 200);
    state->Update(value);
    if (!backend_->ok()) {
      failed = i;
      break;
    }
    model[i] = value;
  }
  ASSERT_GE(failed, 0);
  ASSERT_NO_FATAL_FAILURE(ExpectResourceExhausted());
  SetKey(failed);
  EXPECT_FALSE(state->Value().has_value());
  EXPECT_EQ(state->table().size(), model.size());
  for (const auto& [index, value] : model) {
    SetKey(index);
    ASSERT_EQ(state->Value(), value);
  }
  EXPECT_LE(budget_->used(), budget_->total());
}

// ListState -----------------------------------------------------------------------------------

class ListStateTest : public KeyedStateTestBase {
 protected:
  // Drives a ListState<T> and a model of std::vector<std::string> (`to_model` maps an element to
  // the model's representation, `make` draws an element) through random operations.
  template <typename T, typename Make, typename ToModel>
  void RunRandomOperations(ListState<T>* state, uint64_t seed, int keys, int ops, Make make,
                           ToModel to_model, size_t max_update = 4) {
    std::map<Cell, std::vector<std::string>> model;
    std::mt19937_64 random(seed);
    const auto check = [&](Cell cell) {
      Select(state, cell);
      const auto it = model.find(cell);
      const std::vector<std::string> expected =
          it == model.end() ? std::vector<std::string>{} : it->second;
      std::vector<std::string> visited;
      const size_t count =
          state->ForEach([&](const T& element) { visited.push_back(to_model(element)); });
      ASSERT_EQ(visited, expected);
      ASSERT_EQ(count, expected.size());
      ASSERT_EQ(state->Size(), expected.size());
      ASSERT_EQ(state->IsEmpty(), expected.empty());
      std::vector<std::string> got;
      for (const T& element : state->Get()) got.push_back(to_model(element));
      ASSERT_EQ(got, expected);
    };
    for (int op = 0; op < ops; ++op) {
      const Cell cell = RandomCell(random, keys);
      Select(state, cell);
      const uint64_t choice = random() % 20;
      if (choice < 10) {
        const T element = make(random);
        state->Add(element);
        model[cell].push_back(to_model(element));
      } else if (choice == 10) {
        std::vector<T> elements;
        const size_t count = random() % (max_update + 1);
        for (size_t i = 0; i < count; ++i) elements.push_back(make(random));
        state->Update(elements);
        std::vector<std::string> expected;
        for (const T& element : elements) expected.push_back(to_model(element));
        if (expected.empty()) {
          model.erase(cell);
        } else {
          model[cell] = expected;
        }
      } else if (choice == 11) {
        state->Clear();
        model.erase(cell);
      } else if (choice < 14) {
        const std::vector<std::string_view> sources = RandomSources(random);
        state->MergeNamespaces(namespaces_[cell.second], sources);
        for (int source : EffectiveSources(sources, cell.second)) {
          const auto it = model.find({cell.first, source});
          if (it == model.end()) continue;
          std::vector<std::string>& target = model[cell];
          target.insert(target.end(), it->second.begin(), it->second.end());
          model.erase({cell.first, source});
        }
      } else {
        ASSERT_NO_FATAL_FAILURE(check(cell));
      }
    }
    ASSERT_TRUE(backend_->ok()) << backend_->status().ToString();
    EXPECT_EQ(state->table().size(), model.size());
    EXPECT_EQ(backend_->memory_bytes(), budget_->used());
    for (int key = 0; key < keys; ++key) {
      for (int ns = 0; ns < static_cast<int>(namespaces_.size()); ++ns) {
        ASSERT_NO_FATAL_FAILURE(check({key, ns}));
      }
    }
    // Clearing every list leaves no head and no chunk behind.
    for (int key = 0; key < keys; ++key) {
      for (int ns = 0; ns < static_cast<int>(namespaces_.size()); ++ns) {
        Select(state, {key, ns});
        state->Clear();
      }
    }
    for (const StateTable* table : state->tables()) EXPECT_EQ(table->size(), 0u);
  }
};

TEST_F(ListStateTest, RandomOperationsOnIntegersMatchVectors) {
  RunRandomOperations(
      backend_->GetListState<int64_t>("ints"), 21, 40, 30000,
      [](std::mt19937_64& random) { return static_cast<int64_t>(random() % 1000000); },
      [](int64_t element) { return std::to_string(element); });
}

TEST_F(ListStateTest, RandomOperationsOnStringsMatchVectors) {
  RunRandomOperations(
      backend_->GetListState<std::string_view>("views"), 22, 40, 30000,
      [this](std::mt19937_64& random) {
        // Views of stable strings: the elements the model compares against.
        return std::string_view(keys_[random() % keys_.size()]).substr(0, random() % 8);
      },
      [](std::string_view element) { return std::string(element); });
}

TEST_F(ListStateTest, RandomOperationsOnStructsAndTuplesMatchVectors) {
  RunRandomOperations(
      backend_->GetListState<Tick>("ticks"), 23, 30, 15000,
      [](std::mt19937_64& random) {
        const auto time = static_cast<int64_t>(random() % 1000);
        return Tick{time, time * 0.5, static_cast<int32_t>(random() % 7)};
      },
      [](const Tick& tick) {
        return std::to_string(tick.time) + "/" + std::to_string(tick.price) + "/" +
               std::to_string(tick.volume);
      });
  RunRandomOperations(
      backend_->GetListState<std::pair<std::string, int32_t>>("pairs"), 24, 30, 15000,
      [](std::mt19937_64& random) {
        return std::make_pair(RandomString(random, 11), static_cast<int32_t>(random() % 100));
      },
      [](const std::pair<std::string, int32_t>& element) {
        return element.first + "/" + std::to_string(element.second);
      });
}

TEST_F(ListStateTest, GrowsPastOneSegmentInChunks) {
  auto* state = backend_->GetListState<int64_t>("elements");
  SetKey(0);
  state->SetCurrentNamespace("w");
  constexpr int64_t kCount = 30000;  // 240 KB of elements: several 32 KiB segments
  for (int64_t i = 0; i < kCount; ++i) state->Add(i * 3);
  ASSERT_TRUE(backend_->ok()) << backend_->status().ToString();
  ASSERT_EQ(state->Size(), static_cast<size_t>(kCount));
  EXPECT_EQ(state->table().size(), 1u);
  ASSERT_EQ(state->tables().size(), 2u);
  EXPECT_GT(state->tables()[1]->size(), 5u);
  int64_t next = 0;
  EXPECT_EQ(state->ForEach([&next](int64_t element) { ASSERT_EQ(element, next++ * 3); }),
            static_cast<size_t>(kCount));
  EXPECT_EQ(next, kCount);
  // Replaced by a long list, then by a short one: the old chunks go away.
  std::vector<int64_t> reversed(kCount + 1000);
  for (size_t i = 0; i < reversed.size(); ++i) reversed[i] = -static_cast<int64_t>(i);
  state->Update(reversed);
  EXPECT_EQ(state->Get(), reversed);
  const std::vector<int64_t> short_list = {7, 8};
  state->Update(short_list);
  EXPECT_EQ(state->Get(), short_list);
  EXPECT_EQ(state->tables()[1]->size(), 0u);
  state->Update(reversed);
  state->Clear();
  EXPECT_TRUE(state->IsEmpty());
  EXPECT_EQ(state->tables()[0]->size() + state->tables()[1]->size(), 0u);
  EXPECT_EQ(backend_->memory_bytes(), budget_->used());
}

TEST_F(ListStateTest, AnElementLargerThanASegmentFailsWithoutChange) {
  auto* state = backend_->GetListState<std::string_view>("elements");
  SetKey(1);
  for (int i = 0; i < 5000; ++i) state->Add(keys_[i % keys_.size()]);
  ASSERT_TRUE(backend_->ok());
  const std::string huge(kSegmentSize, 'x');
  state->Add(huge);
  ASSERT_FALSE(backend_->ok());
  EXPECT_EQ(backend_->status().code(), StatusCode::kInvalidArgument);
  ASSERT_EQ(state->Size(), 5000u);
  size_t i = 0;
  state->ForEach([&](std::string_view element) { ASSERT_EQ(element, keys_[i++ % keys_.size()]); });
  EXPECT_EQ(i, 5000u);
}

TEST_F(ListStateTest, RandomOperationsOnListsLongerThanASegmentMatchVectors) {
  UsePool(4096);
  RunRandomOperations(
      backend_->GetListState<std::string_view>("long"), 26, 4, 20000,
      [this](std::mt19937_64& random) {
        return std::string_view(keys_[random() % keys_.size()]).substr(0, random() % 8);
      },
      [](std::string_view element) { return std::string(element); }, 600);
  RunRandomOperations(
      backend_->GetListState<int64_t>("long-ints"), 27, 4, 20000,
      [](std::mt19937_64& random) { return static_cast<int64_t>(random() % 1000000); },
      [](int64_t element) { return std::to_string(element); }, 1500);
}

TEST_F(ListStateTest, BudgetExhaustionOnChunkedListsLeavesThemUnchanged) {
  // Across seeds the failing write is an Add, a chunk or the head of an Update, or a chunk or
  // the head of a merge.
  for (uint64_t seed = 0; seed < 24; ++seed) {
    UsePool(4096, 4096 * static_cast<int64_t>(10 + seed));
    auto* state = backend_->GetListState<int64_t>("long");
    std::map<Cell, std::vector<int64_t>> model;
    std::mt19937_64 random(seed);
    while (backend_->ok()) {
      const Cell cell = RandomCell(random, 2);
      Select(state, cell);
      const uint64_t choice = random() % 10;
      if (choice < 6) {
        const auto value = static_cast<int64_t>(random());
        state->Add(value);
        if (backend_->ok()) model[cell].push_back(value);
      } else if (choice < 8) {
        std::vector<int64_t> values(random() % 1500);
        for (int64_t& value : values) value = static_cast<int64_t>(random());
        state->Update(values);
        if (backend_->ok()) {
          if (values.empty()) {
            model.erase(cell);
          } else {
            model[cell] = values;
          }
        }
      } else {
        const std::vector<std::string_view> sources = RandomSources(random);
        state->MergeNamespaces(namespaces_[cell.second], sources);
        if (backend_->ok()) {
          for (int source : EffectiveSources(sources, cell.second)) {
            const auto it = model.find({cell.first, source});
            if (it == model.end()) continue;
            std::vector<int64_t>& target = model[cell];
            target.insert(target.end(), it->second.begin(), it->second.end());
            model.erase({cell.first, source});
          }
        }
      }
    }
    ASSERT_NO_FATAL_FAILURE(ExpectResourceExhausted());
    for (int key = 0; key < 2; ++key) {
      for (int ns = 0; ns < static_cast<int>(namespaces_.size()); ++ns) {
        Select(state, {key, ns});
        const auto it = model.find({key, ns});
        ASSERT_EQ(state->Get(), it == model.end() ? std::vector<int64_t>{} : it->second)
            << "seed " << seed << " cell " << key << "/" << ns;
      }
    }
    EXPECT_EQ(state->table().size(), model.size());
    // No chunk was left behind by a rolled-back write: clearing every list empties both tables.
    for (int key = 0; key < 2; ++key) {
      for (int ns = 0; ns < static_cast<int>(namespaces_.size()); ++ns) {
        Select(state, {key, ns});
        state->Clear();
      }
    }
    EXPECT_EQ(state->tables()[0]->size() + state->tables()[1]->size(), 0u) << "seed " << seed;
  }
}

TEST_F(ListStateTest, AddIsAmortizedByDoublingCapacity) {
  auto* state = backend_->GetListState<int64_t>("elements");
  SetKey(0);
  int relocations = 0;
  int64_t dead = 0;
  for (int64_t i = 0; i < 3000; ++i) {
    state->Add(i);
    if (state->table().dead_bytes() != dead) {
      ++relocations;
      dead = state->table().dead_bytes();
    }
  }
  ASSERT_TRUE(backend_->ok());
  // Doubling from one element: about log2(3000) relocations, not one per Add.
  EXPECT_LE(relocations, 14);
  EXPECT_EQ(state->Size(), 3000u);
}

TEST_F(ListStateTest, MergeAppendsSourcesInOrderIgnoringTheTargetAndRepeats) {
  auto* state = backend_->GetListState<std::string_view>("windows");
  SetKey(5);
  const std::vector<std::pair<std::string_view, std::vector<std::string_view>>> lists = {
      {"t", {"t1", "t2"}}, {"s1", {"a"}}, {"s2", {"b", "c"}}, {"s3", {}}};
  for (const auto& [ns, elements] : lists) {
    state->SetCurrentNamespace(ns);
    state->Update(elements);
  }
  const std::vector<std::string_view> sources = {"s2", "t", "s1", "s2", "s3", "missing"};
  state->MergeNamespaces("t", sources);
  state->SetCurrentNamespace("t");
  EXPECT_EQ(state->Get(), (std::vector<std::string_view>{"t1", "t2", "b", "c", "a"}));
  for (std::string_view ns : {"s1", "s2", "s3"}) {
    state->SetCurrentNamespace(ns);
    EXPECT_TRUE(state->IsEmpty()) << ns;
  }
  // Into an empty target.
  state->MergeNamespaces("new", std::vector<std::string_view>{"t"});
  state->SetCurrentNamespace("new");
  EXPECT_EQ(state->Size(), 5u);
  EXPECT_EQ(state->table().size(), 1u);
}

TEST_F(ListStateTest, BudgetExhaustionIsRecordedAndLeavesTheListsUnchanged) {
  UseBudget(kSegmentSize + 4096);
  auto* state = backend_->GetListState<std::string_view>("elements");
  std::map<int, std::vector<std::string>> model;
  std::mt19937_64 random(25);
  std::vector<std::string> values;
  for (int i = 0; i < 50; ++i) values.push_back(RandomString(random, 60));
  for (int op = 0; op < 100000 && backend_->ok(); ++op) {
    const int key = static_cast<int>(random() % 200);
    SetKey(key);
    const std::string& value = values[random() % values.size()];
    state->Add(value);
    if (backend_->ok()) model[key].push_back(value);
  }
  ASSERT_NO_FATAL_FAILURE(ExpectResourceExhausted());
  for (int key = 0; key < 200; ++key) {
    SetKey(key);
    std::vector<std::string> got;
    state->ForEach([&got](std::string_view element) { got.emplace_back(element); });
    const auto it = model.find(key);
    ASSERT_EQ(got, it == model.end() ? std::vector<std::string>{} : it->second) << key;
  }
}

// MapState ------------------------------------------------------------------------------------

class MapStateTest : public KeyedStateTestBase {
 protected:
  using Model = std::map<Cell, std::map<std::string, std::string>>;

  // Every cell's map as ForEach, Size, Get and Contains see it equals the model, and the table
  // holds exactly one entry and one directory slot per user key plus one count per map.
  template <typename K, typename V, typename KeyToModel, typename ValueToModel>
  void ExpectMatches(MapState<K, V>* state, const Model& model, int keys, KeyToModel key_to_model,
                     ValueToModel value_to_model) {
    size_t entries = 0;
    for (int key = 0; key < keys; ++key) {
      for (int ns = 0; ns < static_cast<int>(namespaces_.size()); ++ns) {
        Select(state, {key, ns});
        const auto it = model.find({key, ns});
        const std::map<std::string, std::string> expected =
            it == model.end() ? std::map<std::string, std::string>{} : it->second;
        std::map<std::string, std::string> visited;
        state->ForEach([&](const K& user_key, const V& value) {
          ASSERT_TRUE(visited.emplace(key_to_model(user_key), value_to_model(value)).second);
          ASSERT_TRUE(state->Contains(user_key));
          ASSERT_EQ(value_to_model(*state->Get(user_key)), value_to_model(value));
        });
        ASSERT_EQ(visited, expected) << key << "/" << ns;
        ASSERT_EQ(state->Size(), expected.size());
        ASSERT_EQ(state->IsEmpty(), expected.empty());
        if (!expected.empty()) entries += 2 * expected.size() + 1;
      }
    }
    EXPECT_EQ(state->table().size(), entries);
  }
};

TEST_F(MapStateTest, RandomOperationsWithStringKeysMatchMaps) {
  auto* state = backend_->GetMapState<std::string_view, int64_t>("by-user");
  std::vector<std::string> user_keys;
  std::mt19937_64 random(31);
  for (int i = 0; i < 60; ++i) {
    std::string user_key = std::to_string(i);
    user_key += RandomString(random, 30);
    user_keys.push_back(std::move(user_key));
  }
  Model model;
  constexpr int kKeys = 30;
  for (int op = 0; op < 60000; ++op) {
    const Cell cell = RandomCell(random, kKeys);
    Select(state, cell);
    const std::string& user_key = user_keys[random() % user_keys.size()];
    const uint64_t choice = random() % 20;
    if (choice < 8) {
      const auto value = static_cast<int64_t>(random() % 1000);
      state->Put(user_key, value);
      model[cell][user_key] = std::to_string(value);
    } else if (choice < 13) {
      state->Remove(user_key);
      if (auto it = model.find(cell); it != model.end()) {
        it->second.erase(user_key);
        if (it->second.empty()) model.erase(it);
      }
    } else if (choice == 13) {
      state->Clear();
      model.erase(cell);
    } else {
      const auto it = model.find(cell);
      const bool present = it != model.end() && it->second.contains(user_key);
      ASSERT_EQ(state->Contains(user_key), present);
      const std::optional<int64_t> value = state->Get(user_key);
      ASSERT_EQ(value.has_value(), present);
      if (present) {
        ASSERT_EQ(std::to_string(*value), it->second.at(user_key));
      }
      ASSERT_EQ(state->Size(), it == model.end() ? 0 : it->second.size());
    }
  }
  ASSERT_TRUE(backend_->ok());
  ExpectMatches(
      state, model, kKeys, [](std::string_view key) { return std::string(key); },
      [](int64_t value) { return std::to_string(value); });
}

TEST_F(MapStateTest, RandomOperationsWithStringValuesMatchMaps) {
  auto* state = backend_->GetMapState<int64_t, std::string_view>("values");
  std::mt19937_64 random(32);
  Model model;
  constexpr int kKeys = 20;
  for (int op = 0; op < 40000; ++op) {
    const Cell cell = RandomCell(random, kKeys);
    Select(state, cell);
    const auto user_key = static_cast<int64_t>(random() % 40);
    const uint64_t choice = random() % 10;
    if (choice < 5) {
      const std::string value = RandomString(random, 40);
      state->Put(user_key, value);
      model[cell][std::to_string(user_key)] = value;
    } else if (choice == 5) {
      // A value read from the state put back under another key and under its own.
      const std::optional<std::string_view> value = state->Get(user_key);
      if (value) {
        const std::string copy(*value);
        state->Put(user_key + 1, *value);
        model[cell][std::to_string(user_key + 1)] = copy;
        state->Put(user_key, *state->Get(user_key));
      }
    } else if (choice < 9) {
      state->Remove(user_key);
      if (auto it = model.find(cell); it != model.end()) {
        it->second.erase(std::to_string(user_key));
        if (it->second.empty()) model.erase(it);
      }
    } else {
      state->Clear();
      model.erase(cell);
    }
  }
  ASSERT_TRUE(backend_->ok());
  ExpectMatches(
      state, model, kKeys, [](int64_t key) { return std::to_string(key); },
      [](std::string_view value) { return std::string(value); });
}

TEST_F(MapStateTest, BudgetExhaustionIsRecordedAndLeavesTheMapsUnchanged) {
  UseBudget(kSegmentSize + 4096);
  auto* state = backend_->GetMapState<int64_t, int64_t>("m");
  std::mt19937_64 random(33);
  Model model;
  constexpr int kKeys = 10;
  while (backend_->ok()) {
    const Cell cell = RandomCell(random, kKeys);
    Select(state, cell);
    const auto user_key = static_cast<int64_t>(random() % 1000000);
    state->Put(user_key, user_key * 2);
    if (backend_->ok()) model[cell][std::to_string(user_key)] = std::to_string(user_key * 2);
  }
  ASSERT_NO_FATAL_FAILURE(ExpectResourceExhausted());
  const auto key_text = [](int64_t key) { return std::to_string(key); };
  ExpectMatches(state, model, kKeys, key_text, key_text);
  // Removing fixed-size keys needs no memory: every map can still be emptied.
  for (const auto& [cell, entries] : model) {
    Select(state, cell);
    for (const auto& [user_key, value] : entries) state->Remove(std::stoll(user_key));
    EXPECT_TRUE(state->IsEmpty());
  }
  EXPECT_EQ(state->table().size(), 0u);
}

TEST_F(MapStateTest, BudgetExhaustionWithStringKeysLeavesEveryMapConsistent) {
  // Across seeds the failing write is the directory slot, the entry or the count, so each
  // rollback runs; a Remove that moves a slot may fail too, and must then change nothing.
  for (uint64_t seed = 0; seed < 24; ++seed) {
    UseBudget(kSegmentSize + 4096);
    auto* state = backend_->GetMapState<std::string_view, int64_t>("m");
    std::mt19937_64 random(seed);
    Model model;
    constexpr int kKeys = 4;
    std::vector<std::string> user_keys;
    for (int i = 0; i < 2000; ++i) {
      std::string user_key = std::to_string(i);
      user_key += RandomString(random, 40);
      user_keys.push_back(std::move(user_key));
    }
    while (backend_->ok()) {
      const Cell cell = RandomCell(random, kKeys);
      Select(state, cell);
      const std::string& user_key = user_keys[random() % user_keys.size()];
      state->Put(user_key, static_cast<int64_t>(user_key.size()));
      if (backend_->ok()) model[cell][user_key] = std::to_string(user_key.size());
    }
    ASSERT_NO_FATAL_FAILURE(ExpectResourceExhausted());
    const auto key_text = [](std::string_view key) { return std::string(key); };
    const auto value_text = [](int64_t value) { return std::to_string(value); };
    ASSERT_NO_FATAL_FAILURE(ExpectMatches(state, model, kKeys, key_text, value_text));
    for (int i = 0; i < 200; ++i) {
      const Cell cell = RandomCell(random, kKeys);
      Select(state, cell);
      const std::string& user_key = user_keys[random() % user_keys.size()];
      state->Remove(user_key);
      if (!state->Contains(user_key)) {
        if (auto it = model.find(cell); it != model.end()) {
          it->second.erase(user_key);
          if (it->second.empty()) model.erase(it);
        }
      }
    }
    ASSERT_NO_FATAL_FAILURE(ExpectMatches(state, model, kKeys, key_text, value_text));
  }
}

// ReducingState -------------------------------------------------------------------------------

class ReducingStateTest : public KeyedStateTestBase {};

TEST_F(ReducingStateTest, RandomSumsAndMergesMatchAMap) {
  auto* state = backend_->GetReducingState<int64_t>(
      "sum", [](int64_t accumulated, int64_t value) { return accumulated + value; });
  std::map<Cell, int64_t> model;
  std::mt19937_64 random(41);
  for (int op = 0; op < 60000; ++op) {
    const Cell cell = RandomCell(random, 200);
    Select(state, cell);
    const uint64_t choice = random() % 20;
    if (choice < 12) {
      const auto value = static_cast<int64_t>(random() % 1000) - 500;
      state->Add(value);
      model[cell] += value;
    } else if (choice == 12) {
      state->Clear();
      model.erase(cell);
    } else if (choice == 13) {
      const std::vector<std::string_view> sources = RandomSources(random);
      state->MergeNamespaces(namespaces_[cell.second], sources);
      for (int source : EffectiveSources(sources, cell.second)) {
        const auto it = model.find({cell.first, source});
        if (it == model.end()) continue;
        model[cell] += it->second;
        model.erase(it);
      }
    } else {
      const auto it = model.find(cell);
      const std::optional<int64_t> value = state->Get();
      ASSERT_EQ(value.has_value(), it != model.end());
      if (value) {
        ASSERT_EQ(*value, it->second);
      }
    }
  }
  ASSERT_TRUE(backend_->ok());
  EXPECT_EQ(state->table().size(), model.size());
  for (const auto& [cell, value] : model) {
    Select(state, cell);
    ASSERT_EQ(state->Get(), value);
  }
}

TEST_F(ReducingStateTest, FixedSizeValuesAreReducedInPlace) {
  auto* state = backend_->GetReducingState<Tick>(
      "max", [](const Tick& a, const Tick& b) { return a.price >= b.price ? a : b; });
  SetKey(1);
  state->Add({1, 1.0, 1});
  const int64_t live = state->table().live_bytes();
  for (int i = 0; i < 1000; ++i) state->Add({i, (i * 37) % 101 * 1.0, i});
  EXPECT_EQ(state->table().live_bytes(), live);
  EXPECT_EQ(state->table().dead_bytes(), 0);
  EXPECT_EQ(state->Get()->price, 100.0);
}

TEST_F(ReducingStateTest, StringConcatenationKeepsAddAndFlinkMergeOrder) {
  auto* state = backend_->GetReducingState<std::string>(
      "concat", [](const std::string& a, const std::string& b) { return a + "," + b; });
  std::map<Cell, std::string> model;
  std::mt19937_64 random(42);
  for (int op = 0; op < 20000; ++op) {
    const Cell cell = RandomCell(random, 30);
    Select(state, cell);
    const uint64_t choice = random() % 10;
    if (choice < 6) {
      const std::string value = RandomString(random, 5);
      state->Add(value);
      auto [it, inserted] = model.emplace(cell, value);
      if (!inserted) it->second += "," + value;
    } else if (choice == 6) {
      state->Clear();
      model.erase(cell);
    } else if (choice == 7) {
      const std::vector<std::string_view> sources = RandomSources(random);
      state->MergeNamespaces(namespaces_[cell.second], sources);
      // Flink: target = reduce(target, reduce(...reduce(s1, s2)..., sN)).
      std::optional<std::string> merged;
      for (int source : EffectiveSources(sources, cell.second)) {
        const auto it = model.find({cell.first, source});
        if (it == model.end()) continue;
        merged = merged ? *merged + "," + it->second : it->second;
        model.erase(it);
      }
      if (merged) {
        auto [it, inserted] = model.emplace(cell, *merged);
        if (!inserted) it->second += "," + *merged;
      }
    } else {
      const auto it = model.find(cell);
      const std::optional<std::string> value = state->Get();
      ASSERT_EQ(value.has_value(), it != model.end());
      if (value) {
        ASSERT_EQ(*value, it->second);
      }
    }
  }
  // Values grow past what fits a segment only if the model says so; it must not here.
  ASSERT_TRUE(backend_->ok()) << backend_->status().ToString();
  EXPECT_EQ(state->table().size(), model.size());
  for (const auto& [cell, value] : model) {
    Select(state, cell);
    ASSERT_EQ(state->Get(), value);
  }
}

TEST_F(ReducingStateTest, BudgetExhaustionIsRecordedAndLeavesTheStateUnchanged) {
  UseBudget(kSegmentSize + 4096);
  auto* state = backend_->GetReducingState<int64_t>(
      "sum", [](int64_t accumulated, int64_t value) { return accumulated + value; });
  std::map<int, int64_t> model;
  int failed = -1;
  for (int i = 0; i < 400 && failed < 0; ++i) {
    for (int ns = 0; ns < static_cast<int>(namespaces_.size()); ++ns) {
      Select(state, {i, ns});
      state->Add(i);
      if (!backend_->ok()) {
        failed = i * 100 + ns;
        break;
      }
      model[i * 100 + ns] += i;
    }
  }
  ASSERT_GE(failed, 0);
  ASSERT_NO_FATAL_FAILURE(ExpectResourceExhausted());
  Select(state, {failed / 100, failed % 100});
  EXPECT_FALSE(state->Get().has_value());
  for (const auto& [cell, value] : model) {
    Select(state, {cell / 100, cell % 100});
    state->Add(1);  // existing fixed-size values update in place: no memory needed
    ASSERT_EQ(state->Get(), value + 1);
  }
  EXPECT_EQ(state->table().size(), model.size());
}

// AggregatingState ----------------------------------------------------------------------------

struct AverageAccumulator {
  int64_t sum;
  int64_t count;
};

// Flink's example AggregateFunction: the returning form of Add.
struct Average {
  AverageAccumulator CreateAccumulator() const { return {0, 0}; }
  AverageAccumulator Add(const int64_t& value, const AverageAccumulator& accumulator) const {
    return {accumulator.sum + value, accumulator.count + 1};
  }
  double GetResult(const AverageAccumulator& accumulator) const {
    return static_cast<double>(accumulator.sum) / static_cast<double>(accumulator.count);
  }
  AverageAccumulator Merge(const AverageAccumulator& a, const AverageAccumulator& b) const {
    return {a.sum + b.sum, a.count + b.count};
  }
};

// The in-place form of Add, over a variable-size accumulator: the characters added, in order.
struct Collect {
  std::string CreateAccumulator() const { return {}; }
  void Add(const char& value, std::string& accumulator) const { accumulator.push_back(value); }
  size_t GetResult(const std::string& accumulator) const { return accumulator.size(); }
  std::string Merge(const std::string& a, const std::string& b) const { return a + b; }
};

// A returning Add that is not const (counts its calls), over a tuple accumulator.
struct CountingMax {
  std::tuple<int64_t, int64_t> CreateAccumulator() const { return {INT64_MIN, 0}; }
  std::tuple<int64_t, int64_t> Add(const int64_t& value,
                                   const std::tuple<int64_t, int64_t>& accumulator) {
    ++calls;
    return {std::max(std::get<0>(accumulator), value), std::get<1>(accumulator) + 1};
  }
  int64_t GetResult(const std::tuple<int64_t, int64_t>& accumulator) const {
    return std::get<0>(accumulator);
  }
  std::tuple<int64_t, int64_t> Merge(const std::tuple<int64_t, int64_t>& a,
                                     const std::tuple<int64_t, int64_t>& b) const {
    return {std::max(std::get<0>(a), std::get<0>(b)), std::get<1>(a) + std::get<1>(b)};
  }
  int64_t calls = 0;
};

class AggregatingStateTest : public KeyedStateTestBase {};

TEST_F(AggregatingStateTest, ReturningAddWithoutConstAndTupleAccumulator) {
  auto* state = backend_->GetAggregatingState<int64_t, std::tuple<int64_t, int64_t>, int64_t>(
      "max", CountingMax{});
  std::map<int, std::pair<int64_t, int64_t>> model;
  std::mt19937_64 random(54);
  for (int op = 0; op < 5000; ++op) {
    const int key = static_cast<int>(random() % 100);
    SetKey(key);
    const auto value = static_cast<int64_t>(random() % 100000) - 50000;
    state->Add(value);
    auto [it, inserted] = model.emplace(key, std::make_pair(value, 1));
    if (!inserted) it->second = {std::max(it->second.first, value), it->second.second + 1};
  }
  for (const auto& [key, expected] : model) {
    SetKey(key);
    ASSERT_EQ(state->Get(), expected.first);
    ASSERT_EQ(state->GetAccumulator(), std::make_tuple(expected.first, expected.second));
  }
}

TEST_F(AggregatingStateTest, RandomAveragesAndMergesMatchAMap) {
  auto* state =
      backend_->GetAggregatingState<int64_t, AverageAccumulator, double>("avg", Average{});
  std::map<Cell, std::pair<int64_t, int64_t>> model;
  std::mt19937_64 random(51);
  for (int op = 0; op < 60000; ++op) {
    const Cell cell = RandomCell(random, 200);
    Select(state, cell);
    const uint64_t choice = random() % 20;
    if (choice < 12) {
      const auto value = static_cast<int64_t>(random() % 1000);
      state->Add(value);
      model[cell].first += value;
      model[cell].second += 1;
    } else if (choice == 12) {
      state->Clear();
      model.erase(cell);
    } else if (choice == 13) {
      const std::vector<std::string_view> sources = RandomSources(random);
      state->MergeNamespaces(namespaces_[cell.second], sources);
      for (int source : EffectiveSources(sources, cell.second)) {
        const auto it = model.find({cell.first, source});
        if (it == model.end()) continue;
        model[cell].first += it->second.first;
        model[cell].second += it->second.second;
        model.erase(it);
      }
    } else {
      const auto it = model.find(cell);
      const std::optional<double> average = state->Get();
      const std::optional<AverageAccumulator> accumulator = state->GetAccumulator();
      ASSERT_EQ(average.has_value(), it != model.end());
      ASSERT_EQ(accumulator.has_value(), it != model.end());
      if (average) {
        ASSERT_EQ(accumulator->sum, it->second.first);
        ASSERT_EQ(accumulator->count, it->second.second);
        ASSERT_DOUBLE_EQ(*average, static_cast<double>(it->second.first) /
                                       static_cast<double>(it->second.second));
      }
    }
  }
  ASSERT_TRUE(backend_->ok());
  EXPECT_EQ(state->table().size(), model.size());
}

TEST_F(AggregatingStateTest, InPlaceAddOverAVariableSizeAccumulatorKeepsOrder) {
  auto* state = backend_->GetAggregatingState<char, std::string, size_t>("collect", Collect{});
  std::map<Cell, std::string> model;
  std::mt19937_64 random(52);
  for (int op = 0; op < 20000; ++op) {
    const Cell cell = RandomCell(random, 30);
    Select(state, cell);
    const uint64_t choice = random() % 10;
    if (choice < 6) {
      const char value = static_cast<char>('a' + random() % 26);
      state->Add(value);
      model[cell].push_back(value);
    } else if (choice == 6) {
      state->Clear();
      model.erase(cell);
    } else if (choice == 7) {
      const std::vector<std::string_view> sources = RandomSources(random);
      state->MergeNamespaces(namespaces_[cell.second], sources);
      std::optional<std::string> merged;
      for (int source : EffectiveSources(sources, cell.second)) {
        const auto it = model.find({cell.first, source});
        if (it == model.end()) continue;
        merged = merged.value_or("") + it->second;
        model.erase(it);
      }
      if (merged) model[cell] += *merged;
    } else {
      const auto it = model.find(cell);
      ASSERT_EQ(state->GetAccumulator().has_value(), it != model.end());
      if (it != model.end()) {
        ASSERT_EQ(*state->GetAccumulator(), it->second);
        ASSERT_EQ(state->Get(), it->second.size());
      }
    }
  }
  ASSERT_TRUE(backend_->ok()) << backend_->status().ToString();
  EXPECT_EQ(state->table().size(), model.size());
  for (const auto& [cell, value] : model) {
    Select(state, cell);
    ASSERT_EQ(state->GetAccumulator(), value);
  }
}

TEST_F(AggregatingStateTest, BudgetExhaustionIsRecordedAndLeavesTheStateUnchanged) {
  UseBudget(kSegmentSize + 4096);
  auto* state = backend_->GetAggregatingState<char, std::string, size_t>("collect", Collect{});
  std::map<int, std::string> model;
  std::mt19937_64 random(53);
  while (backend_->ok()) {
    const int key = static_cast<int>(random() % 400);
    SetKey(key);
    const char value = static_cast<char>('a' + random() % 26);
    state->Add(value);
    if (backend_->ok()) model[key].push_back(value);
  }
  ASSERT_NO_FATAL_FAILURE(ExpectResourceExhausted());
  EXPECT_EQ(state->table().size(), model.size());
  for (int key = 0; key < 400; ++key) {
    SetKey(key);
    const auto it = model.find(key);
    ASSERT_EQ(state->GetAccumulator(),
              it == model.end() ? std::nullopt : std::optional<std::string>(it->second));
  }
}

}  // namespace
}  // namespace weir::state
