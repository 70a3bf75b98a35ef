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

# preorder units are split the same way, and the text says so
ctl item create poster --quantity 0 --preorder true --preorder-limit 10
ctl order place o-p1 poster=3
ctl item get poster
ctl item update poster --revision "$(jqo .revision)" --quantity 5
ctl order place o-p2 poster=2
ctl explain poster
check "preorder units held since before the setting" '[.holds.items[] | "\(.orderId) \(.quantity) \(.preorder) \(.preorderBeforeSetting)"] | join(",")' "o-p1 0 3 3,o-p2 2 0 0"
check "preorder totals" '"\(.holds.heldPreorder) \(.holds.heldPreorderBeforeSetting)"' "3 3"
text=$("$SL_BIN/stockctl" explain poster)
check_eq "text splits preorder units" 1 "$(grep -c "held by open order o-p1: 3 preorder units: held since before the setting" <<<"$text")"

# preorder units taken before a reset of the counter (or before the item was created again)
# are held since before the setting, but the setting's counter does not count them and a
# cancel releases nothing: explain says so instead of "which counts them ... they come back"
ctl item create print --quantity 0 --preorder true --preorder-limit 3
ctl order place o-r1 print=2
ctl item update print --revision 2 --reset-preorder-counter
ctl order place o-r2 print=3
ctl explain print
check "uncounted preorder units" '[.holds.items[] | "\(.orderId) \(.preorder) \(.preorderBeforeSetting) \(.preorderUncounted)"] | join(",")' "o-r1 2 2 2,o-r2 3 0 0"
check "uncounted in all" .holds.heldPreorderUncounted 2
text=$("$SL_BIN/stockctl" explain print)
check_eq "text: the reset counter does not count them" 1 "$(grep -c "held by open order o-r1: 2 preorder units: taken before the preorder counter was reset (or the item created again), which no longer counts them: they release nothing" <<<"$text")"
check_eq "text: no 'which counts them' for them" 0 "$(grep -c "o-r1.*which counts them" <<<"$text")"
ctl order cancel o-r1
ctl item get print
check "the cancel released nothing" .preorderInfo.counter 3
ctl item create cap --quantity 0 --preorder true --preorder-limit 5
ctl order place o-c1 cap=2
ctl item delete cap
ctl item create cap --quantity 0 --preorder true --preorder-limit 5
ctl explain cap
check "created again: uncounted" '"\(.holds.heldPreorderBeforeSetting) \(.holds.heldPreorderUncounted)"' "2 2"
# an item tracked by inStock gives nothing back on a cancel
ctl item create mug --quantity 10
ctl order place o-m1 mug=2
ctl item update mug --revision 2 --in-stock true
text=$("$SL_BIN/stockctl" explain mug)
check_eq "text: inStock item, nothing comes back" 1 "$(grep -c "tracked by inStock now: a cancel gives nothing back" <<<"$text")"

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
ctl history tee --to-seq 0
check "--to-seq 0: no event is at or before seq 0" '.events | length' 0
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
check "o-10 took its units after the setting" '[.holds.items[] | "\(.orderId) \(.quantity) \(.quantityBeforeSetting)"] | join(",")' "o-10 3 0"
check "none held since before the setting" .holds.heldQuantityBeforeSetting 0

# a setting after an order took its units counts them: explain says they were held since
# before it, and that what the order took after it is among the adjustments
ctl item get tee
ctl item update tee --revision "$(jqo .revision)" --quantity 100 --reason "stock count"
ctl explain tee
check "the setting counts o-10's units" '[.holds.items[] | "\(.orderId) \(.quantity) \(.quantityBeforeSetting)"] | join(",")' "o-10 3 3"
check "no adjustment since" '.adjustments | length' 0
ctl order edit o-10 a:tee=1 b:tee=5
check_rc "edit up" 0
ctl explain tee
check "3 held since before, 3 taken after" '[.holds.items[] | "\(.quantity) \(.quantityBeforeSetting)"] | join(",")' "6 3"
check "the take after is an adjustment of o-10" '[.adjustments[] | select(.orderId == "o-10")][0].deltaQuantity' -3
# units given back and taken again after the setting were taken after it
ctl order edit o-10 a:tee=0 b:tee=5
check_rc "edit line a to 0" 0
ctl order edit o-10 a:tee=2 b:tee=5
check_rc "edit line a to 2" 0
ctl explain tee
check "line a's 2 are after the setting" '[.holds.items[] | "\(.quantity) \(.quantityBeforeSetting)"] | join(",")' "7 2"
check "held since before in all" .holds.heldQuantityBeforeSetting 2
check "adds up" '.adjustedQuantity == .quantity and .quantity == 96' true
text=$("$SL_BIN/stockctl" explain tee)
check_eq "text says what is held since before the setting" 1 "$(grep -c "held by open order o-10: 2 held since before the setting, which counts them, 5 taken by the adjustments above" <<<"$text")"

# delete and re-create: the order's units came out of the item's earlier life; a cancel
# gives them back to the item that now has the key (docs/orders.md, "Items deleted and
# created again")
ctl item delete tee
ctl item create tee --quantity 10 --reason "new life"
ctl explain tee
check "the create counts every hold" '[.holds.items[] | "\(.quantity) \(.quantityBeforeSetting)"] | join(",")' "7 7"
ctl order cancel o-10
check_rc "cancel after the re-create" 0
ctl explain tee
check "the cancel restocked the new life" '.quantity == 17 and .adjustedQuantity == 17' true
check "the restock is o-10's adjustment" '[.adjustments[] | select(.orderId == "o-10")][0].deltaQuantity' 7
check "nothing held any more" '.holds.items | length' 0
sl_stop
sl_done
