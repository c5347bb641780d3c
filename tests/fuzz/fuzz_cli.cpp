// libFuzzer target: the command-line parsers.  The input is split at NUL bytes into argv words
// and given to predict's, sum's, attention's and trace's parsers and to the shared value parsers.  The promise: a
// UsageError (run_cli prints it as one line, control bytes escaped; its first finding was a
// newline inside a value echoed in the message), or arguments that reproduce themselves -- predict's to_argv
// (what a parent passes to its children) parses back to the same values, the dropout rate bit
// for bit.
#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

#include "host/commands/attention_command.h"
#include "host/common/cli_args.h"
#include "host/commands/predict_command.h"
#include "host/commands/sum_command.h"
#include "host/commands/trace_command.h"

namespace {

// Any other exception escapes and aborts: libFuzzer reports it.
template <class F> void expect_usage(F&& f) {
  try {
    f();
  } catch (const driftlab::UsageError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  std::vector<std::string> words;
  for (std::size_t at = 0;;) {
    const std::size_t nul = text.find('\0', at);
    words.push_back(text.substr(at, nul == std::string::npos ? std::string::npos : nul - at));
    if (nul == std::string::npos) break;
    at = nul + 1;
  }
  const std::vector<std::string_view> args(words.begin(), words.end());

  for (const auto& w : args) {
    expect_usage([&] { driftlab::parse_count(w, "--n"); });
    expect_usage([&] { driftlab::parse_threads(w); });
    expect_usage([&] { driftlab::parse_backend(w); });
    expect_usage([&] { driftlab::parse_bool(w, "--training"); });
    expect_usage([&] {
      const float f = driftlab::parse_rate(w, "--dropout");
      if (!(f >= 0.0f && f < 1.0f)) std::abort();
      const std::string back = driftlab::float_text(f);
      if (std::bit_cast<std::uint32_t>(driftlab::parse_rate(back, "--dropout")) != std::bit_cast<std::uint32_t>(f))
        std::abort();  // a child must read the parent's rate bit for bit
    });
  }
  expect_usage([&] { driftlab::parse_sum_args(args); });
  expect_usage([&] {
    const driftlab::AttentionArgs a = driftlab::parse_attention_args(args);
    // What the parser accepts fits its bounds: the run may rely on them.
    if (a.batch < 1 || a.batch > 4096 || a.heads < 1 || a.batch * a.heads > 65535 || a.runs < 1 ||
        (!a.other_kv_lens.empty() && a.batch == 1) || (a.json && a.json->empty()))
      std::abort();
  });
  expect_usage([&] {
    const driftlab::TraceArgs t = driftlab::parse_trace_args(args);
    if (t.json && t.json->empty()) std::abort();
  });
  expect_usage([&] { driftlab::parse_path(args.empty() ? std::string_view() : args[0], "--json"); });
  expect_usage([&] {
    const driftlab::PredictArgs a = driftlab::parse_predict_args(args);
    const std::vector<std::string> child = driftlab::to_argv(a);
    const std::vector<std::string_view> child_args(child.begin(), child.end());
    driftlab::PredictArgs b;
    try {
      b = driftlab::parse_predict_args(child_args);
    } catch (const driftlab::UsageError&) {
      std::abort();  // what the parent accepted, its children must accept
    }
    if (std::bit_cast<std::uint32_t>(a.dropout) != std::bit_cast<std::uint32_t>(b.dropout) || a.runs != b.runs ||
        a.training != b.training || a.dropout_seed != b.dropout_seed || a.init_seed != b.init_seed ||
        a.seed != b.seed || (!a.input && a.batch != b.batch) || a.layers != b.layers || a.acts != b.acts || a.split_k != b.split_k ||
        a.threads != b.threads || a.shuffle_seed != b.shuffle_seed || a.variant != b.variant ||
        a.backend != b.backend || a.weights != b.weights || a.input != b.input)
      std::abort();
  });
  return 0;
}
