#!/usr/bin/env python3
"""Flip bits in a copy of a store's meta.lmdb and run castore verbs on it.

usage: flip-meta.py CASTORE STORE STORE_PATH CASES SEED

Each case writes STORE's meta.lmdb with 1 to 8 bits flipped, most of them
in page headers and pointer arrays (where LMDB itself would fault), and
runs verify, path-info and ls on the store; the original file is put back
at the end.  Each run must end in 0 (ok) or 1 (refused, or problems
found, saying what): a signal, a sanitizer's exit code (86, 87), a usage
error (2) or a silent refusal counts as a run that died.  Prints a
summary; exits 1 if any run died, naming the verb and case.
"""
import os
import random
import subprocess
import sys

castore, store, path, cases, seed = sys.argv[1:6]
rng = random.Random(int(seed))
meta = os.path.join(store, "meta.lmdb")
orig = open(meta, "rb").read()
signals = refused = ok = 0
for case in range(int(cases)):
    data = bytearray(orig)
    for _ in range(rng.choice([1, 1, 2, 8])):
        if rng.random() < 0.6:
            pos = rng.randrange(len(data) // 4096) * 4096 + rng.randrange(64)
        else:
            pos = rng.randrange(len(data))
        data[pos] ^= 1 << rng.randrange(8)
    with open(meta, "wb") as f:
        f.write(data)
    for verb in (["verify"], ["path-info", path], ["ls", path]):
        p = subprocess.run([castore, "--store", store] + verb,
                           capture_output=True, timeout=60)
        err = p.stderr.decode(errors="replace")
        said = (p.stdout + p.stderr).decode(errors="replace").strip()
        if p.returncode == 0:
            ok += 1
        elif p.returncode == 1 and said:
            refused += 1
        else:
            signals += 1
            print(f"case {case}: {verb[0]} died: status {p.returncode}: "
                  f"{err[-300:]}")
with open(meta, "wb") as f:
    f.write(orig)
print(f"{cases} damaged copies: {ok} runs succeeded, {refused} failed "
      f"cleanly, {signals} died")
sys.exit(1 if signals else 0)
