#!/bin/bash
# items_test.sh: every scenario of the spec's sections 1.3 (V1) and 2.5 (V3), as decided in
# docs/decisions.md, end to end: create (quantity / in-stock), duplicate create, get, update
# with revision (tracking switch, preorder settings), delete and re-create, availability
# statuses, the preorder counter and limit, increments and decrements of many lines (exactly
# 300, and 301), restrict, preorderRequest, negative stock without restrict, the quantity
# range, and the human (non-JSON) output.
#
# Method: one real daemon (RocksDB directory and ipc socket in a temporary folder, started
# with --default-location main so the default is visible), driven by `stockctl --json`; each
# outcome is read back with jq, and refusals are checked to leave the item as it was.
. "$(dirname "$0")/lib.sh"
sl_start --default-location main
V0=00000000-0000-0000-0000-000000000000

# get_field ITEM FILTER: one field of the item as it is now.
get_field() {
	"$SL_BIN/stockctl" --json item get "$1" | jq -r "$2"
}

# ---- spec 2.5 scenario 1: create with no location -> the default location, revision 1 ----
ctl item create s1 --quantity 10 --reason "initial count"
check_rc "2.5/1 create" 0
check "2.5/1 productId" .productId s1
check "2.5/1 default variant" .variantId $V0
check "2.5/1 default location" .locationId main
check "2.5/1 trackQuantity" .trackQuantity true
check "2.5/1 quantity" .quantity 10
check "2.5/1 inStock" .inStock true
check "2.5/1 status" .availabilityStatus IN_STOCK
check "2.5/1 revision" .revision 1
check "2.5/1 preorderInfo" '.preorderInfo | "\(.enabled) \(.limit) \(.counter)"' "false null 0"
check "2.5/1 created is RFC 3339 UTC" \
	'.createdDate | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z$")' true
check "2.5/1 updated equals created" '.updatedDate == .createdDate' true
ctl item get s1@main
check "get by explicit default location" '"\(.quantity) \(.revision)"' "10 1"
ctl item get "s1/$V0@main"
check "get by explicit variant and location" .quantity 10

# ---- spec 2.5 scenario 2: duplicate create; the same variant at another location ----
head_save
ctl item create s1 --quantity 3
check_refused "2.5/2 duplicate create" ALREADY_EXISTS
check_unchanged "2.5/2 duplicate create"
ctl item create s1@main --in-stock true
check_refused "2.5/2 duplicate create by explicit location, other tracking" ALREADY_EXISTS
check_eq "2.5/2 original untouched" "10 1" "$(get_field s1 '"\(.quantity) \(.revision)"')"
ctl item create s1@east --quantity 4
check_rc "2.5/2 same variant at another location" 0
check "2.5/2 other location" '"\(.locationId) \(.quantity) \(.revision)"' "east 4 1"
ctl increment s1@east=1
check_eq "2.5/2 quantities are separate" "10 5" "$(get_field s1 .quantity) $(get_field s1@east .quantity)"
ctl item create s1/v-2 --quantity 1
check "2.5/2 another variant at the default location" '"\(.variantId) \(.locationId)"' "v-2 main"

# ---- spec 2.5 scenario 3: stale revision refused, current one applied ----
ctl item create s3 --quantity 1
for _ in 1 2 3 4; do ctl increment s3=1; done
check "2.5/3 at revision 5" '.items[0].revision' 5
head_save
ctl item update s3 --revision 4 --quantity 7
check_refused "2.5/3 stale revision" REVISION_MISMATCH
check "2.5/3 currentRevision" .error.details.currentRevision 5
check "2.5/3 message" '.error.message | test("revision mismatch")' true
check_unchanged "2.5/3 stale revision"
check_eq "2.5/3 unchanged" "5 5" "$(get_field s3 '"\(.quantity) \(.revision)"')"
ctl item update s3 --revision 5 --quantity 7 --reason recount
check_rc "2.5/3 update" 0
check "2.5/3 updated" '"\(.quantity) \(.revision)"' "7 6"
check "2.5/3 updatedDate moves, createdDate stays" '.updatedDate >= .createdDate' true

# ---- spec 2.5 scenario 4: restricted decrement short of stock ----
ctl item create s4 --quantity 2
head_save
ctl decrement s4=3 --restrict
check_refused "2.5/4 restricted decrement" INSUFFICIENT_INVENTORY
check "2.5/4 details" '.error.details.items[0] | "\(.index) \(.productId) \(.requested) \(.available)"' \
	"0 s4 3 2"
check_unchanged "2.5/4"
check_eq "2.5/4 quantity stays" "2 1" "$(get_field s4 '"\(.quantity) \(.revision)"')"

# ---- spec 2.5 scenario 5: unrestricted decrement goes negative ----
ctl item create s5 --quantity 2
ctl decrement s5=3
check_rc "2.5/5 unrestricted decrement" 0
check "2.5/5 negative" '.items[0] | "\(.quantity) \(.inStock) \(.availabilityStatus) \(.revision)"' \
	"-1 false OUT_OF_STOCK 2"

# ---- spec 2.5 scenario 6: preorder enabled at 0 -> PREORDER; preorderRequest counts ----
ctl item create s6 --quantity 0 --preorder true --preorder-message "ships in May"
check "2.5/6 status" .availabilityStatus PREORDER
check "2.5/6 message" .preorderInfo.message "ships in May"
ctl decrement s6=2 --preorder-request --order o-6
check_rc "2.5/6 preorder decrement" 0
check "2.5/6 counter +2, quantity stays" \
	'.items[0] | "\(.quantity) \(.preorderInfo.counter) \(.availabilityStatus)"' "0 2 PREORDER"
ctl history s6
check "2.5/6 event records the counter" '.events[1] | "\(.type) \(.deltaQuantity) \(.deltaCounter) \(.orderId)"' \
	"item_decremented 0 2 o-6"

# ---- spec 2.5 scenario 7: an in-stock-tracked item takes no increment/decrement ----
ctl item create s7 --in-stock true
check "2.5/7 in-stock item" '"\(.trackQuantity) \(.inStock) \(.availabilityStatus) \(has("quantity"))"' \
	"false true IN_STOCK false"
head_save
ctl increment s7=1
check_refused "2.5/7 increment" QUANTITY_NOT_TRACKED
ctl decrement s7=1
check_refused "2.5/7 decrement" QUANTITY_NOT_TRACKED
ctl decrement s7=1 --restrict --preorder-request
check_refused "2.5/7 restricted preorder decrement" QUANTITY_NOT_TRACKED
check_unchanged "2.5/7"

# ---- spec 2.5 scenario 8: 10 in stock + limit 50 = 60 orderable ----
ctl item create s8 --quantity 10 --preorder true --preorder-limit 50
head_save
ctl decrement s8=61 --restrict --preorder-request
check_refused "2.5/8 61 of 60" INSUFFICIENT_INVENTORY
check "2.5/8 available" '.error.details.items[0].available' 60
check_unchanged "2.5/8"
ctl decrement s8=60 --restrict --preorder-request
check_rc "2.5/8 60 of 60" 0
check "2.5/8 stock then preorder" \
	'.items[0] | "\(.quantity) \(.preorderInfo.counter) \(.preorderInfo.limit) \(.availabilityStatus)"' \
	"0 50 50 OUT_OF_STOCK"
ctl decrement s8=1 --restrict --preorder-request
check_refused "2.5/8 the limit is used up" INSUFFICIENT_INVENTORY
check "2.5/8 nothing left" '.error.details.items[0].available' 0
# the operator resets the counter (docs/decisions.md): preorders open again
ctl item update s8 --revision 2 --reset-preorder-counter --reason "new preorder campaign"
check_rc "reset the preorder counter" 0
check "counter reset" '"\(.preorderInfo.counter) \(.preorderInfo.limit) \(.availabilityStatus) \(.revision)"' \
	"0 50 PREORDER 3"
ctl decrement s8=1 --restrict --preorder-request
check_rc "a preorder after the reset" 0

# ---- spec 2.5 scenario 9 and the range: -100000..1000000 ----
ctl item create s9 --quantity 1
head_save
ctl item update s9 --revision 1 --quantity 1000001
check_refused "2.5/9 update 1000001" INVALID_ARGUMENT
ctl item update s9 --revision 1 --quantity -100001
check_refused "2.5/9 update -100001" INVALID_ARGUMENT
ctl item create s9b --quantity 1000001
check_refused "2.5/9 create 1000001" INVALID_ARGUMENT
ctl item create s9b --quantity -100001
check_refused "2.5/9 create -100001" INVALID_ARGUMENT
check_unchanged "2.5/9"
ctl item update s9 --revision 1 --quantity 1000000
check "2.5/9 the maximum is allowed" '"\(.quantity) \(.revision)"' "1000000 2"
head_save
ctl increment s9=1
check_refused "increment past the maximum" LIMIT_EXCEEDED
check_unchanged "increment past the maximum"
ctl item update s9 --revision 2 --quantity -100000
check "the minimum is allowed" '"\(.quantity) \(.availabilityStatus)"' "-100000 OUT_OF_STOCK"
head_save
ctl decrement s9=1
check_refused "unrestricted decrement past the minimum" LIMIT_EXCEEDED
check "past the minimum names the line" .error.details.index 0
check_unchanged "decrement past the minimum"
check_eq "range refusals leave the item" "-100000 3" "$(get_field s9 '"\(.quantity) \(.revision)"')"

# ---- spec 2.5 scenarios 10 and 11: 300 lines fine, 301 refused; default location ----
N_ITEMS=20
for i in $(seq 1 $N_ITEMS); do
	ctl item create "m$i" --quantity 100
done
lines=()
for k in $(seq 0 299); do
	lines+=("m$((k % N_ITEMS + 1))=1")
done
ctl increment "${lines[@]}" --reason "300 lines"
check_rc "2.5/10 increment of exactly 300 lines" 0
check "2.5/10 300 lines: each item once in the reply" '.items | length' $N_ITEMS
check "2.5/10 300 lines: each item +15, revision +15" \
	'[.items[] | "\(.quantity)/\(.revision)"] | unique | join(",")' "115/16"
check "2.5/11 default location in lines" '[.items[].locationId] | unique | join(",")' main
SEQ300=$(jqo .seq)
ctl history m1
check "2.5/10 one event per line" '.events | length' 16
check "2.5/10 the lines' events share the command" \
	'[.events[1:][] | .commandSeq] | unique | length' 1
check "2.5/10 the reply's seq is the last line's, m1's last line is 19 before it" \
	'.events[-1].seq' "$((SEQ300 - 19))"
head_save
ctl decrement "${lines[@]}" "m1=1" --restrict
check_refused "2.5/10 decrement of 301 lines" LIMIT_EXCEEDED
ctl increment "${lines[@]}" "m1=1"
check_refused "2.5/10 increment of 301 lines" LIMIT_EXCEEDED
check_unchanged "2.5/10 301 lines"
ctl decrement "${lines[@]}" --restrict --reason "300 lines back"
check_rc "2.5/10 restricted decrement of exactly 300 lines" 0
check "2.5/10 300 lines back" '[.items[] | "\(.quantity)/\(.revision)"] | unique | join(",")' "100/31"

# ---- all or nothing across lines (spec 3 scenarios 1-3) ----
ctl item create A --quantity 1
ctl item create B --quantity 5
head_save
ctl decrement A=2 B=1 --restrict
check_refused "spec 3/1 one short line refuses all" INSUFFICIENT_INVENTORY
check "spec 3/1 the short line" '[.error.details.items[] | "\(.index):\(.productId):\(.available)"] | join(",")' "0:A:1"
check_unchanged "spec 3/1"
check_eq "spec 3/1 A and B unchanged" "1 5" "$(get_field A .quantity) $(get_field B .quantity)"
ctl decrement A=2 B=6 --restrict
check "every short line is listed" '[.error.details.items[].index] | join(",")' "0,1"
ctl decrement A=2 B=1
check "spec 3/2 unrestricted" '[.items[] | "\(.productId)=\(.quantity)"] | join(" ")' "A=-1 B=4"
ctl increment A=2 B=1 --reason cancel
check "spec 3/3 restock" '[.items[] | "\(.productId)=\(.quantity)"] | join(" ")' "A=1 B=5"
ctl decrement A=1 A=1 --restrict
check_refused "the same item twice: the second line sees the first" INSUFFICIENT_INVENTORY
check "the second line is the short one" '.error.details.items[0] | "\(.index) \(.available)"' "1 0"
head_save
ctl decrement A=1 nosuch=1
check_refused "an unknown item in a line" NOT_FOUND
check "the unknown line's index" .error.details.index 1
check_unchanged "an unknown item in a line"
check_eq "A untouched by the refused command" 1 "$(get_field A .quantity)"

# ---- spec 1.3 (V1) scenarios ----
ctl item create v1 --quantity 4
ctl increment v1=2
check "1.3/1 increment" '.items[0] | "\(.quantity) \(.inStock)"' "6 true"
ctl history v1
check "1.3/1 event old and new values" \
	'.events[1] | "\(.before.quantity) \(.before.inStock) \(.after.quantity) \(.after.inStock)"' \
	"4 true 6 true"
ctl item create v2 --quantity 1
ctl decrement v2=1
check "1.3/2 reaching 0 is out of stock" '.items[0] | "\(.quantity) \(.inStock) \(.availabilityStatus)"' \
	"0 false OUT_OF_STOCK"
ctl item create v3 --in-stock true
ctl item update v3 --revision 1 --in-stock false
check "1.3/3 untracked, out of stock" '"\(.trackQuantity) \(.inStock) \(.availabilityStatus)"' \
	"false false OUT_OF_STOCK"
ctl decrement v3=1
check_refused "1.3/3 purchases never touch an untracked item" QUANTITY_NOT_TRACKED
ctl item create v4 --quantity 0 --preorder true --preorder-limit 4
check "1.3/4 available for preorder" '"\(.inStock) \(.availabilityStatus)"' "false PREORDER"
ctl decrement v4=1 --preorder-request
check "1.3/4 preorder decrement (V3 rule: counter, quantity stays)" \
	'.items[0] | "\(.quantity) \(.preorderInfo.counter) \(.availabilityStatus)"' "0 1 PREORDER"
ctl item create v5 --quantity 1
head_save
ctl decrement v5=2 --restrict
check_refused "1.3/5 no negative inventory when restricted" INSUFFICIENT_INVENTORY
check_unchanged "1.3/5"
ctl item get v1
N1=$(jqo .numericId)
ctl item get v5
check "1.3/6 numericId ascends with creation" ".numericId > $N1" true

# ---- spec 2.5 scenario 12: stock first, then preorder units ----
ctl item create s12 --quantity 2 --preorder true --preorder-limit 3
ctl decrement s12=4 --preorder-request --restrict --order o-12
check_rc "2.5/12 mixed order" 0
check "2.5/12 2 from stock, 2 preorder" \
	'.items[0] | "\(.quantity) \(.preorderInfo.counter) \(.availabilityStatus)"' "0 2 PREORDER"
head_save
ctl decrement s12=2 --preorder-request --restrict
check_refused "2.5/12 only one preorder unit left" INSUFFICIENT_INVENTORY
check "2.5/12 available" '.error.details.items[0].available' 1
check_unchanged "2.5/12"
ctl decrement s12=1 --preorder-request --restrict
check "2.5/12 the last preorder unit" \
	'.items[0] | "\(.quantity) \(.preorderInfo.counter) \(.availabilityStatus)"' "0 3 OUT_OF_STOCK"
ctl increment s12=5
check "restock leaves the preorder counter" '.items[0] | "\(.quantity) \(.preorderInfo.counter) \(.availabilityStatus)"' \
	"5 3 IN_STOCK"
ctl decrement s12=6 --preorder-request
check "an unrestricted preorder decrement past the limit goes negative" \
	'.items[0] | "\(.quantity) \(.preorderInfo.counter) \(.availabilityStatus)"' "-1 3 OUT_OF_STOCK"
ctl item create s12b --quantity 0 --preorder false
ctl decrement s12b=1 --preorder-request --restrict
check_refused "preorderRequest without preorder enabled is a shortage" INSUFFICIENT_INVENTORY

# ---- update: tracking switch and preorder settings ----
ctl item create u1 --quantity 3 --preorder true --preorder-limit 5 --preorder-message hold
ctl item update u1 --revision 1 --in-stock true --reason "made to order"
check_rc "switch to in-stock tracking" 0
check "switched: no quantity, no limit" \
	'"\(.trackQuantity) \(has("quantity")) \(.inStock) \(.preorderInfo.limit) \(.preorderInfo.enabled) \(.revision)"' \
	"false false true null true 2"
ctl history u1
check "the switch event keeps the old limit before" \
	'.events[1] | "\(.type) \(.before.preorderLimit) \(.after.preorderLimit) \(.before.trackQuantity) \(.after.trackQuantity)"' \
	"item_updated 5 null true false"
check "the switch event's reason" '.events[1].reason' "made to order"
ctl item update u1 --revision 2 --preorder-limit 3
check_refused "a preorder limit on an in-stock-tracked item" INVALID_ARGUMENT
ctl item update u1 --revision 2 --in-stock false
check "in-stock false with preorder is PREORDER" .availabilityStatus PREORDER
ctl item update u1 --revision 3 --preorder false
check "in-stock false without preorder is OUT_OF_STOCK" .availabilityStatus OUT_OF_STOCK
ctl item update u1 --revision 4 --quantity 0 --preorder true --preorder-limit 2
check "switch back to quantity tracking with a limit" \
	'"\(.trackQuantity) \(.quantity) \(.preorderInfo.limit) \(.availabilityStatus) \(.revision)"' \
	"true 0 2 PREORDER 5"
ctl decrement u1=2 --preorder-request --restrict
check "limit reached" '.items[0] | "\(.preorderInfo.counter) \(.availabilityStatus)"' "2 OUT_OF_STOCK"
ctl item update u1 --revision 6 --preorder-limit none
check "--preorder-limit none removes the limit" '"\(.preorderInfo.limit) \(.availabilityStatus)"' \
	"null PREORDER"
ctl item update u1 --revision 7 --preorder-message "back in June"
check "message only: the rest stays" \
	'"\(.preorderInfo.message) \(.preorderInfo.enabled) \(.preorderInfo.counter) \(.quantity) \(.revision)"' \
	"back in June true 2 0 8"
ctl item update u1 --revision 8 --quantity 4 --in-stock true
check_rc "quantity and in-stock together (usage)" 2
ctl item create i2 --in-stock false --preorder true --preorder-limit 2
check_refused "create an in-stock item with a limit" INVALID_ARGUMENT
ctl item create i2 --in-stock false --preorder true
check "in-stock false, preorder on at create" .availabilityStatus PREORDER

# ---- delete and re-create ----
ctl item create d1 --quantity 5
ctl item delete d1 --reason discontinued --key del-d1
check_rc "delete" 0
check "delete reply" '"\(.deleted) \(.seq > 0)"' "true true"
head_save
ctl item get d1
check_refused "get a deleted item" NOT_FOUND
ctl item delete d1
check_refused "delete a deleted item" NOT_FOUND
ctl increment d1=1
check_refused "increment a deleted item" NOT_FOUND
ctl item update d1 --revision 1 --quantity 1
check_refused "update a deleted item" NOT_FOUND
check_unchanged "refusals on a deleted item"
ctl item create d1 --in-stock true
check_rc "re-create" 0
check "re-created: a new life, its revision going on" '"\(.revision) \(.trackQuantity) \(.itemSeq)"' "3 false 3"
ctl item update d1 --revision 1 --in-stock false
check_refused "a revision of the first life is stale" REVISION_MISMATCH
check "it names the current revision" .error.details.currentRevision 3
ctl history d1
check "history spans both lives" '[.events[] | .type] | join(",")' \
	"item_created,item_deleted,item_created"
check "the delete's reason" '.events[1].reason' discontinued
check "itemSeq has no gap" '[.events[].itemSeq] | join(",")' "1,2,3"

# ---- history paging and fields ----
ctl history m1 --limit 10
check "history page" '"\(.events | length) \(.nextCursor)"' "10 10"
ctl history m1 --limit 10 --cursor 10
check "history next page" '"\(.events | length) \(.events[0].itemSeq) \(.nextCursor)"' "10 11 20"
ctl history m1 --limit 10 --cursor 30
check "history last page" '"\(.events | length) \(.events[0].itemSeq) \(.nextCursor)"' "1 31 null"
ctl history m1 --limit 1
check "an event's fields" \
	'.events[0] | [has("seq","itemSeq","commandSeq","line","type","time","key","reason","orderId","before","after","deltaQuantity","deltaCounter","hash")] | all' \
	true
check "an event's hash" '.events[0].hash | test("^[0-9a-f]{64}$")' true
ctl history nosuch
check "history of an unknown item is empty" '.events | length' 0

# ---- human output ----
H=$("$SL_BIN/stockctl" item get s12)
check_eq "human get: key line" "s12@main" "$(printf '%s\n' "$H" | head -n 1)"
check_eq "human get: stock" "stock -1 (quantity tracked)" \
	"$(printf '%s\n' "$H" | awk '$1 == "stock" {print $1, $2, $3, $4}')"
check_eq "human get: status" "OUT_OF_STOCK" "$(printf '%s\n' "$H" | awk '$1 == "status" {print $2}')"
check_eq "human get: preorder" "on, limit 3, counter 3" \
	"$(printf '%s\n' "$H" | sed -n 's/^  preorder *//p')"
H=$("$SL_BIN/stockctl" item get s7)
check_eq "human get: in-stock item" "in stock (in-stock tracked)" \
	"$(printf '%s\n' "$H" | sed -n 's/^  stock *//p')"
H=$("$SL_BIN/stockctl" decrement A=1 B=1 --order o-h)
check_eq "human decrement: one row per item, then seq" 3 "$(printf '%s\n' "$H" | wc -l)"
check_eq "human decrement: row" "A@main 0 OUT_OF_STOCK rev 4" \
	"$(printf '%s\n' "$H" | head -n 1 | tr -s ' ')"
H=$("$SL_BIN/stockctl" history s6)
# The header's columns start where the rows' columns start (each column is left-aligned,
# except the numbers of BEFORE and AFTER, which end where their header ends).
hdr=$(printf '%s\n' "$H" | head -n 1)
row=$(printf '%s\n' "$H" | sed -n 3p)
for col in SEQ TIME TYPE; do
	pos=$(awk -v h="$hdr" -v c="$col" 'BEGIN {print index(h, c)}')
	check_eq "human history: $col column lines up" "$col" \
		"$(printf '%s\n' "$hdr" | cut -c "$pos-$((pos + ${#col} - 1))")"
	check_eq "human history: the row has a value under $col" "1" \
		"$(printf '%s\n' "$row" | cut -c "$pos" | grep -c '[^ ]')"
	check_eq "human history: the row has a blank before $col" "0" \
		"$(printf '%s\n' "$row" | cut -c "$((pos - 1))" | grep -c '[^ ]')"
done
for col in BEFORE AFTER; do
	end=$(($(awk -v h="$hdr" -v c="$col" 'BEGIN {print index(h, c)}') + ${#col} - 1))
	check_eq "human history: the $col value ends under its header" "1 0" \
		"$(printf '%s\n' "$row" | cut -c "$end" | grep -c '[^ ]') $(printf '%s\n' "$row" | cut -c "$((end + 1))" | grep -c '[^ ]')"
done
check_eq "human history: the decrement row" "2 decremented 0 0 order o-6" \
	"$(printf '%s\n' "$row" | awk '{print $1, $4, $5, $6, $7, $8}')"
check_eq "human history: three lines" 3 "$(printf '%s\n' "$H" | wc -l)"

sl_stop
admin verify --data "$SL_DATA"
check_rc "verify after the whole run" 0
sl_done
