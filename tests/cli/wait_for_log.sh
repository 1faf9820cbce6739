# Sourced by the CLI test scripts (sh).
# wait_for_log <log> <pid> <extended regex> [seconds, default 120]: polls the log every 0.2 s until a
# line matches or the process is gone; succeeds when the line is there.
wait_for_log() {
  for _ in $(seq 1 $((${4:-120} * 5))); do
    grep -Eq "$3" "$1" && return 0
    kill -0 "$2" 2>/dev/null || break
    sleep 0.2
  done
  grep -Eq "$3" "$1"
}
