// q8, monitor new users: the persons who opened an auction in the TUMBLE window of 10 s in which
// they joined.
//
//   SELECT P.id, P.name, P.starttime
//   FROM (SELECT id, name, window_start AS starttime, window_end AS endtime
//         FROM TABLE(TUMBLE(TABLE person, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//         GROUP BY id, name, window_start, window_end) P
//   JOIN (SELECT seller, window_start AS starttime, window_end AS endtime
//         FROM TABLE(TUMBLE(TABLE auction, DESCRIPTOR(dateTime), INTERVAL '10' SECOND))
//         GROUP BY seller, window_start, window_end) A
//   ON P.id = A.seller AND P.starttime = A.starttime AND P.endtime = A.endtime;
//
// Both sides are tumbling-window aggregations with the same windows, so the join is per (person id,
// window): keyed by that pair, a function gathers the window's distinct person names and whether
// the id sold anything, and emits one row per name when the watermark reaches the window's end - 1.
// An event whose window the watermark has already reached is late and dropped, as both window
// aggregations drop it. (The names are strings, which the window fast paths cannot keep as plain
// accumulator bytes; the state here is the same one entry per key and window.)
#include <utility>

#include "harness/nexmark/queries.h"
#include "serde/types.h"

namespace weir::harness::nexmark {
namespace {

constexpr int64_t kWindowMillis = 10'000;

struct Q8Input {
  int64_t is_person;  // 1: a person, 0: an auction
  int64_t id;         // P.id or A.seller
  int64_t window_end;
  std::string_view name;
};

struct Q8Row {
  int64_t id;
  std::string_view name;
  int64_t start;
};

struct Q8Traits {
  static constexpr bool kUpdating = false;
  void Csv(std::string& out, const Q8Row& row) const {
    internal::AppendCsvInt(out, row.id);
    out.push_back(',');
    internal::AppendCsvString(out, row.name);
    out.push_back(',');
    serde::AppendTimestamp(out, row.start);
  }
  // The window's end - 1 + 4000: the watermark (dateTime - 4 s) that fires it.
  int64_t DueEventTime(const Q8Row& row) const { return row.start + kWindowMillis - 1 + 4'000; }
};

struct PersonWindow {
  int64_t id;
  int64_t sold;  // the id sold an auction in the window
};

using IdAndWindow = std::pair<int64_t, int64_t>;

class Q8NewUsers final : public api::KeyedProcessFunction<IdAndWindow, Q8Input, Q8Row> {
 public:
  Status Open(api::RuntimeContext& context) override {
    window_ = context.GetState<PersonWindow>("window");
    names_ = context.GetListState<std::string_view>("names");
    return Status::Ok();
  }

  void ProcessElement(const Q8Input& input, Context& context, api::Collector<Q8Row>&) override {
    if (context.TimerService().CurrentWatermark() >= input.window_end - 1) return;  // late
    std::optional<PersonWindow> window = window_->Value();
    if (!window) {
      window = PersonWindow{input.id, 0};
      context.TimerService().RegisterEventTimeTimer(input.window_end - 1);
      if (input.is_person == 0) window->sold = 1;
      window_->Update(*window);
    } else if (input.is_person == 0 && window->sold == 0) {
      window->sold = 1;
      window_->Update(*window);
    }
    if (input.is_person != 0) {
      bool seen = false;
      names_->ForEach([&](std::string_view name) { seen = seen || name == input.name; });
      if (!seen) names_->Add(input.name);
    }
  }

  void OnTimer(Timestamp time, OnTimerContext&, api::Collector<Q8Row>& out) override {
    const std::optional<PersonWindow> window = window_->Value();
    if (window && window->sold != 0) {
      names_->ForEach([&](std::string_view name) {
        out.Collect({window->id, name, time + 1 - kWindowMillis});
      });
    }
    names_->Clear();
    window_->Clear();
  }

 private:
  state::ValueState<PersonWindow>* window_ = nullptr;
  state::ListState<std::string_view>* names_ = nullptr;
};

}  // namespace
}  // namespace weir::harness::nexmark

namespace weir::serde {
template <>
struct Codec<harness::nexmark::Q8Input>
    : harness::nexmark::internal::MemberCodec<
          harness::nexmark::Q8Input, &harness::nexmark::Q8Input::is_person,
          &harness::nexmark::Q8Input::id, &harness::nexmark::Q8Input::window_end,
          &harness::nexmark::Q8Input::name> {};
template <>
struct Codec<harness::nexmark::Q8Row>
    : harness::nexmark::internal::MemberCodec<harness::nexmark::Q8Row, &harness::nexmark::Q8Row::id,
                                              &harness::nexmark::Q8Row::name,
                                              &harness::nexmark::Q8Row::start> {};
}  // namespace weir::serde

namespace weir::harness::nexmark {

void BuildQ8(api::DataStream<Event> events, const RunContext& context) {
  auto inputs = events.FlatMap<Q8Input>(
      [](const Event& event, api::Collector<Q8Input>& out) {
        if (event.type == EventType::kBid) return;
        const int64_t time = event.date_time();
        // Flink's TimeWindow.getWindowStartWithOffset (floor, also for negative times).
        const int64_t end =
            time - ((time % kWindowMillis) + kWindowMillis) % kWindowMillis + kWindowMillis;
        if (event.type == EventType::kPerson) {
          out.Collect({1, event.person.id, end, event.person.name});
        } else {
          out.Collect({0, event.auction.seller, end, {}});
        }
      },
      "q8: Persons and sellers per window");
  auto rows =
      inputs.KeyBy([](const Q8Input& input) {
              return IdAndWindow{input.id, input.window_end};
            })
          .Process(Q8NewUsers(), "q8: Persons who sold in their window");
  EmitResults(rows, Q8Traits{}, context);
}

}  // namespace weir::harness::nexmark
