#!/bin/bash
# The long CPU run of bench/train_retrieval.py and its WordNet-only ablation; re-run it to resume:
#
#   nohup nice -n 19 bench/train_retrieval_run.sh > train-run.log 2>&1 &
#
# 1) the retrieval mix to step $ABL (snapshot), 2) the WordNet-only arm to step $ABL (same config, same
# 1,000-step LR schedule), 3) the mix on to step $UNTIL. Each stage resumes from its run folder's
# checkpoint; a stage already done returns at once. Stop a running copy first: two would share a folder.
cd "$(dirname "$0")/.."
export HF_HUB_OFFLINE=1 TOKENIZERS_PARALLELISM=false GOMP_SPINCOUNT=10000
ROOT=${TRAIN_RUN:-${LENS_VDB_HOME:-$HOME/.cache/lens-vdb}/bench/train_retrieval}  # the script's own default
PY=".venv/bin/python bench/train_retrieval.py"
COMMON="--data $ROOT/data --steps 1000 --batch-size 16 --negatives 1 --precision bf16 --snapshot-every 10 --save-every 2"
ABL=${ABL:-20}
UNTIL=${UNTIL:-1000}
set -e
$PY data --data "$ROOT/data"
$PY train $COMMON --run "$ROOT/mix" --until "$ABL"
$PY train $COMMON --run "$ROOT/wordnet" --mix wordnet --until "$ABL"
$PY train $COMMON --run "$ROOT/mix" --until "$UNTIL"
