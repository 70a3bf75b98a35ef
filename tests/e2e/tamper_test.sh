#!/bin/bash
# tamper_test.sh: a change to history is found. One stored event is changed behind the
# ledger's back by sl-tamper (tests/e2e/tamper.c, which rewrites the raw RocksDB value of the
# event and nothing else): a text replaced so that the event still decodes, a bit flipped in
# an event's body, a bit flipped in its stored chain hash. Each time `stockledger-admin
# verify` exits 1 naming exactly the changed seq, `dump` stops there, and `rebuild` refuses
# and leaves the views as they were; a daemon on the changed log refuses the audit reads
# that reach the changed event (CORRUPT) and serves the rest.
#
# Method: a real daemon writes a short log and is stopped; the untouched data directory
# verifies; each case works on its own copy of it.
. "$(dirname "$0")/lib.sh"
TAMPER=${SL_TAMPER:-$SL_BIN/tests/e2e/sl-tamper}
sl_start
ctl item create t --quantity 5 --reason initial
ctl increment t=2 --reason restock
ctl decrement t=1 --order o-77
ctl item create u --in-stock true
ctl increment t=1 t=1 --reason twice
ctl item update u --revision 1 --in-stock false --reason "sold out"
ctl item create v --quantity 2 --preorder-message alpha
ctl increment v=1
ctl head
check "setup: nine events" .seq 9
sl_stop
admin verify --data "$SL_DATA"
check_rc "the untouched log verifies" 0

# tampered CASE SEQ TAMPER-ARGS...: copies the data, changes event SEQ, checks the tools.
tampered() {
	local name=$1 seq=$2 dir=$T/$1
	shift 2
	cp -a "$SL_DATA" "$dir"
	admin checksum --data "$dir"
	local sum
	sum=$(printf '%s\n' "$OUT" | sed -n 's/^checksum //p')
	"$TAMPER" --data "$dir" --seq "$seq" "$@" >/dev/null
	check_eq "$name: sl-tamper changed event $seq" 0 $?
	admin verify --data "$dir"
	check_rc "$name: verify" 1
	check_eq "$name: verify names seq $seq" 1 \
		"$(printf '%s\n' "$OUT" | grep -c "^verify: FAILED at seq $seq: ")"
	"$SL_BIN/stockledger-admin" dump --data "$dir" >"$dir.dump" 2>"$dir.err"
	check_eq "$name: dump fails" 1 $?
	check_eq "$name: dump prints the events before it" $((seq - 1)) "$(wc -l <"$dir.dump")"
	check_eq "$name: dump names the event" 1 "$(grep -c "at event $seq:" "$dir.err")"
	admin rebuild --data "$dir"
	check_rc "$name: rebuild refuses" 1
	check_eq "$name: rebuild names the seq" 1 "$(printf '%s\n' "$OUT" | grep -c "failed: event $seq: ")"
	admin checksum --data "$dir"
	check_eq "$name: the views are as they were" "$sum" "$(printf '%s\n' "$OUT" | sed -n 's/^checksum //p')"
}

tampered reason 2 --replace restock RESTOCK
tampered order 3 --replace o-77 o-78
tampered body 6 --flip 40
tampered hash 4 --flip 0
tampered last 7 --replace "sold out" "sold in!"

# The daemon serves a tampered log's views, but an audit read that reaches a changed event
# (history, explain) is refused CORRUPT instead of showing it: each event read checks its
# link to the event before it. Items whose events are intact read as before.
DATA_KEPT=$SL_DATA
SL_DATA=$T/reason # event 2 (t's restock) changed, its stored hash not
sl_start
ctl history t
check_refused "reason: history of t reaches event 2" CORRUPT
ctl explain t
check_refused "reason: explain of t" CORRUPT
ctl history u
check_rc "reason: history of u (events 4 and 6, intact)" 0
check "reason: u's history" '.events | length' 2
ctl item get t
check "reason: the view of t is served" .quantity 8
sl_stop
SL_DATA=$T/hash # event 4's stored hash flipped: its link and event 5's break
sl_start
ctl history u
check_refused "hash: history of u reaches event 4" CORRUPT
ctl history v
check_rc "hash: history of v (events 8 and 9)" 0
sl_stop

# A history-index row changed (t's second event pointed at v's increment, event 9): the
# reads that go through the index check that each event they reach is the item's, at its
# place, and refuse CORRUPT instead of showing another item's event as t's (found by a
# review); verify names it too.
cp -a "$DATA_KEPT" "$T/index"
"$TAMPER" --data "$T/index" --index t --item-seq 2 --point-to 9 >/dev/null
check_eq "index: sl-tamper pointed t's event 2 at event 9" 0 $?
admin verify --data "$T/index"
check_rc "index: verify" 1
SL_DATA=$T/index
sl_start
ctl history t
check_refused "index: history of t" CORRUPT
ctl history t --from-seq 5
check_rc "index: history of t past the changed row" 0
ctl explain t
check_refused "index: explain of t" CORRUPT
ctl item get t --as-of-seq 2
check_refused "index: t as of seq 2" CORRUPT
ctl item get t --as-of-seq 1
check_refused "index: t as of seq 1 (the search passes the changed row)" CORRUPT
ctl history v
check_rc "index: history of v" 0
check "index: v's history" '.events | length' 2
sl_stop
SL_DATA=$DATA_KEPT

# A view row changed, the log intact: the fold finds it, the rebuild repairs it.
admin checksum --data "$SL_DATA"
SUM=$(printf '%s\n' "$OUT" | sed -n 's/^checksum //p')
cp -a "$SL_DATA" "$T/view"
"$TAMPER" --data "$T/view" --view v --replace alpha omega >/dev/null
check_eq "view: sl-tamper changed the view of v" 0 $?
admin verify --data "$T/view"
check_rc "view: verify" 1
check_eq "view: verify names the item's last event" 1 \
	"$(printf '%s\n' "$OUT" | grep -c "^verify: FAILED at seq 9: view of item 'v/")"
admin rebuild --data "$T/view"
check_rc "view: rebuild from the intact log" 0
check_eq "view: the rebuilt views equal the untouched ones" "$SUM" \
	"$(printf '%s\n' "$OUT" | sed -n 's/^checksum //p')"
admin verify --data "$T/view"
check_rc "view: verify after the rebuild" 0

# The helper refuses what it cannot do, and the original is untouched by all of the above.
"$TAMPER" --data "$SL_DATA" --seq 99 --flip 0 2>/dev/null
check_eq "sl-tamper: no such event" 1 $?
admin verify --data "$SL_DATA"
check_rc "the original still verifies" 0
sl_done
