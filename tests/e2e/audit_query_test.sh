#!/bin/bash
# audit_query_test.sh: `stockctl query` end to end. Goal: filters, sorts and cursors work
# through the real daemon, and walking every page of 5000 items while another client keeps
# writing (changing, deleting and creating items) returns each item exactly once.
# Method: stockledger-audit-bench --load-only writes 5000 items (and their indexes) into
# the data directory through the ledger API, a daemon serves it, a background loop of
# stockctl writes runs during the walk; the walk's keys are counted with jq.
. "$(dirname "$0")/lib.sh"
"$SL_BIN/stockledger-audit-bench" --load-only --data "$SL_DATA" --items 5000 --events 5000 \
	>"$T/load.log" 2>&1
check_eq "load 5000 items" 0 $?
sl_start

# a writer that never stops until told to
touch "$T/writing"
(
	i=0
	while [ -f "$T/writing" ]; do
		n=$((i % 5000))
		item=$(printf 'p%06d/v%d@%s' $((n / 4)) $((n % 4)) "$([ $((n % 2)) = 1 ] && echo east || echo default)")
		case $((i % 4)) in
		0) "$SL_BIN/stockctl" increment "$item=3" --reason restock >/dev/null 2>&1 ;;
		1) "$SL_BIN/stockctl" decrement "$item=1" --order o-$i --reason sale >/dev/null 2>&1 ;;
		2) "$SL_BIN/stockctl" item delete "$item" >/dev/null 2>&1 ;;
		3) "$SL_BIN/stockctl" item create "new-$i" --quantity 1 >/dev/null 2>&1 ;;
		esac
		i=$((i + 1))
	done
	echo "$i" >"$T/writes"
) &
WRITER=$!

# walk every page of 1000 while the writer runs
: >"$T/keys"
cursor=""
pages=0
while :; do
	if [ -z "$cursor" ]; then ctl query --limit 1000; else ctl query --limit 1000 --cursor "$cursor"; fi
	check_rc "query page $pages" 0
	jqo '.items[] | "\(.productId)/\(.variantId)@\(.locationId)"' >>"$T/keys"
	cursor=$(jqo '.nextCursor // empty')
	pages=$((pages + 1))
	[ -z "$cursor" ] || [ $pages -gt 20 ] && break
	sleep 0.3 # let the writer change things between pages
done
rm -f "$T/writing"
wait $WRITER
check_eq "pages of the walk" 5 "$pages"
check_eq "items walked" 5000 "$(wc -l <"$T/keys")"
check_eq "distinct items walked" 5000 "$(sort -u "$T/keys" | wc -l)"
check_eq "the writer wrote during the walk" yes "$([ "$(cat "$T/writes")" -gt 3 ] && echo yes)"

# filters
ctl query --product p000123
check "product equality" '.items | length' 4
ctl query --product p000001,p000002 --variant v1
check "product in and variant" '[.items[].productId] | join(",")' "p000001,p000002"
ctl query --product 'p00001*' --limit 1000
check "product prefix" '.items | length' "$(grep -c '^p00001' "$T/keys")"
ctl query --product 'P00001*' --limit 1000
check "product prefix in another case (not case-sensitive)" '.items | length' "$(grep -c '^p00001' "$T/keys")"
ctl query --location east --min-quantity 100 --limit 1000
check "location and min quantity" '[.items[] | select(.locationId != "east" or .quantity < 100)] | length' 0
ctl query --status IN_STOCK --tracked true --max-quantity 60 --limit 50
check "status and max quantity" '[.items[] | select(.availabilityStatus != "IN_STOCK" or .quantity > 60)] | length' 0
ctl query --sort quantity:desc --limit 20
check "sorted by quantity desc" '[.items[].quantity] == ([.items[].quantity] | sort | reverse)' true
ctl query --sort updatedDate:asc --limit 20
check "sorted by updatedDate asc" '[.items[].updatedDate] == ([.items[].updatedDate] | sort)' true
ctl query --sort createdDate:desc --limit 5 --updated-after 2000-01-01T00:00:00Z
check "sorted by createdDate desc" '[.items[].createdDate] == ([.items[].createdDate] | sort | reverse)' true

# refusals: usage (2) and the service's (1); the service keeps serving
ctl query --sort colour:asc
check_rc "unknown sort field" 2
ctl query --status SOLD
check_rc "unknown status" 2
ctl query --cursor abcd
check_refused "foreign cursor" INVALID_ARGUMENT
ctl query --limit 1001
check_refused "page over the limit" LIMIT_EXCEEDED
ctl query --sort quantity:asc --as-of-seq 3
check_refused "sort with a point in time" INVALID_ARGUMENT
ctl head
check "still serving" '.seq > 5000' true
sl_stop
admin verify --data "$SL_DATA"
check_rc "verify (views and indexes equal a fresh fold)" 0
sl_done
