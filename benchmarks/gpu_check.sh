#!/usr/bin/env bash
# The GPU check, for a CUDA machine (not run on the 2-core CPU machine): the family suite on CUDA in bfloat16
# (every decoder family's tiny model: trace, contributions, ablation, knockout, patching, lens), the offload
# test, then the trace, interventions and attribution benchmarks; at most 8 minutes in all. Prints one JSON
# object: each step's command, exit status, seconds and its last output line (a benchmark's JSON summary).
#
#   bash benchmarks/gpu_check.sh > gpu_check.json
set -u
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BUDGET=${BUDGET:-480}
OUT=$(mktemp -d)
START=$SECONDS

if ! "$PY" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)"; then
  echo '{"error": "no CUDA device: torch.cuda.is_available() is False"}'
  exit 1
fi

step() {  # step NAME COMMAND...: runs within what is left of the budget, keeps its output
  local name=$1 left=$((BUDGET - (SECONDS - START)))
  shift
  if [ "$left" -le 10 ]; then
    printf '%s\n' "$*" >"$OUT/$name.cmd"; echo "skipped: the 8-minute budget was spent" >"$OUT/$name.log"
    echo 124 >"$OUT/$name.rc"; echo 0 >"$OUT/$name.s"; return
  fi
  local began=$SECONDS
  printf '%s\n' "$*" >"$OUT/$name.cmd"
  timeout "$left" "$@" >"$OUT/$name.log" 2>&1
  echo $? >"$OUT/$name.rc"
  echo $((SECONDS - began)) >"$OUT/$name.s"
}

export MOMENTSCOPE_TEST_DEVICE=cuda MOMENTSCOPE_TEST_DTYPE=bfloat16
step families "$PY" -m pytest tests/unit/tracing/inspection/test_families.py -q -p no:cacheprovider
step placement "$PY" -m pytest tests/unit/model_zoo/test_placement.py -q -p no:cacheprovider
step trace_benchmark "$PY" benchmarks/trace_overhead.py --device cuda --json --repeats 2
step interventions_benchmark "$PY" benchmarks/interventions.py --json
step attribution_benchmark "$PY" benchmarks/attribution_vs_captum.py --json --captum-moments 1

"$PY" - "$OUT" <<'PYTHON'
import json, pathlib, sys, torch
out = pathlib.Path(sys.argv[1])
steps = {}
for rc in sorted(out.glob("*.rc")):
    name = rc.stem
    lines = [line for line in (out / f"{name}.log").read_text(errors="replace").splitlines() if line.strip()]
    last = lines[-1] if lines else ""
    try:
        last = json.loads(last)
    except ValueError:
        pass
    steps[name] = {"command": (out / f"{name}.cmd").read_text().strip(), "rc": int(rc.read_text()),
                   "seconds": int((out / f"{name}.s").read_text()), "last_line": last}
print(json.dumps({"device": torch.cuda.get_device_name(0), "dtype": "bfloat16", "steps": steps}, indent=1))
PYTHON
