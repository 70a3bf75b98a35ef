#!/bin/bash
# pl_lib.sh: what the power-loss tests share, sourced after tests/e2e/lib.sh: the shim
# (plshim.c, built here unless $SL_PLSHIM names it), running a command under it, and the cut
# of the data directory to what was durable (plcut.py).
PLDIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SHIM=${SL_PLSHIM:-}
if [ -z "$SHIM" ]; then
	SHIM=$T/plshim.so
	cc -O2 -shared -fPIC -o "$SHIM" "$PLDIR/plshim.c" -ldl || exit 1
fi
# an ASan build links libasan dynamically: it need not come first for the shim
export ASAN_OPTIONS="${ASAN_OPTIONS:-}${ASAN_OPTIONS:+:}verify_asan_link_order=0"

# pl_exec KILL_AT CMD...: becomes CMD under the shim on $SL_DATA (journal $T/j, grave
# $T/grave): call it in a subshell, `(pl_exec ...)`, whose PID is then CMD's; KILL_AT N: the
# process dies just before its Nth sync, 0: never.
pl_exec() {
	local kill_at=$1
	shift
	rm -rf "$T/grave" "$T/j"
	mkdir -p "$T/grave"
	exec env LD_PRELOAD="$SHIM" PL_DIR="$SL_DATA" PL_JOURNAL="$T/j" PL_GRAVE="$T/grave" \
		PL_KILL_AT="$kill_at" "$@"
}

# pl_cut_durable WHY [PLCUT ARGS...]: the power loss (the process is dead): $SL_DATA becomes
# what was durable; what plcut.py said is in $T/cut.log.
pl_cut_durable() {
	local why=$1
	shift
	python3 "$PLDIR/plcut.py" "$T/j" "$SL_DATA" "$T/grave" "$T/cut" "$@" >"$T/cut.log"
	local rc=$?
	check_eq "plcut modelled every call ($why): $(cat "$T/cut.log")" 0 "$rc"
	rm -rf "$SL_DATA" && mv "$T/cut" "$SL_DATA"
}
