#!/usr/bin/env python3
"""compare.py SRC MNT PATH_INFO_JSON: the mount shows SRC exactly.

For every entry under SRC: the same type; for files the same size, sha256
and mode 0444/0555 by the owner's exec bit (Nix's rule), and an
xattr blob digest equal to b3sum's; for symlinks the same target and mode
0777; for directories mode 0555, st_size = entry count, nlink = 2 +
subdirectories, and the same listing.  The root directory's xattr must
equal path-info's rootNode digest.  Prints the entry count.
"""
import base64
import hashlib
import json
import os
import stat
import subprocess
import sys

src, mnt, info = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])[0]
problems = []
files = []


def fail(path, what):
    problems.append("%s: %s" % (path, what))


def sha256(p):
    h = hashlib.sha256()
    with open(p, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


count = 0
for root, dirs, fnames in os.walk(src):
    rel = os.path.relpath(root, src)
    mroot = os.path.normpath(os.path.join(mnt, rel))
    names = sorted(dirs + fnames)
    try:
        mnames = sorted(os.listdir(mroot))
    except OSError as e:
        fail(mroot, "listdir: %s" % e)
        continue
    if names != mnames:
        fail(mroot, "listing differs: %s vs %s" % (names, mnames))
    mst = os.lstat(mroot)
    nsub = sum(1 for d in dirs if not os.path.islink(os.path.join(root, d)))
    if stat.S_IMODE(mst.st_mode) != 0o555 or mst.st_size != len(names) \
            or mst.st_nlink != 2 + nsub:
        fail(mroot, "dir attrs mode %o size %d nlink %d" %
             (stat.S_IMODE(mst.st_mode), mst.st_size, mst.st_nlink))
    for name in names:
        count += 1
        s, m = os.path.join(root, name), os.path.join(mroot, name)
        sst, mst = os.lstat(s), os.lstat(m)
        if stat.S_IFMT(sst.st_mode) != stat.S_IFMT(mst.st_mode):
            fail(m, "type differs")
            continue
        if stat.S_ISLNK(sst.st_mode):
            if os.readlink(s) != os.readlink(m):
                fail(m, "symlink target differs")
            if stat.S_IMODE(mst.st_mode) != 0o777:
                fail(m, "symlink mode %o" % stat.S_IMODE(mst.st_mode))
        elif stat.S_ISREG(sst.st_mode):
            want_mode = 0o555 if sst.st_mode & stat.S_IXUSR else 0o444
            if stat.S_IMODE(mst.st_mode) != want_mode:
                fail(m, "mode %o, want %o" % (stat.S_IMODE(mst.st_mode), want_mode))
            if sst.st_size != mst.st_size or mst.st_nlink != 1:
                fail(m, "size %d vs %d, nlink %d" % (sst.st_size, mst.st_size,
                                                     mst.st_nlink))
            if sha256(s) != sha256(m):
                fail(m, "content differs")
            files.append(m)

# blob digests: the mount's xattrs against b3sum, an independent BLAKE3
for i in range(0, len(files), 500):
    batch = files[i:i + 500]
    out = subprocess.run(["b3sum", "--no-names"] + batch, check=True,
                         capture_output=True, text=True).stdout.split()
    for path, hexd in zip(batch, out):
        want = "blake3-" + base64.b64encode(bytes.fromhex(hexd)).decode()
        got = os.getxattr(path, "user.snix.castore.blob.digest").decode()
        if got != want:
            fail(path, "xattr %s, b3sum %s" % (got, want))

root_node = info["rootNode"]
if root_node["type"] == "directory":
    got = os.getxattr(mnt, "user.snix.castore.directory.digest").decode()
    if got != root_node["digest"]:
        fail(mnt, "root xattr %s, path-info %s" % (got, root_node["digest"]))

if problems:
    print("\n".join(problems[:50]))
    print("%d problems" % len(problems))
    sys.exit(1)
print(count)
