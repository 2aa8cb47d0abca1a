#!/usr/bin/env bash
# The product's GPU path, end to end, on one CUDA GPU: the default job (sweep on the GPU, two
# worker processes sharing it), the exported top layout trained with --amp and tested, a
# one-process torchrun launch, and the test suite with a GPU visible. Prints the timings.
#   bash benchmarks/gpu_smoke.sh [OUT_DIR]        (CI never runs this: CI has no GPU)
#   PYTHON=python3 selects the interpreter (default: python)
set -u -o pipefail
out=${1:-${OUT:-/tmp/gpu_smoke}}
mkdir -p "$out"
wd=$(mktemp -d)
cfg=configs/teacher/tree_resnet10t_narrow_teacher_middepth_3task.py
name=tree_resnet10t_narrow_teacher_middepth_3task
py=${PYTHON:-python}
export PYTHONUNBUFFERED=1
status=0
step() {    # step NAME COMMAND...: run, time, keep the log, remember a failure
    local name=$1; shift
    local start=$SECONDS
    "$@" >"$out/$name.log" 2>&1
    local rc=$?
    echo "[gpu-smoke] $name: exit $rc in $((SECONDS - start)) s"
    tail -n 12 "$out/$name.log" | sed 's/^/    /'
    [ $rc -eq 0 ] || status=1
}
$py - <<'PY'
import torch, timm, mmengine, fvcore
print('[gpu-smoke] torch', torch.__version__, '| timm', timm.__version__, '| mmengine',
      mmengine.__version__, '| CUDA', torch.cuda.is_available(),
      torch.cuda.get_device_name(0) if torch.cuda.is_available() else '-')
PY
$py -c 'import torch, sys; sys.exit(0 if torch.cuda.is_available() else 2)' || {
    echo '[gpu-smoke] no CUDA GPU here: this check is for a GPU machine'; exit 2; }
step recommend $py tools/recommend.py $cfg --work-dir "$wd/job"
exported="$wd/job/exported/rank1_$name.py"
step train_amp $py tools/train.py "$exported" --amp --work-dir "$wd/train"
step test $py tools/test.py "$exported" "$wd/train/iter_300.pth" --work-dir "$wd/test"
step torchrun torchrun --nproc-per-node 1 tools/train.py $cfg --launcher pytorch \
    --work-dir "$wd/ddp" --cfg-options train_cfg.max_iters=20 train_cfg.val_interval=20
grep -h "CUDA" "$wd/job/sweep/runs/single__a1/"*/*.log 2>/dev/null | head -n 1
$py - "$exported" <<'PY'
import sys
from treemtl_plugin.apis.config import load_config
from treemtl_plugin.apis.training import build_runner
cfg = load_config(sys.argv[1])
cfg.work_dir = cfg.work_dir + '_device_check'
runner = build_runner(cfg)
print('[gpu-smoke] the runner puts the model on', next(runner.model.parameters()).device)
PY
# the packaging test builds a wheel and a venv: it needs the package index, not a GPU
step pytest $py -m pytest -q -p no:cacheprovider --maxfail=20 -n 8 tests \
    --ignore=tests/test_packaging.py
cp "$wd/job/report.txt" "$out/" 2>/dev/null
exit $status
