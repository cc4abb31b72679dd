#!/bin/bash
# The throughput table of benchmarks/README.md: `a3c bench` on each game, batched (the default,
# 8 environments per worker) and classic A3C (1), with 2 workers and 60 s per phase.
#   bash benchmarks/throughput.sh [SECONDS]
set -euo pipefail
seconds=${1:-60}
source "$(dirname "$0")/require_idle.sh"
for game in Pong-Atari2600 Airstriker-Genesis Pong-ALE; do
  for envs in 8 1; do
    a3c bench game=$game workers=2 envs_per_worker=$envs seconds=$seconds
  done
done
