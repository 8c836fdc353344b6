#!/usr/bin/env bash
# Checks the Linux arm64 (aarch64) wheel as far as an x86_64 Linux machine
# can, without arm64 hardware:
#
#   1. builds it: PG_BULK_INGEST_TARGET=aarch64 pip wheel --no-deps .
#   2. auditwheel show: manylinux_2_17_aarch64 (manylinux2014)
#   3. readelf: machine AArch64, needs only libc.so.6, libpthread.so.0 and libdl.so.2 (capi finds the interpreter's C API by dlsym),
#      no symbol version newer than GLIBC_2.17, exports the pbi_ API alone
#   4. under qemu-aarch64 (user-mode emulation, Debian's qemu-user), with
#      Debian's arm64 glibc (libc6-arm64-cross) as the loader's root:
#      a. .ci/arm64_loader.c, cross-compiled with the same zig, dlopen()s
#         the wheel's own libpgbulkingest.so and drives its C ABI: the Go
#         runtime starts, a session's goroutine runs and answers; then the
#         arm64 library with the test hooks (build.py --test-hooks), where
#         a memory fault also becomes an error;
#      b. the Go tests of every package (-tags pbitest), cross-compiled for
#         arm64 with cgo through zig as the wheel is, against a real
#         PostgreSQL over its Unix socket: DATABASE_URL, or a pgserver
#         started here.
#
# What it cannot check: the Python side on arm64 (cffi, pyarrow, the
# drivers) and glibc 2.17 itself at run time (the emulated glibc is
# Debian 12's 2.36; step 3 is what shows the 2.17 floor). The release
# workflow runs the Python suite on a native arm64 runner.
#
#     .ci/check_arm64.sh        (as root it apt-get installs what is missing)
#
# Wheel and binaries go to build/arm64/; tools to .venvs/arm64-check/.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
OUT=$ROOT/build/arm64
TOOLS=$ROOT/.venvs/arm64-check
STEP_START=$SECONDS
declare -a SUMMARY=()

step() { STEP_START=$SECONDS; echo; echo "=== $*"; }
done_step() { SUMMARY+=("$(printf '%-4s %4ss  %s' "$1" $((SECONDS - STEP_START)) "$2")"); }
fail() { echo "FAIL: $*" >&2; exit 1; }

step "Prerequisites: qemu-user, arm64 glibc, readelf, Go, Python venv"
need_apt=()
command -v qemu-aarch64 >/dev/null || need_apt+=(qemu-user)
[ -e /usr/aarch64-linux-gnu/lib/ld-linux-aarch64.so.1 ] || need_apt+=(libc6-arm64-cross)
command -v readelf >/dev/null || need_apt+=(binutils)
python3 -c "import venv, ensurepip" 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    fail "missing ${need_apt[*]}: apt-get install ${need_apt[*]} (as root), then run again"
  fi
  echo "installing ${need_apt[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi
command -v go >/dev/null || fail "no go on PATH: the build needs Go $(sed -n 's/^go //p' go.mod) or newer (https://go.dev/dl/)"
echo "$(go version); $(qemu-aarch64 --version | head -1)"
export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu # the arm64 dynamic loader and libc for qemu-aarch64
done_step ok "prerequisites"

step "Tools in $TOOLS: auditwheel, ziglang (the build's version), pgserver"
zig_pin=$(grep -o '"ziglang==[^;"]*' pyproject.toml | head -1 | tr -d '"')
[ -n "$zig_pin" ] || fail "no ziglang pin found in pyproject.toml"
tools=(auditwheel "$zig_pin")
[ -n "${DATABASE_URL:-}" ] || tools+=("pgserver>=0.1.4")
[ -x "$TOOLS/bin/python" ] || python3 -m venv "$TOOLS"
PY=$TOOLS/bin/python
"$PY" -m pip install -q --disable-pip-version-check "${tools[@]}"
ZIGCC=("$PY" -m ziglang cc -target aarch64-linux-gnu.2.17)
# What Go defines for the Python side (python/pg_bulk_ingest/_protocol.py,
# generated), read without importing the package.
protocol() { python3 -c 'import runpy, sys; p = runpy.run_path("python/pg_bulk_ingest/_protocol.py"); print(eval(sys.argv[1], p))' "$1"; }
done_step ok "tools"

step "Building the arm64 wheel: PG_BULK_INGEST_TARGET=aarch64 pip wheel --no-deps ."
rm -rf "$OUT"
mkdir -p "$OUT/wheel" "$OUT/unpacked" "$OUT/gotest"
PG_BULK_INGEST_TARGET=aarch64 "$PY" -m pip wheel --no-deps -q --disable-pip-version-check -w "$OUT/wheel" .
wheels=("$OUT"/wheel/*.whl)
[ ${#wheels[@]} -eq 1 ] || fail "expected one wheel in $OUT/wheel, found ${#wheels[@]}"
WHEEL=${wheels[0]}
ls -l "$WHEEL"
case $(basename "$WHEEL") in
  *-py3-none-manylinux_2_17_aarch64.manylinux2014_aarch64.whl) ;;
  *) fail "unexpected wheel tag: $(basename "$WHEEL")" ;;
esac
"$PY" -m zipfile -e "$WHEEL" "$OUT/unpacked"
LIB=$OUT/unpacked/pg_bulk_ingest/_lib/libpgbulkingest.so
[ -f "$LIB" ] || fail "the wheel has no pg_bulk_ingest/_lib/libpgbulkingest.so"
ls "$OUT"/unpacked/*.dist-info/licenses/LICENSE >/dev/null 2>&1 || fail "the wheel has no LICENSE"
echo "library: $(stat -c %s "$LIB") bytes"
done_step ok "wheel $(basename "$WHEEL") ($(stat -c %s "$WHEEL") bytes)"

step "auditwheel show"
"$TOOLS/bin/auditwheel" show "$WHEEL" | tee "$OUT/auditwheel.txt"
# auditwheel wraps its lines: join them before matching.
tr '\n' ' ' <"$OUT/auditwheel.txt" | grep -q 'consistent with the following platform tag: *"manylinux_2_17_aarch64"' \
  || fail "auditwheel does not find the wheel manylinux_2_17_aarch64"
done_step ok "auditwheel: manylinux_2_17_aarch64"

step "readelf: machine, needed libraries, glibc symbol versions, exports"
machine=$(readelf -h "$LIB" | sed -n 's/^ *Machine: *//p')
needed=$(readelf -d "$LIB" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort | xargs)
glibc=$(readelf -V "$LIB" | grep -o 'GLIBC_[0-9.]*' | sort -uV | xargs)
newest=$(readelf -V "$LIB" | grep -o 'GLIBC_[0-9.]*' | sed 's/GLIBC_//' | sort -V | tail -1)
echo "machine: $machine"
echo "needed:  $needed"
echo "glibc:   $glibc"
[ "$machine" = AArch64 ] || fail "machine is $machine, not AArch64"
for lib in $needed; do
  case $lib in libc.so.6 | libpthread.so.0 | libdl.so.2) ;; *) fail "needs $lib: only libc.so.6, libpthread.so.0 and libdl.so.2 are allowed" ;; esac
done
[ "$(printf '%s\n' "$newest" 2.17 | sort -V | tail -1)" = 2.17 ] || fail "needs GLIBC_$newest, newer than 2.17"
exports=$(readelf --dyn-syms -W "$LIB" | awk '$4 == "FUNC" && $5 == "GLOBAL" && $7 != "UND" {print $8}' | sed 's/@.*//' | sort | xargs)
api=$(protocol '"\n".join(API)' | sort | xargs)
echo "exports: $exports"
[ "$exports" = "$api" ] || fail "exports more or less than the pbi_ API ($api: _protocol.API)"
done_step ok "readelf: AArch64, needs $needed, newest GLIBC_$newest, exports the pbi_ API alone"

step "Loading the wheel's library, and the one with the test hooks, under qemu-aarch64 (.ci/arm64_loader.c)"
"${ZIGCC[@]}" -O1 -Wall -Werror -DOP_DONE="$(protocol DONE)" -DPANIC_HERE="$(protocol PANIC_HERE)" \
  -o "$OUT/arm64_loader" .ci/arm64_loader.c -ldl
qemu-aarch64 "$OUT/arm64_loader" "$LIB" || fail "the arm64 loader failed under qemu-aarch64"
PG_BULK_INGEST_TARGET=aarch64 "$PY" build.py --test-hooks --output "$OUT/test-hooks/libpgbulkingest.so"
qemu-aarch64 "$OUT/arm64_loader" "$OUT/test-hooks/libpgbulkingest.so" --test-hooks \
  || fail "the arm64 loader failed on the library with the test hooks under qemu-aarch64"
done_step ok "loader: the wheel's library, and the one with the test hooks, run under qemu-aarch64"

step "Cross-compiling the Go tests for arm64"
mapfile -t packages < <(go list -tags pbitest -f '{{if or .TestGoFiles .XTestGoFiles}}{{.ImportPath}}{{end}}' ./goext/...)
# With the wheel's settings (cgo through zig, -trimpath, position-independent
# code as -buildmode=c-shared compiles it), so that most packages come from
# the build cache that building the wheel filled.
GOARCH=arm64 CGO_ENABLED=1 CC="${ZIGCC[*]}" go test -c -tags pbitest -buildmode=pie -trimpath -o "$OUT/gotest/" "${packages[@]}"
done_step ok "compiled ${#packages[@]} test binaries"

step "Running the Go tests under qemu-aarch64"
pg_pid=
if [ -z "${DATABASE_URL:-}" ]; then
  echo "starting PostgreSQL (pgserver) since DATABASE_URL is not set"
  # Runs until its stdin closes, at the end of this script.
  coproc PG {
    PYTHONWARNINGS=ignore "$PY" -u -c '
import sys
sys.path.insert(0, "tests")
import pgcluster
url, server = pgcluster.start()
print(url, flush=True)
sys.stdin.read()
server.cleanup()
'
  }
  # shellcheck disable=SC2153 # PG_PID and PG are coproc's
  pg_pid=$PG_PID
  # shellcheck disable=SC2034 # used by the trap
  pg_in=${PG[1]}
  read -r DATABASE_URL <&"${PG[0]}" || fail "starting PostgreSQL failed"
  export DATABASE_URL
  trap 'exec {pg_in}>&-; wait "$pg_pid" 2>/dev/null || true' EXIT
fi
echo "DATABASE_URL=$DATABASE_URL"
failed=0 passed=0 skipped=0
for p in "${packages[@]}"; do
  name=${p##*/}
  dir=$(go list -f '{{.Dir}}' "$p")
  t0=$SECONDS
  set +e
  (cd "$dir" && qemu-aarch64 "$OUT/gotest/$name.test" -test.count=1 -test.v -test.timeout=10m) >"$OUT/gotest/$name.log" 2>&1
  rc=$?
  set -e
  p_pass=$(grep -c -- '^--- PASS' "$OUT/gotest/$name.log" || true)
  p_skip=$(grep -c -- '^--- SKIP' "$OUT/gotest/$name.log" || true)
  p_fail=$(grep -c -- '^--- FAIL' "$OUT/gotest/$name.log" || true)
  passed=$((passed + p_pass)) skipped=$((skipped + p_skip))
  if [ $rc -ne 0 ]; then
    failed=$((failed + 1))
    echo "FAIL $name ($((SECONDS - t0))s): $p_pass passed, $p_skip skipped, $p_fail failed; log: $OUT/gotest/$name.log"
    grep -B2 -A20 -- '--- FAIL' "$OUT/gotest/$name.log" | head -60 || tail -30 "$OUT/gotest/$name.log"
  else
    echo "ok   $name ($((SECONDS - t0))s): $p_pass passed, $p_skip skipped"
  fi
  grep -A1 -- '^--- SKIP' "$OUT/gotest/$name.log" | sed -n 's/^ *\(.*\.go:[0-9]*: .*\)/       skipped: \1/p' | sort -u | head -5 || true
done
if [ $failed -ne 0 ]; then
  done_step FAIL "go tests under qemu-aarch64: $failed of ${#packages[@]} packages failed"
else
  done_step ok "go tests under qemu-aarch64: $passed passed, $skipped skipped in ${#packages[@]} packages"
fi

echo
echo "=== Summary (${SECONDS}s in all)"
printf '%s\n' "${SUMMARY[@]}"
echo "not checked here: the Python package on arm64 (the release workflow runs it on an arm64 runner);"
echo "glibc 2.17 at run time (qemu runs Debian's arm64 glibc, libc6-arm64-cross $(dpkg-query -W -f '${Version}' libc6-arm64-cross 2>/dev/null || echo '?')); readelf shows the floor"
[ $failed -eq 0 ]
