// Tasks shared by the sched tests: a pinger that sends sequence numbers through one channel and
// waits for each to come back through another, and a ponger that echoes them.
#pragma once

#include <cstdint>
#include <string_view>

#include "base/status.h"
#include "sched/channel.h"
#include "sched/task.h"

namespace weir::sched {

class PingerTask final : public Task {
 public:
  PingerTask(Channel<uint64_t>* out, Channel<uint64_t>* in, uint64_t rounds)
      : out_(out), in_(in), rounds_(rounds) {}

  Progress RunOnce(int64_t) override {
    if (awaiting_) {
      uint64_t reply;
      if (!in_->TryPop(reply)) return Progress::kIdle;
      if (reply != completed_) {
        status_ = DataLoss("sent {} but got {} back", completed_, reply);
        return Progress::kFailed;
      }
      awaiting_ = false;
      if (++completed_ == rounds_) return Progress::kFinished;
    }
    uint64_t ping = completed_;
    if (!out_->TryPush(std::move(ping))) return Progress::kIdle;
    awaiting_ = true;
    return Progress::kDidWork;
  }
  Status status() const override { return status_; }
  std::string_view name() const override { return "pinger"; }

  uint64_t completed() const { return completed_; }

 private:
  Channel<uint64_t>* out_;
  Channel<uint64_t>* in_;
  uint64_t rounds_;
  uint64_t completed_ = 0;
  bool awaiting_ = false;
  Status status_;
};

class PongerTask final : public Task {
 public:
  PongerTask(Channel<uint64_t>* in, Channel<uint64_t>* out, uint64_t rounds)
      : in_(in), out_(out), rounds_(rounds) {}

  Progress RunOnce(int64_t) override {
    if (!holding_) {
      if (!in_->TryPop(value_)) return Progress::kIdle;
      holding_ = true;
    }
    uint64_t echo = value_;
    if (!out_->TryPush(std::move(echo))) return Progress::kIdle;
    holding_ = false;
    return ++echoed_ == rounds_ ? Progress::kFinished : Progress::kDidWork;
  }
  std::string_view name() const override { return "ponger"; }

 private:
  Channel<uint64_t>* in_;
  Channel<uint64_t>* out_;
  uint64_t rounds_;
  uint64_t value_ = 0;
  uint64_t echoed_ = 0;
  bool holding_ = false;
};

}  // namespace weir::sched
