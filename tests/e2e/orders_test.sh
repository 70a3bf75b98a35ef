#!/bin/bash
# orders_test.sh: the order flows of issue 3 end to end, under both triggers: settings as
# events, place (restricted all-or-nothing under ON_ORDER_PLACED, nothing under
# ON_ORDER_PAID), pay, payment-failed, cancel with and without restock, refund per line
# (never more than held, with and without restock), edit (the delta, never failing for
# stock), direct decrement/increment with --order; the spec's scenarios §3 1-4 and §4 1-3;
# every refused transition leaves the log untouched (head unchanged, daemon serving);
# retries with a key are replayed; `order pay` twice is harmless and says so; history shows
# the order trail; the holds list; and, on the stopped daemon, verify passes and a rebuild
# gives the same checksum of all views.
#
# Method: one real daemon on an ipc socket driven by stockctl --json, checked with jq.
. "$(dirname "$0")/lib.sh"
sl_start

# qty ITEM: the item's quantity. counter ITEM: its preorder counter.
qty() { item_json "$1" | jq -r .quantity; }
counter() { item_json "$1" | jq -r .preorderInfo.counter; }

ctl settings get
check "default trigger" .inventoryUpdateTrigger ON_ORDER_PLACED
check "settings never set" .updatedDate null
# setting the default that was never set: unchanged, and no event's seq or time in the reply
# (it once answered with uninitialised memory, and stored it under the key)
for attempt in first replayed; do
	ctl settings set --inventory-update-trigger ON_ORDER_PLACED --key default-trigger
	check "the default set again ($attempt)" '"\(.unchanged) \(.seq) \(.updatedDate)"' "true 0 null"
done

# ---- spec §3 scenario 1: A=1, B=5; an order for A x2, B x1 is refused whole ----
ctl item create A --quantity 1
ctl item create B --quantity 5
refused "§3.1 place short on A" INSUFFICIENT_INVENTORY order place s31 A=2 B=1
check "§3.1 the short line is named" '.error.details.items | length' 1
check "§3.1 short line index" '.error.details.items[0].index' 0
check "§3.1 short line item" '.error.details.items[0].productId' A
check "§3.1 requested" '.error.details.items[0].requested' 2
check "§3.1 available" '.error.details.items[0].available' 1
check_eq "§3.1 A unchanged" 1 "$(qty A)"
check_eq "§3.1 B unchanged" 5 "$(qty B)"
ctl order get s31
check_refused "§3.1 no order was made" NOT_FOUND
# the same through the plugin's direct call
refused "§3.1 direct restricted decrement" INSUFFICIENT_INVENTORY decrement A=2 B=1 --restrict --order s31

# ---- spec §3 scenario 2: the same unrestricted: A=-1, B=4 (a direct call with --order) ----
ctl decrement A=2 B=1 --order s32 --key s32-take
check_rc "§3.2 unrestricted decrement" 0
check "§3.2 A" '.items[0].quantity' -1
check "§3.2 B" '.items[1].quantity' 4
ctl history A
check "§3.2 the event records the order" '.events[-1].orderId' s32
# ---- spec §3 scenario 3: cancel of that order: the increment restores A=1, B=5 ----
ctl increment A=2 B=1 --order s32 --reason "cancel s32"
check "§3.3 A" '.items[0].quantity' 1
check "§3.3 B" '.items[1].quantity' 5
# and the same as an order under ON_ORDER_PAID: placed, paid (taken unrestricted), canceled
ctl settings set --inventory-update-trigger ON_ORDER_PAID
check_rc "set ON_ORDER_PAID" 0
check "trigger changed" .inventoryUpdateTrigger ON_ORDER_PAID
SET_SEQ=$(jqo .seq)
ctl settings set --inventory-update-trigger ON_ORDER_PAID
check "setting it again changes nothing" .unchanged true
check "setting it again appends nothing" .seq "$SET_SEQ"
ctl order place s33 A=2 B=1
check_rc "§3.2 place under ON_ORDER_PAID" 0
check "placed" .order.status PLACED
check "placed under ON_ORDER_PAID" .order.inventoryUpdateTrigger ON_ORDER_PAID
check "nothing moved at placement" '.items | length' 0
check "nothing held before payment" '[.order.lines[].held] | add' 0
ctl order pay s33
check "§3.2 paid" .order.status PAID
check "§3.2 A went negative" '.items[0].quantity' -1
check "§3.2 B" '.items[1].quantity' 4
check "§3.2 line 1 holds 2" '.order.lines[0].held' 2
ctl order cancel s33
check "§3.3 canceled" .order.status CANCELED
check "§3.3 A restored" '.items[0].quantity' 1
check "§3.3 B restored" '.items[1].quantity' 5
check "§3.3 restockQuantity" '.order.lines[0].restockQuantity' 2
check "§3.3 holds nothing" '[.order.lines[].held] | add' 0

# ---- spec §3 scenario 4: 301 lines are refused ----
LINES=$(for i in $(seq 1 301); do printf 'B=1 '; done)
# shellcheck disable=SC2086
refused "§3.4 301 lines" LIMIT_EXCEEDED order place s34 $LINES

# ---- spec §4 scenario 1: ON_ORDER_PLACED, quantity 3, an order for 2; payment fails ----
ctl settings set --inventory-update-trigger ON_ORDER_PLACED
ctl item create C --quantity 3
ctl order place s41 C=2 --key s41-place
check_rc "§4.1 place" 0
check "§4.1 quantity 1 at once" '.items[0].quantity' 1
check "§4.1 line held" '.order.lines[0].held' 2
PLACE_SEQ=$(jqo .seq)
ctl order place s41 C=2 --key s41-place
check "§4.1 retry with the key is replayed" .replayed true
check "§4.1 retry gives the original seq" .seq "$PLACE_SEQ"
check_eq "§4.1 retry took nothing more" 1 "$(qty C)"
ctl order place s41 1:C=2 --key s41-place
check "§4.1 a retry spelling out the default line id is the same command" .replayed true
ctl order place s41 C=1 --key s41-place
check_refused "§4.1 the key with other content" IDEMPOTENCY_KEY_REUSED
ctl order payment-failed s41
check_rc "§4.1 payment failed" 0
check "§4.1 restocked" '.items[0].quantity' 3
check "§4.1 closed" .order.status PAYMENT_FAILED
refused "pay after a failed payment" ORDER_CLOSED order pay s41
refused "edit a closed order" ORDER_CLOSED order edit s41 C=1
refused "cancel a closed order" ORDER_CLOSED order cancel s41

# ---- spec §4 scenario 2: ON_ORDER_PAID, quantity 1, two orders for 1, both paid: -1 ----
ctl settings set --inventory-update-trigger ON_ORDER_PAID
ctl item create D --quantity 1
ctl order place s42a D=1
ctl order place s42b D=1
check_eq "§4.2 nothing taken before payment" 1 "$(qty D)"
ctl order pay s42a
ctl order pay s42b
check "§4.2 oversold on payment" '.items[0].quantity' -1
PAY_SEQ=$(jqo .seq)
ctl order pay s42b
check_rc "§4.2 paying twice" 0
check "§4.2 paying twice says so" .unchanged true
check "§4.2 paying twice appends nothing" .seq "$PAY_SEQ"
check_eq "§4.2 paying twice takes nothing" -1 "$(qty D)"
OUT=$("$SL_BIN/stockctl" order pay s42b)
check_eq "§4.2 human output says so" "order s42b is already PAID: nothing changed" \
	"$(printf '%s\n' "$OUT" | grep already)"

# ---- spec §4 scenario 3: cancel restocks a 2-unit line; --no-restock moves nothing ----
ctl settings set --inventory-update-trigger ON_ORDER_PLACED
ctl item create E --quantity 5
ctl order place s43a E=2
ctl order place s43b E=2
check_eq "§4.3 two orders took 4" 1 "$(qty E)"
ctl order cancel s43a
check "§4.3 +2" '.items[0].quantity' 3
check "§4.3 restockQuantity 2" '.order.lines[0].restockQuantity' 2
ctl order cancel s43b --no-restock
check "§4.3 no stock change" '.items | length' 0
check "§4.3 restockQuantity 0" '.order.lines[0].restockQuantity' 0
check "§4.3 closed, holding nothing" '.order.lines[0].held' 0
check_eq "§4.3 E stays 3" 3 "$(qty E)"

# ---- refund per line, never more than held, with and without restock ----
ctl item create F --quantity 10
ctl item create G --quantity 10
ctl order place r1 F=3 G=2
refused "refund before payment" FAILED_PRECONDITION order refund r1 1=1
ctl order pay r1
check "paid under ON_ORDER_PLACED moves nothing" '.items | length' 0
refused "refund more than held" REFUND_EXCEEDS_HELD order refund r1 1=4
refused "refund of an unknown line" NOT_FOUND order refund r1 9=1
refused "refund all or nothing" REFUND_EXCEEDS_HELD order refund r1 1=1 2=3
ctl order refund r1 1=2
check "refund restocks" '.items[0].quantity' 9
check "refundQuantity" '.order.lines[0].refundQuantity' 2
check "line holds the rest" '.order.lines[0].held' 1
check "still paid" .order.status PAID
ctl order refund r1 1=1 2=2 --no-restock
check "refund without restock moves nothing" '.items | length' 0
check "fully refunded" .order.status REFUNDED
check_eq "F after refunds" 9 "$(qty F)"
check_eq "G after refunds" 8 "$(qty G)"
refused "refund a refunded order" ORDER_CLOSED order refund r1 1=1

# ---- edit: the delta against what the order holds; never fails for stock ----
ctl item create H --quantity 2
ctl item create J --quantity 0
ctl order place e1 H=2
ctl order edit e1 1:H=1 2:J=3
check_rc "edit past the stock" 0
check "edit gives back 1 H" '.items[0].quantity' 1
check "edit takes 3 J unrestricted" '.items[1].quantity' -3
check "line 2 holds 3" '.order.lines[1].held' 3
ctl order edit e1 2:J=3
check "dropping line 1 restocks it" '.items[0].quantity' 2
check "line 1 stays, at 0" '.order.lines[0].quantity' 0
refused "a line keeps its item" INVALID_ARGUMENT order edit e1 2:H=1
ctl order get e1
check "order get: status" .status PLACED
check "order get: lines" '.lines | length' 2
check "order get: line id" '.lines[1].lineId' 2
check "order get: item" '.lines[1].productId' J
check "order get: quantity" '.lines[1].quantity' 3
check "order get: held" '.lines[1].held' 3
check "order get: line 1 trail (place, two edits)" '.lines[0].seqs | length' 3
# under ON_ORDER_PAID an edit before payment moves nothing; payment takes the new lines
ctl settings set --inventory-update-trigger ON_ORDER_PAID
ctl order place e2 H=1
ctl order edit e2 H=2
check "edit before payment moves nothing" '.items | length' 0
check "the new quantity" '.order.lines[0].quantity' 2
ctl order pay e2
check "payment takes the edited quantity" '.items[0].quantity' 0
refused "payment-failed of a paid order" FAILED_PRECONDITION order payment-failed e2

# ---- an order placed under one trigger keeps it when the setting changes ----
ctl item create K --quantity 4
ctl settings set --inventory-update-trigger ON_ORDER_PLACED
ctl order place t1 K=1
ctl settings set --inventory-update-trigger ON_ORDER_PAID
ctl order pay t1
check "placed under ON_ORDER_PLACED: payment takes nothing more" '.items | length' 0
check_eq "K" 3 "$(qty K)"

# ---- preorder units: taken within the limit, given back first ----
ctl settings set --inventory-update-trigger ON_ORDER_PLACED
ctl item create P --quantity 2 --preorder true --preorder-limit 3
ctl order place p1 P=4
check "stock first" '.items[0].quantity' 0
check "then preorder units" '.items[0].preorderInfo.counter' 2
check "held preorder units" '.order.lines[0].heldPreorder' 2
refused "preorder limit" INSUFFICIENT_INVENTORY order place p2 P=2
check "available is stock plus preorder left" '.error.details.items[0].available' 1
ctl order holds P
check "holds list the order line" '.holds[0].orderId' p1
check "holds: units" '.holds[0].held' 4
check "holds: preorder units" '.holds[0].heldPreorder' 2
ctl order cancel p1
check "cancel frees the preorder units" '.items[0].preorderInfo.counter' 0
check "and restocks the stock units" '.items[0].quantity' 2
ctl order holds P
check "a closed order holds nothing" '.holds | length' 0

# ---- history shows the order trail ----
ctl history C
check "history: the order's decrement" '[.events[] | select(.orderId == "s41")] | length' 2
check "history: the line" '.events[1].orderLineId' 1
check "history: the line's hold after" '.events[1].lineAfter.held' 2
OUT=$("$SL_BIN/stockctl" history C)
check_eq "human history names order and line" 2 "$(printf '%s\n' "$OUT" | grep -c 'order s41 line 1')"

# ---- items that stop counting (docs/orders.md): the payment and the cancel are recorded ----
ctl settings set --inventory-update-trigger ON_ORDER_PAID
ctl item create sc-a --quantity 5
ctl item create sc-b --quantity 5
ctl item create sc-c --quantity 5
ctl order place sc1 sc-a=2 sc-b=1 sc-c=1
check_rc "place on three counted items" 0
ctl item update sc-a --revision 1 --in-stock true
ctl item delete sc-b
ctl order pay sc1
check_rc "payment after its items stopped counting" 0
ctl order get sc1
check "paid" .status PAID
check "inStock item: untracked, holds nothing" '"\(.lines[0].untracked) \(.lines[0].held)"' "true 0"
check "deleted item: untracked" '.lines[1].untracked' true
check "counted item: taken" '"\(.lines[2].untracked) \(.lines[2].held)"' "false 1"
ctl item get sc-c
check "the counted item lost its unit" .quantity 4
ctl order refund sc1 1=2
check_rc "refund of an untracked line's sold units" 0
ctl order cancel sc1
check_rc "cancel" 0
ctl item get sc-c
check "the counted unit came back" .quantity 5
ctl settings set --inventory-update-trigger ON_ORDER_PLACED
ctl item create sc-d --quantity 5
ctl order place sc2 sc-d=2
ctl item delete sc-d
ctl order cancel sc2
check_rc "cancel after the held item was deleted" 0
ctl order get sc2
check "its line: untracked, nothing restocked" '"\(.lines[0].untracked) \(.lines[0].held) \(.lines[0].restockQuantity)"' "true 0 0"

# ---- a reset preorder counter: units taken before it release nothing (docs/orders.md) ----
ctl item create pz --quantity 0 --preorder true --preorder-limit 3
ctl order place oz1 pz=2
ctl item update pz --revision 2 --reset-preorder-counter
ctl order place oz2 pz=3
ctl order cancel oz1
ctl item get pz
check "the old order's cancel leaves the counter" .preorderInfo.counter 3
check "the limit stays reached" .availabilityStatus OUT_OF_STOCK
refused "no room past the limit" INSUFFICIENT_INVENTORY order place oz3 pz=2
ctl order cancel oz2
ctl item get pz
check "the new order's cancel frees its units" .preorderInfo.counter 0

# ---- ':' in ids (issue 2's rule allows it): an item id may hold it, a line id may not ----
ctl item create "sku:42" --quantity 5
check_rc "an item id with ':'" 0
ctl increment "sku:42=1"
check_rc "a LINE of it" 0
ctl order place oc1 "7:sku:42=2"
check_rc "an OLINE names it after its line id" 0
ctl order get oc1
check "line 7 holds sku:42" '"\(.lines[0].lineId) \(.lines[0].productId) \(.lines[0].held)"' "7 sku:42 2"
ctl item get "sku:42"
check "sku:42 after the order" .quantity 4
refused "an OLINE without its line id splits at the first ':'" NOT_FOUND order place oc2 "sku:42=1"

# ---- usage and unknown orders ----
ctl order place u1
check_rc "place without lines" 2
ctl settings set --inventory-update-trigger SOMETIMES
check_rc "unknown trigger" 2
refused "pay an unknown order" NOT_FOUND order pay nope
refused "place an existing order" ALREADY_EXISTS order place e1 H=1
refused "duplicate line ids" INVALID_ARGUMENT order place u2 1:H=1 1:H=1
refused "an unknown item" NOT_FOUND order place u3 H=1 nope=1

# ---- the views are the fold of the log ----
sl_stop
admin verify --data "$SL_DATA"
check_rc "verify" 0
admin checksum --data "$SL_DATA"
BEFORE=$(printf '%s\n' "$OUT" | grep checksum)
admin rebuild --data "$SL_DATA"
check_rc "rebuild" 0
check_eq "rebuild gives the same checksum" "$BEFORE" "$(printf '%s\n' "$OUT" | grep '^checksum')"
sl_done
