#!/bin/bash
# audit_asof_test.sh: point in time end to end. Goal: `item get --as-of-seq N` (and `query
# --as-of-seq N`) answers exactly what a rebuild of the views truncated at seq N gives, and
# `--as-of T` answers as of the last event at or before T.
# Method: a stream of creates, updates, increments, decrements, a delete and a re-create;
# for several N the answers are saved, then the data directory is copied, rebuilt with
# `stockledger-admin rebuild --to-seq N`, served by a second daemon, and every item read
# there with `item get` must equal (jq -S) the saved as-of answer of the first daemon. Such a
# reference serves reads only (a write is FAILED_PRECONDITION and appends nothing), verify
# says its views are a reference, and a rebuild of the whole log makes it writable again.
. "$(dirname "$0")/lib.sh"
sl_start
items="a b/v1@east c"
for it in $items; do ctl item create "$it" --quantity 10 --reason "initial count"; done
for r in 1 2 3; do
	ctl increment a=5 "b/v1@east=2" --reason restock
	ctl decrement a=3 c=1 --order "o-$r" --reason sale
	ctl item get c
	ctl item update c --revision "$(jqo .revision)" --quantity $((20 + r)) --reason count
done
ctl item delete b/v1@east --reason discontinued
ctl item create b/v1@east --quantity 4 --reason relisted
ctl increment b/v1@east=1 a=1 --reason restock
ctl head
head=$(jqo .seq)
check "events written" "$head" 22

points="9 19 20 $head"
for n in $points; do
	for it in $items; do
		ctl item get "$it" --as-of-seq "$n"
		if [ "$RC" = 0 ]; then printf '%s' "$OUT" | jq -S . >"$T/asof-$n-${it//[\/@]/_}.json"
		else printf '%s' "$OUT" | jq -r .error.code >"$T/asof-$n-${it//[\/@]/_}.json"; fi
	done
	ctl query --as-of-seq "$n"
	printf '%s' "$OUT" | jq -S '[.items[] | "\(.productId) \(.quantity) \(.revision)"]' >"$T/query-$n.json"
	check "query as of $n pins $n" .asOfSeq "$n"
done
# --as-of T: the time of event 9 answers as of the last event of that millisecond or before
ctl history a --from-seq 9 --to-seq 9
t9=$(jqo '.events[0].time')
ctl item get a --as-of "$t9"
check "as-of time: quantity of a at event 9" .quantity "$(jq -r .quantity "$T/asof-9-a.json")"
ctl item get a --as-of 2000-01-01T00:00:00Z
check_refused "before the first event" NOT_FOUND
ctl item get a --as-of-seq 99999
check_refused "past the head" INVALID_ARGUMENT
ctl item get a --as-of-seq 3 --as-of 2000-01-01T00:00:00Z
check_rc "both points" 2
ctl query --as-of-seq 0
check "as of seq 0: nothing yet" '.items | length' 0
check "as of seq 0 says 0" .asOfSeq 0
ctl query --sort quantity:asc --limit 2
check "a sorted page says the head it was read at" .asOfSeq "$head"
sl_stop

# the reference: a rebuild truncated at each N, served by a second daemon
for n in $points; do
	rm -rf "$T/ref"
	cp -r "$SL_DATA" "$T/ref"
	admin rebuild --data "$T/ref" --to-seq "$n"
	check_rc "rebuild --to-seq $n" 0
	if [ "$n" != "$head" ]; then
		# what the rebuild says of the daemon is what it does (below): it serves reads
		check_eq "rebuild --to-seq $n says the daemon serves reads only" 1 \
			"$(printf '%s' "$OUT" | grep -c "stockledgerd serves reads only from")"
	fi
	"$SL_BIN/stockledgerd" --data "$T/ref" --listen "ipc://$T/ref.sock" >"$T/ref.log" 2>&1 &
	REF=$!
	for _ in $(seq 1 600); do grep -q listening "$T/ref.log" && break; sleep 0.05; done
	for it in $items; do
		OUT=$("$SL_BIN/stockctl" --json --server "ipc://$T/ref.sock" item get "$it")
		if [ $? = 0 ]; then want=$(printf '%s' "$OUT" | jq -S .)
		else want=$(printf '%s' "$OUT" | jq -r .error.code); fi
		check_eq "item $it as of seq $n equals the rebuild to $n" "$want" \
			"$(cat "$T/asof-$n-${it//[\/@]/_}.json")"
	done
	OUT=$("$SL_BIN/stockctl" --json --server "ipc://$T/ref.sock" query)
	check_eq "query as of seq $n equals the rebuild to $n" \
		"$(printf '%s' "$OUT" | jq -S '[.items[] | "\(.productId) \(.quantity) \(.revision)"]')" \
		"$(cat "$T/query-$n.json")"
	if [ "$n" != "$head" ]; then
		# views behind the log serve reads only: a write would decide on the past
		OUT=$("$SL_BIN/stockctl" --json --server "ipc://$T/ref.sock" increment a=1)
		RC=$?
		check_refused "a write to views as of seq $n" FAILED_PRECONDITION
		check "the refusal says why" '.error.message | test("as of seq '"$n"'")' true
		OUT=$("$SL_BIN/stockctl" --json --server "ipc://$T/ref.sock" head)
		check "nothing appended to the reference" .seq "$head"
		# its reads answer as of seq n, the views' seq, never past it (found by a review:
		# a query said asOfSeq = the log's head)
		OUT=$("$SL_BIN/stockctl" --json --server "ipc://$T/ref.sock" query)
		check "the reference's query is as of seq $n" .asOfSeq "$n"
		OUT=$("$SL_BIN/stockctl" --json --server "ipc://$T/ref.sock" item get a --as-of-seq $((n + 1)))
		RC=$?
		check_refused "an as-of read past the reference's seq $n" INVALID_ARGUMENT
		grep -q "serves reads only" "$T/ref.log"
		RC=$?
		check_rc "the daemon says so at start" 0
	fi
	kill -TERM $REF
	wait $REF
	if [ "$n" != "$head" ]; then
		admin verify --data "$T/ref"
		check_rc "verify of views as of seq $n" 1
		check_eq "verify says the views are a reference" 1 \
			"$(printf '%s' "$OUT" | grep -c "the views are as of seq $n (rebuild --to-seq)")"
	fi
done
# a rebuild of the whole log makes a reference a ledger again
rm -rf "$T/ref"
cp -r "$SL_DATA" "$T/ref"
admin rebuild --data "$T/ref" --to-seq 9
check_rc "rebuild --to-seq 9" 0
admin rebuild --data "$T/ref"
check_rc "rebuild of the whole log" 0
admin verify --data "$T/ref"
check_rc "the rebuilt reference verifies" 0
"$SL_BIN/stockledgerd" --data "$T/ref" --listen "ipc://$T/ref.sock" >"$T/ref.log" 2>&1 &
REF=$!
for _ in $(seq 1 600); do grep -q listening "$T/ref.log" && break; sleep 0.05; done
OUT=$("$SL_BIN/stockctl" --json --server "ipc://$T/ref.sock" increment a=1)
RC=$?
check_rc "a write after the whole rebuild" 0
kill -TERM $REF
wait $REF
admin verify --data "$SL_DATA"
check_rc "the original still verifies" 0
sl_done
