#!/bin/bash
# concurrency_test.sh: an oversell race end to end. Many parallel clients make restricted
# decrements of the last units of one item (and restricted preorder requests against a
# preorder limit); however the writer groups them, they never take more than there was:
# the units taken by the successful clients sum to at most the stock, the final quantity is
# the initial one minus that sum, every refusal is INSUFFICIENT_INVENTORY, and no event of
# the item's history ever goes below zero (or past the preorder limit).
#
# Method: a real daemon on an ipc socket; the clients are background stockctl processes
# released together by a barrier file, each logging its exit status, the units it asked for
# and its reply; the outcome is summed with awk and jq.
. "$(dirname "$0")/lib.sh"
sl_start
STOCK=12
LIMIT=5
CLIENTS=16
ctl item create last --quantity $STOCK
ctl item create pre --quantity 0 --preorder true --preorder-limit $LIMIT
check_rc "setup" 0

# racer I UNITS ITEM [FLAGS...]: waits for the barrier, then one restricted decrement.
racer() {
	local i=$1 units=$2 item=$3
	shift 3
	while [ ! -f "$T/go" ]; do sleep 0.01; done
	"$SL_BIN/stockctl" --json decrement "$item=$units" --restrict "$@" >"$T/out.$item.$i" 2>&1
	echo "$? $units" >"$T/rc.$item.$i"
}

# race ITEM [FLAGS...]: $CLIENTS racers on ITEM asking 1..3 units each; waits for all.
race() {
	local item=$1 i pids=()
	shift
	rm -f "$T/go"
	for i in $(seq 1 $CLIENTS); do
		racer "$i" $((i % 3 + 1)) "$item" "$@" &
		pids+=($!)
	done
	sleep 0.2
	touch "$T/go"
	for i in "${pids[@]}"; do wait "$i"; done
	TAKEN=$(cat "$T"/rc."$item".* | awk '$1 == 0 {s += $2} END {print s + 0}')
	WON=$(cat "$T"/rc."$item".* | awk '$1 == 0' | wc -l)
	LOST=$(cat "$T"/rc."$item".* | awk '$1 == 1' | wc -l)
	check_eq "$item: every racer was answered (done or refused)" $CLIENTS $((WON + LOST))
	check_eq "$item: every refusal is INSUFFICIENT_INVENTORY" "$LOST" \
		"$(cat "$T"/out."$item".* | jq -s '[.[] | select(.error.code == "INSUFFICIENT_INVENTORY")] | length')"
	echo "concurrency_test: $item: $WON racers took $TAKEN units, $LOST refused"
}

race last
check_eq "never more than the stock was taken" true "$([ "$TAKEN" -le $STOCK ] && echo true)"
check_eq "the race was real (some lost)" true "$([ "$LOST" -gt 0 ] && echo true)"
ctl item get last
check "final quantity = initial - taken" .quantity $((STOCK - TAKEN))
check "revision = 1 + successes" .revision $((1 + WON))
ctl history last
check "no event goes below zero" '[.events[].after.quantity | select(. < 0)] | length' 0
check "one event per success" '.events | length' $((1 + WON))
check "the events' deltas sum to the units taken" '[.events[1:][].deltaQuantity] | add // 0' "-$TAKEN"

race pre --preorder-request
check_eq "never more preorders than the limit" true "$([ "$TAKEN" -le $LIMIT ] && echo true)"
ctl item get pre
check "counter = units taken, quantity stays" '"\(.preorderInfo.counter) \(.quantity)"' "$TAKEN 0"
ctl history pre
check "the counter never passes the limit" "[.events[].after.preorderCounter | select(. > $LIMIT)] | length" 0

sl_stop
admin verify --data "$SL_DATA"
check_rc "verify" 0
sl_done
