// Plain-text tables: a right-aligned column of width w that always keeps one space before its
// value, so that a value wider than its column (a float64 ULP count, a sign flip's 10-digit one)
// moves the rest of its row instead of running into the value before it.
#pragma once

#include <iomanip>
#include <ostream>

namespace driftlab {

struct Col {
  int w;
};
inline std::ostream& operator<<(std::ostream& o, Col c) { return o << ' ' << std::setw(c.w - 1); }

}  // namespace driftlab
