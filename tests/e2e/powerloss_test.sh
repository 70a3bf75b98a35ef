#!/bin/bash
# powerloss_test.sh: a power loss loses exactly what was not synced, and still nothing
# acknowledged. SIGKILL keeps the page cache, so restart_test cannot tell whether the right
# things are synced. Here every daemon (and every offline rebuild) runs under plshim
# (tests/e2e/powerloss/plshim.c, LD_PRELOAD), which journals each fsync/fdatasync, each
# directory sync and each create/rename/unlink/link in the data directory; after the crash
# plcut.py builds the directory a power loss would leave: every file cut back to the size it
# had when its last sync started, every name not made durable by a directory fsync dropped,
# every unlink or rename-over not made durable undone (half the cuts, at random, also keep a random prefix of
# the unsynced bytes, torn mid-record). Then the daemon restarts on that directory.
#
# Rounds (PL_ROUNDS, default 2, which CI runs in about a minute; PL_ROUNDS=20 PL_FLUSH=1
# PL_SEED=$RANDOM for a campaign; PL_SEED, default 1, fixes the random choices): four clients send keyed
# commands (multi-line increments and decrements, order place / pay / cancel) while the
# daemon is crashed either just before its Nth sync (PL_KILL_AT, deterministic) or after a
# random delay (SIGKILL); with PL_FLUSH=1 every fourth round (the 3rd, 7th...) two clients send
# 300-line batches until a memtable switched to a new WAL file (a flush under load), and the
# crash comes up to 1.5 s later (slow: 40 s in Debug, 150 s with ASan); a reader polls `head`
# (what it was shown must survive); every third round (the 2nd, 5th...) the first restart is crashed too (during
# recovery), and every third round (the 1st, 4th...) an offline rebuild is crashed at a random sync. Checks
# after each: every acknowledged command is replayed with its original result (seq and
# items), every unacknowledged one is either replayed or applied now (exactly once), every
# quantity equals the start plus the deltas of every command, each command's events are in
# the log exactly once and whole, `verify` passes, the views equal a rebuild (checksums),
# and a crashed rebuild leaves the views it started from.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/powerloss/pl_lib.sh"

ROUNDS=${PL_ROUNDS:-2}
FLUSH=${PL_FLUSH:-0}
RANDOM=${PL_SEED:-1}
PROBE=${SL_PLPROBE:-}
if [ -z "$PROBE" ]; then
	PROBE=$T/plprobe
	cc -O2 -o "$PROBE" "$PLDIR/plprobe.c" || exit 1
fi
ITEMS=(r0 r1 r2 r3)
START_QTY=100000
PL_CUTS=0

# pl_run KILL_AT CMD...: runs CMD under the shim on $SL_DATA (journal $T/j, grave $T/grave),
# in the background ($PL_PID); KILL_AT 0: no crash point.
pl_run() {
	(pl_exec "$@") >>"$T/run.log" 2>&1 &
	PL_PID=$!
}

# pl_cut WHY: the power loss: the process is dead; $SL_DATA becomes what was durable.
pl_cut() {
	local extra=()
	[ $((RANDOM % 2)) = 1 ] && extra=(--tail "$RANDOM")
	pl_cut_durable "$1" "${extra[@]}"
	echo "  cut ($1): $(cat "$T/cut.log")"
	PL_CUTS=$((PL_CUTS + 1))
}

# pl_start KILL_AT: the daemon under the shim; 0 when it listens ($SL_URL set), 1 if it died.
pl_start() {
	local from
	from=$(wc -l <"$T/run.log" 2>/dev/null || echo 0)
	pl_run "$1" "$SL_BIN/stockledgerd" --data "$SL_DATA" --listen tcp://127.0.0.1:0
	SL_PID=$PL_PID
	for _ in $(seq 1 400); do
		SL_URL=$(tail -n +"$((from + 1))" "$T/run.log" | sed -n 's/^stockledgerd: listening on //p' | head -1)
		if [ -n "$SL_URL" ]; then
			export STOCKLEDGER_SERVER=$SL_URL
			return 0
		fi
		kill -0 "$SL_PID" 2>/dev/null || {
			wait "$SL_PID" 2>/dev/null
			SL_PID=""
			return 1
		}
		sleep 0.025
	done
	echo "FATAL: stockledgerd neither listens nor dies; log:" >&2
	tail -20 "$T/run.log" >&2
	exit 1
}

# client C ROUND: keyed commands until $T/stop exists or the daemon is gone; one line per
# command: "rc key seq events deltas args" (tabs), events the number of events it appends,
# deltas as item:N,item:-N (what it moves), args the stockctl words.
client() {
	local c=$1 r=$2 n=0 key args rc deltas nev order="" a b x
	a=r$c b=r$(((c + 1) % 4)) x=r$(((c + 2) % 4))
	while [ ! -f "$T/stop" ]; do
		n=$((n + 1))
		key="k$r-$c-$n"
		case $((n % 6)) in
		0) args=(increment "$a=2" "$b=1") deltas="$a:2,$b:1" nev=2 ;;
		1) args=(decrement "$a=1") deltas="$a:-1" nev=1 ;;
		2) args=(decrement "$x=1" "$a=1" "$b=3" --order "o-$key") deltas="$x:-1,$a:-1,$b:-3" nev=3 ;;
		3)
			order="o-$key"
			args=(order place "$order" "1:$a=2" "2:$x=1") deltas="$a:-2,$x:-1" nev=3
			;;
		4) args=(order pay "$order") deltas="" nev=1 ;;
		5) args=(order cancel "$order") deltas="$a:2,$x:1" nev=3 ;;
		esac
		"$SL_BIN/stockctl" --json "${args[@]}" --key "$key" >"$T/ack.$key" 2>/dev/null
		rc=$?
		printf '%s\t%s\t-\t%s\t%s\t%s\n' "$rc" "$key" "$nev" "${deltas:--}" "${args[*]}" >>"$T/client.$c"
		[ "$rc" = 0 ] || break
	done
}

# heavy C ROUND: 300-line increments and decrements (alternately, each line 1 unit of rN), so
# that memtables fill and flush, WAL files switch and compactions run under the crash.
heavy() {
	local c=$1 r=$2 n=0 key rc args lines d
	lines=$(for _ in $(seq 1 300); do printf 'r%s=1 ' "$c"; done)
	while [ ! -f "$T/stop" ]; do
		n=$((n + 1))
		key="k$r-h$c-$n"
		if [ $((n % 2)) = 1 ]; then args="increment $lines" d=300; else args="decrement $lines" d=-300; fi
		# shellcheck disable=SC2086 # the lines
		"$SL_BIN/stockctl" --json $args --key "$key" >"$T/ack.$key" 2>/dev/null
		rc=$?
		printf '%s\t%s\t-\t%s\t%s\t%s\n' "$rc" "$key" 300 "r$c:$d" "$args" >>"$T/client.h$c"
		[ "$rc" = 0 ] || break
	done
}

# reader: polls `head` until $T/stop; logs "seq hash" of every answer (what a reader was
# shown must never be lost: reads are served from synced state only)
reader() {
	local out
	while [ ! -f "$T/stop" ]; do
		out=$("$SL_BIN/stockctl" --json head 2>/dev/null) || break
		printf '%s\n' "$out" >>"$T/heads"
	done
}

sums() { # the quantities of ITEMS as served, one "item qty" a line
	local i
	for i in "${ITEMS[@]}"; do echo "$i $(item_json "$i" | jq -r .quantity)"; done
}

# ---- the shim and the cut lose exactly what was not made durable (plprobe.c says what)
mkdir -p "$T/probe/d" "$T/probe/g"
printf 'old-d' >"$T/probe/d/d"
LD_PRELOAD="$SHIM" PL_DIR="$T/probe/d" PL_JOURNAL="$T/probe/j" PL_GRAVE="$T/probe/g" "$PROBE" "$T/probe/d" 2>/dev/null
check_eq "plprobe is killed" 137 $?
python3 "$PLDIR/plcut.py" "$T/probe/j" "$T/probe/d" "$T/probe/g" "$T/probe/out" >/dev/null
check_eq "the cut keeps synced bytes and durable names, and only them" "a:100:AAAAA c:10:CCCCC d:5:old-d" \
	"$(cd "$T/probe/out" && for f in *; do printf '%s:%s:%s ' "$f" "$(wc -c <"$f")" "$(head -c 5 "$f")"; done | sed 's/ $//')"

# ---- setup: a durable start (the daemon under the shim, stopped cleanly)
mkdir -p "$SL_DATA"
: >"$T/run.log"
pl_start 0 || exit 1
for i in "${ITEMS[@]}"; do ctl item create "$i" --quantity $START_QTY --key "create-$i"; done
check_rc "setup" 0
sl_stop
: >"$T/all"

for r in $(seq 1 "$ROUNDS"); do
	echo "== round $r"
	t0=$EPOCHREALTIME
	rm -f "$T/stop" "$T"/client.*
	# 1. load and a power loss: before the Nth sync, or after a random delay
	mode=$((r % 2))
	kill_at=0
	[ $mode = 1 ] && kill_at=$((40 + RANDOM % 120))
	pl_start "$kill_at" || {
		echo "FATAL: the daemon died while starting" >&2
		exit 1
	}
	pids=()
	for c in 0 1 2 3; do
		client $c "$r" &
		pids+=($!)
	done
	wals=$(cd "$SL_DATA" && ls -- *.log)
	heavy $((r % 4)) "$r" &
	pids+=($!)
	if [ "$FLUSH" = 1 ] && [ $((r % 4)) = 3 ]; then
		heavy $(((r + 1) % 4)) "$r" &
		pids+=($!)
	fi
	rm -f "$T/heads"
	reader &
	pids+=($!)
	if [ $mode = 1 ]; then
		for _ in $(seq 1 400); do kill -0 "$SL_PID" 2>/dev/null || break; sleep 0.025; done
	else
		# every fourth round: until a memtable switched to a new WAL file (a flush under load)
		# and up to 1.5 s more; the others after 0.1 to 1 s
		if [ "$FLUSH" = 1 ] && [ $((r % 4)) = 3 ]; then
			for _ in $(seq 1 300); do
				[ -n "$(comm -13 <(echo "$wals") <(cd "$SL_DATA" && ls -- *.log))" ] && break
				sleep 0.1
			done
			sleep "$((RANDOM % 2)).$((RANDOM % 10))"
		else
			sleep "0.$((RANDOM % 9 + 1))$((RANDOM % 10))"
		fi
	fi
	kill -KILL "$SL_PID" 2>/dev/null
	wait "$SL_PID" 2>/dev/null
	SL_PID=""
	touch "$T/stop"
	for p in "${pids[@]}"; do wait "$p"; done
	cat "$T"/client.* >"$T/round"
	cat "$T/round" >>"$T/all"
	echo "  $(wc -l <"$T/round") commands sent, $(awk -F'\t' '$1 == 0' "$T/round" | wc -l) acknowledged ($([ $mode = 1 ] && echo "crash before sync $kill_at" || echo "SIGKILL after a delay"))"
	pl_cut "under load"

	# 2. every third round, a power loss during recovery
	if [ $((r % 3)) = 2 ]; then
		if pl_start $((1 + RANDOM % 40)); then
			kill -KILL "$SL_PID" 2>/dev/null
			wait "$SL_PID" 2>/dev/null
			SL_PID=""
		fi
		pl_cut "during recovery"
	fi
	pl_start 0 || {
		echo "FATAL: the daemon does not start after the power loss; log:" >&2
		tail -20 "$T/run.log" >&2
		exit 1
	}

	t3=$EPOCHREALTIME
	# 3. acknowledged commands are there with their result; then every command once more
	while IFS=$'\t' read -r rc key _ _ _ cmd; do
		# shellcheck disable=SC2086 # the command's words
		"$SL_BIN/stockctl" --json $cmd --key "$key" >"$T/retry.$key" 2>&1
		echo $? >"$T/retry.$key.rc"
	done <"$T/round"
	python3 "$PLDIR/plcheck.py" "$T/round" "$T" >"$T/check.log"
	rc=$?
	check_eq "round $r: every acknowledged command replayed with its result, every other applied once ($(tail -1 "$T/check.log"))" 0 "$rc"
	grep '^FAIL' "$T/check.log" >&2
	echo "  $(tail -1 "$T/check.log")"
	# every command of every round is applied exactly once now
	expect=$(awk -F'\t' -v q=$START_QTY '
		BEGIN { s["r0"] = s["r1"] = s["r2"] = s["r3"] = q }
		$5 != "-" { n = split($5, d, ","); for (i = 1; i <= n; i++) { split(d[i], p, ":"); s[p[1]] += p[2] } }
		END { for (k in s) print k, s[k] }' "$T/all" | sort)
	check_eq "round $r: quantities = start + every command's deltas" "$expect" "$(sums | sort)"
	sl_stop

	t4=$EPOCHREALTIME
	# 4. the log: each command's events once and whole; verify; views = rebuild
	"$SL_BIN/stockledger-admin" dump --data "$SL_DATA" >"$T/dump" 2>/dev/null
	if [ -s "$T/heads" ]; then
		seen=$(jq -rs 'max_by(.seq) | "\(.seq) \(.hash)"' "$T/heads")
		check_eq "round $r: the last head a reader was shown is in the log after the power loss" \
			"$seen" "$(jq -r "select(.seq == ${seen%% *}) | \"\(.seq) \(.hash)\"" "$T/dump")"
		echo "  a reader saw heads up to seq ${seen%% *}"
	fi
	check_eq "round $r: each command's events are in the log exactly once, whole" \
		"$(awk -F'\t' '{print $2, $4}' "$T/all" | sort)" \
		"$(jq -r 'select(.key | startswith("k")) | .key' "$T/dump" | sort | uniq -c | awk '{print $2, $1}' | sort)"
	admin verify --data "$SL_DATA"
	check_rc "round $r: verify ($OUT)" 0
	admin checksum --data "$SL_DATA"
	SUM=$(printf '%s\n' "$OUT" | sed -n 's/^checksum //p')
	if [ $((r % 3)) = 1 ]; then
		# 5. a power loss during an offline rebuild leaves the views it started from
		pl_run $((1 + RANDOM % 60)) "$SL_BIN/stockledger-admin" rebuild --data "$SL_DATA"
		wait "$PL_PID" 2>/dev/null
		echo "  rebuild under a crash point: exit $?"
		pl_cut "during rebuild"
		admin verify --data "$SL_DATA"
		check_rc "round $r: verify after a crashed rebuild ($OUT)" 0
	fi
	admin rebuild --data "$SL_DATA"
	check_eq "round $r: the views equal a rebuild from the log" "$SUM" "$(printf '%s\n' "$OUT" | sed -n 's/^checksum //p')"
	awk -v a="$t0" -v b="$t3" -v c="$t4" -v d="$EPOCHREALTIME" 'BEGIN { printf "  times: load, cuts, restart %.1f s; retries %.1f s; offline checks %.1f s\n", b - a, c - b, d - c }'
	[ "$SL_FAILS" -gt 0 ] && break
done
echo "powerloss_test: $PL_CUTS power losses, $(wc -l <"$T/all") commands, $(awk -F'\t' '$1 == 0' "$T/all" | wc -l) acknowledged"
[ -n "${PL_KEEP:-}" ] && cp -r "$T" "$PL_KEEP"
sl_done
