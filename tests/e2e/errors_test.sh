#!/bin/bash
# errors_test.sh: every error code of the README that the command line can reach
# (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS, REVISION_MISMATCH with
# details.currentRevision, INSUFFICIENT_INVENTORY with details.items, QUANTITY_NOT_TRACKED,
# LIMIT_EXCEEDED, IDEMPOTENCY_KEY_REUSED), stockctl's exit statuses 1, 2 and 3 with their JSON
# (USAGE, UNAVAILABLE), and that a refusal changes nothing: after each one `stockctl head` is
# what it was (the log is untouched) and the daemon still serves.
#
# Method: one real daemon on an ipc socket; a few items are made first, the head is saved,
# then every refusal is checked for its code, its exit status and an unchanged head.
. "$(dirname "$0")/lib.sh"
sl_start

ctl item create q --quantity 2 --reason setup
ctl item create s --in-stock true
ctl item create p --quantity 0 --preorder true --preorder-limit 1
ctl increment q=1 --key used-key
check_rc "setup" 0
head_save

# refused COMMAND... : runs stockctl --json COMMAND and checks the refusal (exit 1, a JSON
# error with a code and a message) and that nothing changed; the code is left in $CODE.
refused() {
	ctl "$@"
	check_rc "$*" 1
	# one jq for the three facts: a code, a message, details as an object
	local facts
	facts=$(jqo '"\(.error.code) \(.error.message | length > 0) \(.error.details | type)"')
	CODE=${facts%% *}
	check_eq "$* has a message and details" "true object" "${facts#* }"
	check_unchanged "$*"
}

# ---- INVALID_ARGUMENT ----
long=$(printf 'x%.0s' $(seq 1 65))
for args in "item create $long --quantity 1" "item get $long" "increment $long=1" \
	"item create a@ --quantity 1" "item create a/ --quantity 1" "item create /v --quantity 1" \
	"item create q --quantity 1000001" "item create q --quantity -100001" \
	"item update q --revision 2 --quantity 1000001" "increment q=0" "decrement q=-1" \
	"increment q=1100001" "item create z --quantity 1 --preorder-limit -1" \
	"item create z --in-stock true --preorder-limit 1" "decrement q=1 --order bad/order"; do
	# shellcheck disable=SC2086 # word splitting is the point
	refused $args
	check_eq "$args: code" INVALID_ARGUMENT "$CODE"
done
refused item create "a b" --quantity 1
check_eq "a space in an id: code" INVALID_ARGUMENT "$CODE"
refused item create "$(printf 'a\tb')" --quantity 1
check_eq "a tab in an id: code" INVALID_ARGUMENT "$CODE"
refused item create z --quantity 1 --reason "$(printf 'r%.0s' $(seq 1 300))"
check_eq "a reason over 256 bytes: code" INVALID_ARGUMENT "$CODE"
refused item create z --quantity 1 --key "$(printf 'k%.0s' $(seq 1 200))"
check_eq "a key over 128 bytes: code" INVALID_ARGUMENT "$CODE"
refused item update q --revision 2 --in-stock false --preorder-limit 3
check_eq "a limit with the switch to in-stock: code" INVALID_ARGUMENT "$CODE"

# ---- NOT_FOUND ----
for args in "item get nosuch" "item get q@elsewhere" "item get q/other" \
	"item update nosuch --revision 1 --quantity 1" "item delete nosuch" "increment nosuch=1" \
	"decrement q=1 nosuch=1 --restrict"; do
	# shellcheck disable=SC2086
	refused $args
	check_eq "$args: code" NOT_FOUND "$CODE"
done
check "the unknown line" .error.details.index 1

# ---- ALREADY_EXISTS ----
refused item create q --quantity 5
check_eq "create twice: code" ALREADY_EXISTS "$CODE"
refused item create s --quantity 5 --key fresh-key-1
check_eq "create twice with another tracking: code" ALREADY_EXISTS "$CODE"

# ---- REVISION_MISMATCH ----
refused item update q --revision 1 --quantity 9
check_eq "stale revision: code" REVISION_MISMATCH "$CODE"
check "stale revision: currentRevision" .error.details.currentRevision 2
refused item update q --revision 3 --quantity 9
check_eq "future revision: code" REVISION_MISMATCH "$CODE"
refused item update q --revision 0 --quantity 9
check_eq "revision 0: code" REVISION_MISMATCH "$CODE"
check "revision 0: currentRevision" .error.details.currentRevision 2

# ---- INSUFFICIENT_INVENTORY ----
refused decrement q=4 --restrict
check_eq "short: code" INSUFFICIENT_INVENTORY "$CODE"
check "short: details.items" \
	'.error.details.items | map("\(.index) \(.productId) \(.variantId) \(.locationId) \(.requested) \(.available)") | join(",")' \
	"0 q 00000000-0000-0000-0000-000000000000 default 4 3"
refused decrement q=1 p=2 --restrict --preorder-request
check_eq "short on preorder units: code" INSUFFICIENT_INVENTORY "$CODE"
check "short on preorder units: the line and what is left" \
	'.error.details.items | map("\(.index):\(.available)") | join(",")' "1:1"

# ---- QUANTITY_NOT_TRACKED ----
refused increment s=1
check_eq "increment in-stock: code" QUANTITY_NOT_TRACKED "$CODE"
refused decrement q=1 s=1
check_eq "decrement with an in-stock line: code" QUANTITY_NOT_TRACKED "$CODE"
check "the in-stock line" .error.details.index 1

# ---- LIMIT_EXCEEDED ----
refused increment q=1000000
check_eq "past the maximum: code" LIMIT_EXCEEDED "$CODE"
refused decrement q=100004
check_eq "past the minimum: code" LIMIT_EXCEEDED "$CODE"
lines=()
for _ in $(seq 1 301); do lines+=("q=1"); done
refused increment "${lines[@]}"
check_eq "301 lines: code" LIMIT_EXCEEDED "$CODE"
refused history q --limit 1001
check_eq "a history page over 1000: code" LIMIT_EXCEEDED "$CODE"

# ---- IDEMPOTENCY_KEY_REUSED ----
refused increment q=2 --key used-key
check_eq "a key reused for another quantity: code" IDEMPOTENCY_KEY_REUSED "$CODE"
refused decrement q=1 --key used-key
check_eq "a key reused for another command: code" IDEMPOTENCY_KEY_REUSED "$CODE"
refused increment q=1 --key used-key --reason other
check_eq "a key reused with another reason: code" IDEMPOTENCY_KEY_REUSED "$CODE"

# ---- exit 2: the command line is wrong (nothing is sent) ----
usage() {
	ctl "$@"
	check_rc "usage: $*" 2
	check "usage: $* (JSON code)" .error.code USAGE
	check_unchanged "usage: $*"
}
usage
usage frobnicate
usage item
usage item frobnicate q
usage item create
usage item create q
usage item create q --quantity
usage item create q --quantity abc
usage item create q --quantity 1 --in-stock true
usage item create q --in-stock maybe
usage item create q --quantity 1 --quantity 2
usage item create q --quantity 1 --restrict
usage item get q r
usage item get ""
usage item update q --quantity 1
usage item update q --revision x --quantity 1
usage increment
usage increment q
usage increment q=
usage increment q=x
usage decrement q=1 --preorder-limit 3
usage history q --limit 0
usage history q --cursor -1
usage head extra
usage --nosuch head
usage item update q --revision 1 --reset-preorder-counter extra
usage --server nats://127.0.0.1:1 events --limit 1
usage --server nats://127.0.0.1:1 export --to-seq 1
# an empty line id is no line id (it used to become the line's default, "1"); the message
# quotes the line as given
usage order place u9 :q=1
check "the message quotes the line whole" .error.message "OLINE is [LINE_ID:]ITEM=N, not ':q=1'"
usage order place u9 q=x
check "the message quotes the bad line whole" .error.message "OLINE is [LINE_ID:]ITEM=N, not 'q=x'"
# a message that quotes an argument which is not UTF-8 is still a JSON document (the byte
# becomes U+FFFD) and keeps its exit status (it was exit 1 with nothing on stdout)
usage item create q --quantity "$(printf '\377')"
check "a non-UTF-8 argument in the message" .error.message "--quantity needs an integer, not '$(printf '\357\277\275')'"
usage "frob$(printf '\377')"
ctl --server "tcp://127.0.0.1:1/$(printf '\303\251%.0s' $(seq 200))" head
check_rc "a message cut inside a character by its bound" 2
check "a message cut inside a character by its bound (JSON code)" .error.code USAGE
ctl --server "foo://nowhere" head
check_rc "a URL with an unknown scheme" 2
check "a URL with an unknown scheme (JSON code)" .error.code USAGE
# following the feed rides out an unreachable service, not a URL that can never work
OUT=$(timeout 20 "$SL_BIN/stockctl" --json --server "foo://nowhere" events --follow 2>/dev/null)
RC=$?
check_rc "events --follow on a URL with an unknown scheme" 2
check "events --follow on a URL with an unknown scheme (JSON code)" .error.code USAGE
ERR=$("$SL_BIN/stockctl" item create q 2>&1 >/dev/null)
check_eq "usage: the message names the command" 1 \
	"$(printf '%s\n' "$ERR" | grep -c "see 'stockctl --help' for the usage of 'item create'")"
"$SL_BIN/stockctl" --help >/dev/null
check_eq "--help exits 0" 0 $?

# ---- exit 3: the service cannot be reached ----
ctl --server "ipc://$T/nobody.sock" head
check_rc "no daemon on the ipc path" 3
check "unreachable (JSON code)" .error.code UNAVAILABLE
check "unreachable: the message names the server" ".error.message | contains(\"$T/nobody.sock\")" true
STOCKLEDGER_SERVER="tcp://127.0.0.1:1" ctl item create q --quantity 1
check_rc "no daemon on the tcp port (from \$STOCKLEDGER_SERVER)" 3
check "unreachable over tcp (JSON code)" .error.code UNAVAILABLE
# a service that answers it is shutting down is as good as unreachable for a script: exit 3
"$SL_REFUSE" "ipc://$T/draining.sock" >"$T/refuse.out" 2>&1 &
REFUSE_PID=$!
for _ in $(seq 1 100); do grep -q listening "$T/refuse.out" && break; sleep 0.05; done
ctl --server "ipc://$T/draining.sock" head
check_rc "a service that is shutting down (head)" 3
check "shutting down (JSON code)" .error.code UNAVAILABLE
check "shutting down: the service's message" '.error.message | contains("shutting down")' true
ctl --server "ipc://$T/draining.sock" increment q=1
check_rc "a service that is shutting down (increment)" 3
kill "$REFUSE_PID"
wait "$REFUSE_PID" 2>/dev/null
check_unchanged "after the unreachable calls"

# The daemon served all of the above, and a last good write still goes through.
ctl increment q=1
check_rc "a good write after every refusal" 0
check "it lands after the saved head" ".seq" "$(($(echo "$SL_HEAD" | cut -d' ' -f1) + 1))"
sl_stop
admin verify --data "$SL_DATA"
check_rc "verify" 0
sl_done
