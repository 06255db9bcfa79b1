#!/usr/bin/env bash
# The whole GPU check in one command (issue 27, item 5), in under 8 minutes:
#
#     tools/gpu_check.sh [OUT_DIR]      # OUT_DIR: where gpu_check.json goes (default $OUT,
#                                       # else ./gpu_check_out)
#
# From the repository root's venv (`make install`), or the Python in $PYTHON. Prints
# nvidia-smi and the versions, runs `pytest -q -m gpu tests/gpu` (every template 20 steps
# in fp32 and bf16, the host syncs per step, the detection ops against the CPU, DDP with
# nccl, the mlp and cnn templates under training.compile), then the GPU benchmarks
# (bench_transformer_gpu.py, bench_compile.py and bench_torch_compile.py, each --device cuda),
# each part under its own time limit within a total of $GPU_CHECK_SECONDS (470 s), and
# writes OUT_DIR/gpu_check.json: each part passed / failed / skipped / timed_out, its
# seconds and figures. Without a CUDA device it says "no CUDA device" and writes a JSON
# saying so within seconds (exit status 0); a failed part gives exit status 1.
#
# GPU_CHECK_DRY_RUN=1: the parts run even without CUDA (each then skips): a test of this
# script itself on a machine without a GPU.
# GPU_CHECK_WHEELS=DIR: wheels installed first (pip --no-index into a temporary folder on
# PYTHONPATH), for a machine with torch but without this project's other dependencies and
# no network (pydantic, pydantic-core, annotated-types, typing-inspection, pycocotools).
set -u
cd "$(dirname "$0")/.." || exit 2
OUT_DIR="${1:-${OUT:-gpu_check_out}}"
mkdir -p "$OUT_DIR" || exit 2
OUT_DIR="$(cd "$OUT_DIR" && pwd)"
TOTAL="${GPU_CHECK_SECONDS:-470}"
if [ -n "${PYTHON:-}" ]; then PY="$PYTHON"
elif [ -x .venv/bin/python ]; then PY=.venv/bin/python
else PY=python3; fi
export PYTHONUNBUFFERED=1 PYTHONDONTWRITEBYTECODE=1 QT_QPA_PLATFORM=offscreen
PARTS="$OUT_DIR/.parts.jsonl"
: > "$PARTS"
START=$SECONDS

if [ -n "${GPU_CHECK_WHEELS:-}" ]; then
    SITE="$(mktemp -d)/site"
    "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --target "$SITE" \
        "$GPU_CHECK_WHEELS"/*.whl && export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi

left() { echo $(( TOTAL - (SECONDS - START) )); }

# part NAME LIMIT LOG COMMAND...: runs it under `timeout` (at most what the total leaves,
# less 10 s for the summary), its output to LOG and the screen; notes rc and seconds.
part() {
    local name=$1 limit=$2 log=$3; shift 3
    local budget; budget=$(( $(left) - 10 ))
    [ "$budget" -lt "$limit" ] && limit=$budget
    if [ "$limit" -lt 5 ]; then
        echo "== $name: no time left"
        echo "{\"part\": \"$name\", \"rc\": null, \"seconds\": 0, \"limit\": 0}" >> "$PARTS"
        return
    fi
    echo "== $name (limit ${limit} s)"
    local t0=$SECONDS
    : > "$log"
    timeout --kill-after=5 "$limit" "$@" > "$log" 2>&1 &
    local pid=$!
    tail -n +1 -f --pid=$pid "$log" 2>/dev/null
    wait $pid
    local rc=$?
    echo "{\"part\": \"$name\", \"rc\": $rc, \"seconds\": $(( SECONDS - t0 )), \"limit\": $limit, \"log\": \"$(basename "$log")\"}" >> "$PARTS"
    echo "== $name: exit status $rc after $(( SECONDS - t0 )) s"
}

echo "== nvidia-smi"
if command -v nvidia-smi >/dev/null 2>&1; then
    timeout 20 nvidia-smi > "$OUT_DIR/.nvidia-smi.txt" 2>&1
else
    echo "nvidia-smi: not found" > "$OUT_DIR/.nvidia-smi.txt"
fi
cat "$OUT_DIR/.nvidia-smi.txt"
echo "== python and torch ($PY)"
timeout 120 "$PY" tools/gpu_check_env.py > "$OUT_DIR/.env.json" 2> "$OUT_DIR/.env.err"
ENV_RC=$?
cat "$OUT_DIR/.env.json" "$OUT_DIR/.env.err"
CUDA=$("$PY" -c "import json,sys; print(json.load(open(sys.argv[1])).get('cuda', False))" \
       "$OUT_DIR/.env.json" 2>/dev/null || echo False)
READY=$("$PY" -c "import json,sys; print(not json.load(open(sys.argv[1])).get('missing'))" \
        "$OUT_DIR/.env.json" 2>/dev/null || echo False)

if [ "$ENV_RC" -ne 0 ]; then
    echo "the environment check failed (exit status $ENV_RC): see above"
elif [ "$CUDA" != "True" ] && [ -z "${GPU_CHECK_DRY_RUN:-}" ]; then
    echo "no CUDA device: the GPU tests and benchmarks are skipped"
elif [ "$READY" != "True" ]; then
    echo "python modules are missing (see 'missing' above): the GPU check cannot run"
else
    export GPU_CHECK_DETAIL="$OUT_DIR/gpu_detail.jsonl"
    : > "$GPU_CHECK_DETAIL"
    part tests 270 "$OUT_DIR/gpu_tests.log" "$PY" -m pytest -q -m gpu tests/gpu \
        -p no:cacheprovider --junitxml="$OUT_DIR/gpu_tests.xml" -o junit_family=xunit2
    part bench_transformer_gpu 110 "$OUT_DIR/bench_transformer_gpu.log" \
        "$PY" tests/benchmarks/bench_transformer_gpu.py --device cuda --rounds 2 --steps 30 \
        --warmup 5 --samples 20000
    part bench_compile_cuda 50 "$OUT_DIR/bench_compile_cuda.log" \
        "$PY" tests/benchmarks/bench_compile.py --device cuda --rounds 5 --steps 10
    part bench_torch_compile_cuda 60 "$OUT_DIR/bench_torch_compile_cuda.log" \
        "$PY" tests/benchmarks/bench_torch_compile.py --device cuda --templates mlp,cnn \
        --rounds 2 --steps 40
fi

"$PY" tools/gpu_check_summary.py "$OUT_DIR" "$ENV_RC" "$(( SECONDS - START ))"
RC=$?
rm -f "$PARTS" "$OUT_DIR/.env.json" "$OUT_DIR/.env.err" "$OUT_DIR/.nvidia-smi.txt"
exit $RC
