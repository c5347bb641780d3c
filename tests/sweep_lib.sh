# Shared by the hostile sweeps (tests/hostile_sweep_session*.sh), sourced after they set their paths:
# a scratch folder as the working directory (removed on exit), the pass/fail counts, and
#   want RC LINES DESC -- CMD...   runs CMD (120 s at most), wants exit status RC and, when LINES
#                                  is "1", exactly one stderr line ("any": any number); out.txt and
#                                  err.txt keep what it wrote.
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
cd "$W" || exit 1
pass=0 fail=0
want() {
  local rc=$1 lines=$2 desc=$3; shift 4
  timeout 120 "$@" >out.txt 2>err.txt
  local got=$? n; n=$(wc -l <err.txt)
  if [ "$got" -eq "$rc" ] && { [ "$lines" = any ] || [ "$n" -eq "$lines" ]; }; then
    pass=$((pass + 1)); printf 'ok   %-70s rc=%d stderr=%d line(s)\n' "$desc" "$got" "$n"
  else
    fail=$((fail + 1)); printf 'FAIL %-70s rc=%d (want %d) stderr=%d line(s) (want %s)\n' "$desc" "$got" "$rc" "$n" "$lines"
    head -3 err.txt | sed 's/^/     /'
  fi
}
