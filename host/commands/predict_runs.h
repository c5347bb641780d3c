// `driftlab predict`'s runs and where their results go.  One process reports to a RunSink, in
// order: begin (once), then per variant: variant, run (per run), end_variant; then vendor (per
// run: the same inference through OpenBLAS or cuBLAS).  In one process the sink is the
// Collector; with --processes P each child streams the same calls to its parent through a pipe
// (ChildWriter, predict_children.cpp), and the parent replays them into its Collector.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/common/dense_variant.h"
#include "host/metrics/metrics.h"
#include "host/commands/predict_command.h"
#include "host/common/progress.h"

namespace driftlab {

struct LocalInfo {
  std::string backend, device, atomic_note, model, origin;
  std::size_t B = 0, N = 0;
};
struct RunSink {
  virtual ~RunSink() = default;
  virtual void begin(const LocalInfo& info) = 0;
  virtual void variant(DenseVariant v, const std::vector<std::size_t>& slices) = 0;
  virtual void run(std::span<const float> output, double ms) = 0;
  // A 16-bit model: the run's float32 output before the rounding, just before its run().
  virtual void run_before(std::span<const float> output) = 0;
  virtual void end_variant(double ref_err) = 0;
  virtual void vendor(const std::string& name, double ms) = 0;
  // One process on a backend whose outputs stay on the device (CUDA): runs after run 0 report
  // only their time, and the variant's drift comes whole from the device tracker.
  virtual bool wants_device_drift() const { return false; }
  virtual void run_on_device(double /*ms*/) { throw std::logic_error("this sink takes host outputs only"); }
  virtual void device_drift(const OutputDrift& /*d*/) { throw std::logic_error("this sink takes host outputs only"); }
};

// What the parent keeps: per variant, run 0 and the streaming drift state, the times, and
// process 0's reference error.  Memory does not grow with --runs (8 bytes a run for the times).
struct VariantState {
  DenseVariant variant{};
  std::vector<std::size_t> slices;
  std::optional<OutputDriftStream> drift;  // run 0, and every run unless `device` is set
  std::optional<OutputDriftStream> before;  // a 16-bit model: the float32 outputs before rounding
  std::optional<OutputDrift> device;       // the whole drift from the device tracker (CUDA)
  std::vector<double> ms;
  double ref_err = 0;
};

class Collector : public RunSink {
 public:
  // device_drift: one process, so a backend that keeps outputs on the device may compare them there.
  Collector(std::size_t total_runs, bool device_drift, bool half)
      : progress_("driftlab predict: runs", total_runs), device_drift_(device_drift), half_(half) {}
  void begin(const LocalInfo& info) override {
    ++process_;
    k_ = 0;
    if (process_ == 1) info_ = info;
    else if (info.B != info_.B || info.N != info_.N || info.model != info_.model)
      throw std::runtime_error("child processes disagree on the model or batch");
  }
  void variant(DenseVariant v, const std::vector<std::size_t>& slices) override {
    if (process_ == 1) {
      VariantState s;
      s.variant = v;
      s.slices = slices;
      s.drift.emplace(info_.B, info_.N);
      if (half_) s.before.emplace(info_.B, info_.N);
      variants_.push_back(std::move(s));
    } else if (k_ >= variants_.size() || variants_[k_].variant != v) {
      throw std::runtime_error("child processes disagree on the variants");
    }
    cur_ = &variants_[k_++];
  }
  void run(std::span<const float> output, double ms) override {
    if (!cur_) throw std::runtime_error("child result: a run before its variant");
    cur_->drift->add(output);
    cur_->ms.push_back(ms);
    progress_.step(++done_);
  }
  void run_before(std::span<const float> output) override {
    if (!cur_ || !cur_->before) throw std::runtime_error("child result: an unexpected pre-rounding output");
    cur_->before->add(output);
  }
  void end_variant(double ref_err) override {
    if (process_ == 1 && cur_) cur_->ref_err = ref_err;
    cur_ = nullptr;
  }
  void vendor(const std::string& name, double ms) override {
    vendor_ = name;
    vendor_ms_.push_back(ms);
  }
  bool wants_device_drift() const override { return device_drift_; }
  void run_on_device(double ms) override {
    if (!cur_) throw std::runtime_error("a run before its variant");
    cur_->ms.push_back(ms);
    progress_.step(++done_);
  }
  void device_drift(const OutputDrift& d) override {
    if (cur_) cur_->device = d;
  }
  const LocalInfo& info() const { return info_; }
  const std::vector<VariantState>& variants() const { return variants_; }
  const std::string& vendor_name() const { return vendor_; }
  const std::vector<double>& vendor_ms() const { return vendor_ms_; }

 private:
  LoopProgress progress_;
  LocalInfo info_;
  std::vector<VariantState> variants_;
  VariantState* cur_ = nullptr;
  std::string vendor_;
  std::vector<double> vendor_ms_;  // 8 bytes a run, as the variants' times
  std::size_t process_ = 0, k_ = 0;
  std::uint64_t done_ = 0;
  bool device_drift_ = false, half_ = false;
};

// Runs `a` in this process and reports to `sink` (predict_command.cpp).
void run_local(const PredictArgs& a, RunSink& sink);

// The parent's side: runs a.processes children of this program, one after another, and streams
// their results into `sink`.  The child's side: child_main, when kChildFdEnv is set.
void run_children(const PredictArgs& a, RunSink& sink);
inline constexpr const char* kChildFdEnv = "DRIFTLAB_PREDICT_CHILD_FD";
int child_main(const PredictArgs& a, const char* fd_text);

}  // namespace driftlab
