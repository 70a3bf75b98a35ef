#!/bin/bash
# replay_test.sh: a random command stream (creates, updates with right and stale revisions,
# increments and decrements of several lines, restricted or not, preorder requests, deletes,
# keys and retried keys) from a seed, run through a real daemon; then, on the stopped
# daemon: `stockledger-admin checksum`, `rebuild` (its checksum equals the one before, byte
# for byte, and so does a checksum after it), `verify` exits 0, and `dump` prints one JSON
# line per event whose last after-state per item is what `item get` served.
#
# Method: the seed is printed; SL_SEED=N replays it. The stream is run twice, from the same
# seed, into two fresh data directories: both logs must hold the same events (times and
# hashes aside), which is what "replayable" means.
. "$(dirname "$0")/lib.sh"
SEED=${SL_SEED:-$(((RANDOM << 15) | RANDOM))}
N_COMMANDS=${SL_COMMANDS:-60}
echo "replay_test: seed $SEED ($N_COMMANDS commands; SL_SEED=$SEED replays it)"

PRODUCTS=(p0 p1 p2 p3 p4 p5)
LOCATIONS=(default east)

# item_pick: sets PICK to an item of the pool, sometimes leaving the default location out.
# (It sets a variable rather than printing: a $(subshell) would draw from a reseeded RANDOM.)
item_pick() {
	local p=${PRODUCTS[$((RANDOM % ${#PRODUCTS[@]}))]}
	local l=${LOCATIONS[$((RANDOM % ${#LOCATIONS[@]}))]}
	if [ "$l" = default ] && [ $((RANDOM % 2)) = 0 ]; then
		PICK=$p
	else
		PICK=$p@$l
	fi
}

# coin: sets BOOL to true or false.
coin() {
	if [ $((RANDOM % 2)) = 0 ]; then BOOL=true; else BOOL=false; fi
}

# run_stream: runs the seeded stream against the daemon at $STOCKLEDGER_SERVER; counts
# accepted, refused and replayed commands into $ACCEPTED $REFUSED $REPLAYED.
run_stream() {
	RANDOM=$SEED
	ACCEPTED=0 REFUSED=0 REPLAYED=0 CODES=""
	local i args kind item rev lines n p l last_args=""
	# Every item of the pool first, mostly quantity-tracked, so that lines find their items.
	for p in "${PRODUCTS[@]}"; do
		for l in "${LOCATIONS[@]}"; do
			if [ $((RANDOM % 10)) = 0 ]; then
				ctl item create "$p@$l" --in-stock true
			else
				ctl item create "$p@$l" --quantity $((RANDOM % 20))
			fi
			check_rc "create $p@$l" 0
		done
	done
	for i in $(seq 1 "$N_COMMANDS"); do
		item_pick
		item=$PICK
		kind=$((RANDOM % 100))
		args=()
		if [ $kind -lt 8 ]; then
			if [ $((RANDOM % 3)) = 0 ]; then
				coin
				args=(item create "$item" --in-stock "$BOOL")
			else
				args=(item create "$item" --quantity $((RANDOM % 30 - 5)))
				[ $((RANDOM % 2)) = 0 ] && args+=(--preorder-limit $((RANDOM % 6)))
			fi
			if [ $((RANDOM % 2)) = 0 ]; then
				coin
				args+=(--preorder "$BOOL")
			fi
		elif [ $kind -lt 26 ]; then
			rev=$("$SL_BIN/stockctl" --json item get "$item" | jq -r '.revision // 1')
			[ $((RANDOM % 4)) = 0 ] && rev=$((rev - 1))
			args=(item update "$item" --revision "$rev")
			case $((RANDOM % 6)) in
			0 | 4 | 5) args+=(--quantity $((RANDOM % 40 - 10))) ;;
			1)
				coin
				args+=(--in-stock "$BOOL")
				;;
			2) args+=(--preorder true --preorder-limit $((RANDOM % 5))) ;;
			3) args+=(--preorder-limit none --preorder-message "m$((RANDOM % 9))") ;;
			esac
		elif [ $kind -lt 60 ] || [ $kind -ge 90 ]; then
			n=$((RANDOM % 3 + 1))
			lines=()
			for _ in $(seq 1 $n); do
				item_pick
				lines+=("$PICK=$((RANDOM % 6 + 1))")
			done
			if [ $kind -lt 45 ]; then
				args=(increment "${lines[@]}" --reason "restock")
			else
				args=(decrement "${lines[@]}" --order "o-$i")
				[ $((RANDOM % 2)) = 0 ] && args+=(--restrict)
				[ $((RANDOM % 3)) = 0 ] && args+=(--preorder-request)
			fi
		elif [ $kind -lt 64 ]; then
			args=(item delete "$item" --reason "drop")
		else
			args=(item get "$item")
		fi
		if [ "${args[1]}" != get ] && [ $((RANDOM % 2)) = 0 ]; then
			args+=(--key "k-$i")
		fi
		# Now and then resend the last command with a key as it was (a client's retry).
		if [ -n "$last_args" ] && [ $((RANDOM % 6)) = 0 ]; then
			eval "args=($last_args)"
		fi
		ctl "${args[@]}"
		case $RC in
		0) ACCEPTED=$((ACCEPTED + 1)) ;;
		1)
			REFUSED=$((REFUSED + 1))
			CODES="$CODES $(jqo .error.code)"
			;;
		*) check_eq "command $i (${args[*]}): exit 0 or 1" "0 or 1" "$RC" ;;
		esac
		[ "$(jqo '.replayed // false')" = true ] && REPLAYED=$((REPLAYED + 1))
		if [ "${args[*]: -2:1}" = --key ]; then
			last_args=$(printf '%q ' "${args[@]}")
		fi
	done
}

# items_snapshot: every item of the pool as `item get` serves it, one JSON line each.
items_snapshot() {
	local p l
	for p in "${PRODUCTS[@]}"; do
		for l in "${LOCATIONS[@]}"; do
			"$SL_BIN/stockctl" --json item get "$p@$l" | jq -c 'select(.productId)'
		done
	done
}

# ---- run 1 ----
sl_start
run_stream
echo "replay_test: run 1: $ACCEPTED accepted, $REFUSED refused, $REPLAYED replayed"
echo "replay_test: refusals:$(printf '%s\n' $CODES | sort | uniq -c | awk '{printf " %s %s", $2, $1}')"
check_eq "the stream accepted commands" true "$([ "$ACCEPTED" -gt 10 ] && echo true)"
check_eq "the stream had refusals" true "$([ "$REFUSED" -gt 0 ] && echo true)"
RUN1=("$ACCEPTED" "$REFUSED" "$REPLAYED")
items_snapshot >"$T/items1"
ctl head
HEAD1=$(jqo .seq)
sl_stop

admin checksum --data "$SL_DATA"
check_rc "checksum" 0
SUM_BEFORE=$(printf '%s\n' "$OUT" | sed -n 's/^checksum //p')
check_eq "checksum is hex" 1 "$(printf '%s\n' "$SUM_BEFORE" | grep -c '^[0-9a-f]\{64\}$')"
admin rebuild --data "$SL_DATA"
check_rc "rebuild" 0
check_eq "rebuild's checksum equals the one before" "$SUM_BEFORE" \
	"$(printf '%s\n' "$OUT" | sed -n 's/^checksum //p')"
check_eq "rebuild read every event" "$HEAD1" "$(printf '%s\n' "$OUT" | sed -n 's/^events //p')"
admin checksum --data "$SL_DATA"
check_eq "checksum after the rebuild" "$SUM_BEFORE" "$(printf '%s\n' "$OUT" | sed -n 's/^checksum //p')"
admin verify --data "$SL_DATA"
check_rc "verify" 0
check_eq "verify says ok" 1 "$(printf '%s\n' "$OUT" | grep -c '^verify: ok')"

"$SL_BIN/stockledger-admin" dump --data "$SL_DATA" >"$T/dump1"
check_eq "dump exits 0" 0 $?
check_eq "dump: one line per event" "$HEAD1" "$(wc -l <"$T/dump1")"
check_eq "dump: every line is one JSON object" "$HEAD1" \
	"$(jq -c 'select(type == "object")' "$T/dump1" | wc -l)"
check_eq "dump: seqs 1..N in order" "$(seq -s, 1 "$HEAD1")" "$(jq -r .seq "$T/dump1" | paste -sd,)"
check_eq "dump: every event has a chain hash" "$HEAD1" \
	"$(jq -r '.hash | select(test("^[0-9a-f]{64}$"))' "$T/dump1" | wc -l)"
# The last after-state of each item in the log is what the daemon served.
jq -s -c 'group_by([.productId, .locationId]) | map(.[-1] | select(.after.exists) |
	{productId, locationId, trackQuantity: .after.trackQuantity, quantity: .after.quantity,
	 inStock: .after.inStock, enabled: .after.preorderEnabled, limit: .after.preorderLimit,
	 counter: .after.preorderCounter}) | .[]' "$T/dump1" >"$T/fold1"
jq -c '{productId, locationId, trackQuantity, quantity: (.quantity // 0), inStock,
	enabled: .preorderInfo.enabled, limit: .preorderInfo.limit, counter: .preorderInfo.counter}' \
	"$T/items1" | sort >"$T/served1"
check_eq "dump's last states equal the served items" "$(sort "$T/fold1")" "$(cat "$T/served1")"
check_eq "some items exist at the end" true "$([ -s "$T/served1" ] && echo true)"

# ---- run 2: the same seed into a fresh directory gives the same events ----
SL_DATA=$T/data2
SL_URL="ipc://$T/sl2.sock"
export STOCKLEDGER_SERVER=$SL_URL
sl_start
run_stream
check_eq "run 2 counts equal run 1's" "${RUN1[*]}" "$ACCEPTED $REFUSED $REPLAYED"
sl_stop
"$SL_BIN/stockledger-admin" dump --data "$SL_DATA" >"$T/dump2"
check_eq "the same seed appends the same events (times and hashes aside)" \
	"$(jq -c 'del(.time, .hash)' "$T/dump1" | md5sum)" "$(jq -c 'del(.time, .hash)' "$T/dump2" | md5sum)"
admin verify --data "$SL_DATA"
check_rc "verify run 2" 0
[ "$SL_FAILS" -eq 0 ] || echo "replay_test: failed with seed $SEED (SL_SEED=$SEED replays it)"
sl_done
