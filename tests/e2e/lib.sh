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
	SL_LOG_FROM=$(sl_log_lines)
	"$SL_BIN/stockledgerd" --data "$SL_DATA" --listen "$SL_URL" "$@" >>"$T/daemon.log" 2>&1 &
	SL_PID=$!
	if sl_wait_listening; then
		return 0
	fi
	echo "FATAL: stockledgerd did not start; its log:" >&2
	cat "$T/daemon.log" >&2
	exit 1
}

# sl_start_tcp [ARGS...]: starts stockledgerd on tcp://127.0.0.1:PORT with a free PORT, sets
# SL_URL and $STOCKLEDGER_SERVER to it. A port that looks free (not in `ss -tln`) may still be
# taken by the time the daemon binds it, so a daemon that cannot listen is retried on another
# port (up to 20 times) rather than trusted to a probe.
sl_start_tcp() {
	local try port
	for try in $(seq 1 20); do
		port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
		if ss -Htln 2>/dev/null | awk '{print $4}' | grep -q ":$port\$"; then
			continue
		fi
		SL_URL="tcp://127.0.0.1:$port"
		export STOCKLEDGER_SERVER=$SL_URL
		SL_LOG_FROM=$(sl_log_lines)
		"$SL_BIN/stockledgerd" --data "$SL_DATA" --listen "$SL_URL" "$@" >>"$T/daemon.log" 2>&1 &
		SL_PID=$!
		if sl_wait_listening; then
			return 0
		fi
		wait "$SL_PID" 2>/dev/null
		SL_PID=""
		tail -n +"$((SL_LOG_FROM + 1))" "$T/daemon.log" | grep -q "cannot listen" || break
	done
	echo "FATAL: stockledgerd did not start on a free tcp port (try $try); its log:" >&2
	cat "$T/daemon.log" >&2
	exit 1
}

# sl_log_lines: lines in the daemon log so far (a restart appends to the same log).
sl_log_lines() {
	if [ -f "$T/daemon.log" ]; then wc -l <"$T/daemon.log"; else echo 0; fi
}

# sl_wait_listening: waits until the daemon $SL_PID prints "listening on $SL_URL" (after line
# $SL_LOG_FROM of the log: an earlier run's line does not count); fails if it exits first or
# takes longer than 10 s.
sl_wait_listening() {
	for _ in $(seq 1 200); do
		if tail -n +"$((SL_LOG_FROM + 1))" "$T/daemon.log" 2>/dev/null |
			grep -q "listening on $SL_URL"; then
			return 0
		fi
		if ! kill -0 "$SL_PID" 2>/dev/null; then
			return 1
		fi
		sleep 0.05
	done
	return 1
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

# head_save: remembers the log's head ({seq, hash} from `stockctl head`) in $SL_HEAD.
# $OUT and $RC are kept as they were.
head_save() {
	local out=$OUT rc=$RC
	ctl head
	SL_HEAD=$(jqo '"\(.seq) \(.hash)"')
	OUT=$out
	RC=$rc
}

# check_unchanged WHAT: after a refusal: the head equals the one head_save remembered (the
# log is untouched) and the daemon still serves (it answered `head` and is alive).
# $OUT and $RC are kept as they were.
check_unchanged() {
	local out=$OUT rc=$RC
	ctl head
	check_eq "$1: daemon still serving (head exit status)" 0 "$RC"
	check_eq "$1: head unchanged" "$SL_HEAD" "$(jqo '"\(.seq) \(.hash)"')"
	OUT=$out
	RC=$rc
}

# refused WHAT CODE ARGS...: runs `stockctl ARGS...` and checks that it was refused with CODE
# and a message, and that it changed nothing (check_unchanged).
refused() {
	local what=$1 code=$2
	shift 2
	head_save
	ctl "$@"
	check_refused "$what" "$code"
	check "$what: has a message" '.error.message | length > 0' true
	check_unchanged "$what"
}

# item_json ITEM: prints `stockctl --json item get ITEM` (the whole item, dates included).
item_json() {
	"$SL_BIN/stockctl" --json item get "$1" 2>/dev/null
}

# sl_done: prints the tally and exits 0 only if every check passed.
sl_done() {
	echo "$SL_CHECKS checks, $SL_FAILS failed"
	[ "$SL_FAILS" -eq 0 ] || exit 1
	exit 0
}
