#!/bin/bash
# lib.sh: the harness of the end-to-end tests, sourced by every tests/e2e/*_test.sh.
#
# Each test gets its own temporary folder ($T) with a RocksDB data directory and an ipc://
# socket (no port to collide with a parallel test), starts real daemons with sl_start, drives
# them with `ctl` (stockctl --json) and checks the JSON with jq. Every failed check prints
# what was expected and what came, and the test exits 1 at the end; the folder and any
# daemon still running are cleaned up on exit. Binaries come from $SL_BIN (set by CTest).
set -u
SL_BIN=${SL_BIN:?SL_BIN must name the build directory with stockledgerd}
T=$(mktemp -d "${TMPDIR:-/tmp}/sl-e2e.XXXXXX")
SL_DATA=$T/data
SL_URL="ipc://$T/sl.sock"
SL_PID=""
SL_FAILS=0
SL_CHECKS=0
export STOCKLEDGER_SERVER=$SL_URL

sl_cleanup() {
	if [ -n "$SL_PID" ] && kill -0 "$SL_PID" 2>/dev/null; then
		kill -TERM "$SL_PID" 2>/dev/null
		wait "$SL_PID" 2>/dev/null
	fi
	rm -rf "$T"
}
trap sl_cleanup EXIT

# sl_start [ARGS...]: starts stockledgerd on $SL_DATA and $SL_URL, waits until it listens.
sl_start() {
	"$SL_BIN/stockledgerd" --data "$SL_DATA" --listen "$SL_URL" "$@" >>"$T/daemon.log" 2>&1 &
	SL_PID=$!
	for _ in $(seq 1 200); do
		if grep -q "listening on $SL_URL" "$T/daemon.log" 2>/dev/null; then
			return 0
		fi
		if ! kill -0 "$SL_PID" 2>/dev/null; then
			break
		fi
		sleep 0.05
	done
	echo "FATAL: stockledgerd did not start; its log:" >&2
	cat "$T/daemon.log" >&2
	exit 1
}

# sl_stop: SIGTERM, and checks the daemon exits 0.
sl_stop() {
	kill -TERM "$SL_PID"
	wait "$SL_PID"
	local rc=$?
	SL_PID=""
	check_eq "daemon exit status after SIGTERM" 0 "$rc"
}

# sl_kill: SIGKILL (a crash).
sl_kill() {
	kill -KILL "$SL_PID"
	wait "$SL_PID" 2>/dev/null
	SL_PID=""
}

# ctl ARGS...: stockctl --json; stdout in $OUT, exit status in $RC.
ctl() {
	OUT=$("$SL_BIN/stockctl" --json "$@" 2>"$T/ctl.err")
	RC=$?
}

# admin ARGS...: stockledger-admin; stdout+stderr in $OUT, exit status in $RC.
admin() {
	OUT=$("$SL_BIN/stockledger-admin" "$@" 2>&1)
	RC=$?
}

# jqo FILTER: applies FILTER to $OUT (raw output).
jqo() {
	printf '%s' "$OUT" | jq -r "$1"
}

check_eq() { # WHAT EXPECTED ACTUAL
	SL_CHECKS=$((SL_CHECKS + 1))
	if [ "$2" != "$3" ]; then
		SL_FAILS=$((SL_FAILS + 1))
		echo "FAIL: $1: expected '$2', got '$3'" >&2
		[ -n "${OUT:-}" ] && echo "  last output: $(printf '%s' "$OUT" | head -c 2000)" >&2
	fi
}

# check WHAT FILTER EXPECTED: jq FILTER on $OUT must print EXPECTED.
check() {
	check_eq "$1" "$3" "$(jqo "$2")"
}

# check_rc WHAT EXPECTED: the last ctl/admin exit status.
check_rc() {
	check_eq "$1 (exit status)" "$2" "$RC"
}

# check_refused WHAT CODE: the last ctl was refused with CODE (exit 1).
check_refused() {
	check_rc "$1" 1
	check "$1 (error code)" .error.code "$2"
}

# sl_done: prints the tally and exits 0 only if every check passed.
sl_done() {
	echo "$SL_CHECKS checks, $SL_FAILS failed"
	[ "$SL_FAILS" -eq 0 ] || exit 1
	exit 0
}
