// libFuzzer target: the --keras file reader (parse_json and the keras_check.py schema checks) on
// arbitrary bytes.  The promise: a std::runtime_error with a one-line message, or a KerasCheck
// whose text holds no control byte (it reaches the terminal, REPORT.md and JSON) and whose counts
// are whole numbers from 0 to 2^53; never a crash, a leak, UB or another exception.
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <stdexcept>
#include <string>
#include <string_view>

#include "host/scenarios/scenarios.h"

namespace {

void no_control(const std::string& s) {
  for (const char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  try {
    const driftlab::KerasCheck k = driftlab::parse_keras_check(text, "fuzz.json");
    no_control(k.tensorflow);
    no_control(k.keras);
    for (const auto& [key, r] : k.rows) {
      for (const std::string* s : {&r.key, &r.source, &r.ran, &r.verdict, &r.verdict_text}) no_control(*s);
      for (const auto& [name, v] : r.numbers) {
        no_control(name);
        if (!(v >= 0 && v <= 9007199254740992.0 && v == std::floor(v))) std::abort();
      }
    }
  } catch (const std::runtime_error& e) {
    if (std::string(e.what()).find('\n') != std::string::npos) std::abort();  // one line
  }
  return 0;
}
