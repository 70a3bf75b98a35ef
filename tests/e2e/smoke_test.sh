#!/bin/bash
# smoke_test.sh: the daemon starts on a fresh data directory, serves one create, get and
# head, and stops cleanly on SIGTERM; proves the harness (tests/e2e/lib.sh) works.
. "$(dirname "$0")/lib.sh"
sl_start
ctl item create smoke --quantity 3
check_rc "create" 0
check "created quantity" .quantity 3
ctl item get smoke
check "get revision" .revision 1
check "get status" .availabilityStatus IN_STOCK
ctl head
check "head seq" .seq 1
sl_stop
sl_done
