// Flink's windowing examples end to end (the weir binary as a child process), each against a
// reference of Flink's semantics computed independently here.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <deque>
#include <filesystem>
#include <map>
#include <random>
#include <set>
#include <thread>

#include "weir_process.h"

namespace weir {
namespace {

namespace fs = std::filesystem;
using testing::ReadFile;
using testing::RunWeir;

std::vector<std::string> Lines(const std::string& text) {
  std::vector<std::string> lines;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    lines.push_back(text.substr(start, end - start));
    start = end + 1;
  }
  return lines;
}

class WindowExamplesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("weir-window-examples-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  fs::path Write(const std::string& name, const std::string& text) {
    const fs::path path = dir_ / name;
    std::ofstream(path, std::ios::binary) << text;
    return path;
  }

  fs::path dir_;
};

// --- WindowWordCount: countWindow(10, 5) + sum: every 5th occurrence of a word emits the count of
// its last (at most) 10 occurrences.
TEST_F(WindowExamplesTest, WindowWordCountMatchesSlidingCountWindowsInInputOrder) {
  std::mt19937_64 random(3);
  const std::vector<std::string> words = {"alpha", "Beta", "gamma", "delta's", "x_1", "EPSILON", "z"};
  std::string text;
  for (int line = 0; line < 800; ++line) {
    for (int w = 0, n = static_cast<int>(random() % 9); w < n; ++w) {
      text += words[random() % words.size()] + ((random() % 4 == 0) ? ", " : " ");
    }
    text += "\n";
  }
  const fs::path input = Write("words.txt", text);
  for (auto [window, slide] : std::vector<std::pair<int, int>>{{10, 5}, {4, 4}, {3, 7}}) {
    // Reference: the same tokenizer (lower case, \W+), then per word the occurrence count n; at
    // every multiple of `slide`, the window holds min(n, window) ones.
    std::vector<std::string> expected;
    std::map<std::string, int64_t> seen;
    std::string token;
    auto flush = [&] {
      if (token.empty()) return;
      const int64_t n = ++seen[token];
      if (n % slide == 0) expected.push_back("(" + token + "," + std::to_string(std::min<int64_t>(n, window)) + ")");
      token.clear();
    };
    for (char c : text) {
      if (std::isalnum(static_cast<unsigned char>(c)) || c == '_') {
        token.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
      } else {
        flush();
      }
    }
    flush();
    const fs::path output = dir_ / ("out-" + std::to_string(window) + "-" + std::to_string(slide));
    auto result = RunWeir({"example", "WindowWordCount", "--input", input, "--output", output,
                           "--window", std::to_string(window), "--slide", std::to_string(slide)});
    ASSERT_EQ(result.exit_code, 0) << result.err;
    EXPECT_EQ(Lines(ReadFile(output)), expected) << "window " << window << " slide " << slide;
  }
}

TEST_F(WindowExamplesTest, WindowWordCountAtParallelismTwoKeepsEachWordsSequence) {
  std::string text;
  for (int i = 0; i < 500; ++i) text += "a b c d e f g h a a b\n";
  const fs::path input = Write("words.txt", text);
  const fs::path output = dir_ / "out";
  auto result = RunWeir({"-D", "parallelism.default=2", "example", "WindowWordCount", "--input", input,
                         "--output", output});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  std::multiset<std::string> got;
  for (const auto& file : {output / "1", output / "2"}) {
    for (const std::string& line : Lines(ReadFile(file))) got.insert(line);
  }
  // Per word with n occurrences: n/5 results, the first one (w,5), the others (w,10).
  std::multiset<std::string> expected;
  const std::map<std::string, int> occurrences = {{"a", 1500}, {"b", 1000}, {"c", 500}, {"d", 500},
                                                  {"e", 500}, {"f", 500}, {"g", 500}, {"h", 500}};
  for (const auto& [word, n] : occurrences) {
    for (int k = 5; k <= n; k += 5) expected.insert("(" + word + "," + std::to_string(std::min(k, 10)) + ")");
  }
  EXPECT_EQ(got, expected);
}

// --- SessionWindowing: Flink's built-in data, sessions with a 3 ms gap, sum of the counts.
TEST_F(WindowExamplesTest, SessionWindowingPrintsFlinksSessions) {
  // The data of Flink's example, sessionized here by brute force: per key, sort the timestamps,
  // start a new session when the next element is at or after the previous end (ts + gap).
  const std::vector<std::tuple<std::string, int64_t, int>> input = {
      {"a", 1, 1}, {"b", 1, 1}, {"b", 3, 1}, {"b", 5, 1}, {"c", 6, 1}, {"a", 10, 1}, {"c", 11, 1}};
  struct Session {
    std::string key;
    int64_t first_ts;
    int64_t end;
    int sum;
  };
  std::vector<Session> sessions;
  std::map<std::string, size_t> open;
  for (const auto& [key, ts, count] : input) {  // the data is in timestamp order per key
    auto it = open.find(key);
    if (it != open.end() && ts <= sessions[it->second].end) {
      sessions[it->second].end = std::max(sessions[it->second].end, ts + 3);
      sessions[it->second].sum += count;
    } else {
      open[key] = sessions.size();
      sessions.push_back({key, ts, ts + 3, count});
    }
  }
  // Flink fires each session when the watermark (ts - 1 after each element, then the maximum)
  // passes its end - 1; sessions firing at the same watermark come in order of their end.
  std::stable_sort(sessions.begin(), sessions.end(), [&](const Session& a, const Session& b) {
    auto fire_point = [&](const Session& s) {
      for (size_t i = 0; i < input.size(); ++i) {
        if (std::get<1>(input[i]) - 1 >= s.end - 1) return i;
      }
      return input.size();
    };
    const size_t fa = fire_point(a);
    const size_t fb = fire_point(b);
    return fa != fb ? fa < fb : a.end < b.end;
  });
  std::vector<std::string> expected;
  for (const Session& s : sessions) expected.push_back("(" + s.key + "," + std::to_string(s.first_ts) + "," + std::to_string(s.sum) + ")");
  const fs::path output = dir_ / "sessions";
  auto result = RunWeir({"example", "SessionWindowing", "--output", output});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(Lines(ReadFile(output)), expected);
  // Flink's documented result of this example.
  EXPECT_EQ(expected, (std::vector<std::string>{"(a,1,1)", "(b,1,3)", "(c,6,1)", "(a,10,1)", "(c,11,1)"}));
}

// --- TopSpeedWindowing: GlobalWindows + TimeEvictor(10 s) + DeltaTrigger(50 m) + maxBy(speed).
struct Car {
  int id;
  int speed;
  double distance;
  int64_t timestamp;
};

std::string JavaDouble(double value) {
  // The cars' distances in this test are multiples of 0.25 below 10^7: Java prints them with one
  // or two decimals, never in exponent form.
  char buffer[64];
  std::snprintf(buffer, sizeof(buffer), "%.2f", value);
  std::string text(buffer);
  if (text.back() == '0') text.pop_back();
  return text;
}

std::string CarText(const Car& car) {
  return "(" + std::to_string(car.id) + "," + std::to_string(car.speed) + "," + JavaDouble(car.distance) + "," +
         std::to_string(car.timestamp) + ")";
}

TEST_F(WindowExamplesTest, TopSpeedWindowingMatchesDeltaTriggerAndTimeEvictor) {
  std::mt19937_64 random(9);
  std::vector<Car> cars;
  int speeds[3] = {50, 50, 50};
  double distances[3] = {0, 0, 0};
  for (int i = 0; i < 600; ++i) {
    const int id = static_cast<int>(random() % 3);
    speeds[id] = std::clamp(speeds[id] + (random() % 2 == 0 ? 5 : -5), 0, 100);
    distances[id] += 0.25 * static_cast<double>(random() % 80);
    cars.push_back({id, speeds[id], distances[id], 1'000'000 + i * 250});
  }
  std::string text;
  for (const Car& car : cars) text += CarText(car) + "\n";
  const fs::path input = Write("cars.txt", text);
  // Reference per car: the window keeps every element; the delta trigger remembers the element of
  // the last firing (the first element initially) and fires when the distance grew by > 50 since
  // then; on firing, the time evictor drops elements at or before max timestamp - 10 s, and the
  // result is the first element with the highest speed among those left.
  std::vector<std::string> expected;
  std::map<int, std::deque<Car>> windows;
  std::map<int, Car> last;
  for (const Car& car : cars) {
    auto& window = windows[car.id];
    window.push_back(car);
    auto found = last.find(car.id);
    if (found == last.end()) {
      last[car.id] = car;
      continue;
    }
    if (car.distance - found->second.distance > 50) {
      found->second = car;
      int64_t max_ts = 0;
      for (const Car& c : window) max_ts = std::max(max_ts, c.timestamp);
      std::erase_if(window, [&](const Car& c) { return c.timestamp <= max_ts - 10'000; });
      const Car* best = &window.front();
      for (const Car& c : window) {
        if (c.speed > best->speed) best = &c;
      }
      expected.push_back(CarText(*best));
    }
  }
  ASSERT_GT(expected.size(), 20u);
  const fs::path output = dir_ / "top";
  auto result = RunWeir({"example", "TopSpeedWindowing", "--input", input, "--output", output});
  ASSERT_EQ(result.exit_code, 0) << result.err;
  EXPECT_EQ(Lines(ReadFile(output)), expected);
}

TEST_F(WindowExamplesTest, TopSpeedWindowingRejectsAMalformedLine) {
  const fs::path input = Write("bad.txt", "(0,50,10.0,1000)\n(1,55,oops,2000)\n");
  auto result = RunWeir({"example", "TopSpeedWindowing", "--input", input, "--output", dir_ / "out"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("oops"), std::string::npos) << result.err;
}

// --- SocketWindowWordCount: a text server sends lines, keeps the connection open past one 5 s
// processing-time window, then closes; the counts printed are those of Java's split("\\s").
TEST_F(WindowExamplesTest, SocketWindowWordCountCountsWordsPerProcessingTimeWindow) {
  const int listener = ::socket(AF_INET, SOCK_STREAM, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  ASSERT_EQ(::bind(listener, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
  socklen_t length = sizeof(address);
  ASSERT_EQ(::getsockname(listener, reinterpret_cast<sockaddr*>(&address), &length), 0);
  ASSERT_EQ(::listen(listener, 1), 0);
  const int port = ntohs(address.sin_port);
  std::thread server([listener] {
    const int connection = ::accept(listener, nullptr, nullptr);
    if (connection < 0) return;
    const std::string text = "to be or not to be\nthat is  the question\n to be\n";
    (void)!::write(connection, text.data(), text.size());
    std::this_thread::sleep_for(std::chrono::milliseconds(11'000));  // two full windows pass
    ::close(connection);
  });
  auto result = RunWeir({"example", "SocketWindowWordCount", "--port", std::to_string(port)});
  server.join();
  ::close(listener);
  ASSERT_EQ(result.exit_code, 0) << result.err;
  // Java's split("\\s") of the three lines: "that is  the question" has an empty token between
  // the two spaces, " to be" a leading empty token.
  std::multiset<std::string> expected = {"to : 3", "be : 3", "or : 1", "not : 1", "that : 1",
                                         "is : 1", " : 2", "the : 1", "question : 1"};
  std::multiset<std::string> got;
  for (const std::string& line : Lines(result.out)) {
    if (line.find(" : ") != std::string::npos) got.insert(line);
  }
  // All lines arrive within one window (or straddle two: then a word's count is split). Compare
  // the totals per word, which do not depend on where the window boundary fell.
  auto totals = [](const std::multiset<std::string>& lines) {
    std::map<std::string, int64_t> sums;
    for (const std::string& line : lines) {
      const size_t separator = line.rfind(" : ");
      sums[line.substr(0, separator)] += std::stoll(line.substr(separator + 3));
    }
    return sums;
  };
  EXPECT_EQ(totals(got), totals(expected)) << result.out;
}

TEST_F(WindowExamplesTest, SocketWindowWordCountNeedsAPort) {
  auto result = RunWeir({"example", "SocketWindowWordCount"});
  EXPECT_EQ(result.exit_code, 2);
  EXPECT_NE(result.err.find("--port"), std::string::npos) << result.err;
}

// --- WindowJoin: generated grades and salaries joined by name in tumbling ingestion-time windows.
TEST_F(WindowExamplesTest, WindowJoinEmitsOnlyJoinsOfGeneratedNamesAndValues) {
  const fs::path output = dir_ / "joined";
  // Runs until stopped (the generators are unbounded, as Flink's); SIGINT drains and commits.
  auto result = RunWeir({"example", "WindowJoin", "--windowSize", "200", "--rate", "200", "--output", output},
                        "/dev/null", 2500, SIGINT);
  ASSERT_EQ(result.exit_code, 130) << result.err;
  const std::set<std::string> names = {"tom", "jerry", "alice", "bob", "john", "grace"};
  const std::vector<std::string> lines = Lines(ReadFile(output));
  ASSERT_GT(lines.size(), 10u);
  for (const std::string& line : lines) {
    // (name,grade,salary)
    ASSERT_GE(line.size(), 7u) << line;
    const size_t first = line.find(',');
    const size_t second = line.find(',', first + 1);
    ASSERT_NE(second, std::string::npos) << line;
    EXPECT_TRUE(names.count(line.substr(1, first - 1))) << line;
    const int grade = std::stoi(line.substr(first + 1, second - first - 1));
    const int salary = std::stoi(line.substr(second + 1, line.size() - second - 2));
    EXPECT_GE(grade, 1);
    EXPECT_LE(grade, 5);
    EXPECT_GE(salary, 1);
    EXPECT_LE(salary, 10000);
  }
}

// --- LateDataWindowing: 100 readings per millisecond of event time, out of order by up to 15 ms
// (inside the 20 ms watermark bound), plus readings inserted after their 100 ms window fired:
// some while it is still within the 60 ms allowed lateness (each one fires the window again),
// some after that (they go to the late output). Where exactly the watermark is when a reading
// arrives depends on how often it is emitted (at least every 1024 records = 10 ms of event time
// here), so the inserted readings keep a margin of more than that from both boundaries.
TEST_F(WindowExamplesTest, LateDataWindowingFiresLateUpdatesAndSidesOutTooLateReadings) {
  struct Reading {
    std::string key;
    int64_t timestamp;
    int64_t value;
  };
  std::vector<Reading> readings;
  std::vector<Reading> too_late;
  std::map<std::pair<std::string, int64_t>, int> late_firings;  // (key, window start) -> count
  std::mt19937_64 random(23);
  for (int64_t i = 0; i < 100'000; ++i) {
    const int64_t now = i / 100;  // the maximum timestamp so far, about
    readings.push_back({"k" + std::to_string(i % 5), std::max<int64_t>(0, now - static_cast<int64_t>(random() % 16)),
                        static_cast<int64_t>(random() % 100)});
    for (int64_t k = 2; k <= 9; ++k) {
      if (i == (100 * k + 45) * 100) {  // window [100(k-1), 100k) fired, cleanup at 100k + 59
        readings.push_back({"k1", 100 * k - 10, 1000});
        ++late_firings[{"k1", 100 * (k - 1)}];
      }
      if (i == (100 * k + 95) * 100) {  // that window is gone: too late
        readings.push_back({"k2", 100 * k - 10, 5000});
        too_late.push_back(readings.back());
      }
    }
  }
  std::string csv;
  for (const Reading& r : readings) csv += r.key + "," + std::to_string(r.timestamp) + "," + std::to_string(r.value) + "\n";
  const fs::path input = Write("readings.csv", csv);
  const fs::path output = dir_ / "windows";
  const fs::path late_output = dir_ / "late";
  auto result = RunWeir({"example", "LateDataWindowing", "--input", input, "--output", output, "--late-output",
                         late_output, "--window", "100", "--out-of-orderness", "20", "--allowed-lateness", "60"});
  ASSERT_EQ(result.exit_code, 0) << result.err;

  // The final result of every (key, window): all its readings but the too-late ones.
  std::map<std::pair<std::string, int64_t>, std::pair<int64_t, double>> expected;
  for (const Reading& r : readings) {
    bool is_too_late = false;
    for (const Reading& late : too_late) {
      is_too_late |= late.key == r.key && late.timestamp == r.timestamp && late.value == r.value;
    }
    if (is_too_late) continue;
    auto& [count, sum] = expected[{r.key, r.timestamp - r.timestamp % 100}];
    ++count;
    sum += static_cast<double>(r.value);
  }
  std::map<std::pair<std::string, int64_t>, std::pair<int64_t, double>> last;
  std::map<std::pair<std::string, int64_t>, int> firings;
  for (const std::string& line : Lines(ReadFile(output))) {
    // (key,start,end,count,sum)
    std::vector<std::string> fields;
    size_t start = 1;
    for (size_t comma; (comma = line.find(',', start)) != std::string::npos; start = comma + 1) {
      fields.push_back(line.substr(start, comma - start));
    }
    fields.push_back(line.substr(start, line.size() - 1 - start));
    ASSERT_EQ(fields.size(), 5u) << line;
    const std::pair<std::string, int64_t> window{fields[0], std::stoll(fields[1])};
    EXPECT_EQ(std::stoll(fields[2]), window.second + 100) << line;
    last[window] = {std::stoll(fields[3]), std::stod(fields[4])};
    ++firings[window];
  }
  EXPECT_EQ(last, expected);
  for (const auto& [window, count] : firings) {
    const auto late = late_firings.find(window);
    EXPECT_EQ(count, 1 + (late == late_firings.end() ? 0 : late->second)) << window.first << " " << window.second;
  }
  std::vector<std::string> expected_late;
  for (const Reading& r : too_late) expected_late.push_back("(" + r.key + "," + std::to_string(r.timestamp) + "," + std::to_string(r.value) + ".0)");
  EXPECT_EQ(Lines(ReadFile(late_output)), expected_late);
}

TEST_F(WindowExamplesTest, LateDataWindowingNamesAMalformedReading) {
  const fs::path input = Write("bad.csv", "a,1,2\nb,oops,3\n");
  auto result = RunWeir({"example", "LateDataWindowing", "--input", input, "--output", dir_ / "out"});
  EXPECT_EQ(result.exit_code, 1);
  EXPECT_NE(result.err.find("b,oops,3"), std::string::npos) << result.err;
}

}  // namespace
}  // namespace weir
