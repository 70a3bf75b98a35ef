#!/bin/bash
# idempotency_test.sh: client keys end to end. A retry with the same key and content returns
# the original result, marked "replayed": true, and appends nothing (head unchanged), even
# when the item has moved on since; the same key with other content is
# IDEMPOTENCY_KEY_REUSED; a refused command records no key (the client may fix it and resend
# it under the same key); defaults filled in by the service are part of the content; several
# clients racing with one key apply it once; past the retention window (--idem-retention) a
# key is new again, and a bad window is refused at start.
#
# Method: one real daemon on an ipc socket, driven by `stockctl --json`; each retry's output
# is compared with the first answer (jq, the "replayed" member left out) and the head with
# the one saved after the first answer.
. "$(dirname "$0")/lib.sh"
sl_start

# retry_same WHAT FIRST: $OUT must equal FIRST but for "replayed": true; exit 0.
retry_same() {
	check_rc "$1" 0
	check "$1: replayed" .replayed true
	check_eq "$1: the original result" "$(printf '%s' "$2" | jq -S 'del(.replayed)')" \
		"$(jqo 'del(.replayed)' | jq -S .)"
	check_eq "$1: the first answer was not a replay" null "$(printf '%s' "$2" | jq .replayed)"
}

# ---- create ----
ctl item create c1 --quantity 5 --key k-create --reason first
FIRST=$OUT
check_rc "create with a key" 0
head_save
ctl item create c1 --quantity 5 --key k-create --reason first
retry_same "create retried" "$FIRST"
check_unchanged "create retried"

# ---- update: the original result, though the item moved on ----
ctl item update c1 --revision 1 --quantity 7 --key k-update
FIRST=$OUT
check "update" '"\(.quantity) \(.revision)"' "7 2"
ctl increment c1=1
head_save
ctl item update c1 --revision 1 --quantity 7 --key k-update
retry_same "update retried after the item moved on" "$FIRST"
check "the retry answers revision 2, as the first time" .revision 2
check_unchanged "update retried"
check_eq "the item is where the increment left it" "8 3" \
	"$("$SL_BIN/stockctl" --json item get c1 | jq -r '"\(.quantity) \(.revision)"')"

# ---- increment and decrement ----
ctl increment c1=2 c1=3 --key k-inc --order o-1 --reason restock
FIRST=$OUT
INC_SEQ=$(jqo .seq)
head_save
for try in 1 2 3; do
	ctl increment c1=2 c1=3 --key k-inc --order o-1 --reason restock
	retry_same "increment retry $try" "$FIRST"
done
check "the retry's seq is the original's" .seq "$INC_SEQ"
check_unchanged "increment retried three times"
check_eq "applied once" 13 "$("$SL_BIN/stockctl" --json item get c1 | jq .quantity)"

ctl decrement c1=13 --restrict --key k-dec
FIRST=$OUT
check "decrement the last units" '.items[0].quantity' 0
head_save
ctl decrement c1=13 --restrict --key k-dec
retry_same "a restricted decrement retried when stock is gone" "$FIRST"
check_unchanged "decrement retried"

# ---- delete ----
ctl item create c2 --in-stock true
ctl item delete c2 --key k-del
FIRST=$OUT
head_save
ctl item delete c2 --key k-del
retry_same "delete retried (not NOT_FOUND)" "$FIRST"
check_unchanged "delete retried"

# ---- the same key with other content ----
head_save
for args in "increment c1=3 c1=2 --key k-inc --order o-1 --reason restock" \
	"increment c1=2 c1=3 --key k-inc --order o-2 --reason restock" \
	"increment c1=2 c1=3 --key k-inc --order o-1" \
	"increment c1=2 --key k-inc --order o-1 --reason restock" \
	"decrement c1=2 c1=3 --key k-inc --order o-1 --reason restock" \
	"decrement c1=13 --key k-dec" \
	"item create c1 --quantity 6 --key k-create --reason first" \
	"item update c1 --revision 1 --quantity 8 --key k-update" \
	"item delete c1 --key k-del" "item delete c1 --key k-create"; do
	# shellcheck disable=SC2086 # word splitting is the point
	ctl $args
	check_refused "$args" IDEMPOTENCY_KEY_REUSED
	check "$args: the message names the key" '.error.message | test("idempotency key")' true
done
check_unchanged "keys reused"

# ---- a refused command records no key ----
ctl item create r1 --quantity 1
head_save
ctl decrement r1=2 --restrict --key k-refused
check_refused "a short decrement with a key" INSUFFICIENT_INVENTORY
check_unchanged "refused with a key"
ctl decrement r1=2 --restrict --key k-refused
check_refused "resent unchanged: refused again, not replayed" INSUFFICIENT_INVENTORY
ctl increment r1=1
ctl decrement r1=2 --restrict --key k-refused
check_rc "resent once stock is there: applied" 0
check "applied, not replayed" '"\(.replayed) \(.items[0].quantity)"' "null 0"
ctl decrement r1=2 --restrict --key k-refused
check "now the key is recorded" .replayed true
ctl item update r1 --revision 1 --quantity 9 --key k-stale
check_refused "a stale update with a key" REVISION_MISMATCH
ctl increment r1=4 --key k-stale
check_rc "the refused command's key is free for another command" 0
check "not a replay" .replayed null

# ---- defaults are part of the content ----
ctl increment r1=1 --key k-defaults
FIRST=$OUT
head_save
ctl increment "r1/00000000-0000-0000-0000-000000000000@default=1" --key k-defaults
retry_same "the same line with the defaults spelled out" "$FIRST"
check_unchanged "defaults spelled out"

# ---- the key is recorded on the events ----
ctl history c1
check "events carry the key" '[.events[] | select(.key == "k-inc") | .seq] | length' 2

# ---- several clients race with one key: applied once ----
ctl item create race --quantity 100
head_save
pids=()
for i in $(seq 1 6); do
	"$SL_BIN/stockctl" --json decrement race=7 --restrict --key k-race >"$T/race.$i" 2>&1 &
	pids+=($!)
done
for p in "${pids[@]}"; do wait "$p"; done
check_eq "every racer got the same seq" 1 \
	"$(cat "$T"/race.* | jq -s '[.[].seq] | unique | length')"
check_eq "exactly one racer applied it" 1 \
	"$(cat "$T"/race.* | jq -s '[.[] | select(.replayed != true)] | length')"
check_eq "applied once" 93 "$("$SL_BIN/stockctl" --json item get race | jq .quantity)"
ctl head
check "one event appended" .seq "$(($(echo "$SL_HEAD" | cut -d' ' -f1) + 1))"

# Human output says so too.
H=$("$SL_BIN/stockctl" decrement race=7 --restrict --key k-race)
check_eq "human output marks a replay" 1 "$(printf '%s\n' "$H" | grep -c 'replayed')"

# ---- the retention window (--idem-retention): past it a key is new again ----
sl_stop
sl_start --idem-retention 3s
ctl item create ret --quantity 10
ctl decrement ret=1 --key k-ret
FIRST=$OUT
check_rc "a decrement with a key" 0
ctl decrement ret=1 --key k-ret
retry_same "retried within the window" "$FIRST"
sleep 3.5
head_save
ctl decrement ret=1 --key k-ret
check_rc "the key past the window" 0
check "past the window the command is new: applied again" .replayed null
check "a new seq" '.seq > '"$(printf '%s' "$FIRST" | jq .seq)" true
check "the new answer is this command's alone" '"\(.items | length) \(.items[0].quantity)"' "1 8"
SECOND=$OUT
ctl decrement ret=1 --key k-ret
retry_same "the key's new record answers retries" "$SECOND"
check_eq "applied twice in all" 8 "$("$SL_BIN/stockctl" --json item get ret | jq .quantity)"
# 0 keeps keys for ever: k-ret's record, 3.5 s old by then, answers a daemon started with it
sl_stop
sl_start --idem-retention 0
sleep 3.5
ctl decrement ret=1 --key k-ret
retry_same "a window of 0 keeps the key" "$SECOND"
sl_stop
sl_start --idem-retention 3650d
ctl decrement ret=1 --key k-ret
retry_same "the longest window" "$SECOND"
for bad in 5 7x -1d 1.5h 0s 00d 3651d 99999999999999999999s ""; do
	timeout 20 "$SL_BIN/stockledgerd" --data "$T/never" --listen "ipc://$T/never.sock" \
		--idem-retention "$bad" >"$T/bad.out" 2>&1
	RC=$?
	check_rc "--idem-retention '$bad'" 2
	check_eq "--idem-retention '$bad' says why" 1 "$(grep -c 'invalid --idem-retention' "$T/bad.out")"
done
check_eq "no daemon started on a bad window: no data directory" false \
	"$([ -e "$T/never" ] && echo true || echo false)"

sl_stop
admin verify --data "$SL_DATA"
check_rc "verify" 0
sl_done
