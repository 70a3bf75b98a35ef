#!/bin/bash
# oversell_test.sh: an oversell race on orders. Many concurrent clients place restricted
# orders (ON_ORDER_PLACED) for the last units of two items, most orders on both; however
# the writer groups them, the orders never take more than there was: the units held by the
# placed orders sum to at most the stock of each item, each final quantity is the initial
# one less that sum, every refusal is INSUFFICIENT_INVENTORY and made no order, a placed
# order holds all its lines (all or nothing), no event of either item goes below zero, the
# holds index lists exactly the placed orders; then the daemon is SIGKILLed while the orders
# are being canceled by keyed clients: every acknowledged cancel survives, retries with the
# keys finish the rest exactly once, the stock is whole again, and the views verify.
#
# Method: a real daemon on an ipc socket; the clients are background stockctl processes
# released together by a barrier file, each logging its exit status and reply; the outcome
# is summed with jq.
. "$(dirname "$0")/lib.sh"
sl_start
STOCK_X=10
STOCK_Y=6
CLIENTS=24
ctl item create X --quantity $STOCK_X
ctl item create Y --quantity $STOCK_Y
check_rc "setup" 0

# racer I: waits for the barrier, then places order race-I: X x(1..3), and Y x1 for 2 in 3.
racer() {
	local i=$1 lines
	lines="X=$((i % 3 + 1))"
	[ $((i % 3)) -ne 0 ] && lines="$lines Y=1"
	while [ ! -f "$T/go" ]; do sleep 0.01; done
	# shellcheck disable=SC2086
	"$SL_BIN/stockctl" --json order place "race-$i" $lines >"$T/out.$i" 2>/dev/null
	echo $? >"$T/rc.$i"
}

pids=()
for i in $(seq 1 $CLIENTS); do
	racer "$i" &
	pids+=($!)
done
sleep 0.3
touch "$T/go"
for p in "${pids[@]}"; do wait "$p"; done

WON=0
LOST=0
TAKEN_X=0
TAKEN_Y=0
for i in $(seq 1 $CLIENTS); do
	rc=$(cat "$T/rc.$i")
	OUT=$(cat "$T/out.$i")
	if [ "$rc" = 0 ]; then
		WON=$((WON + 1))
		check "race-$i placed" .order.status PLACED
		check "race-$i holds every line (all or nothing)" \
			'[.order.lines[] | .held == .quantity] | all' true
		TAKEN_X=$((TAKEN_X + $(jqo '[.order.lines[] | select(.productId == "X") | .held] | add // 0')))
		TAKEN_Y=$((TAKEN_Y + $(jqo '[.order.lines[] | select(.productId == "Y") | .held] | add // 0')))
	else
		LOST=$((LOST + 1))
		check_eq "race-$i refused (exit 1)" 1 "$rc"
		check "race-$i refusal" .error.code INSUFFICIENT_INVENTORY
		ctl order get "race-$i"
		check_refused "race-$i made no order" NOT_FOUND
	fi
done
echo "oversell_test: $WON orders placed (X $TAKEN_X, Y $TAKEN_Y units), $LOST refused"
check_eq "every racer was answered" $CLIENTS $((WON + LOST))
check_eq "never more X than the stock" true "$([ $TAKEN_X -le $STOCK_X ] && echo true)"
check_eq "never more Y than the stock" true "$([ $TAKEN_Y -le $STOCK_Y ] && echo true)"
check_eq "the race was real (some lost)" true "$([ $LOST -gt 0 ] && echo true)"
ctl item get X
check "X = stock - taken" .quantity $((STOCK_X - TAKEN_X))
ctl item get Y
check "Y = stock - taken" .quantity $((STOCK_Y - TAKEN_Y))
for item in X Y; do
	ctl history $item
	check "$item: no event goes below zero" '[.events[].after.quantity | select(. < 0)] | length' 0
	check "$item: every decrement names an order and a line" \
		'[.events[1:][] | select(.orderId == null or .orderLineId == null)] | length' 0
done
ctl order holds X
check "holds of X: one per placed order" '.holds | length' "$WON"
check "holds of X sum to the units taken" '[.holds[].held] | add // 0' "$TAKEN_X"
ctl order holds Y
check "holds of Y sum to the units taken" '[.holds[].held] | add // 0' "$TAKEN_Y"

# ---- a crash under order load: the placed orders are canceled by concurrent keyed clients
# while the daemon is killed; after a restart every acknowledged cancel is there, a retry of
# every cancel with its key finishes the rest exactly once, and the stock is whole again ----
for i in $(seq 1 $CLIENTS); do
	[ "$(cat "$T/rc.$i")" = 0 ] || continue
	("$SL_BIN/stockctl" --json order cancel "race-$i" --key "cancel-$i" >"$T/cancel.$i" 2>/dev/null
	 echo $? >"$T/crc.$i") &
done
sleep 0.02
sl_kill
wait
ACKED=$(for f in "$T"/crc.*; do [ "$(cat "$f")" = 0 ] && echo; done | wc -l)
sl_start
for i in $(seq 1 $CLIENTS); do
	[ "$(cat "$T/rc.$i")" = 0 ] || continue
	if [ "$(cat "$T/crc.$i")" = 0 ]; then
		ctl order get "race-$i"
		check "race-$i: an acknowledged cancel survived the crash" .status CANCELED
	fi
	ctl order cancel "race-$i" --key "cancel-$i"
	check_rc "race-$i: the cancel retried with its key" 0
	check "race-$i: canceled once" .order.status CANCELED
done
echo "oversell_test: $ACKED of $WON cancels acknowledged before the SIGKILL"
ctl item get X
check "X whole again after the crash and the retries" .quantity $STOCK_X
ctl item get Y
check "Y whole again after the crash and the retries" .quantity $STOCK_Y
ctl order holds X
check "nothing held after the cancels" '.holds | length' 0

sl_stop
admin verify --data "$SL_DATA"
check_rc "verify after the race and the crash" 0
sl_done
