#!/usr/bin/env python3
"""gen-tree.py SEED DIR: write a seeded random tree into DIR (must not exist).

Covers what Nix archives: empty files, files over 1 MiB, executables,
absolute, relative and dangling symlinks, deep nesting, empty directories,
names with spaces and UTF-8.  The same SEED gives the same tree.
"""
import os
import random
import sys


def main():
    seed, root = int(sys.argv[1]), sys.argv[2]
    rnd = random.Random(seed)
    os.makedirs(root)
    names = ["a", "b", "Z", "file name", "ünïcødé", "日本", ".hidden", "x.y",
             "-dash", "many.dots.here", "UPPER", "0", "with\ttab", "é"]
    dirs = [root]
    for i in range(rnd.randint(40, 80)):
        parent = rnd.choice(dirs)
        name = rnd.choice(names) + str(i)
        path = os.path.join(parent, name)
        kind = rnd.random()
        if kind < 0.25:
            os.mkdir(path)
            dirs.append(path)
        elif kind < 0.75:
            size = rnd.choice([0, 1, 7, 8, 9, 4095, 4096, 65537,
                               rnd.randint(0, 20000)])
            if rnd.random() < 0.04:
                size = rnd.randint(1 << 20, 3 << 20)  # over 1 MiB
            with open(path, "wb") as f:
                f.write(rnd.randbytes(size))
            if rnd.random() < 0.3:
                os.chmod(path, 0o755)
        elif kind < 0.85:
            os.symlink(rnd.choice(["/nix/store/somewhereelse", "/etc/passwd",
                                   "/"]), path)
        elif kind < 0.95:
            os.symlink(rnd.choice(["a0", "../x", "./" + name, "dangling/target",
                                   "ünï"]), path)
        else:
            # identical content in several places (dedup)
            with open(path, "wb") as f:
                f.write(b"shared content\n")
    # a deep chain and an empty directory
    deep = root
    for i in range(60):
        deep = os.path.join(deep, "d%d" % (i % 3))
    os.makedirs(deep)
    with open(os.path.join(deep, "bottom"), "w") as f:
        f.write("deep\n")
    os.makedirs(os.path.join(root, "empty dir"))


main()
