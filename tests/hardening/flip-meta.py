#!/usr/bin/env python3
"""Flip bits in a copy of a store's meta.lmdb and run castore verbs on it.

usage: flip-meta.py CASTORE STORE STORE_PATH CASES SEED

Each case writes a meta.lmdb with 1 to 8 bits flipped, most of them in
page headers and pointer arrays (where LMDB itself would fault), and runs
verify, path-info and ls on it.  Two workers share the cases out, each in
a copy of STORE of its own (STORE is not changed).  Each run must end in 0 (ok) or 1 (refused, or problems
found, saying what): a signal, a sanitizer's exit code (86, 87), a usage
error (2) or a silent refusal counts as a run that died.  Prints a
summary; exits 1 if any run died, naming the verb and case.
"""
import os
import random
import shutil
import subprocess
import sys
import threading

castore, store, path, cases, seed = sys.argv[1:6]
rng = random.Random(int(seed))
orig = open(os.path.join(store, "meta.lmdb"), "rb").read()

# Every case's damage is drawn up front, in case order, so a seed names
# the same damage however the cases are shared out.
flips = []
for case in range(int(cases)):
    pos = []
    for _ in range(rng.choice([1, 1, 2, 8])):
        if rng.random() < 0.6:
            p = rng.randrange(len(orig) // 4096) * 4096 + rng.randrange(64)
        else:
            p = rng.randrange(len(orig))
        pos.append((p, 1 << rng.randrange(8)))
    flips.append(pos)

WORKERS = 2  # the machine's cores: each case is three process starts
counts = {"ok": 0, "refused": 0, "died": 0}
lock = threading.Lock()


def worker(k):
    # a copy of the store of its own, whose meta.lmdb it damages
    mine = f"{store}.flip{k}"
    shutil.rmtree(mine, ignore_errors=True)
    shutil.copytree(store, mine, symlinks=True)
    meta = os.path.join(mine, "meta.lmdb")
    for case in range(k, len(flips), WORKERS):
        data = bytearray(orig)
        for p, bit in flips[case]:
            data[p] ^= bit
        with open(meta, "wb") as f:
            f.write(data)
        for verb in (["verify"], ["path-info", path], ["ls", path]):
            r = subprocess.run([castore, "--store", mine] + verb,
                               capture_output=True, timeout=60)
            err = r.stderr.decode(errors="replace")
            said = (r.stdout + r.stderr).decode(errors="replace").strip()
            if r.returncode == 0:
                what = "ok"
            elif r.returncode == 1 and said:
                what = "refused"
            else:
                what = "died"
            with lock:
                counts[what] += 1
                if what == "died":
                    print(f"case {case}: {verb[0]} died: status "
                          f"{r.returncode}: {err[-300:]}", flush=True)
    shutil.rmtree(mine, ignore_errors=True)


threads = [threading.Thread(target=worker, args=(k,)) for k in range(WORKERS)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"{cases} damaged copies: {counts['ok']} runs succeeded, "
      f"{counts['refused']} failed cleanly, {counts['died']} died")
sys.exit(1 if counts["died"] else 0)
