#!/usr/bin/env python3
"""Known answers for driftlab's written orders, from an implementation that shares no code with them.

Every expected bit pattern in tests/fixtures/kat/kat.json is computed here by following the prose
of kernels/common/*_order.h (and half.h, exact.h, dropout.h, philox.h) step by step:
  * float32 / float64 additions, multiplications, subtractions and divisions are NumPy scalar
    operations on np.float32 / np.float64 (one IEEE rounding each, round to nearest even);
  * a fused multiply-add is the exact product-plus-sum as a fractions.Fraction, rounded once
    (fma32 below; Python 3.11 has no math.fma);
  * the exact sum is a Fraction sum rounded once (round_fraction below);
  * bf16/f16 narrowing is the nearest of the two neighbouring 16-bit values, compared as Fractions;
  * Philox4x32-10 is written from the paper's round function with Python integers.
Nothing here includes, calls or parses the C++ code.  The inputs are either listed as hex bits or
drawn from `gen` (a small integer hash, which tests/test_known_answers.cpp repeats: it is input
generation, not an order under test).

  python tests/kat/make_kat.py            # rewrite tests/fixtures/kat/kat.json
  python tests/kat/make_kat.py --check    # exit 1 when the committed fixture differs
"""
import json
import math
import struct
import sys
from fractions import Fraction
from pathlib import Path

try:
    import numpy as np
except ImportError:  # the ctest treats 77 as "skipped"
    print("make_kat.py: numpy is not installed (run ./scripts/setup.sh); skipped", file=sys.stderr)
    sys.exit(77)

F32, F64 = np.float32, np.float64
FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "kat" / "kat.json"
M32 = 0xFFFFFFFF

# ---------------------------------------------------------------- bits <-> values


def f32_bits(x):
    return struct.unpack("<I", struct.pack("<f", float(x)))[0]


def f32_from(u):
    return F32(struct.unpack("<f", struct.pack("<I", u))[0])


def f64_bits(x):
    return struct.unpack("<Q", struct.pack("<d", float(x)))[0]


def f64_from(u):
    return F64(struct.unpack("<d", struct.pack("<Q", u))[0])


def hx32(x):
    return "%08x" % f32_bits(x)


def hx64(x):
    return "%016x" % f64_bits(x)


def signbit(x):
    return math.copysign(1.0, float(x)) < 0


# ---------------------------------------------------------------- one rounding of an exact value


def round_fraction(q, p, emin, emax):
    """The float nearest to the nonzero Fraction q (p significand bits, normal exponents emin..emax),
    ties to even, subnormals kept, overflow to +-inf.  Returns a Python float (exact: p <= 53)."""
    neg = q < 0
    a = -q if neg else q
    e = a.numerator.bit_length() - a.denominator.bit_length()
    while Fraction(2) ** e > a:
        e -= 1
    while Fraction(2) ** (e + 1) <= a:
        e += 1
    qe = max(e, emin) - (p - 1)  # the quantum of a's binade (or of the subnormals)
    scaled = a / Fraction(2) ** qe
    n = scaled.numerator // scaled.denominator
    rem = scaled - n
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and n % 2 == 1):
        n += 1
    value = Fraction(n) * Fraction(2) ** qe
    if value >= Fraction(2) ** (emax + 1):
        r = math.inf
    else:
        r = float(value)  # exactly representable
    return -r if neg else r


def to_f32(q):
    return F32(round_fraction(q, 24, -126, 127))


def literal_f32(text):
    """A C++ float literal: the decimal text rounded once to float32."""
    return to_f32(Fraction(text))


def fma32(a, b, c):
    """fma(a, b, c) for finite float32: the exact a*b + c, rounded once."""
    a, b, c = F32(a), F32(b), F32(c)
    assert all(math.isfinite(float(v)) for v in (a, b, c))
    prod = Fraction(float(a)) * Fraction(float(b))
    exact = prod + Fraction(float(c))
    if exact == 0:
        if prod == 0 and float(c) == 0:  # IEEE: -0 only when both addends are -0
            neg = (signbit(a) != signbit(b)) and signbit(c)
            return F32(-0.0) if neg else F32(0.0)
        return F32(0.0)  # round to nearest: an exact cancellation is +0
    return to_f32(exact)


# ---------------------------------------------------------------- inputs: the shared hash


def fmix32(h):
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & M32
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & M32
    h ^= h >> 16
    return h


def gen_hash(seed, i):
    return fmix32((seed * 0x9E3779B1 + i * 0x85EBCA77 + 0x165667B1) & M32)


def gen_bits(g, dtype):
    """g = {seed, n, bmin, brange}: element i has sign and fraction from the hash and a biased
    exponent bmin + (hash >> 23 & 0xff) % brange (0 is a subnormal or zero)."""
    out = []
    for i in range(g["n"]):
        h = gen_hash(g["seed"], i)
        sign = h >> 31
        biased = g["bmin"] + ((h >> 23) & 0xFF) % g["brange"]
        if dtype == "f32":
            out.append((sign << 31) | (biased << 23) | (h & 0x7FFFFF))
        elif dtype == "bf16":
            out.append((sign << 15) | (biased << 7) | (h & 0x7F))
        elif dtype == "f16":
            out.append((sign << 15) | (biased << 10) | (h & 0x3FF))
        else:  # f64: 23 fraction bits from h, 29 more from a second hash
            h2 = fmix32(h ^ 0x5BD1E995)
            out.append((sign << 63) | (biased << 52) | ((h & 0x7FFFFF) << 29) | (h2 & 0x1FFFFFFF))
    return out


def widen(bits, dtype):
    """Exact value of each element as np.float32 (f32, bf16, f16) or np.float64."""
    if dtype == "f32":
        return [f32_from(u) for u in bits]
    if dtype == "f64":
        return [f64_from(u) for u in bits]
    if dtype == "bf16":
        return [f32_from(u << 16) for u in bits]
    return [F32(np.array([u], dtype=np.uint16).view(np.float16)[0]) for u in bits]  # exact


def input_bits(spec, dtype):
    return [int(h, 16) for h in spec["hex"]] if "hex" in spec else gen_bits(spec["gen"], dtype)


# ---------------------------------------------------------------- sum_order.h: the tree

LANES, ROWS = 1024, 64
TILE = LANES * ROWS


def tree_sum(vals, T):
    """sum_order.h steps 1-4.  vals: np scalars of type T (float32 or float64)."""
    n = len(vals)
    if n == 0:
        return T(0.0)
    level = list(vals)
    while True:
        partials = []
        for t0 in range(0, len(level), TILE):
            tile = level[t0:t0 + TILE]
            lanes = [T(-0.0)] * LANES                       # step 2: lanes start at -0.0
            for r0 in range(0, len(tile), LANES):            # rows in increasing order
                for j, v in enumerate(tile[r0:r0 + LANES]):  # a short row skips missing lanes
                    lanes[j] = T(lanes[j] + v)
            s = LANES // 2                                   # step 3: halving
            while s >= 1:
                for j in range(s):
                    lanes[j] = T(lanes[j] + lanes[j + s])
                s //= 2
            partials.append(lanes[0])
        if len(partials) == 1:
            return partials[0]
        level = partials                                     # step 4: reduce the partials


# ---------------------------------------------------------------- exact.h: one rounding


def exact_sum(vals, T):
    """IEEE 754's sum, computed exactly and rounded once (exact.h's header prose)."""
    fl = [float(v) for v in vals]
    if any(math.isnan(v) for v in fl) or (math.inf in fl and -math.inf in fl):
        return T(math.nan)
    if math.inf in fl:
        return T(math.inf)
    if -math.inf in fl:
        return T(-math.inf)
    s = sum((Fraction(v) for v in fl), Fraction(0))
    if s == 0:
        return T(-0.0) if fl and all(v == 0 and signbit(v) for v in fl) else T(0.0)
    if T is F32:
        return F32(round_fraction(s, 24, -126, 127))
    return F64(round_fraction(s, 53, -1022, 1023))


# ---------------------------------------------------------------- half.h: narrowing


def narrow(x, kind):
    """The 16-bit pattern nearest to float32 x (ties to even, subnormals kept, overflow to Inf)."""
    x = F32(x)
    if math.isnan(float(x)):
        return None  # NaN payload rules are not an order; the test checks only NaN-ness
    neg = signbit(x)
    a = abs(float(x))
    if kind == "bf16":
        p, emin, emax = 8, -126, 127
    else:
        p, emin, emax = 11, -14, 15
    if a == 0:
        mag = 0.0
    elif math.isinf(a):
        mag = math.inf
    else:
        mag = abs(round_fraction(Fraction(a), p, emin, emax))
    if kind == "bf16":
        u = f32_bits(F32(mag)) >> 16  # mag is a bf16 value: its float32 bits end in 16 zeros
        assert math.isinf(mag) or (f32_bits(F32(mag)) & 0xFFFF) == 0
    else:
        u = int(np.array([mag], dtype=np.float16).view(np.uint16)[0])  # mag is an f16 value
        assert math.isinf(mag) or float(np.float16(mag)) == mag
    return u | (0x8000 if neg else 0)


# ---------------------------------------------------------------- dense_order.h


def chain(x_row, W, j, N, k0, k1):
    acc = F32(0.0)
    for k in range(k0, k1):
        acc = fma32(x_row[k], W[k * N + j], acc)
    return acc


def act(v, a):
    return F32(0.0) if (a == "relu" and v < 0) else v


def dense_expect(c, x, W, b):
    B, K, N, S = c["B"], c["K"], c["N"], c["S"]
    y = []
    for i in range(B):
        row = x[i * K:(i + 1) * K]
        for j in range(N):
            if c["variant"] == "invariant":
                acc = chain(row, W, j, N, 0, K)
            else:  # tree: S slices of ks = ceil(K / S), possibly empty, then the pairwise tree
                ks = -(-K // S)
                p = [chain(row, W, j, N, min(K, s * ks), min(K, (s + 1) * ks)) for s in range(S)]
                stride = 1
                while stride < S:
                    for s in range(0, S - stride, 2 * stride):
                        p[s] = F32(p[s] + p[s + stride])
                    stride *= 2
                acc = p[0]
            y.append(act(F32(acc + b[j]), c["act"]))
    return y


# ---------------------------------------------------------------- attention_order.h

LOG2E = literal_f32("1.44269504088896341")
C1, C2 = literal_f32("-0.693359375"), literal_f32("2.12194440e-4")
POLY = [literal_f32(t) for t in ("1.9875691500e-4", "1.3981999507e-3", "8.3334519073e-3",
                                 "4.1665795894e-2", "1.6666665459e-1", "5.0000001201e-1")]
SHIFTER = F32(12582912.0)  # 1.5 * 2^23


def exp_nonpos(x):
    """Cephes expf as the header describes it: Cody-Waite by ln 2 with fma, degree-6 polynomial."""
    x = F32(x)
    if not (x >= F32(-87.0)):
        return x if math.isnan(float(x)) else F32(0.0)
    t = F32(x * LOG2E)
    k = F32(F32(t + SHIFTER) + F32(-SHIFTER))
    r = fma32(k, C1, x)
    r = fma32(k, C2, r)
    p = POLY[0]
    for c in POLY[1:]:
        p = fma32(p, r, c)
    y = F32(fma32(p, F32(r * r), r) + F32(1.0))
    return F32(y * F32(2.0 ** int(k)))


def fmax(a, b):  # "b if b > a, else a"
    return b if b > a else a


def rescale(m_old, m_new):
    return F32(0.0) if m_old == -math.inf else exp_nonpos(F32(m_old - m_new))


def attention_expect(c, q, Kc, V):
    B, H, d, lens = c["B"], c["H"], c["d"], c["kv_len"]
    scale = F32(F32(1.0) / np.sqrt(F32(d)))  # softmax_scale: sqrt and division, each rounded
    out = []
    off = 0
    for b in range(B):
        L = lens[b]
        C = L if c["variant"] == "single" else c["split_size"]
        for h in range(H):
            qv = q[(b * H + h) * d:(b * H + h + 1) * d]
            base = (off * H + h * L) * d
            parts = []
            for t0 in range(0, L, C):
                t1 = min(L, t0 + C)
                m, l, acc = F32(-math.inf), F32(0.0), [F32(0.0)] * d
                for u0 in range(t0, t1, 32):
                    toks = range(u0, min(t1, u0 + 32))
                    s = {}
                    for t in toks:
                        dot = F32(0.0)
                        for i in range(d):
                            dot = fma32(qv[i], Kc[base + t * d + i], dot)
                        s[t] = F32(dot * scale)
                    m_new = m
                    for t in toks:
                        m_new = fmax(m_new, s[t])
                    alpha = F32(0.0) if m == -math.inf else exp_nonpos(F32(m - m_new))
                    l = F32(l * alpha)
                    acc = [F32(a * alpha) for a in acc]
                    for t in toks:
                        p = exp_nonpos(F32(s[t] - m_new))
                        l = F32(l + p)
                        acc = [fma32(p, V[base + t * d + i], acc[i]) for i in range(d)]
                    m = m_new
                parts.append((m, l, acc))
            stride = 1
            while stride < len(parts):
                for j in range(0, len(parts) - stride, 2 * stride):
                    (ma, la, aa), (mb, lb, ab) = parts[j], parts[j + stride]
                    M = fmax(ma, mb)
                    ca, cb = rescale(ma, M), rescale(mb, M)
                    parts[j] = (M, F32(F32(la * ca) + F32(lb * cb)),
                                [F32(F32(aa[i] * ca) + F32(ab[i] * cb)) for i in range(d)])
                stride *= 2
            _, l, acc = parts[0]
            out += [F32(0.0) if l == 0 else F32(a / l) for a in acc]
        off += L
    return out


# ---------------------------------------------------------------- philox.h / dropout.h


def philox4x32_10(ctr, key):
    """Salmon et al., SC'11: 10 rounds; the key is bumped by the Weyl constants between rounds."""
    M0, M1, W0, W1 = 0xD2511F53, 0xCD9E8D57, 0x9E3779B9, 0xBB67AE85
    c0, c1, c2, c3 = ctr
    k0, k1 = key
    for r in range(10):
        if r:
            k0, k1 = (k0 + W0) & M32, (k1 + W1) & M32
        p0, p1 = M0 * c0, M1 * c2
        c0, c1, c2, c3 = ((p1 >> 32) ^ c1 ^ k0) & M32, p1 & M32, ((p0 >> 32) ^ c3 ^ k1) & M32, p0 & M32
    return [c0, c1, c2, c3]


def dropout_word(seed, call, layer, e):
    blk = e // 4
    ctr = [blk & M32, (blk >> 32) & M32, call & M32, ((call >> 32) & 0xFFFF) | ((layer << 16) & M32)]
    return philox4x32_10(ctr, [seed & M32, seed >> 32])[e % 4]


def drop_threshold(rate):
    """round(rate * 2^32), halves up, clamped to [0, 2^32 - 1]; NaN and rate <= 0 give 0."""
    rate = float(rate)
    if math.isnan(rate) or rate <= 0:
        return 0
    v = Fraction(rate) * 2 ** 32
    t = math.floor(v)
    r = t + 1 if v - t >= Fraction(1, 2) else t
    return min(r, 0xFFFFFFFF)


# ---------------------------------------------------------------- the cases


def sum_cases():
    z, nz = "00000000", "80000000"
    tiny, maxf = "00000001", "7f7fffff"
    inf, ninf, nan = "7f800000", "ff800000", "7fc00000"
    one = "3f800000"
    cases = [
        ("empty", "f32", {"hex": []}),
        ("one_neg_zero", "f32", {"hex": [nz]}),           # the lanes' -0.0 identity shows here
        ("one_pos_zero", "f32", {"hex": [z]}),
        ("zeros_mixed", "f32", {"hex": [nz, z, nz]}),
        ("neg_zeros_1025", "f32", {"hex": [nz] * 1025}),
        ("one_value", "f32", {"hex": ["c0490fdb"]}),
        ("three", "f32", {"hex": ["3f800000", "33800000", "33800000"]}),  # 1 + 2^-24 + 2^-24
        ("subnormals", "f32", {"hex": [tiny, "807fffff", "00400000", tiny, "80000003"]}),
        ("inf", "f32", {"hex": [one, inf, "c2c80000"]}),
        ("inf_minus_inf", "f32", {"hex": [inf, one, ninf]}),
        ("nan", "f32", {"hex": [one, nan, one]}),
        ("overflow", "f32", {"hex": [maxf, maxf, "ff7fffff"]}),
        ("odd_7", "f32", {"gen": {"seed": 1, "n": 7, "bmin": 100, "brange": 40}}),
        ("row_plus_one_1025", "f32", {"gen": {"seed": 2, "n": 1025, "bmin": 110, "brange": 30}}),
        ("odd_4099", "f32", {"gen": {"seed": 3, "n": 4099, "bmin": 0, "brange": 190}}),
        ("tile_plus_one_65537", "f32", {"gen": {"seed": 4, "n": 65537, "bmin": 100, "brange": 50}}),
        ("tiles_131075", "f32", {"gen": {"seed": 5, "n": 131075, "bmin": 120, "brange": 12}}),
        ("f64_one_neg_zero", "f64", {"hex": ["8000000000000000"]}),
        ("f64_subnormals", "f64", {"hex": ["0000000000000001", "800fffffffffffff", "0008000000000000"]}),
        ("f64_odd_1027", "f64", {"gen": {"seed": 6, "n": 1027, "bmin": 990, "brange": 60}}),
        ("f64_tile_plus_one_65537", "f64", {"gen": {"seed": 7, "n": 65537, "bmin": 1000, "brange": 40}}),
        ("bf16_odd_1031", "bf16", {"gen": {"seed": 8, "n": 1031, "bmin": 110, "brange": 30}}),
        ("bf16_tile_plus_one_65537", "bf16", {"gen": {"seed": 9, "n": 65537, "bmin": 0, "brange": 140}}),
        ("bf16_neg_zero", "bf16", {"hex": ["8000", "8000"]}),
        ("f16_odd_999", "f16", {"gen": {"seed": 10, "n": 999, "bmin": 0, "brange": 31}}),
        ("f16_tile_plus_one_65537", "f16", {"gen": {"seed": 11, "n": 65537, "bmin": 5, "brange": 20}}),
    ]
    # the exact sum: ties (its rounding mode), cancellation, specials, signed zeros, overflow
    exact_only = [
        ("tie_to_even_down", "f32", {"hex": [one, "33800000"]}),               # 1 + 2^-24
        ("tie_to_even_up", "f32", {"hex": ["3f800001", "33800000"]}),          # (1 + 2^-23) + 2^-24
        ("above_tie", "f32", {"hex": [one, "33800000", tiny]}),
        ("below_tie", "f32", {"hex": [one, "33800000", "80000001"]}),
        ("cancel", "f32", {"hex": ["7149f2ca", one, "f149f2ca", "33800000"]}),  # 1e30 + 1 - 1e30 + 2^-24
        ("exact_zero", "f32", {"hex": [one, "bf800000"]}),
        ("f64_tie", "f64", {"hex": ["3ff0000000000000", "3ca0000000000000"]}),  # 1 + 2^-53
        ("f64_tie_up", "f64", {"hex": ["3ff0000000000001", "3ca0000000000000"]}),
        ("f64_inf_minus_inf", "f64", {"hex": ["7ff0000000000000", "fff0000000000000"]}),
        ("f64_overflow", "f64", {"hex": ["7fefffffffffffff", "7ca0000000000000"]}),  # max + half an ulp: ties to even -> inf
    ]
    out = []
    for variant in ("tree", "exact"):
        for name, dtype, spec in cases + (exact_only if variant == "exact" else []):
            bits = input_bits(spec, dtype)
            vals = widen(bits, dtype)
            T = F64 if dtype == "f64" else F32
            r = tree_sum(vals, T) if variant == "tree" else exact_sum(vals, T)
            expect = "nan" if math.isnan(float(r)) else (hx64(r) if T is F64 else hx32(r))
            out.append({"name": name, "variant": variant, "dtype": dtype, "input": spec, "expect": expect})
    return out


def narrow_cases():
    xs = ["3f808000", "3f818000", "3f808001", "3f80ffff", "7f7fffff", "7f7f8000", "7f7f7fff", "00000001",
          "00008000", "00018000", "80008000", "007fffff", "80000000", "ff800000", "477ff000", "477fefff",
          "33000000", "33000001", "387fc000", "38800000", "3f801000", "3f803000", "b3400000", "c77fe000",
          "3f802000", "3f806000", "7fc00001", "ffa00000"]
    xs += ["%08x" % u for u in gen_bits({"seed": 12, "n": 64, "bmin": 90, "brange": 70}, "f32")]
    out = []
    for kind in ("bf16", "f16"):
        exp = []
        for h in xs:
            u = narrow(f32_from(int(h, 16)), kind)
            exp.append("nan" if u is None else "%04x" % u)
        out.append({"kind": kind, "input": xs, "expect": exp})
    return out


def dense_cases():
    base = [
        # (name, variant, B, K, N, S, act)
        ("invariant_k37", "invariant", 3, 37, 5, 1, "linear"),
        ("invariant_k1_relu", "invariant", 2, 1, 3, 1, "relu"),
        ("tree_s1", "tree", 3, 37, 5, 1, "linear"),
        ("tree_s3_k37", "tree", 3, 37, 5, 3, "relu"),
        ("tree_s5_k37", "tree", 3, 37, 5, 5, "linear"),
        ("tree_s8_k37", "tree", 2, 37, 3, 8, "linear"),
        ("tree_s32_k37_empty_slices", "tree", 2, 37, 3, 32, "linear"),
        ("tree_s6_k61", "tree", 4, 61, 7, 6, "relu"),
        ("tree_s6_k48_even_slices", "tree", 2, 48, 3, 6, "linear"),
    ]
    out = []
    for n, (name, variant, B, K, N, S, a) in enumerate(base):
        xs = {"gen": {"seed": 100 + n, "n": B * K, "bmin": 118, "brange": 12}}
        Ws = {"gen": {"seed": 200 + n, "n": K * N, "bmin": 115, "brange": 14}}
        bs = {"gen": {"seed": 300 + n, "n": N, "bmin": 110, "brange": 20}}
        x, W, b = (widen(input_bits(s, "f32"), "f32") for s in (xs, Ws, bs))
        c = {"name": name, "variant": variant, "B": B, "K": K, "N": N, "S": S, "act": a, "x": xs, "W": Ws, "b": bs}
        c["expect"] = [hx32(v) for v in dense_expect(c, x, W, b)]
        out.append(c)
    return out


def attention_cases():
    base = [
        # (name, variant, split_size, B, H, d, kv_len, q's bmin/brange)
        ("single_short", "single", 0, 2, 2, 5, [1, 7], 124, 6),
        ("single_tiles", "single", 0, 1, 2, 7, [70], 124, 6),
        ("single_max_shift", "single", 0, 1, 1, 8, [65], 128, 4),    # large logits: the max moves, exp flushes
        ("fixed_split_33", "fixed_split", 33, 2, 1, 5, [100, 33], 124, 6),
        ("fixed_split_16_shift", "fixed_split", 16, 1, 2, 6, [77], 128, 4),
        ("fixed_split_256_one_chunk", "fixed_split", 256, 1, 1, 3, [40], 126, 4),
    ]
    out = []
    for n, (name, variant, split, B, H, d, lens, qb, qr) in enumerate(base):
        kvn = sum(lens) * H * d
        qs = {"gen": {"seed": 400 + n, "n": B * H * d, "bmin": qb, "brange": qr}}
        ks = {"gen": {"seed": 500 + n, "n": kvn, "bmin": 122, "brange": 8}}
        vs = {"gen": {"seed": 600 + n, "n": kvn, "bmin": 118, "brange": 12}}
        q, K, V = (widen(input_bits(s, "f32"), "f32") for s in (qs, ks, vs))
        c = {"name": name, "variant": variant, "split_size": split, "B": B, "H": H, "d": d, "kv_len": lens,
             "q": qs, "K": ks, "V": vs}
        c["expect"] = [hx32(v) for v in attention_expect(c, q, K, V)]
        out.append(c)
    return out


def dropout_cases():
    words = []
    for seed, call, layer in ((0, 0, 0), (0x0123456789ABCDEF, 5, 2), (42, (1 << 40) + 3, 65535),
                              (0xFFFFFFFFFFFFFFFF, 0xFFFFFFFFFFFF, 1)):
        for e in (0, 1, 2, 3, 4, 7, 1001, (1 << 33) + 6):
            words.append({"seed": "%016x" % seed, "call": "%016x" % call, "layer": layer, "e": "%016x" % e,
                          "word": "%08x" % dropout_word(seed, call, layer, e)})
    rates = ["00000000", "3e99999a", "3f000000", "3f7fffff", "3f800000", "bf000000", "7fc00000", "2f800000",
             "2f000000", "2f400000", "00000001"]
    thresholds = [{"rate": r, "threshold": "%08x" % drop_threshold(f32_from(int(r, 16)))} for r in rates]
    scales = []
    for r in ("00000000", "3e99999a", "3f000000", "3dcccccd", "3f666666"):
        rate = f32_from(int(r, 16))
        scales.append({"rate": r, "scale": hx32(F32(F32(1.0) / F32(F32(1.0) - rate)))})
    return {"words": words, "thresholds": thresholds, "keep_scales": scales}


def function_cases():
    """The header functions only the CUDA kernels call (the CPU twins do the same arithmetic in
    their own loops), checked one by one so that a change to them shows on a machine without a GPU:
    attention's exp_nonpos, score, rescale, merge and finish; dense's tree_combine; the sum tree's
    last in-thread halvings (quad_finish)."""
    xs = ["00000000", "80000000", "bf800000", "c2ae0000", "c2adffff", "c2ae0001", "c2b00000", "ff800000",
          "3f000000", "bf317218", "c1200000", "be000000", "c2a00000", "b3800000", "80000001", "c2aa0000"]
    xs += ["%08x" % (u | 0x80000000) for u in gen_bits({"seed": 13, "n": 48, "bmin": 100, "brange": 33}, "f32")]
    xs = [h for h in xs if not (f32_from(int(h, 16)) > 0)]  # exp_nonpos takes x <= 0 (and NaN)
    exps = [{"x": h, "y": hx32(exp_nonpos(f32_from(int(h, 16))))} for h in xs]
    scores = []
    # (d, biased exponent range): a narrow range makes the products alike in size, so that a
    # rounding of one of them (mul + add instead of fma) reaches the sum
    for n, (d, bmin, brange) in enumerate(((1, 122, 10), (5, 122, 10), (8, 122, 10), (33, 122, 10), (5, 126, 2),
                                            (16, 126, 2), (64, 126, 2), (128, 126, 2))):
        qs = {"gen": {"seed": 700 + n, "n": d, "bmin": bmin, "brange": brange}}
        ks = {"gen": {"seed": 800 + n, "n": d, "bmin": bmin, "brange": brange}}
        q, k = widen(input_bits(qs, "f32"), "f32"), widen(input_bits(ks, "f32"), "f32")
        scale = F32(F32(1.0) / np.sqrt(F32(d)))
        dot = F32(0.0)
        for i in range(d):
            dot = fma32(q[i], k[i], dot)
        scores.append({"d": d, "q": qs, "k": ks, "scale": hx32(scale), "s": hx32(F32(dot * scale))})
    # merges: (m_a, m_b, l_a, l_b, acc_a, acc_b); -inf maxima are empty partials
    merges, merge_inputs = [], []
    for ma, mb, la, lb, aa, ab in (("40a00000", "40400000", "40000000", "3fc00000", "3f8ccccd", "bf99999a"),
                                   ("c0000000", "41200000", "3f800000", "40800000", "40490fdb", "3e4ccccd"),
                                   ("ff800000", "3f800000", "00000000", "40000000", "00000000", "3f000000"),
                                   ("42c80000", "00000000", "3f800000", "3f800000", "3f800000", "3f800000"),
                                   ("3f800000", "3f800000", "3f99999a", "3fb33333", "bdcccccd", "3e99999a")):
        merge_inputs.append((ma, mb, la, lb, aa, ab))
    # generated pairs whose maxima are close (both factors well inside (0, 1]), either one larger
    g = gen_bits({"seed": 16, "n": 6 * 24, "bmin": 124, "brange": 4}, "f32")
    for i in range(24):
        ma, delta, la, lb, aa, ab = (f32_from(u) for u in g[6 * i:6 * i + 6])
        mb = F32(ma + abs(delta)) if i % 2 else F32(ma - abs(delta))
        merge_inputs.append(tuple(hx32(v) for v in (ma, mb, abs(la), abs(lb), aa, ab)))
    for ma, mb, la, lb, aa, ab in merge_inputs:
        v = {k: f32_from(int(h, 16)) for k, h in (("ma", ma), ("mb", mb), ("la", la), ("lb", lb), ("aa", aa), ("ab", ab))}
        M = fmax(v["ma"], v["mb"])
        ca, cb = rescale(v["ma"], M), rescale(v["mb"], M)
        l = F32(F32(v["la"] * ca) + F32(v["lb"] * cb))
        acc = F32(F32(v["aa"] * ca) + F32(v["ab"] * cb))
        merges.append({"m_a": ma, "m_b": mb, "l_a": la, "l_b": lb, "acc_a": aa, "acc_b": ab,
                       "M": hx32(M), "ca": hx32(ca), "cb": hx32(cb), "l": hx32(l), "acc": hx32(acc),
                       "out": hx32(F32(0.0) if l == 0 else F32(acc / l))})
    finishes = []
    for a, l in (("3f800000", "40400000"), ("40490fdb", "3fb504f3"), ("bf800000", "41300000"), ("3f800000", "00000000"),
                 ("3e4ccccd", "3f7ffffe"), ("00000001", "3f000000"), ("7f7fffff", "3e800000"), ("80000000", "40000000")):
        va, vl = f32_from(int(a, 16)), f32_from(int(l, 16))
        finishes.append({"acc": a, "l": l, "out": hx32(F32(0.0) if vl == 0 else F32(va / vl))})
    trees = []
    ps = widen(gen_bits({"seed": 14, "n": 32 * 3, "bmin": 110, "brange": 30}, "f32"), "f32")
    for S in range(1, 33):
        for stride in (1, 3):
            v = [ps[s * stride] for s in range(S)]
            st = 1
            while st < S:
                for s in range(0, S - st, 2 * st):
                    v[s] = F32(v[s] + v[s + st])
                st *= 2
            trees.append({"S": S, "stride": stride, "out": hx32(v[0])})
    quads = []
    qv = gen_bits({"seed": 15, "n": 40, "bmin": 100, "brange": 40}, "f32")
    for i in range(0, 40, 4):
        a = [f32_from(u) for u in qv[i:i + 4]]
        lanes = list(a)
        for s in (2, 1):  # sum_order.h step 3's last two halvings
            for j in range(s):
                lanes[j] = F32(lanes[j] + lanes[j + s])
        quads.append({"a": ["%08x" % u for u in qv[i:i + 4]], "out": hx32(lanes[0])})
    quads.append({"a": ["80000000"] * 4, "out": hx32(F32(F32(F32(-0.0) + F32(-0.0)) + F32(F32(-0.0) + F32(-0.0))))})
    return {"exp_nonpos": exps, "score": scores, "merge": merges, "finish": finishes, "tree_combine": trees,
            "tree_partials": {"gen": {"seed": 14, "n": 96, "bmin": 110, "brange": 30}}, "quad_finish": quads}


def build():
    return {
        "generator": "tests/kat/make_kat.py (NumPy float scalars, Fraction fma and rounding; no C++)",
        "sum": sum_cases(),
        "narrow": narrow_cases(),
        "dense": dense_cases(),
        "attention": attention_cases(),
        "dropout": dropout_cases(),
        "functions": function_cases(),
    }


def main():
    with np.errstate(all="ignore"):
        text = json.dumps(build(), indent=1, sort_keys=True) + "\n"
    if sys.argv[1:] == ["--check"]:
        have = FIXTURE.read_text() if FIXTURE.exists() else ""
        if have != text:
            print("make_kat.py: %s is not what the script produces; rerun it" % FIXTURE, file=sys.stderr)
            return 1
        print("make_kat.py: fixture matches")
        return 0
    if sys.argv[1:]:
        print("usage: make_kat.py [--check]", file=sys.stderr)
        return 2
    FIXTURE.parent.mkdir(parents=True, exist_ok=True)
    FIXTURE.write_text(text)
    print("make_kat.py: wrote", FIXTURE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
