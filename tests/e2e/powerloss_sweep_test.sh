#!/bin/bash
# powerloss_sweep_test.sh: a power loss at every sync of a recovery and of a rebuild
# (deterministic). A directory left by a crash under load (SIGKILL: WAL to replay, secondary
# indexes to derive again) is opened by stockledgerd under plshim, crashed just before its
# Nth sync for every N the open makes, cut to what was durable (plcut.py), and opened again:
# the head and every keyed command must be there, and verify must pass. Then the same for
# `stockledger-admin rebuild`: crashed before each of its syncs, the directory must verify,
# keep the checksum of the views it started from, and rebuild to the same checksum.
# PL_SWEEP_STEP=K takes every Kth crash point only (default 10, for CI; 1: all of them, about
# 2 minutes).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/powerloss/pl_lib.sh"

STEP=${PL_SWEEP_STEP:-10}

syncs() { grep -c '^[SB] ' "$T/j"; }

# ---- a directory left by a crash under load
sl_start_tcp
for i in r0 r1 r2; do ctl item create "$i" --quantity 1000 --key "c-$i"; done
ctl order place o-1 1:r0=2 2:r1=1 --key k-place
ctl increment r0=1 r2=3 --key k-inc
ctl decrement r1=2 r2=1 --key k-dec
ctl order cancel o-1 --key k-cancel
check_rc "setup" 0
head_save
BASE_HEAD=$SL_HEAD
sl_kill
cp -a "$SL_DATA" "$T/base"

# recheck: the directory serves the base head and every key (daemon without the shim)
recheck() {
	sl_start_tcp
	ctl head
	check_eq "$1: head" "$BASE_HEAD" "$(jqo '"\(.seq) \(.hash)"')"
	ctl increment r0=1 r2=3 --key k-inc
	check "$1: k-inc replayed" .replayed true
	ctl order cancel o-1 --key k-cancel
	check "$1: k-cancel replayed" .replayed true
	sl_stop
	admin verify --data "$SL_DATA"
	check_rc "$1: verify ($OUT)" 0
}

# ---- every sync of a recovery (stockledgerd's open: WAL replay, flush, index derivation)
rm -rf "$SL_DATA" && cp -a "$T/base" "$SL_DATA"
(pl_exec 0 "$SL_BIN/stockledger-admin" verify --data "$SL_DATA") >/dev/null 2>&1
N_OPEN=$(syncs)
echo "an open makes $N_OPEN syncs"
for n in $(seq 1 "$STEP" "$N_OPEN"); do
	rm -rf "$SL_DATA" && cp -a "$T/base" "$SL_DATA"
	(pl_exec "$n" "$SL_BIN/stockledger-admin" verify --data "$SL_DATA") >/dev/null 2>&1
	pl_cut_durable "open, crash before sync $n"
	recheck "open crashed before sync $n"
done

# ---- every sync of a rebuild
rm -rf "$SL_DATA" && cp -a "$T/base" "$SL_DATA"
admin checksum --data "$SL_DATA"
SUM=$(printf '%s\n' "$OUT" | sed -n 's/^checksum //p')
cp -a "$SL_DATA" "$T/base2"
(pl_exec 0 "$SL_BIN/stockledger-admin" rebuild --data "$SL_DATA") >/dev/null 2>&1
N_REB=$(syncs)
echo "a rebuild makes $N_REB syncs"
for n in $(seq 1 "$STEP" "$N_REB"); do
	rm -rf "$SL_DATA" && cp -a "$T/base2" "$SL_DATA"
	(pl_exec "$n" "$SL_BIN/stockledger-admin" rebuild --data "$SL_DATA") >/dev/null 2>&1
	pl_cut_durable "rebuild, crash before sync $n"
	admin verify --data "$SL_DATA"
	check_rc "rebuild crashed before sync $n: verify ($OUT)" 0
	check_eq "rebuild crashed before sync $n: the views it started from" "$SUM" \
		"$(printf '%s\n' "$OUT" | sed -n 's/^checksum //p')"
	admin rebuild --data "$SL_DATA"
	check_eq "rebuild crashed before sync $n: a rebuild again" "$SUM" \
		"$(printf '%s\n' "$OUT" | sed -n 's/^checksum //p')"
	recheck "rebuild crashed before sync $n"
done
echo "powerloss_sweep_test: $(((N_OPEN + STEP - 1) / STEP)) crash points in an open, $(((N_REB + STEP - 1) / STEP)) in a rebuild"
sl_done
