#!/bin/bash
# audit_export_test.sh: `stockctl export` and `stockctl chart` end to end. Goal: export
# writes the events of a range as JSON Lines or CSV (one header, one row per event, quoted
# fields where needed), and chart writes an SVG with title, axes, both series and marked
# moves. Method: known commands, then the files are counted and parsed with jq and grep.
. "$(dirname "$0")/lib.sh"
sl_start
ctl item create mug --quantity 30 --preorder true --reason "initial count"
ctl decrement mug=12 --order o-1 --reason "sale, big order"
ctl increment mug=40 --reason restock
ctl decrement mug=58 --order o-2 --reason sale
ctl decrement mug=3 --preorder-request --order o-3 --reason preorder
ctl item create cup --quantity 2
ctl head
check "events" .seq 6

OUT=$("$SL_BIN/stockctl" export)
check_eq "jsonl to stdout" 6 "$(printf '%s\n' "$OUT" | jq -r .seq | wc -l)"
ctl export --from-seq 2 --to-seq 4 --format jsonl --out "$T/e.jsonl"
check_rc "export jsonl" 0
check "export summary" .events 3
check_eq "jsonl range" "2 3 4" "$(jq -r .seq "$T/e.jsonl" | tr '\n' ' ' | sed 's/ $//')"
ctl export --format csv --out "$T/e.csv"
check_rc "export csv" 0
check_eq "csv rows and header" 7 "$(wc -l <"$T/e.csv")"
check_eq "csv header" "seq,itemSeq,time,type" "$(head -1 "$T/e.csv" | cut -d, -f1-4)"
check_eq "csv quotes a reason with a comma" 1 "$(grep -c '"sale, big order"' "$T/e.csv")"
check_eq "csv quantities of event 4" "58,0,-58" "$(grep '^4,' "$T/e.csv" | awk -F, '{print $13","$14","$15}')"
# seq 0 is the state before the first event (as for --as-of-seq 0): nothing is at or
# before it, and a range that ends before it starts is empty too (not "to the head")
ctl export --to-seq 0 --format csv --out "$T/none.csv"
check_rc "export --to-seq 0" 0
check "export --to-seq 0 writes no event" .events 0
check_eq "export --to-seq 0 is the header alone" 1 "$(wc -l <"$T/none.csv")"
check_eq "export --to-seq 0 to stdout" "" "$("$SL_BIN/stockctl" export --to-seq 0)"
check_eq "export of a range that ends before it starts" "" "$("$SL_BIN/stockctl" export --from-seq 4 --to-seq 3)"
ctl export --format xml
check_rc "unknown format" 2

ctl chart mug --out "$T/mug.svg"
check_rc "chart" 0
check "chart events" .events 5
check "chart has a preorder counter" .preorderCounter true
check_eq "svg root" 1 "$(head -1 "$T/mug.svg" | grep -c '^<svg ')"
check_eq "svg title" 1 "$(grep -c 'Stock of mug@default' "$T/mug.svg")"
check_eq "two series" 2 "$(grep -c '<polyline' "$T/mug.svg")"
check_eq "the big sale is marked with its reason" 1 "$(grep -c '>-58 sale<' "$T/mug.svg")"
check_eq "svg closes" "</svg>" "$(tail -1 "$T/mug.svg")"
ctl chart mug
check_rc "chart without --out" 2
ctl chart ghost --out "$T/g.svg"
check_refused "chart of an item without events" NOT_FOUND

# A reason is kept as given, control characters included (docs/decisions.md): the human
# output spells them out (a newline in a reason forged a row of `history`) and the SVG stays
# well-formed XML (raw control characters, and a label cut inside a character, made it not).
forged=$(printf 'theft\n3      9        2026-12-06T16:27:15.620Z decremented         10            9  sold')
ctl item create safe --quantity 10
ctl decrement safe=9 --reason "$forged"
check_rc "a reason with a newline" 0
ctl increment safe=300 --reason "ab$(printf '\303\251%.0s' $(seq 30))"
ctl increment safe=300 --reason "$(printf 'x\001y\033[2K')"
ctl history safe
check "the reason is kept as given" '.events[1].reason' "$forged"
check_eq "history prints one row per event" 5 "$("$SL_BIN/stockctl" history safe | wc -l)"
check_eq "the newline is spelled out" 1 \
	"$("$SL_BIN/stockctl" history safe | grep -c 'theft\\n3  ')"
check_eq "no control character in the human output" 0 \
	"$("$SL_BIN/stockctl" history safe | tr -d '\n' | LC_ALL=C grep -c '[[:cntrl:]]')"
ctl chart safe --out "$T/safe.svg"
check_rc "chart of reasons with control characters" 0
check_eq "the svg is well-formed XML" ok \
	"$(python3 -c 'import sys, xml.dom.minidom as m; m.parse(sys.argv[1]); print("ok")' "$T/safe.svg" 2>&1 | tail -1)"
sl_stop
sl_done
