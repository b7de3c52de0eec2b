#!/usr/bin/env bash
# One command for a lent GPU: environment, the gpu test tier (each test in its own
# process under a timeout), the benchmark suite beside cuBLAS/SDPA/Triton, the examples
# under compute-sanitizer memcheck and racecheck, the KernelBench harness where it
# exists, and the launch overhead. docs/device-check.md describes it.
#
#   benchmarks/device_check.sh [--dry-run] [--budget SECONDS] [--out DIR]
#
# --budget  wall-clock seconds for the whole check (default 480); every step runs under
#           `timeout` with what is left, and a step that no longer fits is listed as skipped.
# --out     the folder of every table and log (default benchmarks/results/device-check-DATE).
# --dry-run everything but the GPU: the environment, the gpu tier's collection and its
#           per-test runner on one test, the benchmarks' --check modes on a CPU target.
#
# Every step appends its row to OUT/summary.md as soon as it ends, and writes its own
# files under OUT, so a run cut short keeps what it finished. Steps run in the order of
# what they tell: can we launch at all, is every kernel right, how fast, is memory
# access clean, then the slower and the optional parts.
set -u

DRY=0
BUDGET=480
OUT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --dry-run) DRY=1 ;;
    --budget) BUDGET="$2"; shift ;;
    --out) OUT="$2"; shift ;;
    -h|--help) sed -n '2,19p' "$0"; exit 0 ;;
    *) echo "device_check.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
PY=${PYTHON:-python3}
START=$(date +%s)
[ -n "$OUT" ] || OUT="benchmarks/results/device-check-$(date -u +%Y%m%d-%H%M)"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
export PYTHONPATH="$ROOT${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
# one compile cache for every step: a kernel compiled by the test tier is a hit later
export TILELANG_CACHE_DIR="${TILELANG_CACHE_DIR:-$OUT/.cache}"
PER_TEST=${PER_TEST_TIMEOUT:-180}      # seconds for one gpu test (compile included)
SUMMARY="$OUT/summary.md"

remaining() { echo $(( BUDGET - ($(date +%s) - START) )); }

# the timeout a step gets: its own cap, but never more than what is left less a reserve
# for the steps' bookkeeping
fit() { local cap=$1 left; left=$(( $(remaining) - 5 )); [ "$left" -lt "$cap" ] && cap=$left; echo "$cap"; }

row() { echo "| $1 | $2 | $3 | $4 |" >> "$SUMMARY"; }

# step NAME CAP LOG CMD...: run CMD under `timeout` (at most CAP seconds), output to LOG;
# one summary row with the outcome. Returns CMD's status (124: timed out).
step() {
  local name=$1 cap=$2 log=$3 t rc t0
  shift 3
  t=$(fit "$cap")
  if [ "$t" -lt 10 ]; then
    row "$name" "skipped" "-" "out of budget"
    return 125
  fi
  t0=$(date +%s)
  if declare -F "$1" > /dev/null; then   # a function of this script: in a child bash
    timeout -k 10 "$t" bash -c '"$@"' _ "$@" > "$log" 2>&1
  else
    timeout -k 10 "$t" "$@" > "$log" 2>&1
  fi
  rc=$?
  local secs=$(( $(date +%s) - t0 )) what
  case $rc in
    0) what="ok" ;;
    124|137) what="TIMEOUT after ${t}s" ;;
    *) what="FAILED (exit $rc)" ;;
  esac
  row "$name" "$what" "$secs" "$(basename "$log")"
  return $rc
}

# pytest runs here with `-o addopts=...`: the project's addopts ask for xdist workers
# (`-n auto`), pointless for one test and an error where pytest-xdist is not installed
has_timeout_plugin() { "$PY" -c "import pytest_timeout" 2>/dev/null; }

# run_tests TABLE IDS_FILE [PREFIX...]: each test id in its own pytest process under
# `timeout` (a deadlocked mbarrier hangs only that process), PREFIX before python (a
# sanitizer); one row per test in TABLE, written as it ends
run_tests() {
  local table=$1 ids=$2
  shift 2
  local extra=() id t rc t0 what log n=0
  # pytest-timeout (autoloaded where installed) dumps the stacks of a test that hangs in
  # Python; a hang inside a driver call is ended by the `timeout` around the process
  has_timeout_plugin && extra=(--timeout "$PER_TEST" --timeout-method thread)
  echo "| test | result | seconds |" > "$table"
  echo "|---|---|---|" >> "$table"
  while IFS= read -r id; do
    [ -n "$id" ] || continue
    t=$(fit "$PER_TEST")
    if [ "$t" -lt 10 ]; then echo "| $id | skipped: out of budget | - |" >> "$table"; continue; fi
    n=$((n + 1))
    log="${table%.md}-$n.log"
    t0=$(date +%s)
    timeout -k 10 "$t" "$@" "$PY" -m pytest -q -o addopts=-ra -p no:cacheprovider ${extra[@]+"${extra[@]}"} "$id" > "$log" 2>&1
    rc=$?
    case $rc in
      0) grep -q " skipped" "$log" && what="skipped: $(grep -m1 -o 'SKIPPED.*' "$log" | cut -c1-120)" || what="passed" ;;
      124|137) what="TIMEOUT after ${t}s" ;;
      *) what="FAILED (exit $rc, $(basename "$log"))" ;;
    esac
    echo "| \`$id\` | $what | $(( $(date +%s) - t0 )) |" >> "$table"
  done < "$ids"
  ! grep -q "FAILED\|TIMEOUT" "$table"
}

export START BUDGET PY PER_TEST SUMMARY
export -f remaining fit row has_timeout_plugin run_tests

{
  echo "# Device check $(date -u '+%Y-%m-%d %H:%M UTC')"
  echo
  echo "Command: \`benchmarks/device_check.sh $([ $DRY = 1 ] && echo '--dry-run ')--budget $BUDGET\`," \
       "commit $(git rev-parse --short HEAD 2>/dev/null || echo '?')."
  echo "Steps in the order they ran; each row is written when its step ends."
  echo
  echo "| step | result | seconds | file |"
  echo "|---|---|---|---|"
} > "$SUMMARY"

# 1. environment (also decides whether there is a GPU); first, whether tilelang imports
#    at all with what this machine has (a missing wheel shows here, not as 13 failures)
step "preflight: import tilelang and its dependencies" 60 "$OUT/preflight.txt" \
  "$PY" -c "import numpy, ml_dtypes, lark, llvmlite, cuda.bindings.driver, tilelang; print('ok')"
step "environment" 60 "$OUT/environment.md" "$PY" benchmarks/device_env.py
GPU=0
if [ $DRY = 0 ]; then
  if "$PY" benchmarks/device_env.py --has-gpu > "$OUT/gpu.txt" 2>&1; then GPU=1; else
    row "gpu" "NONE: $(head -c 200 "$OUT/gpu.txt" | tr '\n|' '  ')" "-" "gpu.txt"
  fi
  command -v nvidia-smi > /dev/null && step "nvidia-smi" 30 "$OUT/nvidia-smi.txt" nvidia-smi -q
fi

# 2. the gpu tier, collected once, then one process per test
step "collect gpu tier" 120 "$OUT/gpu-tests-collected.txt" \
  "$PY" -m pytest --collect-only -q -o addopts= -p no:cacheprovider -m gpu tests
# this vendor's tests first (NVIDIA: the AMD tests only skip here)
{ grep '::' "$OUT/gpu-tests-collected.txt" | grep -v '_amd_'
  grep '::' "$OUT/gpu-tests-collected.txt" | grep '_amd_'; } > "$OUT/gpu-tests.ids" 2>/dev/null
row "gpu tier size" "$(wc -l < "$OUT/gpu-tests.ids") tests" "-" "gpu-tests.ids"
if [ $GPU = 1 ]; then
  # the smallest kernel first: does a launch work at all?
  grep -v '_amd_' "$OUT/gpu-tests.ids" | grep 'vector_add' > "$OUT/smoke.ids"
  step "smoke: vector_add on the GPU" 300 "$OUT/smoke.log" run_tests "$OUT/smoke.md" "$OUT/smoke.ids"
  step "gpu tier (one process per test)" 900 "$OUT/gpu-tier.log" \
    run_tests "$OUT/gpu-tests.md" "$OUT/gpu-tests.ids"
else
  # the runner itself, on the test that needs no device
  grep 'reports_why_it_skips' "$OUT/gpu-tests.ids" | head -1 > "$OUT/smoke.ids"
  step "per-test runner (dry: one test)" 120 "$OUT/smoke.log" run_tests "$OUT/smoke.md" "$OUT/smoke.ids"
fi

# 3. the kernel suite beside cuBLAS / SDPA / Triton, in groups (a group that runs out of
#    time loses only itself); dry run: the same harness on a CPU target at tiny sizes
mkdir -p "$OUT/bench"
if [ $GPU = 1 ]; then
  for group in "gemm" "attn fwd d128" "attn fwd d64" "softmax|layernorm|copy"; do
    slug=$(echo "$group" | tr -c 'a-z0-9\n' '-')
    # (the row label without the regex's bars, which would split a Markdown cell)
    step "benchmarks/run.py --only '$(echo "$group" | tr '|' ',')'" 300 "$OUT/bench/$slug.log" \
      "$PY" benchmarks/run.py --only "$group" --out "$OUT/bench/$slug"
  done
else
  step "benchmarks/run.py --check (interp, gemm)" 120 "$OUT/bench/check.log" \
    "$PY" benchmarks/run.py --check --check-target interp --only "gemm bf16 4096" \
    --out "$OUT/bench/check"
fi

# 4. the examples under compute-sanitizer (memcheck, then the slower racecheck)
if [ $GPU = 1 ] && command -v compute-sanitizer > /dev/null; then
  grep 'test_example_on_the_device\[' "$OUT/gpu-tests.ids" > "$OUT/examples.ids"
  for tool in memcheck racecheck; do
    step "compute-sanitizer $tool (examples)" 300 "$OUT/sanitizer-$tool.log" \
      run_tests "$OUT/sanitizer-$tool.md" "$OUT/examples.ids" \
      compute-sanitizer --tool "$tool" --target-processes all --error-exitcode 9
  done
elif [ $GPU = 1 ]; then
  row "compute-sanitizer" "skipped" "-" "not on PATH"
else
  row "compute-sanitizer memcheck, racecheck" "skipped" "-" "no GPU$([ $DRY = 1 ] && echo ' (dry run)')"
fi

# 5. KernelBench, where its harness exists
KB=benchmarks/kernelbench/run.py
if [ -f "$KB" ]; then
  mkdir -p "$OUT/kernelbench"
  timeout 60 "$PY" "$KB" --help > "$OUT/kernelbench/help.txt" 2>&1
  if [ $GPU = 1 ]; then
    if grep -q -- "--out" "$OUT/kernelbench/help.txt"; then
      step "kernelbench" 300 "$OUT/kernelbench/run.log" "$PY" "$KB" --out "$OUT/kernelbench/results"
    else
      step "kernelbench" 300 "$OUT/kernelbench/run.log" "$PY" "$KB"
    fi
  elif grep -q -- "--check" "$OUT/kernelbench/help.txt"; then
    step "kernelbench --check" 60 "$OUT/kernelbench/check.log" "$PY" "$KB" --check
  else
    row "kernelbench" "skipped" "-" "no GPU and its harness has no --check"
  fi
else
  row "kernelbench" "skipped" "-" "$KB does not exist"
fi

# 6. host launch overhead (and, on a GPU, real launches beside Triton's)
if [ $GPU = 1 ]; then
  step "launch overhead" 120 "$OUT/launch-overhead.txt" "$PY" benchmarks/launch_overhead.py --gpu
else
  step "launch overhead (no-op driver)" 60 "$OUT/launch-overhead.txt" \
    "$PY" benchmarks/launch_overhead.py --launches 2000
fi

echo >> "$SUMMARY"
echo "Finished in $(( $(date +%s) - START )) s of a $BUDGET s budget." >> "$SUMMARY"
# the tables themselves, most telling first (each file also stands alone under OUT)
for f in smoke.md gpu-tests.md bench/*.md sanitizer-memcheck.md sanitizer-racecheck.md \
         kernelbench/results*.md launch-overhead.txt environment.md; do
  for g in "$OUT"/$f; do
    [ -f "$g" ] || continue
    { echo; echo "## ${g#$OUT/}"; echo; cat "$g"; } >> "$SUMMARY"
  done
done
cat "$SUMMARY"
# the exit status: 0 when every step that ran succeeded
! grep -q "FAILED\|TIMEOUT" "$SUMMARY"
