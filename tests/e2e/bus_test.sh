#!/bin/bash
# bus_test.sh: stockctl through NATS JetStream. A real nats-server with JetStream, a real
# stockledgerd and a real stockledger-bridge; stockctl --server nats://... publishes each
# command to the bridge's commands stream and prints the result the bridge publishes back,
# exactly as it prints a direct answer. Checks: the same JSON and exit codes as over nng
# (a refusal with its code, a retried key replayed once), the log the same seen both ways,
# a clean stop of the bridge, and exit 3 when no bridge answers.
. "$(dirname "$0")/lib.sh"

NATS_SERVER=$(command -v nats-server || echo /usr/sbin/nats-server)
NATS_PID=""
BRIDGE_PID=""
bus_cleanup() {
	[ -n "$BRIDGE_PID" ] && kill -TERM "$BRIDGE_PID" 2>/dev/null && wait "$BRIDGE_PID" 2>/dev/null
	[ -n "$NATS_PID" ] && kill -TERM "$NATS_PID" 2>/dev/null && wait "$NATS_PID" 2>/dev/null
	sl_cleanup
}
trap bus_cleanup EXIT
sl_start
NATS_URL=""
for try in $(seq 1 20); do
	port=$((20000 + (RANDOM * 32768 + RANDOM) % 40000))
	"$NATS_SERVER" -js -a 127.0.0.1 -p "$port" -sd "$T/jetstream" >>"$T/nats.log" 2>&1 &
	NATS_PID=$!
	for _ in $(seq 1 100); do
		if grep -q "Server is ready" "$T/nats.log" 2>/dev/null; then
			NATS_URL="nats://127.0.0.1:$port"
			break
		fi
		kill -0 "$NATS_PID" 2>/dev/null || break
		sleep 0.05
	done
	[ -n "$NATS_URL" ] && break
	kill "$NATS_PID" 2>/dev/null
	wait "$NATS_PID" 2>/dev/null
	: >"$T/nats.log"
done
[ -n "$NATS_URL" ] || { echo "FATAL: nats-server did not start" >&2; exit 1; }
"$SL_BIN/stockledger-bridge" --service "$SL_URL" --nats "$NATS_URL" >>"$T/bridge.log" 2>&1 &
BRIDGE_PID=$!
for _ in $(seq 1 200); do
	grep -q "stockledger-bridge: ready" "$T/bridge.log" && break
	sleep 0.05
done
check_eq "the bridge is ready" 1 "$(grep -c 'stockledger-bridge: ready' "$T/bridge.log")"

# bus ARGS...: stockctl --json over the bus; stdout in $OUT, exit status in $RC.
bus() {
	OUT=$("$SL_BIN/stockctl" --server "$NATS_URL" --json "$@" 2>"$T/ctl.err")
	RC=$?
}

bus item create shirt --quantity 5
check_eq "create over the bus" 0 "$RC"
check "created quantity" .quantity 5
bus decrement shirt=2 --restrict --key sale-1
check_eq "decrement over the bus" 0 "$RC"
check "quantity after the decrement" '.items[0].quantity' 3
bus decrement shirt=2 --restrict --key sale-1
check_eq "the same key again" 0 "$RC"
check "replayed, not applied again" .replayed true
bus decrement shirt=9 --restrict
check_eq "a shortage is a refusal (exit 1)" 1 "$RC"
check "its code" .error.code INSUFFICIENT_INVENTORY
# over the bus a key names one decision, refusals included (docs/bridge.md)
bus decrement hat=1 --key hat-1
check "an unknown item" .error.code NOT_FOUND
bus item create hat --quantity 4
bus decrement hat=1 --key hat-1
check_eq "the refusal kept under its key (exit 1)" 1 "$RC"
check "answered as it was" .error.code NOT_FOUND
check "and said to be a replay" .replayed true
bus decrement hat=1 --key hat-2
check "a new key is decided anew" '.items[0].quantity' 3
bus item get shirt
check "a read over the bus" .quantity 3
ctl item get shirt
check "the same item read directly" .quantity 3
ctl head
check "four events appended (two creates, two decrements)" .seq 4

# the bridge stops cleanly
kill -TERM "$BRIDGE_PID"
wait "$BRIDGE_PID"
check_eq "bridge exit status after SIGTERM" 0 "$?"
BRIDGE_PID=""
grep -q "stopped after" "$T/bridge.log"
check_eq "the bridge says what it did" 0 "$?"
# with no bridge, stockctl over the bus says so and exits 3
OUT=$(STOCKLEDGER_SERVER="$NATS_URL" timeout 60 "$SL_BIN/stockctl" --json head 2>"$T/ctl.err")
RC=$?
check_eq "no bridge: unreachable (exit 3)" 3 "$RC"
OUT=$("$SL_BIN/stockctl" --server "nats://127.0.0.1:notaport" --json head 2>"$T/ctl.err")
RC=$?
check_eq "a bad nats url: usage (exit 2)" 2 "$RC"
sl_done
