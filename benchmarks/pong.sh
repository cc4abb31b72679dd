#!/bin/bash
# The learning benchmark: Pong from scratch with the default config, on every core of this
# machine, for a fixed wall time; greedy evaluations of 5 episodes every 250,000 frames.
#   bash benchmarks/pong.sh [GAME] [MINUTES] [extra a3c train overrides...]
#   GAME: Pong-Atari2600 (stable-retro, default) or Pong-ALE (Gymnasium's ALE, the peers' setting)
# Writes the run to outputs/bench-learning/<game>/<time>/, its curve to curve.png there, and
# prints the time and frames at which the mean greedy return first reached 18.
set -euo pipefail
game=${1:-Pong-Atari2600}
minutes=${2:-15}
shift $(( $# > 2 ? 2 : $# ))
source "$(dirname "$0")/require_idle.sh"
run_dir=outputs/bench-learning/$game/$(date +%Y-%m-%d_%H-%M-%S)
a3c train game="$game" max_minutes="$minutes" max_frames=1000000000 eval_interval=250000 eval_episodes=5 \
  progress=false checkpoints_dir="$run_dir/published" hydra.run.dir="$run_dir" "$@"
a3c plot "$run_dir" --output "$run_dir/curve.png"
python "$(dirname "$0")/time_to_score.py" "$run_dir" 18
