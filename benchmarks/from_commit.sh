#!/usr/bin/env bash
# Runs an a3c command at a commit, from a git worktree of it, so that editing this checkout while a
# long run goes on (a screen, a row of the 10 M table) does not change what the run measures:
#   bash benchmarks/from_commit.sh COMMIT bench learn frames=3M games=Breakout-ALE dir=/tmp/screen
# The worktree, ../a3c-at-<commit> beside this checkout, is made once and reused; it runs on this
# checkout's Python environment with the worktree's code and conf/ first on the path. `a3c bench
# learn` keeps its rows in the worktree's benchmarks/results/learn/ unless given rows=$PWD/benchmarks/results/learn.
set -euo pipefail
sha=$(git rev-parse --short "$1"); shift
root=$(git rev-parse --show-toplevel)
tree=$(dirname "$root")/a3c-at-$sha
[ -d "$tree" ] || git worktree add --detach "$tree" "$sha" >&2
# An editable install maps a3c_cli.conf to this checkout's conf/: a link in the worktree's package is found first.
[ -e "$tree/a3c_cli/conf" ] || ln -s ../conf "$tree/a3c_cli/conf"
cd "$tree"
PYTHONPATH="$tree" exec "${PYTHON:-python}" -m a3c_cli "$@"
