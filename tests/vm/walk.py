#!/usr/bin/env python3
"""walk.py DIR: what `probe walk` prints for DIR's store path in the guest.

Every entry under DIR, sorted bytewise at each level (entry, then its
children), one per line: TYPE MODE SIZE SHA256|TARGET|- PATH, with the
modes castore shows (0555 directories and executables, 0444 files,
0777 symlinks) and names with \\, control and non-ASCII bytes as \\xHH.
"""
import hashlib
import os
import stat
import sys


def esc(b):
    return "".join("\\x%02x" % c if c == 0x5c or c <= 0x20 or c >= 0x7f
                   else chr(c) for c in b)


def walk(root, rel, out):
    path = os.path.join(root, rel) if rel else root
    for name in sorted(os.listdir(path)):
        child = os.path.join(rel, name) if rel else name
        full = os.path.join(root, child)
        st = os.lstat(full)
        if stat.S_ISDIR(st.st_mode):
            out.append(b"d 555 - - " + child)
            walk(root, child, out)
        elif stat.S_ISLNK(st.st_mode):
            out.append(b"l 777 - " + esc(os.readlink(full)).encode() + b" " + child)
        else:
            with open(full, "rb") as f:
                h = hashlib.sha256(f.read()).hexdigest()
            mode = "555" if st.st_mode & stat.S_IXUSR else "444"
            out.append(("f %s %d %s " % (mode, st.st_size, h)).encode() + child)


def main():
    out = []
    walk(os.fsencode(sys.argv[1]), b"", out)
    for line in out:
        # four fixed fields (escaped or ASCII), then the raw path
        fixed = b" ".join(line.split(b" ")[:4])
        print(fixed.decode() + " " + esc(line[len(fixed) + 1:]))


main()
