// Progress of a long loop, shown only on a terminal: one line on stderr rewritten in place, first
// after two seconds and then at most twice a second, and erased when the loop ends.  Pipes and
// files (tests, scripts, the report's logs) never see it.
#pragma once

#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace driftlab {

class LoopProgress {
 public:
  LoopProgress(std::string what, std::uint64_t total)
      : what_(std::move(what)), total_(total), on_(::isatty(STDERR_FILENO) == 1), start_(Clock::now()), last_(start_) {}
  ~LoopProgress() {
    if (shown_) std::fprintf(stderr, "\r\033[K");
  }
  LoopProgress(const LoopProgress&) = delete;
  LoopProgress& operator=(const LoopProgress&) = delete;

  void step(std::uint64_t done) {
    if (!on_) return;
    const auto now = Clock::now();
    if (now - start_ < std::chrono::seconds(2) || now - last_ < std::chrono::milliseconds(500)) return;
    last_ = now;
    shown_ = true;
    const double s = std::chrono::duration<double>(now - start_).count();
    const double left = done ? s * static_cast<double>(total_ - done) / static_cast<double>(done) : 0;
    std::fprintf(stderr, "\r\033[K%s: %llu of %llu, %.0f s, about %.0f s left", what_.c_str(),
                 static_cast<unsigned long long>(done), static_cast<unsigned long long>(total_), s, left);
    std::fflush(stderr);
  }

 private:
  using Clock = std::chrono::steady_clock;
  std::string what_;
  std::uint64_t total_;
  bool on_, shown_ = false;
  Clock::time_point start_, last_;
};

}  // namespace driftlab
