// CollectionSource: the elements of a collection, in order (Flink's fromElements /
// fromCollection). Non-parallel, as in Flink: the API runs it with parallelism 1.
//
// Replayable: the position (the index of the next element) is the checkpoint blob
// "collection-position". Every subtask emits the whole collection, so restoring at another
// parallelism is refused with FailedPrecondition.
#pragma once

#include <memory>
#include <vector>

#include "connectors/checkpoint_blob.h"
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

  Status SnapshotState(state::SnapshotWriter& writer) override {
    BlobWriter blob(kTag);
    blob.PutInt64(static_cast<int64_t>(elements_->size()));
    blob.PutInt64(static_cast<int64_t>(next_));
    writer.AddBlob(kState, std::move(blob).Finish());
    return Status::Ok();
  }

  Status RestoreState(state::RestoreReader& reader) override {
    const operators::OperatorContext& context = *this->context();
    ASSIGN_OR_RETURN(std::optional<std::string> bytes,
                     OwnPositionBlob(reader, context, kState, "a collection source",
                                     "its position is an index into the share of this subtask"));
    if (!bytes.has_value()) return Status::Ok();
    BlobReader blob(*bytes, context.task_name);
    RETURN_IF_ERROR(blob.ExpectTag(kTag));
    ASSIGN_OR_RETURN(int64_t size, blob.GetInt64());
    ASSIGN_OR_RETURN(int64_t next, blob.GetInt64());
    RETURN_IF_ERROR(blob.ExpectEnd());
    if (size != static_cast<int64_t>(elements_->size()) || next < 0 || next > size) {
      return FailedPrecondition("{}: checkpointed position {} of {} elements does not fit this collection of {}",
                                context.task_name, next, size, elements_->size());
    }
    next_ = static_cast<size_t>(next);
    return Status::Ok();
  }

 private:
  static constexpr std::string_view kTag = "COL1";
  static constexpr std::string_view kState = "collection-position";

  std::shared_ptr<const std::vector<T>> elements_;
  size_t next_ = 0;
};

}  // namespace weir::connectors
