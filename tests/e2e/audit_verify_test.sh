#!/bin/bash
# audit_verify_test.sh: tamper evidence end to end. Goal: a head saved by an auditor
# (`stockctl head`) is proven extended by the log later (`stockledger-admin verify --expect
# SEQ:HASH`), and a byte flipped in one stored event makes verify fail and name that event.
# Method: writes, save the head, more writes across a restart, verify --expect passes;
# then `stockledger-admin flip-byte` changes one byte of event 4 and verify (with and
# without --expect) must fail with exit 1 naming seq 4; a wrong saved hash fails too.
. "$(dirname "$0")/lib.sh"
# sl_start again after sl_stop: a fresh log, so that it waits for the new "listening"
sl_restart() {
	: >"$T/daemon.log"
	sl_start
}
sl_start
# the head of the empty log, as `stockctl head` gives it before the first event: every log
# extends it (seq 0 was refused as a usage error, exit 2)
ctl head
empty="$(jqo .seq):$(jqo .hash)"
check "empty head seq" .seq 0
ctl item create a --quantity 5
ctl item create b --quantity 6
ctl increment a=1 b=2 --reason restock
ctl head
saved="$(jqo .seq):$(jqo .hash)"
check "saved head seq" .seq 4
sl_stop
sl_restart
ctl decrement a=2 --order o-1 --reason sale
ctl head
check "head moved on" .seq 5
sl_stop
admin verify --data "$SL_DATA" --expect "$saved"
check_rc "verify --expect the saved head" 0
check_eq "verify says the log extends the head" 1 "$(printf '%s' "$OUT" | grep -c "extends the saved head 4")"
admin verify --data "$SL_DATA" --expect "$empty"
check_rc "verify --expect the empty log's head" 0
check_eq "verify says the log extends head 0" 1 "$(printf '%s' "$OUT" | grep -c "extends the saved head 0:")"
admin verify --data "$SL_DATA" --expect "0:$(printf '%063d' 0)1"
check_rc "verify --expect a head 0 no log has" 1
admin verify --data "$SL_DATA" --expect "4:$(printf '%064d' 0)"
check_rc "verify --expect a head the log never had" 1
check_eq "names the saved seq" 1 "$(printf '%s' "$OUT" | grep -c "FAILED at seq 4")"
admin verify --data "$SL_DATA" --expect "9:$(printf '%064d' 0)"
check_rc "verify --expect past the end" 1
admin verify --data "$SL_DATA" --expect nonsense
check_rc "verify --expect garbage" 2
admin flip-byte --data "$SL_DATA" --seq 4
check_rc "flip a byte of event 4" 0
admin verify --data "$SL_DATA"
check_rc "verify after the flip" 1
check_eq "verify names event 4" 1 "$(printf '%s' "$OUT" | grep -c "FAILED at seq 4: event 4")"
admin verify --data "$SL_DATA" --expect "$saved"
check_rc "verify --expect after the flip" 1
check_eq "verify --expect names event 4" 1 "$(printf '%s' "$OUT" | grep -c "FAILED at seq 4")"
# the service reading that event over the feed refuses it instead of passing it on
sl_restart
OUT=$("$SL_BIN/stockctl" --json events --from-seq 3 2>/dev/null)
check_eq "the feed stops at the flipped event" 1 $?
check_eq "the feed gives the events before it" 3 "$(printf '%s\n' "$OUT" | head -1 | jq -r .seq)"
check_eq "the feed names it" CORRUPT "$(printf '%s\n' "$OUT" | tail -n +2 | jq -rs '.[0].error.code' 2>/dev/null || true)"
sl_stop

# a mistyped data directory is no ledger: every tool says so and creates nothing there
# (it used to open a new empty ledger and call it "ok")
for cmd in verify rebuild checksum dump; do
	admin "$cmd" --data "$T/no-such-dir"
	check_rc "$cmd on a missing directory" 1
	check_eq "$cmd says there is no such directory" 1 "$(printf '%s' "$OUT" | grep -c "no ledger at '$T/no-such-dir': no such directory")"
	check_eq "$cmd creates nothing" no "$([ -e "$T/no-such-dir" ] && echo yes || echo no)"
done
mkdir "$T/empty-dir"
admin verify --data "$T/empty-dir"
check_rc "verify on an empty directory" 1
check_eq "verify says it holds no store" 1 "$(printf '%s' "$OUT" | grep -c "holds no RocksDB store")"
check_eq "verify leaves it empty" 0 "$(ls -A "$T/empty-dir" | wc -l)"
sl_done
