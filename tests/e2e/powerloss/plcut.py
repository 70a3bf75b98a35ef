#!/usr/bin/env python3
"""plcut.py: build the directory a power loss would leave, from plshim's journal.

usage: plcut.py JOURNAL DIR GRAVE OUT [--tail SEED]

OUT gets exactly the durable state of DIR: the names whose directory entry was made durable
by a fsync of DIR (or that were there at start), each with the content its inode had durable
(the size when its last fsync/fdatasync started). With --tail SEED, each file also keeps a
random prefix of the bytes written after that (a write the disk happened to take, possibly
cut mid-record), chosen by SEED. Prints a one-line summary; exit 2 on an unmodelled call."""
import os, random, shutil, sys

def main():
    a = sys.argv[1:]
    if len(a) < 4:
        print(__doc__, file=sys.stderr); sys.exit(2)
    journal, d, grave, out = a[:4]
    rnd = None
    if len(a) >= 6 and a[4] == '--tail':
        rnd = random.Random(int(a[5]))
    cur, dur, dlen, snaps = {}, {}, {}, {}
    created = set()
    last_dir = 0
    warn = []
    killed = None
    for line in open(journal, errors='replace'):
        f = line.split()
        if not f:
            continue
        t = f[0]
        if t == 'I':
            cur[f[1]] = dur[f[1]] = int(f[2]); dlen[int(f[2])] = int(f[3])
        elif t == 'O':
            name, ino, size = f[1], int(f[2]), int(f[3])
            if cur.get(name) == ino and size < dlen.get(ino, 0):
                warn.append('O_TRUNC of durable ' + name); dlen[ino] = size
            if cur.get(name) != ino:
                created.add(name)
            cur[name] = ino
            dlen.setdefault(ino, 0)
        elif t == 'S':
            ino, n = int(f[1]), int(f[2])
            dlen[ino] = max(dlen.get(ino, 0), n)
        elif t == 'B':
            snaps[int(f[1])] = dict(cur)
        elif t == 'E':
            i = int(f[1])
            s = snaps.pop(i, None)
            if s is not None and i > last_dir:
                dur = s; last_dir = i
        elif t == 'R':
            old, new, ino = f[1], f[2], int(f[3])
            if old != '-':
                cur.pop(old, None)
            if new != '-':
                cur[new] = ino
                dlen.setdefault(ino, 0)
        elif t == 'U':
            cur.pop(f[1], None)
        elif t == 'L':
            cur[f[1]] = int(f[2]); dlen.setdefault(int(f[2]), 0)
        elif t == 'T':
            ino, n = int(f[1]), int(f[2])
            if n < dlen.get(ino, 0):
                dlen[ino] = n
        elif t == 'F':
            if int(f[2]) & 1 == 0:
                warn.append('fallocate without KEEP_SIZE on ino ' + f[1])
        elif t == 'M':
            warn.append('shared writable mmap of ino ' + f[1])
        elif t == 'K':
            killed = int(f[1])
    where = {ino: os.path.join(d, n) for n, ino in cur.items()}
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(out)
    lost_bytes = kept_tail = wal_lost = 0
    dropped = [n for n in cur if n not in dur]
    for name, ino in sorted(dur.items()):
        src = where.get(ino) or os.path.join(grave, str(ino))
        if not os.path.exists(src):
            warn.append('no content for durable %s (ino %d)' % (name, ino)); continue
        with open(src, 'rb') as fi:
            data = fi.read()
        n = min(dlen.get(ino, 0), len(data))
        extra = 0
        if rnd is not None and len(data) > n and rnd.random() < 0.7:
            extra = rnd.randint(0, len(data) - n)
        lost_bytes += len(data) - n - extra
        if name.endswith('.log'):
            wal_lost += len(data) - n - extra
        kept_tail += extra
        with open(os.path.join(out, name), 'wb') as fo:
            fo.write(data[:n + extra])
    newf = sorted(n for n in created if n.endswith('.log') or n.endswith('.sst') or n.startswith('MANIFEST'))
    print('plcut: created %s; %d files durable, %d names dropped (%s), %d unsynced bytes lost (%d of them WAL), %d kept%s%s' % (
        ','.join(newf)[:300] or 'nothing', len(dur), len(dropped), ','.join(sorted(dropped))[:200], lost_bytes, wal_lost, kept_tail,
        '' if killed is None else ', killed before sync %d' % killed,
        ''.join('; WARN ' + w for w in warn)))
    sys.exit(2 if warn else 0)

main()
