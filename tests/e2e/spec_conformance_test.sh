#!/bin/bash
# spec_conformance_test.sh: reproductions from an adversarial spec-conformance pass
# (../shared/spec/wix-inventory.md against docs/decisions.md and docs/orders.md).
#
# Part 1 checks behaviours the spec or the docs settle and the service follows. Part 2 holds
# the defect the pass found (a payment refused under ON_ORDER_PAID after an item stopped
# counting), fixed since (docs/orders.md, "Items that stop counting"); each check names the
# spec or doc line it follows.
#
# Method: one real daemon on an ipc socket driven by stockctl --json, checked with jq; every
# refusal is checked for its code and an unchanged head.
. "$(dirname "$0")/lib.sh"
sl_start

qty() { item_json "$1" | jq -r .quantity; }
status() { item_json "$1" | jq -r .availabilityStatus; }
counter() { item_json "$1" | jq -r .preorderInfo.counter; }
rev() { item_json "$1" | jq -r .revision; }

# ---------------------------------------------------------------------------------------
# Part 1: baseline
# ---------------------------------------------------------------------------------------

# spec 2.5 scenario 12 (decisions.md "Preorder units"): stock first, then preorder units.
ctl item create mix --quantity 2 --preorder true --preorder-limit 3
ctl decrement mix=4 --preorder-request --restrict
check_rc "2.5/12 decrement 4 of 2+3" 0
check "2.5/12 quantity" '.items[0].quantity' 0
check "2.5/12 counter" '.items[0].preorderInfo.counter' 2
check "2.5/12 status" '.items[0].availabilityStatus' PREORDER
refused "2.5/12 a further 2 restricted" INSUFFICIENT_INVENTORY decrement mix=2 --preorder-request --restrict
check "2.5/12 available is the 1 preorder unit left" '.error.details.items[0].available' 1
# spec 8.18 (derived): counter == limit and quantity <= 0 -> OUT_OF_STOCK
ctl decrement mix=1 --preorder-request --restrict
check "8.18 counter at the limit" '.items[0].availabilityStatus' OUT_OF_STOCK

# decisions.md: in-stock tracking drops the limit; a limit there is INVALID_ARGUMENT.
ctl item create st --in-stock false --preorder true
check "8.12 inStock false + preorder" .availabilityStatus PREORDER
refused "8.13 limit on an in-stock item" INVALID_ARGUMENT item update st --revision 1 --preorder-limit 2
refused "8.14 decrement of an in-stock item" QUANTITY_NOT_TRACKED decrement st=1

# decisions.md: the same item twice applies sequentially; a restricted shortage on line 2.
ctl item create dup --quantity 1
refused "dup lines under restrict" INSUFFICIENT_INVENTORY decrement dup=1 dup=1 --restrict
check "dup lines: the short line is line 2" '.error.details.items[0].index' 1
L301=$(for _ in $(seq 301); do printf 'dup=1 '; done)
# shellcheck disable=SC2086
refused "301 lines" LIMIT_EXCEEDED increment $L301

# orders.md: an order keeps the trigger it was placed under.
ctl item create sh --quantity 3
ctl settings set --inventory-update-trigger ON_ORDER_PAID
ctl order place kept sh=1
ctl settings set --inventory-update-trigger ON_ORDER_PLACED
ctl order pay kept
check "trigger at placement rules payment" '.order.lines[0].held' 1
check_eq "the paid order took its unit" 2 "$(qty sh)"
refused "pay before place" NOT_FOUND order pay early
ctl order cancel kept
refused "cancel twice" ORDER_CLOSED order cancel kept

# ---------------------------------------------------------------------------------------
# Part 2: the defect found (fixed)
# ---------------------------------------------------------------------------------------

# D1. Under ON_ORDER_PAID the payment cannot be refused.
# spec §4 "Consequences for the ledger": "`ON_ORDER_PAID`: decrement only after payment
# approval; it cannot be refused at that point, hence 'Quantity can be negative ...'
# (unrestricted decrement)"; spec §1: untracked items: "The system doesn't decrement quantity
# on purchase". The service refused the payment when a line's item was switched to
# in-stock tracking (QUANTITY_NOT_TRACKED) or deleted (NOT_FOUND) after placement: the order
# stayed PLACED although the money was taken. Now such a line becomes untracked.
ctl settings set --inventory-update-trigger ON_ORDER_PAID
ctl item create d1a --quantity 5
ctl item create d1b --quantity 5
ctl order place d1-switched d1a=2 d1b=1
check_rc "D1 place under ON_ORDER_PAID" 0
ctl item update d1a --revision 1 --in-stock true
check_rc "D1 the merchant switches d1a to in-stock tracking" 0
ctl order pay d1-switched
check_rc "D1 pay after an item switched to in-stock tracking is not refused" 0
check "D1 ... the order is PAID" .order.status PAID
check "D1 ... the switched line is untracked" '.order.lines[0].untracked' true
check_eq "D1 ... the quantity-tracked line still took its unit" 4 "$(qty d1b)"

ctl item create d1c --quantity 5
ctl order place d1-deleted d1c=2 d1b=1
ctl item delete d1c
ctl order pay d1-deleted
check_rc "D1 pay after an item was deleted is not refused" 0
check "D1 ... the order is PAID" .order.status PAID

sl_stop
sl_done
