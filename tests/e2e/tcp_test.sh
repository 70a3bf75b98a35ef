#!/bin/bash
# tcp_test.sh: the daemon serves tcp:// too. It is started on tcp://127.0.0.1:PORT with a
# free PORT (lib.sh's sl_start_tcp: a port not in `ss -tln`, retried on another one if
# binding still fails), serves writes and reads over it, is reachable through
# $STOCKLEDGER_SERVER and --server, refuses a second daemon on the same port, or on the same
# data directory (which exits 1 and leaves the first one serving), and stops cleanly.
#
# Method: real daemons on a real tcp port and two RocksDB directories.
. "$(dirname "$0")/lib.sh"
sl_start_tcp
echo "tcp_test: listening on $SL_URL"
check_eq "the daemon says where it listens" 1 "$(grep -c "listening on tcp://127.0.0.1:" "$T/daemon.log")"
ctl item create tcp-item --quantity 4 --key k-tcp
check_rc "create over tcp" 0
ctl decrement tcp-item=3 --restrict
check "decrement over tcp" '.items[0].quantity' 1
ctl --server "$SL_URL" item get tcp-item
check "get over tcp with --server" '"\(.quantity) \(.revision)"' "1 2"
ctl item create tcp-item --quantity 4 --key k-tcp
check "a keyed retry over tcp" .replayed true
ctl decrement tcp-item=3 --restrict
check_refused "a refusal over tcp" INSUFFICIENT_INVENTORY

# A second daemon on the same port cannot listen: it says so and exits 1.
"$SL_BIN/stockledgerd" --data "$T/data2" --listen "$SL_URL" >"$T/second.log" 2>&1
check_eq "a second daemon on a taken port exits 1" 1 $?
check_eq "it names the url" 1 "$(grep -c "cannot listen on '$SL_URL'" "$T/second.log")"
ctl head
check "the first daemon still serves" .seq 2

# A second daemon on the same data directory (another port) cannot open it: it says the
# directory is in use and exits 1; stockledger-admin on it does the same; the first serves on.
"$SL_BIN/stockledgerd" --data "$SL_DATA" --listen tcp://127.0.0.1:0 >"$T/same-dir.log" 2>&1
check_eq "a second daemon on the same directory exits 1" 1 $?
check_eq "it says the directory is in use" 1 \
	"$(grep -c "cannot open store '$SL_DATA': the directory is in use by another process" "$T/same-dir.log")"
check_eq "it never listened" 0 "$(grep -c "listening on" "$T/same-dir.log")"
admin verify --data "$SL_DATA"
check_rc "stockledger-admin on a served directory" 1
check_eq "stockledger-admin says the directory is in use" 1 \
	"$(printf '%s\n' "$OUT" | grep -c "in use by another process")"
ctl head
check "the first daemon still serves after them" .seq 2

# A malformed --listen is refused before anything starts.
"$SL_BIN/stockledgerd" --data "$T/data3" --listen "tcp://127.0.0.1:notaport" >"$T/third.log" 2>&1
check_eq "a malformed listen url exits 1" 1 $?
check_eq "it says why" 1 "$(grep -c "cannot listen: .*no port number" "$T/third.log")"
check_eq "nothing was created for it" no "$([ -e "$T/data3" ] && echo yes || echo no)"
"$SL_BIN/stockledgerd" --data "$T/data3" --listen "http://127.0.0.1:80" >"$T/third.log" 2>&1
check_eq "a scheme it cannot listen on exits 1" 1 $?
check_eq "nothing was created for that either" no "$([ -e "$T/data3" ] && echo yes || echo no)"
# An empty --data is a usage error (mkdir_p read past the end of the empty path).
"$SL_BIN/stockledgerd" --data "" --listen tcp://127.0.0.1:0 >"$T/fourth.log" 2>&1
check_eq "an empty --data exits 2" 2 $?
check_eq "it says what is wrong" 1 "$(grep -c -- "--data needs a directory" "$T/fourth.log")"
sl_stop
ctl head
check_rc "after the stop the port is unreachable" 3
sl_done
