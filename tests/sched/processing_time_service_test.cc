#include "sched/processing_time_service.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <random>
#include <utility>
#include <vector>

namespace weir::sched {
namespace {

TEST(ProcessingTimeServiceTest, FiresDueTimersInTimeThenRegistrationOrder) {
  std::mt19937_64 rng(7);
  ProcessingTimeService service;
  struct Registered {
    Timestamp time;
    int id;
  };
  std::vector<Registered> registered;
  std::vector<Registered> fired;
  for (int id = 0; id < 2000; ++id) {
    const Timestamp time = 1'000 + static_cast<Timestamp>(rng() % 300);
    registered.push_back({time, id});
    service.Register(time, [&fired, id](Timestamp t) { fired.push_back({t, id}); });
  }
  // Reference: a stable sort by time keeps registration order among equal times.
  std::vector<Registered> expected = registered;
  std::stable_sort(expected.begin(), expected.end(),
                   [](const Registered& a, const Registered& b) { return a.time < b.time; });

  size_t fired_before = 0;
  for (Timestamp now = 990; now <= 1'310; now += static_cast<Timestamp>(rng() % 17)) {
    const size_t count = service.Poll(now);
    ASSERT_EQ(count, fired.size() - fired_before);
    // Exactly the timers with time <= now have fired.
    const size_t due = std::count_if(registered.begin(), registered.end(),
                                     [now](const Registered& r) { return r.time <= now; });
    ASSERT_EQ(fired.size(), due) << "now=" << now;
    if (!service.empty()) {
      EXPECT_GT(service.next_time(), now);
    }
    fired_before = fired.size();
  }
  service.Poll(kMaxTimestamp);
  ASSERT_EQ(fired.size(), expected.size());
  for (size_t i = 0; i < expected.size(); ++i) {
    EXPECT_EQ(fired[i].id, expected[i].id) << i;
    EXPECT_EQ(fired[i].time, expected[i].time) << i;
  }
  EXPECT_TRUE(service.empty());
}

TEST(ProcessingTimeServiceTest, TimerRegisteredByCallbackWaitsForTheNextPoll) {
  ProcessingTimeService service;
  std::vector<Timestamp> fired;
  std::function<void(Timestamp)> periodic = [&](Timestamp time) {
    fired.push_back(time);
    service.Register(time, periodic);  // already due: must not fire within the same Poll
  };
  service.Register(5, periodic);
  EXPECT_EQ(service.Poll(10), 1u);
  EXPECT_EQ(service.Poll(10), 1u);
  EXPECT_EQ(service.size(), 1u);
  EXPECT_EQ(fired, (std::vector<Timestamp>{5, 5}));
}

TEST(ProcessingTimeServiceTest, EarlierTimerRegisteredByCallbackFiresFirstAtNextPoll) {
  ProcessingTimeService service;
  std::vector<Timestamp> fired;
  auto record = [&](Timestamp time) { fired.push_back(time); };
  service.Register(10, [&](Timestamp time) {
    fired.push_back(time);
    service.Register(3, record);
  });
  service.Register(20, record);
  service.Register(30, record);
  EXPECT_EQ(service.Poll(25), 1u);  // 10 fires; 3 (new) sorts before 20 and waits
  EXPECT_EQ(service.Poll(25), 2u);  // then 3, 20 in time order
  EXPECT_EQ(fired, (std::vector<Timestamp>{10, 3, 20}));
  EXPECT_EQ(service.next_time(), 30);
}

}  // namespace
}  // namespace weir::sched
