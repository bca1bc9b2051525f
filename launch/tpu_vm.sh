#!/usr/bin/env bash
# Creates a Cloud TPU VM, installs conv_t5 on it and starts the paper-scale
# grid (launch/paper_grid.py) in a tmux session. Untested here (no TPU access):
# it only strings together the standard gcloud commands.
#
#   launch/tpu_vm.sh --dry-run                       # print the commands only
#   TPU_NAME=conv-t5 ZONE=europe-west4-a PROJECT=my-project \
#   BUCKET=gs://my-bucket/conv_t5 TFDS_DATA_DIR=gs://my-bucket/tfds \
#   launch/tpu_vm.sh [paper_grid.py options, e.g. --archs conv_dynamic]
#
# Environment (defaults in brackets):
#   TPU_NAME [conv-t5]  ZONE [europe-west4-a]  PROJECT [gcloud's default]
#   ACCELERATOR [v3-8]  RUNTIME [tpu-vm-tf-2.15.1-pjrt]
#   BUCKET (required)   TFDS_DATA_DIR (required: C4 and the fine-tuning sets
#                       prepared with TFDS; TPUs cannot read local disks)
#   REPO [https://github.com/<you>/conv_t5.git]  the checkout to install
# The bucket must be in the TPU's region and writable by its service account.
set -euo pipefail

DRY_RUN=0
ARGS=()
for a in "$@"; do
  if [[ "$a" == "--dry-run" || "$a" == "--dry_run" ]]; then DRY_RUN=1; else ARGS+=("$a"); fi
done

TPU_NAME=${TPU_NAME:-conv-t5}
ZONE=${ZONE:-europe-west4-a}
ACCELERATOR=${ACCELERATOR:-v3-8}
RUNTIME=${RUNTIME:-tpu-vm-tf-2.15.1-pjrt}
REPO=${REPO:-https://github.com/YOUR_FORK/conv_t5.git}
BUCKET=${BUCKET:-gs://YOUR_BUCKET/conv_t5}
TFDS_DATA_DIR=${TFDS_DATA_DIR:-gs://YOUR_BUCKET/tfds}
PROJECT_FLAG=${PROJECT:+--project=$PROJECT}

run() {
  printf '%q ' "$@"; echo
  if [[ $DRY_RUN == 0 ]]; then "$@"; fi
}

run gcloud compute tpus tpu-vm create "$TPU_NAME" --zone="$ZONE" \
  --accelerator-type="$ACCELERATOR" --version="$RUNTIME" ${PROJECT_FLAG}

# The TPU VM image brings TensorFlow for the TPU; the pinned CPU wheel of
# constraints.txt is left out so that it does not replace it.
SETUP="set -e; git clone $REPO conv_t5 && cd conv_t5 && python3 -m venv --system-site-packages .venv && grep -v '^tensorflow==' constraints.txt > /tmp/constraints.tpu.txt && .venv/bin/pip install --no-deps -r /tmp/constraints.tpu.txt && .venv/bin/pip install --no-deps --no-build-isolation -e ."
run gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" ${PROJECT_FLAG} --command="$SETUP"

GRID="cd conv_t5 && PATH=\$PWD/.venv/bin:\$PATH .venv/bin/python launch/paper_grid.py --tpu=local --tpu_topology=$ACCELERATOR --bucket=$BUCKET --tfds_data_dir=$TFDS_DATA_DIR ${ARGS[*]:-}"
run gcloud compute tpus tpu-vm ssh "$TPU_NAME" --zone="$ZONE" ${PROJECT_FLAG} \
  --command="tmux new-session -d -s grid '$GRID 2>&1 | tee -a grid.log'"

echo "# follow: gcloud compute tpus tpu-vm ssh $TPU_NAME --zone=$ZONE --command='tail -f conv_t5/grid.log'"
echo "# table:  python -m conv_t5.results $BUCKET/models --select best"
