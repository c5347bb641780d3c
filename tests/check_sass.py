#!/usr/bin/env python3
"""Reads the sm_90 SASS of driftlab's built CUDA kernels and asserts the structure their speed
depends on (issue 18), the way check_spills.py asserts "no spills": evidence without a GPU.

    python3 tests/check_sass.py OBJECT [--only sum|exact|dense|attention]...

OBJECT: anything cuobjdump reads that holds sm_90 code of the kernels (the kernels' static library
build/kernels/libdriftlab_kernels_cuda.a, one of its .o files, or a linked binary).  Exit 0 when
every checked assertion holds, 1 when one fails (each failure is one FAIL line with the figures),
77 (skipped, with the reason) when cuobjdump is not found or OBJECT is missing or empty (the CUDA
backend is off).  cuobjdump is looked for in $CUOBJDUMP, on PATH, in /usr/local/cuda/bin and in the NVIDIA
PyPI packages of the project's .venv (scripts/setup.sh installs nvidia-cuda-cuobjdump there).

Families and what each asserts (kernels are picked by name, mangled or demangled):
  sum        tile_kernel<float, false> (the f32 `tree`): its main loop (the innermost loop with the
             most LDG.E.128) issues >= 4 LDG.E.128 before an FADD (counted cyclically over the loop
             body, so a software-pipelined loop counts too).
  exact      every exact kernel (exact_kernel and exact_lanes_kernel: at least 4): no shared-memory
             compare-and-swap (ATOMS.CAS*, ATOMS.CAST*).  And the f32 exact kernel
             (exact_lanes_kernel<float>): no local memory; its main loop (the loop with the most
             LDG.E.128) issues >= 4 LDG.E.128 before an ATOMS, and >= 8 ATOMS.ADD in a row with no
             branch between them (BRA/BSSY/BSYNC: a carry test between two atomics waits for the
             first one's result, leaving one shared atomic in flight per thread).  The same figures
             of the previous f32 kernel (exact_kernel<float>, benchmark-only exact_prev) are printed.
  dense      the dense `invariant` kernel (a kernel of dense.cu whose name contains "invariant",
             not a 16-bit or tensor-core one (bf16/f16/half/_tc/tensor in its name); failing that,
             chain_gemm_vec_kernel<Epilogue::bias_act, 2> and its one-block build <bias_act, 1>
             (benchmark-only invariant_1block), then chain_gemm_kernel<Epilogue::bias_act, float>):
             its k-tile loop (the smallest loop holding a BAR.SYNC and FFMA) has no local
             memory among its k steps, no local store and at most 1 local load a tile; not counting
             the loops nested in it (the short last tile's), LDS.128 for at least half of its shared
             loads, every tile copy (LDGSTS) 16 bytes wide, and FFMA at least 78% of its
             instructions (the measured kernel: 69%).  The same figures of the previous kernel
             (chain_gemm_kernel<bias_act, float>, benchmark-only invariant_prev) are printed.  And the
             small-batch kernels (every chain_skinny_kernel): no local memory, 16-byte stage copies
             (LDGSTS.*.128: x, and W when N % 4 == 0).  And tree's combine (every
             tree_combine_kernel): no local memory.
  attention  the K/V kernels of attention.cu (every kernel there whose name has none of
             merge/finish/combine): at least 2 16-byte global loads (LDG.E.128 or
             LDGSTS.*.128) inside loops (K and V), and __launch_bounds__ of >= 128 threads
             (4 warps), read from the cubin's EIATTR_MAX_THREADS / EIATTR_REQNTID.
--kernel REGEX (with one --only) picks the family's kernels by name instead.
"""
import argparse
import glob
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

SKIP = 77
FAMILIES = ("sum", "exact", "dense", "attention")
ARCH = "sm_90"


def find_cuobjdump():
    env = os.environ.get("CUOBJDUMP")
    if env and os.access(env, os.X_OK):
        return env
    on_path = shutil.which("cuobjdump")
    if on_path:
        return on_path
    candidates = ["/usr/local/cuda/bin/cuobjdump"]
    root = Path(__file__).resolve().parents[1]
    for prefix in (str(root / ".venv"), sys.prefix):
        candidates += sorted(glob.glob(f"{prefix}/lib/python3*/site-packages/nvidia/*/bin/cuobjdump"))
        candidates += sorted(glob.glob(f"{prefix}/lib/python3*/site-packages/nvidia/cuda_cuobjdump/bin/cuobjdump"))
    for c in candidates:
        if os.access(c, os.X_OK):
            return c
    return None


def demangle(names):
    """Demangled names by c++filt when it is there (the mangled names otherwise)."""
    tool = shutil.which("c++filt")
    if not tool or not names:
        return {n: n for n in names}
    r = subprocess.run([tool], input="\n".join(names), capture_output=True, text=True)
    out = r.stdout.splitlines()
    if r.returncode != 0 or len(out) != len(names):
        return {n: n for n in names}
    return dict(zip(names, out))


INSTR = re.compile(r"^\s*/\*([0-9a-f]{4,})\*/\s+(@!?U?P[T0-9]+\s+)?([A-Z][A-Z0-9_.]*)\s*([^;]*);")


class Kernel:
    def __init__(self, name):
        self.name = name
        self.pretty = name
        self.instrs = []  # (address, opcode, operands)

    def ops(self, lo=0, hi=None):
        return [op for addr, op, _ in self.instrs if addr >= lo and (hi is None or addr <= hi)]

    def loops(self, innermost=False):
        """(head, tail) address pairs of backward branches: loop bodies [head, tail]; innermost:
        only the loops that hold no other loop."""
        out = []
        for addr, op, args in self.instrs:
            if op.startswith("BRA"):
                m = re.search(r"0x([0-9a-f]+)", args)
                if m and int(m.group(1), 16) <= addr:
                    out.append((int(m.group(1), 16), addr))
        if innermost:
            out = [(h, t) for h, t in out
                   if not any((h2, t2) != (h, t) and h <= h2 and t2 <= t for h2, t2 in out)]
        return out


def parse_sass(text):
    kernels, cur = {}, None
    for line in text.splitlines():
        m = re.search(r"Function : (\S+)", line)
        if m:
            cur = kernels.setdefault(m.group(1), Kernel(m.group(1)))
            if cur.instrs:  # the same kernel in a second object of an archive: keep the first
                cur = Kernel(m.group(1))
            continue
        if cur is None:
            continue
        m = INSTR.match(line)
        if m:
            cur.instrs.append((int(m.group(1), 16), m.group(3), m.group(4)))
    names = demangle(list(kernels))
    for k in kernels.values():
        k.pretty = names.get(k.name, k.name)
    return kernels


def parse_max_threads(text):
    """kernel name -> threads per block promised by __launch_bounds__ (or .reqntid), from -elf."""
    out, cur, attr = {}, None, None
    for line in text.splitlines():
        m = re.match(r"^\.nv\.info\.(\S+)\s*$", line)
        if m:
            cur, attr = m.group(1), None
            continue
        if line and not line[0].isspace():
            cur = None
            continue
        if cur is None:
            continue
        m = re.search(r"Attribute:\s+(\S+)", line)
        if m:
            attr = m.group(1)
            continue
        m = re.search(r"Value:\s+(.*)", line)
        if m and attr in ("EIATTR_MAX_THREADS", "EIATTR_REQNTID"):
            dims = [int(v, 16) for v in re.findall(r"0x[0-9a-f]+", m.group(1))]
            if dims:
                total = 1
                for d in dims:
                    total *= d
                out[cur] = max(out.get(cur, 0), total)
    return out


def pick(kernels, pattern):
    rx = re.compile(pattern)
    return [k for k in kernels.values() if rx.search(k.name) or rx.search(k.pretty)]


def is_ldg128(op):
    return (op.startswith("LDG") and ".128" in op) or (op.startswith("LDGSTS") and ".128" in op)


def short(k):
    """The kernel's demangled name without return type, namespaces and parameter list."""
    name = k.pretty
    if name != k.name:
        depth, cut = 0, len(name)
        for i in range(len(name) - 1, -1, -1):  # the parameter list: the last top-level (...)
            depth += {")": 1, "(": -1}.get(name[i], 0)
            if depth == 0 and name[i] == "(":
                cut = i
                break
        name = name[:cut].removeprefix("void ")
        name = re.sub(r"\(anonymous namespace\)::|driftlab::(cuda::)?", "", name)
    return name if len(name) < 110 else name[:107] + "..."


class Report:
    def __init__(self):
        self.failed = 0

    def ok(self, family, msg):
        print(f"PASS {family}: {msg}")

    def fail(self, family, msg):
        self.failed += 1
        print(f"FAIL {family}: {msg}")


def loads_before_add(k, head, tail, load=is_ldg128, add=lambda op: op.startswith("FADD")):
    """Longest run of loads with no add between them, over the loop body taken cyclically."""
    body = k.ops(head, tail)
    best = run = 0
    for op in body + body:
        if add(op):
            run = 0
        elif load(op):
            run += 1
            best = max(best, run)
    return min(best, sum(1 for op in body if load(op)))


def check_sum(kernels, rep, only=None):
    tree = pick(kernels, only or r"tile_kernelIfLb0Ef|tile_kernel<float, false, float>")
    if not tree:
        rep.fail("sum", "no f32 tree kernel (tile_kernel<float, false, float>) in the object")
        return
    for k in tree:
        loops = [(h, t) for h, t in k.loops(innermost=True) if any(is_ldg128(op) for op in k.ops(h, t))]
        if not loops:
            rep.fail("sum", f"{short(k)}: no loop with LDG.E.128")
            continue
        head, tail = max(loops, key=lambda ht: sum(1 for op in k.ops(*ht) if is_ldg128(op)))
        n = loads_before_add(k, head, tail)
        total = sum(1 for op in k.ops(head, tail) if is_ldg128(op))
        msg = (f"{short(k)}: main loop [{head:#x}, {tail:#x}] issues {n} LDG.E.128 before an FADD "
               f"({total} in the loop; want >= 4)")
        (rep.ok if n >= 4 else rep.fail)("sum", msg)
    # Informational: the other tree instantiations.
    for k in pick(kernels, r"tile_kernelI(d|NS_4bf16E|NS_3f16E)Lb0E"):
        loops = [(h, t) for h, t in k.loops(innermost=True) if any(op.startswith("LDG") for op in k.ops(h, t))]
        if loops:
            head, tail = max(loops, key=lambda ht: sum(1 for op in k.ops(*ht) if op.startswith("LDG")))
            n = loads_before_add(k, head, tail, load=lambda op: op.startswith("LDG"),
                                 add=lambda op: op.startswith(("FADD", "DADD")))
            print(f"info sum: {short(k)}: {n} global loads before an add in its main loop")


EXACT_F32 = r"exact_lanes_kernelIfE|exact_lanes_kernel<float>"
EXACT_F32_PREV = r"exact_kernelIffE|exact_kernel<float, float>"


def is_branch(op):
    return op.startswith(("BRA", "BSSY", "BSYNC", "BRX", "CALL", "RET", "WARPSYNC"))


def atomics_in_a_row(k, head, tail):
    """Longest run of ATOMS.ADD with no branch between them, over the loop body taken cyclically."""
    body = k.ops(head, tail)
    best = run = 0
    for op in body + body:
        if is_branch(op):
            run = 0
        elif op == "ATOMS.ADD":
            run += 1
            best = max(best, run)
    return min(best, sum(1 for op in body if op == "ATOMS.ADD"))


def exact_main_loop(k):
    """The loop with the most LDG.E.128 (the shortest of those): the exact kernels' streaming loop."""
    loops = [(h, t) for h, t in k.loops() if any(is_ldg128(op) for op in k.ops(h, t))]
    if not loops:
        return None
    return max(loops, key=lambda ht: (sum(1 for op in k.ops(*ht) if is_ldg128(op)), -(ht[1] - ht[0])))


def exact_figures(k):
    loop = exact_main_loop(k)
    if loop is None:
        return None
    head, tail = loop
    loads = loads_before_add(k, head, tail, add=lambda op: op.startswith("ATOMS"))
    return head, tail, loads, atomics_in_a_row(k, head, tail)


def check_exact(kernels, rep, only=None):
    exact = pick(kernels, only or r"exact_kernel|exact_lanes_kernel")
    exact = [k for k in exact if "finalize" not in k.name]
    if len(exact) < 4:
        rep.fail("exact", f"{len(exact)} exact kernels found, want the 4 (f32, f64, bf16, f16)")
    for k in exact:
        cas = [op for op in k.ops() if op.startswith("ATOMS") and ("CAS" in op)]
        atoms = sorted(set(op for op in k.ops() if op.startswith("ATOMS")))
        msg = f"{short(k)}: {len(cas)} shared compare-and-swap ({', '.join(atoms) or 'no ATOMS'})"
        (rep.fail if cas else rep.ok)("exact", msg)
    if only:
        return
    f32 = pick(kernels, EXACT_F32)
    if not f32:
        rep.fail("exact", "no f32 exact kernel (exact_lanes_kernel<float>) in the object")
    for k in f32:
        local = [op for op in k.ops() if op.startswith(("LDL", "STL"))]
        (rep.fail if local else rep.ok)("exact", f"{short(k)}: {len(local)} local-memory instructions (LDL/STL; want 0)")
        fig = exact_figures(k)
        if fig is None:
            rep.fail("exact", f"{short(k)}: no loop with LDG.E.128")
            continue
        head, tail, loads, atomics = fig
        (rep.ok if loads >= 4 else rep.fail)(
            "exact", f"{short(k)}: main loop [{head:#x}, {tail:#x}] issues {loads} LDG.E.128 before an ATOMS (want >= 4)")
        (rep.ok if atomics >= 8 else rep.fail)(
            "exact", f"{short(k)}: main loop issues {atomics} ATOMS.ADD in a row with no branch between them "
                     f"(want >= 8: the atomics of a step in flight together)")
    for k in pick(kernels, EXACT_F32_PREV):
        fig = exact_figures(k)
        if fig:
            print(f"info exact: {short(k)} (the previous f32 kernel, exact_prev): {fig[2]} LDG.E.128 before an ATOMS, "
                  f"{fig[3]} ATOMS.ADD in a row")


DENSE_INVARIANT = r"invariant"
# both builds of the 16-byte kernel: two blocks an SM (dense(invariant)) and one (benchmark-only
# invariant_1block, a candidate the GPU run may promote): each is asserted
DENSE_VEC = r"chain_gemm_vec_kernelILNS1_8EpilogueE2ELi[12]EE|chain_gemm_vec_kernel<\([^)]*Epilogue\)2, (\(int\))?[12]>"
DENSE_FALLBACK = r"chain_gemm_kernelILNS1_8EpilogueE2EfE|chain_gemm_kernel<\([^)]*Epilogue\)2, float>"
DENSE_MIN_FFMA_SHARE = 0.78
DENSE_MAX_TILE_LDL = 1
DENSE_SKINNY = r"chain_skinny_kernel"
DENSE_COMBINE = r"tree_combine_kernel"
DENSE_TC = r"invariant_tc_kernel"


def dense_figures(k):
    """The k-tile loop (the smallest loop holding a BAR.SYNC and FFMA) and its instructions outside
    the loops nested in it (the short last tile's loop): (head, tail, ops) or None."""
    loops = [(h, t) for h, t in k.loops()
             if any(op.startswith("BAR.SYNC") for op in k.ops(h, t)) and any(op.startswith("FFMA") for op in k.ops(h, t))]
    if not loops:
        return None
    head, tail = min(loops, key=lambda ht: ht[1] - ht[0])
    nested = [(h, t) for h, t in k.loops() if (h, t) != (head, tail) and head <= h and t <= tail]
    ops = [op for addr, op, _ in k.instrs if head <= addr <= tail and not any(h <= addr <= t for h, t in nested)]
    return head, tail, ops


def check_dense(kernels, rep, only=None):
    if only:
        dense = pick(kernels, only)
    else:  # the float32 invariant kernel: not a 16-bit or tensor-core instantiation
        dense = [k for k in pick(kernels, DENSE_INVARIANT)
                 if "dense_cu" in k.name and not re.search(r"bf16|f16|half|_tc|tensor", k.pretty)]
        if not dense:
            dense = pick(kernels, DENSE_VEC)
    if not dense:
        dense = pick(kernels, DENSE_FALLBACK)
    if not dense:
        rep.fail("dense", "no dense invariant kernel (a name with 'invariant', chain_gemm_vec_kernel<bias_act> "
                          "or chain_gemm_kernel<bias_act, float>)")
        return
    prev = [] if only else [k for k in pick(kernels, DENSE_FALLBACK) if k not in dense]
    for k in dense + prev:
        checked = k in dense
        say = (lambda good, msg: (rep.ok if good else rep.fail)("dense", msg)) if checked else \
            (lambda good, msg: print(f"info dense: (the previous kernel, benchmark-only invariant_prev) {msg}"))
        fig = dense_figures(k)
        if fig is None:
            say(False, f"{short(k)}: no k-tile loop (a loop with BAR.SYNC and FFMA)")
            continue
        head, tail, body = fig
        # Local memory: none among the k steps (between the loop's first and last FFMA), no store in
        # the loop, at most DENSE_MAX_TILE_LDL loads a tile (a pointer ptxas keeps there at 2 blocks an SM).
        in_loop = [(a, op) for a, op, _ in k.instrs if head <= a <= tail]
        ffma_at = [a for a, op in in_loop if op.startswith("FFMA")]
        steps = [op for a, op in in_loop if ffma_at[0] <= a <= ffma_at[-1] and op.startswith(("LDL", "STL"))]
        stores = [op for a, op in in_loop if op.startswith("STL")]
        loads = [op for a, op in in_loop if op.startswith("LDL")]
        total = sum(1 for op in k.ops() if op.startswith(("LDL", "STL")))
        say(not steps and not stores and len(loads) <= DENSE_MAX_TILE_LDL,
            f"{short(k)}: local memory: {len(steps)} among the k steps, {len(stores)} stores and {len(loads)} loads in "
            f"the k-tile loop, {total} in the kernel (want 0, 0, <= {DENSE_MAX_TILE_LDL})")
        lds = [op for op in body if op.startswith("LDS")]
        lds128 = [op for op in lds if ".128" in op]
        copies = [op for op in body if op.startswith("LDGSTS")]
        copies128 = [op for op in copies if ".128" in op]
        ffma = sum(1 for op in body if op.startswith("FFMA"))
        share = ffma / len(body)
        say(bool(lds128) and 2 * len(lds128) >= len(lds),
            f"{short(k)}: k-tile loop [{head:#x}, {tail:#x}]: {len(lds)} shared loads of which {len(lds128)} LDS.128 "
            f"(want LDS.128 >= 1 and >= half)")
        say(bool(copies) and len(copies128) == len(copies),
            f"{short(k)}: {len(copies)} tile copies (LDGSTS) in the k-tile loop, {len(copies128)} of 16 bytes (want all)")
        say(share >= DENSE_MIN_FFMA_SHARE,
            f"{short(k)}: k-tile loop: {ffma} FFMA of {len(body)} instructions outside its nested loops "
            f"= {share:.3f} (want >= {DENSE_MIN_FFMA_SHARE}; both tile-copy paths counted)")
    if only:
        return
    # invariant_tc (dense_tc.cu: tensor cores, optional in issue 18): its k-tile loop multiplies on
    # the tensor cores (HMMA, with .BF16 for the bf16 instantiation), feeds them by ldmatrix (LDSM),
    # copies the tiles by 16 bytes, and nothing goes to local memory.
    tcs = pick(kernels, DENSE_TC)
    if not tcs:
        rep.fail("dense", "no tensor-core kernel (invariant_tc_kernel)")
    for k in tcs:
        ops = k.ops()
        hmma = [op for op in ops if op.startswith("HMMA")]
        ldsm = [op for op in ops if op.startswith("LDSM")]
        copies = [op for op in ops if op.startswith("LDGSTS")]
        local = [op for op in ops if op.startswith(("LDL", "STL"))]
        bf16 = "bf16" in k.pretty or "bfloat16" in k.pretty
        typed = [op for op in hmma if ".BF16" in op] if bf16 else hmma
        good = len(hmma) >= 32 and len(typed) >= 16 and ldsm and copies and all(".128" in op for op in copies) and not local
        (rep.ok if good else rep.fail)(
            "dense", f"{short(k)}: {len(hmma)} HMMA ({len(typed)} {'.BF16' if bf16 else 'of the type'}), {len(ldsm)} LDSM, "
                     f"{len(copies)} tile copies (LDGSTS, all 16 bytes: {all('.128' in op for op in copies)}), "
                     f"{len(local)} local-memory instructions (want >= 32 HMMA a k tile, LDSM, 16-byte copies, no local)")
    # the small-batch kernels (chain_skinny_kernel, every epilogue and rows per warp)
    skinny = pick(kernels, DENSE_SKINNY)
    if not skinny:
        rep.fail("dense", "no small-batch kernel (chain_skinny_kernel)")
    for k in skinny:
        local = [op for op in k.ops() if op.startswith(("LDL", "STL"))]
        copies = [op for op in k.ops() if op.startswith("LDGSTS")]
        wide = [op for op in copies if ".128" in op]
        good = not local and len(wide) >= 2
        (rep.ok if good else rep.fail)(
            "dense", f"{short(k)}: {len(local)} local-memory instructions, {len(copies)} stage copies (LDGSTS) of which "
                     f"{len(wide)} of 16 bytes (want 0 local, 16-byte copies of x and W; the 4-byte ones are W's "
                     f"path for N % 4 != 0, 16-bit N % 8 != 0)")
    # tree's combine (every tree_combine_kernel): dense_order.h's tree_combine unrolled to constant
    # indices, so its 32 partials stay in registers (bounded by S at run time they were a 128-byte
    # local array: 5 STL and 3 LDL).
    combines = pick(kernels, DENSE_COMBINE)
    if not combines:
        rep.fail("dense", "no split-K combine kernel (tree_combine_kernel)")
    for k in combines:
        local = [op for op in k.ops() if op.startswith(("LDL", "STL"))]
        (rep.ok if not local else rep.fail)(
            "dense", f"{short(k)}: {len(local)} local-memory instructions (want 0: the partials in registers)")


def check_attention(kernels, max_threads, rep, only=None):
    att = [k for k in kernels.values() if "attention_cu" in k.name]
    kv = pick(kernels, only) if only else [k for k in att if not re.search(r"merge|finish|combine", k.name)]
    if not kv:
        rep.fail("attention", "no K/V kernel of attention.cu (a kernel there without merge/finish/combine in its name)")
        return
    for k in kv:
        in_loops = set()
        for head, tail in k.loops():
            in_loops.update(addr for addr, op, _ in k.instrs if head <= addr <= tail and is_ldg128(op))
        scalar = sum(1 for _, op, _ in k.instrs if op.startswith("LDG") and not re.search(r"\.(64|128)", op))
        msg = f"{short(k)}: {len(in_loops)} 16-byte global loads inside loops (want >= 2: K and V; {scalar} narrower LDG in all)"
        (rep.ok if len(in_loops) >= 2 else rep.fail)("attention", msg)
        threads = max_threads.get(k.name)
        if threads is None:
            rep.fail("attention", f"{short(k)}: no __launch_bounds__ in the cubin: declare __launch_bounds__(>= 128)")
        else:
            (rep.ok if threads >= 128 else rep.fail)(
                "attention", f"{short(k)}: __launch_bounds__ {threads} threads ({threads // 32} warps; want >= 4)")


# --self-test: the parsers and assertions on hand-written SASS in cuobjdump's format, each family
# once passing and once failing, so the checks are known to fail when the structure is missing.
def _sass(name, body):
    lines = [f"\t\tFunction : {name}"]
    for i, ins in enumerate(body):
        lines.append(f"        /*{16 * i:04x}*/                   {ins} ;")
    return "\n".join(lines) + "\n"


def self_test():
    tree_good = ["MOV R1, c[0x0][0x28]"] + [f"LDG.E.128.CONSTANT R{4 * i}, desc[UR4][R2.64+0x{i}000]" for i in range(8)] + \
        [f"FADD R40, R40, R{i}" for i in range(32)] + ["@P0 BRA 0x10", "EXIT"]
    tree_bad = ["MOV R1, c[0x0][0x28]"] + sum(([f"LDG.E.128.CONSTANT R{4 * i}, desc[UR4][R2.64]", "FADD R40, R40, R0"]
                                               for i in range(8)), []) + ["@P0 BRA 0x10", "EXIT"]
    # Software-pipelined: the loop's loads sit after its adds; counted cyclically they are 6 in a row.
    tree_piped = ["MOV R1, RZ", "FADD R40, R40, R0"] + [f"LDG.E.128 R{4 * i}, desc[UR4][R2.64]" for i in range(6)] + \
        ["@P0 BRA 0x10", "EXIT"]
    exact_good = ["ATOMS.ADD R3, [R4], R5", "ATOMS.POPC.INC.32 RZ, [R4+URZ]", "EXIT"]
    exact_bad = ["ATOMS.CAST.SPIN.64 P0, [R4], R6, R8", "EXIT"]
    # the f32 kernel: 4 loads, then 16 atomics back to back, then the carry branch
    lanes_good = ["MOV R1, RZ"] + [f"LDG.E.128.CONSTANT R{4 * i}, desc[UR6][R20.64]" for i in range(4)] + \
        [f"ATOMS.ADD R{30 + i}, [R{50 + i}], R{i}" for i in range(16)] + \
        ["ISETP.GE.U32.AND P0, PT, R30, R0, PT", "@P0 BRA 0x200", "ATOMS.POPC.INC.32 RZ, [R50+URZ]", "@P1 BRA 0x10", "EXIT"]
    # the previous kernel's shape: each atomic's carry branch before the next atomic
    lanes_serial = ["MOV R1, RZ"] + [f"LDG.E.128.CONSTANT R{4 * i}, desc[UR6][R20.64]" for i in range(2)] + \
        sum(([f"ATOMS.ADD R{30 + i}, [R{50 + i}], R{i}", "BSSY B0, 0x300", "@P0 BRA 0x300",
              "ATOMS.POPC.INC.32 RZ, [R50+URZ]", "BSYNC B0"] for i in range(8)), []) + ["@P1 BRA 0x10", "EXIT"]
    lanes_local = lanes_good[:-1] + ["STL [R1], R30", "EXIT"]
    f32 = "exact_lanes_kernelIfE"
    # a k-tile loop at 0x10: barrier, two 16-byte copies, two LDS.128 and 32 FFMA, a nested short-tile loop
    tile = ["BAR.SYNC.DEFER_BLOCKING 0x0", "LDGSTS.E.BYPASS.128 [R9], desc[UR16][R4.64], P1",
            "LDGSTS.E.BYPASS.128 [R11], desc[UR16][R6.64], P0", "LDS.128 R4, [R2]", "LDS.128 R8, [R2+0x10]"] + \
        ["FFMA R20, R4, R8, R20"] * 32
    # the short last tile's loop, nested, when `before` instructions precede it
    short_at = lambda before: ["LDS R4, [R2]", "FFMA R20, R4, R8, R20", f"@P1 BRA 0x{16 * before:x}"]
    short_loop = short_at(1 + len(tile))
    dense_good = ["MOV R1, RZ"] + tile + short_loop + ["@P0 BRA 0x10", "EXIT"]
    dense_bad = ["MOV R1, RZ", "BAR.SYNC.DEFER_BLOCKING 0x0", "LDGSTS.E [R9], desc[UR16][R4.64], P1", "LDS R4, [R2]",
                 "LDS R8, [R2+0x4]", "FFMA R20, R4, R8, R20", "STL [R1], R20", "@P0 BRA 0x10", "EXIT"]
    skinny_good = ["MOV R1, RZ", "LDGSTS.E.BYPASS.128 [R9], desc[UR16][R4.64], P1", "BAR.SYNC.DEFER_BLOCKING 0x0",
                   "LDS R4, [R2]", "FFMA R20, R4, R8, R20", "@P0 BRA 0x10", "EXIT"]
    skinny_good = skinny_good[:1] + ["LDGSTS.E.BYPASS.128 [R11], desc[UR16][R6.64], P1"] + skinny_good[1:]
    skinny_bad = ["MOV R1, RZ", "LDGSTS.E [R9], desc[UR16][R4.64], P1", "BAR.SYNC.DEFER_BLOCKING 0x0",
                  "LDS R4, [R2]", "FFMA R20, R4, R8, R20", "@P0 BRA 0x10", "EXIT"]
    dense_ldl = ["MOV R1, RZ"] + tile[:21] + ["LDL R30, [R1+0x8]"] + tile[21:] + short_at(2 + len(tile)) + \
        ["@P0 BRA 0x10", "EXIT"]
    dense_tile_ldl = ["MOV R1, RZ"] + tile[:1] + ["LDL.64 R30, [R1+0x8]"] + tile[1:] + short_at(2 + len(tile)) + \
        ["@P0 BRA 0x10", "EXIT"]
    dense_tile_ldl2 = ["MOV R1, RZ"] + tile[:1] + ["LDL.64 R30, [R1+0x8]"] * 2 + tile[1:] + short_at(3 + len(tile)) + \
        ["@P0 BRA 0x10", "EXIT"]
    dense_thin = ["MOV R1, RZ"] + tile[:5] + ["FFMA R20, R4, R8, R20"] * 4 + ["IADD3 R2, R2, 0x4, RZ"] * 4 + \
        ["@P0 BRA 0x10", "EXIT"]
    combine_good = ["MOV R1, RZ"] + ["@P0 LDG.E R4, desc[UR4][R2.64]", "@P1 FADD R4, R4, R5"] * 4 + ["EXIT"]
    combine_local = ["MOV R1, RZ", "@P0 LDG.E R4, desc[UR4][R2.64]", "STL [R1], R4", "LDL R5, [R1+0x4]",
                     "FADD R4, R4, R5", "EXIT"]
    comb = {"tree_combine_kernelIfEvPKfPfPKT_mmmNS_5dense10ActivationES3_": combine_good}
    tc_good = ["MOV R1, RZ", "LDGSTS.E.BYPASS.128 [R9], desc[UR16][R4.64], P1", "BAR.SYNC.DEFER_BLOCKING 0x0",
               "LDSM.16.M88.4 R8, [R2]"] + ["HMMA.16816.F32 R16, R8, R12, R16"] * 32 + ["@P0 BRA 0x10", "EXIT"]
    tc_local = tc_good[:-2] + ["STL [R1], R16"] + tc_good[-2:]
    tc_generic = [op for op in tc_good if not op.startswith("LDSM")] + ["LD.E R8, [R2.64]"]  # wmma's bf16 loads
    att = "_ZN8driftlab4cuda12_attention_cu_6kernelEv"
    att_good = ["MOV R1, RZ", "LDG.E.128 R4, desc[UR4][R2.64]", "LDG.E.128 R8, desc[UR4][R6.64]", "@P0 BRA 0x10", "EXIT"]
    att_bad = ["MOV R1, RZ", "LDG.E R4, desc[UR4][R2.64]", "@P0 BRA 0x10", "EXIT"]
    elf = lambda n, t: f".nv.info.{n}\n\t<0x1>\n\tAttribute:\tEIATTR_MAX_THREADS\n\tFormat:\tEIFMT_SVAL\n\tValue:\t0x{t:x} 0x1 0x1 \n"
    cases = [
        ("sum", {"tile_kernelIfLb0Ef": tree_good}, None, 0),
        ("sum", {"tile_kernelIfLb0Ef": tree_bad}, None, 1),
        ("sum", {"tile_kernelIfLb0Ef": tree_piped}, None, 0),
        ("exact", {**{f"exact_kernel{i}": exact_good for i in range(3)}, f32: lanes_good}, None, 0),
        ("exact", {**{f"exact_kernel{i}": exact_good for i in range(2)}, "exact_kernel3": exact_bad, f32: lanes_good}, None, 1),
        ("exact", {**{f"exact_kernel{i}": exact_good for i in range(2)}, f32: lanes_good}, None, 1),  # one of the 4 missing
        ("exact", {f"exact_kernel{i}": exact_good for i in range(4)}, None, 1),  # no f32 lanes kernel
        ("exact", {**{f"exact_kernel{i}": exact_good for i in range(3)}, f32: lanes_serial}, None, 2),  # 2 loads, 1 in a row
        ("exact", {**{f"exact_kernel{i}": exact_good for i in range(3)}, f32: lanes_local}, None, 1),
        ("dense", {"invariant_tc_kernel1": tc_good, "dense_cu_invariant_kernel": dense_good, "chain_skinny_kernel1": skinny_good, **comb}, None, 0),
        ("dense", {"invariant_tc_kernel1": tc_good, "dense_cu_invariant_kernel": dense_bad, "chain_skinny_kernel1": skinny_good, **comb}, None, 4),  # local, LDS, 4-byte copy, FFMA share
        ("dense", {"invariant_tc_kernel1": tc_good, "dense_cu_invariant_kernel": dense_thin, "chain_skinny_kernel1": skinny_good, **comb}, None, 1),  # 4 FFMA of 13
        ("dense", {"invariant_tc_kernel1": tc_good, "dense_cu_invariant_kernel": dense_ldl, "chain_skinny_kernel1": skinny_good, **comb}, None, 1),  # LDL in the k steps
        ("dense", {"invariant_tc_kernel1": tc_good, "dense_cu_invariant_kernel": dense_tile_ldl, "chain_skinny_kernel1": skinny_good, **comb}, None, 0),  # 1 a tile
        ("dense", {"invariant_tc_kernel1": tc_good, "dense_cu_invariant_kernel": dense_tile_ldl2, "chain_skinny_kernel1": skinny_good, **comb}, None, 1),  # 2 a tile
        ("dense", {"invariant_tc_kernel1": tc_good, "dense_cu_invariant_kernel": dense_good, **comb}, None, 1),  # no small-batch kernel
        ("dense", {"invariant_tc_kernel1": tc_good, "dense_cu_invariant_kernel": dense_good, "chain_skinny_kernel1": skinny_good},
         None, 1),  # no combine kernel
        ("dense", {"invariant_tc_kernel1": tc_good, "dense_cu_invariant_kernel": dense_good, "chain_skinny_kernel1": skinny_good,
                   **comb, "tree_combine_kernel2": combine_local}, None, 1),  # a combine with its partials in local memory
        ("dense", {"dense_cu_invariant_kernel": dense_good, "chain_skinny_kernel1": skinny_good, **comb}, None, 1),  # no tensor-core kernel
        ("dense", {"invariant_tc_kernel1": tc_local, "dense_cu_invariant_kernel": dense_good, "chain_skinny_kernel1": skinny_good, **comb},
         None, 1),  # a spill
        ("dense", {"invariant_tc_kernel1": tc_generic, "dense_cu_invariant_kernel": dense_good, "chain_skinny_kernel1": skinny_good, **comb},
         None, 1),  # no ldmatrix
        ("dense", {"invariant_tc_kernel1": tc_good, "dense_cu_invariant_kernel": dense_good, "chain_skinny_kernel1": skinny_good,
                   "chain_skinny_kernel2": skinny_bad, **comb}, None, 1),  # one with a 4-byte copy
        ("attention", {att: att_good}, elf(att, 128), 0),
        ("attention", {att: att_good}, elf(att, 32), 1),
        ("attention", {att: att_bad}, elf(att, 256), 1),
        ("attention", {att: att_good}, "", 1),  # no __launch_bounds__
    ]
    bad = 0
    for family, funcs, elf_text, want_fails in cases:
        kernels = parse_sass("".join(_sass(n, b) for n, b in funcs.items()))
        rep = Report()
        {"sum": lambda: check_sum(kernels, rep), "exact": lambda: check_exact(kernels, rep),
         "dense": lambda: check_dense(kernels, rep),
         "attention": lambda: check_attention(kernels, parse_max_threads(elf_text), rep)}[family]()
        if rep.failed != want_fails:
            bad += 1
            print(f"SELF-TEST MISMATCH {family} {list(funcs)}: {rep.failed} failures, want {want_fails}")
    print(f"check_sass --self-test: {len(cases)} cases, {bad} wrong")
    return 1 if bad else 0


def main(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("object", nargs="?", default="",
                    help="object, archive or binary with sm_90 code (none or empty: the CUDA backend is off, skip)")
    ap.add_argument("--only", choices=FAMILIES, action="append", help="check only this family (repeatable)")
    ap.add_argument("--self-test", action="store_true", help="check the checker on hand-written SASS (no cuobjdump)")
    ap.add_argument("--kernel", metavar="REGEX",
                    help="pick the checked kernels of the family by this regex (mangled or demangled name) "
                         "instead of the defaults; use with one --only")
    args = ap.parse_args(argv[1:])
    if args.object == "--self-test" or args.self_test:
        return self_test()
    if not args.object:
        print("check_sass: skipped: no CUDA object (the CUDA backend is off)")
        return SKIP
    if not Path(args.object).is_file():
        print(f"check_sass: {args.object}: no such file")
        return 1
    tool = find_cuobjdump()
    if not tool:
        print("check_sass: skipped: cuobjdump not found (scripts/setup.sh installs it into .venv for CUDA builds; "
              "or set CUOBJDUMP)")
        return SKIP
    r = subprocess.run([tool, "-sass", "-arch", ARCH, args.object], capture_output=True, text=True)
    if r.returncode != 0:
        print(r.stderr[-2000:])
        print(f"check_sass: {tool} -sass failed on {args.object}")
        return 1
    kernels = parse_sass(r.stdout)
    if not kernels:
        print(f"check_sass: no {ARCH} kernel in {args.object}")
        return 1
    families = args.only or list(FAMILIES)
    if args.kernel and len(families) != 1:
        print("check_sass: --kernel needs exactly one --only family")
        return 2
    rep = Report()
    if "sum" in families:
        check_sum(kernels, rep, args.kernel)
    if "exact" in families:
        check_exact(kernels, rep, args.kernel)
    if "dense" in families:
        check_dense(kernels, rep, args.kernel)
    if "attention" in families:
        e = subprocess.run([tool, "-elf", "-arch", ARCH, args.object], capture_output=True, text=True)
        if e.returncode != 0:
            print(e.stderr[-2000:])
            rep.fail("attention", f"{tool} -elf failed on {args.object}")
        else:
            check_attention(kernels, parse_max_threads(e.stdout), rep, args.kernel)
    print(f"check_sass: {len(kernels)} {ARCH} kernels read, families {', '.join(families)}: "
          f"{'all assertions hold' if not rep.failed else f'{rep.failed} failed'}")
    return 1 if rep.failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
