// The dispatcher (isa.h) and, where the x86 vector paths are compiled, the intrinsics: included by
// the kernels' sources only, so that headers the host includes stay free of <immintrin.h>.
#pragma once

#include "kernels/cpu/isa.h"

#if DRIFTLAB_X86
#include <immintrin.h>
#endif
