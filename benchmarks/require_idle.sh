# Sourced by the benchmark scripts: a measurement needs the cores to itself. A run still finishing
# (its trainer is the `a3c` script, its workers come from a fork server) would take half of them
# for minutes and leave no trace in the figures.
if busy=$(pgrep -f "bin/a3c |a3c_cli"); then
  echo "$(basename "$0"): another a3c process is running (pids $(echo $busy)): stop it first (kill PID) or wait" >&2
  exit 1
fi
