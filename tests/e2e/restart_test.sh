#!/bin/bash
# restart_test.sh: state survives the daemon. (1) A clean stop (SIGTERM, exit 0) and start
# serve the same state: every item equal, field for field, the head equal, and idempotency
# keys still honoured (a retry is replayed, a reuse refused). (2) A crash: SIGKILL while
# several background clients issue keyed commands; after a restart every acknowledged
# command is in the log exactly once (a retry of its key is replayed with its original seq,
# and the dump holds one event per line of it), `verify` passes and the stored views equal
# a rebuild from the log (equal checksums).
#
# Method: real daemons on one RocksDB directory and ipc socket; items are compared as the
# JSON `item get` prints; the crash clients are plain background shells looping stockctl,
# each logging its key, command, exit status and seq.
. "$(dirname "$0")/lib.sh"

ITEMS=(a b@east c/v-1 d)
snapshot() { # FILE: every item of ITEMS as served, and the head
	local i
	for i in "${ITEMS[@]}"; do item_json "$i" | jq -c .; done >"$1"
	"$SL_BIN/stockctl" --json head | jq -c . >>"$1"
}

# ---- (1) a clean stop and start ----
sl_start
ctl item create a --quantity 5 --preorder true --preorder-limit 2 --preorder-message soon
ctl item create b@east --in-stock true --key k-b
ctl item create c/v-1 --quantity 0 --preorder true
ctl item create d --quantity 1
ctl increment a=3 c/v-1=2 --key k-inc --order o-1 --reason restock
INC=$OUT
ctl decrement a=10 --preorder-request --key k-dec
ctl item update b@east --revision 1 --in-stock false --key k-upd
ctl item delete d --key k-del
ctl item create d --in-stock false --preorder true
check_rc "setup" 0
snapshot "$T/before"
sl_stop
check_eq "the daemon's last line" 1 "$(tail -n 1 "$T/daemon.log" | grep -c '^stockledgerd: stopped after [0-9]* commands')"
check_eq "the daemon's log ends with a newline" 0a "$(tail -c 1 "$T/daemon.log" | od -An -tx1 | tr -d ' ')"

sl_start
snapshot "$T/after"
check_eq "every item and the head equal after a restart" "$(cat "$T/before")" "$(cat "$T/after")"
head_save
ctl increment a=3 c/v-1=2 --key k-inc --order o-1 --reason restock
check "a key from before the restart is replayed" .replayed true
check_eq "with the original result" "$(printf '%s' "$INC" | jq -S .)" "$(jqo 'del(.replayed)' | jq -S .)"
for args in "decrement a=10 --preorder-request --key k-dec" \
	"item update b@east --revision 1 --in-stock false --key k-upd" "item delete d --key k-del" \
	"item create b@east --in-stock true --key k-b"; do
	# shellcheck disable=SC2086 # word splitting is the point
	ctl $args
	check "$args: replayed after the restart" .replayed true
done
ctl increment a=1 --key k-inc
check_refused "a key reused after the restart" IDEMPOTENCY_KEY_REUSED
check_unchanged "retries after the restart"
ctl increment a=1
check "the log goes on after the head" .seq "$(($(echo "$SL_HEAD" | cut -d' ' -f1) + 1))"
ctl history a
check "times never go back across the restart" '[.events[].time] | . == sort' true
sl_stop

# ---- (2) a crash under load ----
sl_start
for i in 0 1 2 3; do ctl item create "r$i" --quantity 1000; done
# client C: keyed commands until $T/stop exists or the daemon is gone; logs
# "status key seq command..." per command.
client() {
	local c=$1 n=0 key args rc seq
	while [ ! -f "$T/stop" ]; do
		n=$((n + 1))
		key="c$c-$n"
		case $((n % 3)) in
		0) args=(increment "r$c=2" "r$(((c + 1) % 4))=1") ;;
		1) args=(decrement "r$c=1") ;;
		2) args=(decrement "r$(((c + 2) % 4))=1" "r$c=1" --order "o-$key") ;;
		esac
		out=$("$SL_BIN/stockctl" --json "${args[@]}" --key "$key" 2>/dev/null)
		rc=$?
		seq=$(printf '%s' "$out" | jq -r '.seq // "-"' 2>/dev/null)
		echo "$rc $key ${seq:--} ${args[*]}" >>"$T/client.$c"
		[ $rc -eq 3 ] && break
	done
}
pids=()
for c in 0 1 2 3; do
	client $c &
	pids+=($!)
done
sleep 3
sl_kill
touch "$T/stop"
sl_start
for p in "${pids[@]}"; do wait "$p"; done
cat "$T"/client.* >"$T/clients"
ACKED=$(awk '$1 == 0' "$T/clients" | wc -l)
echo "restart_test: $(wc -l <"$T/clients") commands sent, $ACKED acknowledged before and around the crash"
check_eq "the clients got commands acknowledged" true "$([ "$ACKED" -gt 4 ] && echo true)"
check_eq "no command was refused" 0 "$(awk '$1 == 1' "$T/clients" | wc -l)"

# Every acknowledged key is replayed with its original seq; an unacknowledged one is either
# replayed (it was committed, its reply lost) or applied now: exactly once either way.
while read -r rc key seq cmd; do
	# shellcheck disable=SC2086 # the command's words
	ctl $cmd --key "$key"
	check_rc "retry of $key" 0
	if [ "$rc" = 0 ]; then
		check "acknowledged $key is replayed" .replayed true
		check "acknowledged $key keeps its seq" .seq "$seq"
	fi
done <"$T/clients"
sl_stop

"$SL_BIN/stockledger-admin" dump --data "$SL_DATA" >"$T/dump"
check_eq "each command's events are in the log exactly once" \
	"$(awk '{n = 0; for (i = 4; i <= NF; i++) if ($i ~ /=/) n++; print $2, n}' "$T/clients" | sort)" \
	"$(jq -r 'select(.key | startswith("c")) | .key' "$T/dump" | sort | uniq -c | awk '{print $2, $1}' | sort)"
admin verify --data "$SL_DATA"
check_rc "verify after the crash" 0
admin checksum --data "$SL_DATA"
SUM=$(printf '%s\n' "$OUT" | sed -n 's/^checksum //p')
admin rebuild --data "$SL_DATA"
check_eq "the views after the crash equal a rebuild from the log" "$SUM" \
	"$(printf '%s\n' "$OUT" | sed -n 's/^checksum //p')"
sl_done
