#!/usr/bin/env python3
"""view.py [--mounted] DIR: every entry under DIR, sorted bytewise at each
level, one per line: TYPE MODE SIZE SHA256|TARGET|- XATTR PATH.

Without --mounted, DIR is a source tree and MODE is what castore shows
for it (0555 directories and executables, 0444 files, 0777 symlinks);
XATTR is "-".  With --mounted, DIR is a castore mount: MODE is the mode
it shows, XATTR its user.snix.castore.* digest xattr ("-" if none), and
every entry must have uid 0, gid 0 and mtime 1 (else a line says so).
"""
import hashlib
import os
import stat
import sys


def esc(b):
    return "".join("\\x%02x" % c if c == 0x5c or c <= 0x20 or c >= 0x7f
                   else chr(c) for c in b)


def xattr(path):
    for name in (b"user.snix.castore.blob.digest", b"user.snix.castore.directory.digest"):
        try:
            return os.getxattr(path, name, follow_symlinks=False).decode()
        except OSError:
            pass
    return "-"


def line(kind, mode, size, what, xa, rel):
    return "%s %o %s %s %s %s" % (kind, mode, size, what, xa, esc(rel))


def walk(root, rel, mounted, out):
    path = os.path.join(root, rel) if rel else root
    for name in sorted(os.listdir(path)):
        child = os.path.join(rel, name) if rel else name
        full = os.path.join(root, child)
        st = os.lstat(full)
        if mounted and (st.st_uid, st.st_gid, int(st.st_mtime)) != (0, 0, 1):
            out.append("bad attributes %d %d %d %s" % (st.st_uid, st.st_gid,
                                                      int(st.st_mtime), esc(child)))
        xa = xattr(full) if mounted else "-"
        if stat.S_ISDIR(st.st_mode):
            mode = stat.S_IMODE(st.st_mode) if mounted else 0o555
            out.append(line("d", mode, "-", "-", xa, child))
            walk(root, child, mounted, out)
        elif stat.S_ISLNK(st.st_mode):
            mode = stat.S_IMODE(st.st_mode) if mounted else 0o777
            out.append(line("l", mode, "-", esc(os.readlink(full)), xa, child))
        else:
            mode = stat.S_IMODE(st.st_mode) if mounted else (
                0o555 if st.st_mode & 0o100 else 0o444)
            with open(full, "rb") as f:
                h = hashlib.sha256(f.read()).hexdigest()
            out.append(line("f", mode, st.st_size, h, xa, child))


def main():
    args = [a for a in sys.argv[1:] if a != "--mounted"]
    mounted = "--mounted" in sys.argv
    out = []
    walk(os.fsencode(args[0]), b"", mounted, out)
    sys.stdout.write("\n".join(out) + ("\n" if out else ""))


if __name__ == "__main__":
    main()
