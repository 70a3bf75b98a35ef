#!/bin/bash
# audit_explain_test.sh: `stockctl explain` and `stockctl history` with ranges, end to end.
# Goal: explain starts at the last absolute setting (create or update), groups every
# adjustment since by order and reason, and adds up to the current quantity; history pages
# carry gap-free itemSeq and honour --from-seq/--to-seq/--since/--until.
# Method: a known sequence of commands, then the JSON of explain and history is summed and
# compared with jq.
. "$(dirname "$0")/lib.sh"
sl_start
ctl item create tee --quantity 20 --reason "initial count"
ctl increment tee=10 --reason restock
ctl item get tee
ctl item update tee --revision "$(jqo .revision)" --quantity 50 --reason "stock count"
ctl decrement tee=2 --order o-1 --reason sale
ctl decrement tee=3 --order o-2 --reason sale
ctl increment tee=4 --reason restock
ctl decrement tee=1 --order o-1 --reason sale
ctl increment tee=1 --order o-2 --reason return
ctl item create other --quantity 1
ctl explain tee
check_rc "explain" 0
check "setting is the update" .setting.type item_updated
check "setting seq" .setting.seq 3
check "setting quantity" .setting.after.quantity 50
check "adjustments since" .eventsSince 5
check "groups" '.adjustments | length' 4
check "group o-1 sale" '[.adjustments[] | select(.orderId == "o-1")][0] | "\(.events) \(.deltaQuantity)"' "2 -3"
check "group restock" '[.adjustments[] | select(.orderId == null)][0] | "\(.reason) \(.deltaQuantity)"' "restock 4"
check "adds up" '.setting.after.quantity + ([.adjustments[].deltaQuantity] | add)' 49
check "adjustedQuantity is the quantity" '.adjustedQuantity == .quantity and .quantity == .item.quantity' true
check "holds part" '.holds.known' true
check "no open order holds it" '.holds.heldQuantity' 0

ctl explain nothing-here
check_refused "explain of a missing item" NOT_FOUND

# history: itemSeq without gaps over pages, ranges by seq and by time
: >"$T/iseq"
cursor=""
while :; do
	if [ -z "$cursor" ]; then ctl history tee --limit 3; else ctl history tee --limit 3 --cursor "$cursor"; fi
	jqo '.events[].itemSeq' >>"$T/iseq"
	cursor=$(jqo '.nextCursor // empty')
	[ -z "$cursor" ] && break
done
check_eq "itemSeq 1..8 over pages" "1 2 3 4 5 6 7 8" "$(tr '\n' ' ' <"$T/iseq" | sed 's/ $//')"
ctl history tee --from-seq 4 --to-seq 6
check "seq range" '[.events[].seq] | join(",")' "4,5,6"
check "seq range itemSeq" '[.events[].itemSeq] | join(",")' "4,5,6"
ctl history tee --from-seq 3 --to-seq 8 --limit 2
check "seq range paged" '[.events[].seq] | join(",")' "3,4"
check "seq range cursor" .nextCursor 4
ctl history tee --from-seq 3 --to-seq 8 --limit 2 --cursor 4
check "seq range page 2" '[.events[].seq] | join(",")' "5,6"
ctl history tee
since=$(jqo '.events[2].time')
until=$(jqo '.events[4].time')
ctl history tee --since "$since" --until "$until"
check "time range starts at or before event 3" '.events[0].seq <= 3' true
check "time range covers 3..5" '[.events[].seq] | (index(3) != null and index(5) != null)' true
check "time range ends by event 5's time" "[.events[] | select(.time > \"$until\")] | length" 0
ctl history tee --since yesterday
check_rc "bad time" 2
# an open order holds stock: its decrement is an adjustment, its hold is listed beside
ctl order place o-9 tee=4 --reason checkout
check_rc "order place" 0
ctl order place o-10 a:tee=1 b:tee=2 --reason checkout
check_rc "order place (two lines)" 0
ctl explain tee
check "order group" '[.adjustments[] | select(.orderId == "o-9")][0].deltaQuantity' -4
check "adds up with orders" '.adjustedQuantity == .quantity and .quantity == 42' true
check "holds of open orders" '[.holds.items[] | "\(.orderId) \(.quantity)"] | join(",")' "o-10 3,o-9 4"
check "held in all" .holds.heldQuantity 7
ctl order cancel o-9
ctl explain tee
check "a canceled order holds nothing" '[.holds.items[].orderId] | join(",")' "o-10"
check "cancel gave the units back" '.quantity == 46 and .adjustedQuantity == 46' true
sl_stop
sl_done
