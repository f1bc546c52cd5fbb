#!/usr/bin/env python3
"""Fragment a mounted test volume: N files of 4 KiB-1 MiB (log-uniform),
then delete every other one. Deterministic from the seed."""
import math, os, random, sys

mnt, n, seed = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
rnd = random.Random(seed)
d = os.path.join(mnt, "frag")
os.makedirs(d, exist_ok=True)
buf = bytes(range(256)) * 4096
names = []
for i in range(n):
    size = int(math.exp(rnd.uniform(math.log(4096), math.log(1 << 20))))
    size = max(4096, size // 4096 * 4096)
    p = os.path.join(d, "d%02d" % (i % 32))
    os.makedirs(p, exist_ok=True)
    f = os.path.join(p, "f%05d" % i)
    try:
        with open(f, "wb") as fh:
            fh.write(buf[:size])
    except OSError:
        break
    names.append(f)
os.sync()
for f in names[::2]:
    os.unlink(f)
os.sync()
