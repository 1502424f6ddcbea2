// q3, local item suggestion: a regular (unwindowed) inner join of the persons of three states
// with the category-10 auctions they sell.
//
//   SELECT P.name, P.city, P.state, A.id
//   FROM auction AS A INNER JOIN person AS P ON A.seller = P.id
//   WHERE A.category = 10 AND (P.state = 'OR' OR P.state = 'ID' OR P.state = 'CA');
//
// The filters run before the join (Flink pushes them down); both sides are kept in keyed state
// under the person id, as Flink's streaming join keeps them, and each arrival joins the other
// side's rows stored so far. Nothing is late for a regular join.
#include <algorithm>

#include "harness/nexmark/queries.h"
#include "serde/types.h"

namespace weir::harness::nexmark {
namespace {

// What the join needs of a person or an auction.
struct Q3Input {
  int64_t is_person;  // 1: a person (id = its id), 0: an auction (id = its id, key = its seller)
  int64_t key;        // P.id or A.seller
  int64_t id;
  int64_t date_time;
  std::string_view name;
  std::string_view city;
  std::string_view state;
};

struct Q3Row {
  std::string_view name;
  std::string_view city;
  std::string_view state;
  int64_t id;
  int64_t due;  // the later dateTime of the person and the auction
};

struct Q3Traits {
  static constexpr bool kUpdating = false;
  void Csv(std::string& out, const Q3Row& row) const {
    internal::AppendCsvString(out, row.name);
    out.push_back(',');
    internal::AppendCsvString(out, row.city);
    out.push_back(',');
    internal::AppendCsvString(out, row.state);
    out.push_back(',');
    internal::AppendCsvInt(out, row.id);
  }
  int64_t DueEventTime(const Q3Row& row) const { return row.due; }
};

using StoredPerson = std::tuple<std::string_view, std::string_view, std::string_view, int64_t>;
using StoredAuction = std::pair<int64_t, int64_t>;  // id, dateTime

class Q3Join final : public api::KeyedProcessFunction<int64_t, Q3Input, Q3Row> {
 public:
  Status Open(api::RuntimeContext& context) override {
    persons_ = context.GetListState<StoredPerson>("persons");
    auctions_ = context.GetListState<StoredAuction>("auctions");
    return Status::Ok();
  }

  void ProcessElement(const Q3Input& input, Context&, api::Collector<Q3Row>& out) override {
    if (input.is_person != 0) {
      auctions_->ForEach([&](const StoredAuction& auction) {
        out.Collect({input.name, input.city, input.state, auction.first,
                     std::max(input.date_time, auction.second)});
      });
      persons_->Add({input.name, input.city, input.state, input.date_time});
    } else {
      persons_->ForEach([&](const StoredPerson& person) {
        out.Collect({std::get<0>(person), std::get<1>(person), std::get<2>(person), input.id,
                     std::max(input.date_time, std::get<3>(person))});
      });
      auctions_->Add({input.id, input.date_time});
    }
  }

 private:
  state::ListState<StoredPerson>* persons_ = nullptr;
  state::ListState<StoredAuction>* auctions_ = nullptr;
};

}  // namespace
}  // namespace weir::harness::nexmark

namespace weir::serde {
template <>
struct Codec<harness::nexmark::Q3Input>
    : harness::nexmark::internal::MemberCodec<
          harness::nexmark::Q3Input, &harness::nexmark::Q3Input::is_person,
          &harness::nexmark::Q3Input::key, &harness::nexmark::Q3Input::id,
          &harness::nexmark::Q3Input::date_time, &harness::nexmark::Q3Input::name,
          &harness::nexmark::Q3Input::city, &harness::nexmark::Q3Input::state> {};
template <>
struct Codec<harness::nexmark::Q3Row>
    : harness::nexmark::internal::MemberCodec<
          harness::nexmark::Q3Row, &harness::nexmark::Q3Row::name, &harness::nexmark::Q3Row::city,
          &harness::nexmark::Q3Row::state, &harness::nexmark::Q3Row::id,
          &harness::nexmark::Q3Row::due> {};
}  // namespace weir::serde

namespace weir::harness::nexmark {

void BuildQ3(api::DataStream<Event> events, const RunContext& context) {
  auto inputs = events.FlatMap<Q3Input>(
      [](const Event& event, api::Collector<Q3Input>& out) {
        if (event.type == EventType::kPerson) {
          const Person& p = event.person;
          if (p.state == "OR" || p.state == "ID" || p.state == "CA") {
            out.Collect({1, p.id, p.id, p.date_time, p.name, p.city, p.state});
          }
        } else if (event.type == EventType::kAuction && event.auction.category == 10) {
          const Auction& a = event.auction;
          out.Collect({0, a.seller, a.id, a.date_time, {}, {}, {}});
        }
      },
      "q3: Sellers in OR, ID, CA and category-10 auctions");
  auto rows =
      inputs.KeyBy([](const Q3Input& input) { return input.key; }).Process(Q3Join(), "q3: Join");
  EmitResults(rows, Q3Traits{}, context);
}

}  // namespace weir::harness::nexmark
