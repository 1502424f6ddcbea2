// Replayable sources: read K records, snapshot, restore a fresh source from the blob, and it emits
// exactly the records after K. The reference for files is the file's lines split by the test
// itself (std::string::find of '\n', one '\r' dropped); for generators the index arithmetic.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <random>
#include <set>

#include "checkpoint_test_util.h"
#include "connectors/checkpointing_config.h"
#include "connectors/collection_source.h"
#include "connectors/generated_text_source.h"
#include "connectors/generator_source.h"
#include "connectors/row_file_source.h"
#include "connectors/socket_text_source.h"
#include "connectors/text_file_source.h"
#include "serde/csv.h"

namespace weir::connectors {
namespace {

namespace fs = std::filesystem;
using testing::MemoryRestoreReader;
using testing::MemorySnapshotWriter;
using testing::SubtaskBlobs;

// What a test keeps of a record: views are copied while they are valid (during Collect).
template <typename T>
struct Kept {
  using Type = T;
  static T Keep(const T& value) { return value; }
};
template <>
struct Kept<std::string_view> {
  using Type = std::string;
  static std::string Keep(std::string_view value) { return std::string(value); }
};
template <>
struct Kept<serde::RowView> {  // the (BIGINT, VARCHAR) rows of the CSV test
  using Type = std::string;
  static std::string Keep(const serde::RowView& row) { return fmt::format("{}|{}", row.GetBigInt(0), row.GetVarchar(1)); }
};

template <typename T>
class Recorder final : public operators::Output<T> {
 public:
  void Collect(const T& value, Timestamp) override { values.push_back(Kept<T>::Keep(value)); }
  void EmitWatermark(Timestamp) override {}
  void EndInput() override {}
  std::vector<typename Kept<T>::Type> values;
};

// A source with its context and output, driven by hand.
template <typename T>
struct Driven {
  std::unique_ptr<operators::SourceOperator<T>> source;
  std::unique_ptr<operators::OperatorContext> context = std::make_unique<operators::OperatorContext>();
  std::unique_ptr<Recorder<T>> output = std::make_unique<Recorder<T>>();

  Driven(std::unique_ptr<operators::SourceOperator<T>> made, int subtask, int parallelism) : source(std::move(made)) {
    context->task_name = fmt::format("Source: Test ({}/{})", subtask + 1, parallelism);
    context->subtask_index = subtask;
    context->parallelism = parallelism;
    source->SetOutput(output.get());
    Status status = source->Open(context.get());
    EXPECT_TRUE(status.ok()) << status.ToString();
  }
  ~Driven() {
    if (source) source->Close();
  }
  // Polls one record at a time until `count` more were emitted or the input ended.
  void Read(size_t count) {
    const size_t goal = output->values.size() + count;
    while (output->values.size() < goal) {
      Result<operators::SourceStatus> status = source->Poll(1);
      ASSERT_TRUE(status.ok()) << status.status().ToString();
      if (*status == operators::SourceStatus::kEndOfInput) return;
    }
  }
  void ReadAll() { Read(std::numeric_limits<size_t>::max() / 2); }
  SubtaskBlobs Snapshot(int64_t checkpoint_id) {
    MemorySnapshotWriter writer(checkpoint_id);
    Status status = source->SnapshotState(writer);
    EXPECT_TRUE(status.ok()) << status.ToString();
    return writer.blobs();
  }
  Status Restore(int64_t checkpoint_id, std::vector<SubtaskBlobs> old) {
    MemoryRestoreReader reader(checkpoint_id, std::move(old), context->subtask_index, context->parallelism);
    return source->RestoreState(reader);
  }
};

// The lines of `text` as a line reader must return them: split at '\n', one '\r' before it
// dropped, and no line after a final '\n'.
std::vector<std::string> ReferenceLines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    const bool terminated = end != std::string::npos;
    if (!terminated) end = text.size();
    std::string line = text.substr(start, end - start);
    if (terminated && !line.empty() && line.back() == '\r') line.pop_back();
    lines.push_back(std::move(line));
    start = end + 1;
  }
  return lines;
}

class SourceCheckpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / fmt::format("weir-source-checkpoint-{}-{}", ::getpid(),
                                                   ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string WriteFile(const std::string& name, const std::string& text) {
    const std::string path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  // About `bytes` of numbered lines with empty lines, CRLF endings and varying lengths.
  static std::string NumberedText(size_t bytes, uint64_t seed, bool final_newline) {
    std::mt19937_64 random(seed);
    std::string text;
    for (int64_t n = 0; text.size() < bytes; ++n) {
      switch (random() % 8) {
        case 0: text += "\n"; break;                                 // empty line
        case 1: text += "\r\n"; break;                               // empty CRLF line
        case 2: text += fmt::format("line {} crlf\r\n", n); break;
        default: text += fmt::format("line {} {}\n", n, std::string(random() % 120, 'a' + n % 26));
      }
    }
    text += fmt::format("last line {}", seed);
    if (final_newline) text += "\n";
    return text;
  }

  fs::path dir_;
};

TEST_F(SourceCheckpointTest, TextFileResumesAfterEveryPosition) {
  // Small files are one split each: every K from 0 to the end, including the last line without a
  // newline, empty lines and CRLF lines.
  const std::string first_text = NumberedText(3000, 1, /*final_newline=*/false);
  const std::string second_text = "\n\r\nonly\r\n\n";
  const std::vector<std::string> paths = {WriteFile("a.txt", first_text), WriteFile("b.txt", second_text)};
  std::vector<std::string> reference = ReferenceLines(first_text);
  for (std::string& line : ReferenceLines(second_text)) reference.push_back(std::move(line));
  ASSERT_EQ(reference[ReferenceLines(first_text).size() - 1], "last line 1");

  for (size_t k = 0; k <= reference.size(); ++k) {
    SubtaskBlobs blob;
    {
      Driven<std::string_view> before(std::make_unique<TextFileSource>(paths), 0, 1);
      before.Read(k);
      ASSERT_EQ(before.output->values, std::vector<std::string>(reference.begin(), reference.begin() + k));
      blob = before.Snapshot(1);
      before.Read(3);  // reading on after the snapshot changes nothing it recorded
    }
    Driven<std::string_view> after(std::make_unique<TextFileSource>(paths), 0, 1);
    ASSERT_TRUE(after.Restore(1, {blob}).ok());
    after.ReadAll();
    ASSERT_EQ(after.output->values, std::vector<std::string>(reference.begin() + k, reference.end())) << "k=" << k;
  }
}

// Several splits per file (files over 1 MiB) read by 3 subtasks; restored at 3 and at 2.
class TextFileRescaleTest : public SourceCheckpointTest, public ::testing::WithParamInterface<int> {};

TEST_P(TextFileRescaleTest, SplitsAndOffsetsMoveToTheirNewOwners) {
  const int new_parallelism = GetParam();
  const std::string big = NumberedText(5 << 20, 7, /*final_newline=*/true);
  const std::string other = NumberedText(3 << 20, 8, /*final_newline=*/false);
  const std::vector<std::string> paths = {WriteFile("big.txt", big), WriteFile("other.txt", other)};
  std::multiset<std::string> reference;
  for (const std::string& text : {big, other}) {
    for (std::string& line : ReferenceLines(text)) reference.insert(std::move(line));
  }

  std::multiset<std::string> emitted;
  std::vector<SubtaskBlobs> checkpoint;
  {
    std::vector<std::unique_ptr<Driven<std::string_view>>> old;
    for (int s = 0; s < 3; ++s) {
      old.push_back(std::make_unique<Driven<std::string_view>>(std::make_unique<TextFileSource>(paths), s, 3));
      old.back()->Read(static_cast<size_t>(10000 + 7000 * s));  // into the first split, or past it
      checkpoint.push_back(old.back()->Snapshot(4));
      emitted.insert(old.back()->output->values.begin(), old.back()->output->values.end());
      old.back()->Read(500);  // lost to the "failure": not counted
    }
  }
  for (int s = 0; s < new_parallelism; ++s) {
    Driven<std::string_view> restored(std::make_unique<TextFileSource>(paths), s, new_parallelism);
    Status status = restored.Restore(4, checkpoint);
    ASSERT_TRUE(status.ok()) << status.ToString();
    restored.ReadAll();
    emitted.insert(restored.output->values.begin(), restored.output->values.end());
  }
  // Every line exactly once: the reference counts equal lines (empty ones) as often as they occur.
  EXPECT_EQ(emitted.size(), reference.size());
  EXPECT_TRUE(emitted == reference);
}

INSTANTIATE_TEST_SUITE_P(Parallelism, TextFileRescaleTest, ::testing::Values(3, 2, 5));

TEST_F(SourceCheckpointTest, TextFileRefusesAChangedInput) {
  const std::string path = WriteFile("a.txt", "one\ntwo\nthree\n");
  SubtaskBlobs blob;
  {
    Driven<std::string_view> before(std::make_unique<TextFileSource>(std::vector<std::string>{path}), 0, 1);
    before.Read(1);
    blob = before.Snapshot(1);
  }
  WriteFile("a.txt", "one\ntwo\nthree\nfour\n");
  Driven<std::string_view> after(std::make_unique<TextFileSource>(std::vector<std::string>{path}), 0, 1);
  Status status = after.Restore(1, {blob});
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find(path), std::string_view::npos) << status.ToString();

  const std::string other = WriteFile("b.txt", "x\n");
  Driven<std::string_view> elsewhere(std::make_unique<TextFileSource>(std::vector<std::string>{other}), 0, 1);
  status = elsewhere.Restore(1, {blob});
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("not an input"), std::string_view::npos) << status.ToString();
}

TEST_F(SourceCheckpointTest, CsvFileResumesAfterTheCheckpointedRow) {
  std::string text = "1,alpha\n\n2,beta\r\n3,gamma\n  \n4,delta\n5,epsilon";
  const std::string path = WriteFile("rows.csv", text);
  const serde::Schema schema = *serde::ParseSchema("id BIGINT, name VARCHAR");
  auto make = [&] {
    return std::make_unique<RowFileSource<serde::CsvRowDecoder>>(std::vector<std::string>{path}, schema, false);
  };
  // Reference: the non-blank lines, as "id|name".
  const std::vector<std::string> reference = {"1|alpha", "2|beta", "3|gamma", "4|delta", "5|epsilon"};
  for (size_t k = 0; k <= reference.size(); ++k) {
    SubtaskBlobs blob;
    {
      Driven<serde::RowView> before(make(), 0, 1);
      before.Read(k);
      blob = before.Snapshot(2);
    }
    Driven<serde::RowView> after(make(), 0, 1);
    ASSERT_TRUE(after.Restore(2, {blob}).ok());
    after.ReadAll();
    EXPECT_EQ(after.output->values, std::vector<std::string>(reference.begin() + k, reference.end())) << "k=" << k;
  }
}

TEST_F(SourceCheckpointTest, GeneratorResumesAtItsIndexAndRefusesRescale) {
  auto make = [] {
    auto square = [](int64_t index) { return index * index; };
    return std::make_unique<GeneratorSource<int64_t, decltype(square)>>(square, 1001, 0);
  };
  std::vector<SubtaskBlobs> checkpoint;
  std::vector<int64_t> emitted;
  for (int s = 0; s < 2; ++s) {
    Driven<int64_t> before(make(), s, 2);
    before.Read(static_cast<size_t>(100 + 250 * s));
    checkpoint.push_back(before.Snapshot(3));
    emitted.insert(emitted.end(), before.output->values.begin(), before.output->values.end());
  }
  for (int s = 0; s < 2; ++s) {
    Driven<int64_t> after(make(), s, 2);
    ASSERT_TRUE(after.Restore(3, checkpoint).ok());
    after.ReadAll();
    emitted.insert(emitted.end(), after.output->values.begin(), after.output->values.end());
  }
  std::vector<int64_t> reference;
  for (int64_t i = 0; i <= 1000; ++i) reference.push_back(i * i);
  std::sort(emitted.begin(), emitted.end());
  EXPECT_EQ(emitted, reference);

  Driven<int64_t> rescaled(make(), 0, 3);
  Status status = rescaled.Restore(3, checkpoint);
  EXPECT_EQ(status.code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("Source: Test (1/3)"), std::string_view::npos) << status.ToString();
  EXPECT_NE(status.message().find("parallelism 2"), std::string_view::npos) << status.ToString();
}

// A plain 32-byte record from a generator called through a function pointer (out of line): it is
// built in the source's record group (RecordGroup::Emplace), 64 at a time with a short group at
// the end; every field of every record is the index arithmetic's.
struct Wide {
  int64_t index;
  int64_t twice;
  int64_t square;
  int64_t negated;
  bool operator==(const Wide&) const = default;
};
[[gnu::noinline]] Wide MakeWide(int64_t i) { return {i, 2 * i, i * i, -i}; }

TEST_F(SourceCheckpointTest, GeneratorFunctionPointerRecordsArriveWhole) {
  using Source = GeneratorSource<Wide, Wide (*)(int64_t)>;
  Driven<Wide> driven(std::make_unique<Source>(&MakeWide, 1001, 0), 0, 1);
  driven.ReadAll();
  ASSERT_EQ(driven.output->values.size(), 1001u);
  for (int64_t i = 0; i <= 1000; ++i) {
    EXPECT_EQ(driven.output->values[static_cast<size_t>(i)], (Wide{i, 2 * i, i * i, -i})) << "index " << i;
  }
}

TEST_F(SourceCheckpointTest, CollectionResumesAtItsIndex) {
  auto elements = std::make_shared<const std::vector<std::string>>(
      std::vector<std::string>{"a", "b", "", "c", "d", "e", "f"});
  for (size_t k = 0; k <= elements->size(); ++k) {
    SubtaskBlobs blob;
    {
      Driven<std::string> before(std::make_unique<CollectionSource<std::string>>(elements), 0, 1);
      before.Read(k);
      blob = before.Snapshot(1);
    }
    Driven<std::string> after(std::make_unique<CollectionSource<std::string>>(elements), 0, 1);
    ASSERT_TRUE(after.Restore(1, {blob}).ok());
    after.ReadAll();
    EXPECT_EQ(after.output->values, std::vector<std::string>(elements->begin() + static_cast<ptrdiff_t>(k), elements->end()));
  }
}

TEST_F(SourceCheckpointTest, GeneratedTextResumesWhereTheUninterruptedRunIs) {
  auto block = std::make_shared<const std::string>(GenerateText(20000, 5));
  const int64_t total = 150000;  // replays the block several times
  for (int s = 0; s < 2; ++s) {
    // Reference: the same subtask read without interruption.
    Driven<std::string_view> whole(std::make_unique<GeneratedTextSource>(block, total), s, 2);
    whole.ReadAll();
    for (size_t k : {size_t{0}, size_t{1}, size_t{500}, whole.output->values.size()}) {
      SubtaskBlobs blob;
      {
        Driven<std::string_view> before(std::make_unique<GeneratedTextSource>(block, total), s, 2);
        before.Read(k);
        blob = before.Snapshot(1);
      }
      std::vector<SubtaskBlobs> old(2);
      old[static_cast<size_t>(s)] = blob;
      Driven<std::string_view> after(std::make_unique<GeneratedTextSource>(block, total), s, 2);
      ASSERT_TRUE(after.Restore(1, old).ok());
      after.ReadAll();
      EXPECT_EQ(after.output->values,
                std::vector<std::string>(whole.output->values.begin() + static_cast<ptrdiff_t>(k), whole.output->values.end()))
          << "subtask " << s << " k=" << k;
    }
  }
  Driven<std::string_view> before(std::make_unique<GeneratedTextSource>(block, total), 0, 1);
  SubtaskBlobs blob = before.Snapshot(1);
  Driven<std::string_view> rescaled(std::make_unique<GeneratedTextSource>(block, total), 0, 2);
  EXPECT_EQ(rescaled.Restore(1, {blob}).code(), StatusCode::kFailedPrecondition);
}

TEST_F(SourceCheckpointTest, SocketRecordsNothingAndWarnsOnceWhenCheckpointed) {
  // A listener the source connects to; the connection is accepted by the kernel's backlog.
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  ::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length);
  ASSERT_EQ(::listen(listener, 4), 0);
  const int port = ntohs(address.sin_port);

  for (bool checkpointing : {true, false}) {
    Configuration config;
    if (checkpointing) ASSERT_TRUE(config.Set(kCheckpointingIntervalKey, "1 s").ok());
    ::testing::internal::CaptureStderr();
    {
      auto source = std::make_unique<SocketTextSource>("127.0.0.1", port);
      operators::OperatorContext context;
      context.task_name = "Source: Socket Stream (1/1)";
      context.config = &config;
      Recorder<std::string_view> output;
      source->SetOutput(&output);
      ASSERT_TRUE(source->Open(&context).ok());
      for (int64_t id = 1; id <= 3; ++id) {
        MemorySnapshotWriter writer(id);
        ASSERT_TRUE(source->SnapshotState(writer).ok());
        EXPECT_TRUE(writer.blobs().empty());
      }
      source->Close();
    }
    const std::string log = ::testing::internal::GetCapturedStderr();
    const std::string warning = fmt::format("127.0.0.1:{} is not replayable", port);
    size_t count = 0;
    for (size_t at = log.find(warning); at != std::string::npos; at = log.find(warning, at + 1)) ++count;
    // With checkpoints on: once at Open. Without: once at the first (triggered) snapshot.
    EXPECT_EQ(count, 1u) << log;
    if (checkpointing) EXPECT_NE(log.find("Source: Socket Stream (1/1)"), std::string::npos) << log;
  }
  ::close(listener);
}

}  // namespace
}  // namespace weir::connectors
