#!/usr/bin/env bash
# Re-make the shipped experiment results in experiments/NAME (resumable: rerun to go on).
# Usage: scripts/run_experiments.sh [NAME ...]   (default: all eight; about an hour on 2 cores, plus
# focal-vs-dcgan-paper: about 5 minutes on one GPU with --jobs 20, several hours on 2 cores)
set -euo pipefail
cd "$(dirname "$0")/.."
DATA="${GAN_DATA_DIR:-../shared/data}"
names=("$@")
[ ${#names[@]} -eq 0 ] && names=(focal-vs-dcgan latent-size small-data depth-bn sagan cgan-augment gd-ratio focal-vs-dcgan-paper)
for name in "${names[@]}"; do
  .venv/bin/python -m gan_core sweep "$name" --out "experiments/$name" --data-dir "$DATA" --quiet
done
