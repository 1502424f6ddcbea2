// CollectionSource: the elements of a collection, in order (Flink's fromElements /
// fromCollection). Non-parallel, as in Flink: the API runs it with parallelism 1.
#pragma once

#include <memory>
#include <vector>

#include "operators/source_operator.h"

namespace weir::connectors {

template <typename T>
class CollectionSource final : public operators::SourceOperator<T> {
 public:
  explicit CollectionSource(std::shared_ptr<const std::vector<T>> elements)
      : elements_(std::move(elements)) {}

  Result<operators::SourceStatus> Poll(int max_records) override {
    operators::Output<T>* out = this->output();
    for (int i = 0; i < max_records; ++i) {
      if (next_ == elements_->size()) return operators::SourceStatus::kEndOfInput;
      ++this->records_emitted_;
      out->Collect((*elements_)[next_++], kMinTimestamp);
    }
    return next_ == elements_->size() ? operators::SourceStatus::kEndOfInput
                                      : operators::SourceStatus::kMoreAvailable;
  }

 private:
  std::shared_ptr<const std::vector<T>> elements_;
  size_t next_ = 0;
};

}  // namespace weir::connectors
