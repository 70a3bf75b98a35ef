#!/usr/bin/env python3
"""plcheck.py ROUND_FILE DIR: after a power loss, each command of ROUND_FILE (lines "rc key
seq events deltas args", tabs) was sent again with its key; DIR holds ack.KEY (the original
reply, acknowledged commands only) and retry.KEY / retry.KEY.rc (the retry's). Prints one
line per failure and a last line "plcheck: N acknowledged, M unacknowledged (K of them had
been committed), F failures"; exit 1 if any failed."""
import json, os, sys

fails, acked, unacked, committed = [], 0, 0, 0
for line in open(sys.argv[1]):
    rc, key, _seq, _nev, _d, args = line.rstrip('\n').split('\t')
    d = sys.argv[2]
    rrc = open(os.path.join(d, 'retry.%s.rc' % key)).read().strip()
    try:
        got = json.loads(open(os.path.join(d, 'retry.' + key)).read())
    except ValueError:
        got = None
    if rrc != '0' or got is None:
        fails.append('%s (%s): the retry failed, exit %s: %s' % (key, args[:60], rrc, str(got)[:300]))
        continue
    replayed = got.pop('replayed', False) is True
    if rc == '0':
        acked += 1
        orig = json.loads(open(os.path.join(d, 'ack.' + key)).read())
        if not replayed:
            fails.append('ACKNOWLEDGED %s (%s) LOST: the retry was applied anew at seq %s (original seq %s)'
                         % (key, args[:60], got.get('seq'), orig.get('seq')))
        elif got != orig:
            fails.append('acknowledged %s: the replay differs from the original: %s != %s'
                         % (key, json.dumps(got)[:300], json.dumps(orig)[:300]))
    else:
        unacked += 1
        committed += replayed
for f in fails:
    print('FAIL: ' + f)
print('plcheck: %d acknowledged, %d unacknowledged (%d of them had been committed), %d failures'
      % (acked, unacked, committed, len(fails)))
sys.exit(1 if fails else 0)
