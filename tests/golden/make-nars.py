#!/usr/bin/env python3
"""Write the golden NARs: valid/*.nar and invalid/<case>.<ERRNO>.nar.

The valid ones are pinned by the NAR hashes in test-nar.c (checked against
`nix-store --dump`); each invalid one differs from a valid one in exactly the
way its name says.  Run from this directory; the output is committed.
"""
import os
import struct


def s(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack("<Q", len(b)) + b + b"\0" * ((8 - len(b) % 8) % 8)


def strs(*xs):
    return b"".join(s(x) for x in xs)


MAGIC = s("nix-archive-1")


def reg(data, exe=False):
    out = strs("(", "type", "regular")
    if exe:
        out += strs("executable", "")
    return out + strs("contents") + s(data) + strs(")")


def link(t):
    return strs("(", "type", "symlink", "target") + s(t) + strs(")")


def d(*entries):
    out = strs("(", "type", "directory")
    for name, node in entries:
        out += strs("entry", "(", "name") + s(name) + strs("node") + node + strs(")")
    return out + strs(")")


COMPLICATED = d((".keep", reg(b"")), ("aa", link("/nix/store/somewhereelse")),
                ("keep", d((".keep", reg(b"")))))

valid = {
    "hello-file": MAGIC + reg(b"Hello World!"),
    "symlink": MAGIC + link("/nix/store/somewhereelse"),
    "complicated": MAGIC + COMPLICATED,
    "empty-dir": MAGIC + d(),
    "executable": MAGIC + reg(b"#!/bin/sh\n", exe=True),
}

big_len = struct.pack("<Q", 1 << 62)
invalid = {
    "bad-magic.EBADMSG": s("nix-archive-2") + reg(b"x"),
    "empty.EBADMSG": b"",
    "truncated-magic.EBADMSG": MAGIC[:10],
    "truncated-node.EBADMSG": (MAGIC + COMPLICATED)[:300],
    "truncated-contents.EBADMSG": (MAGIC + reg(b"Hello World!"))[:100],
    "trailing-bytes.EBADMSG": MAGIC + reg(b"x") + b"\0" * 8,
    "unsorted.EBADMSG": MAGIC + d(("b", reg(b"")), ("a", reg(b""))),
    "duplicate.EBADMSG": MAGIC + d(("a", reg(b"")), ("a", link("x"))),
    "name-dot.EBADMSG": MAGIC + d((".", reg(b""))),
    "name-dotdot.EBADMSG": MAGIC + d(("..", reg(b""))),
    "name-slash.EBADMSG": MAGIC + d(("a/b", reg(b""))),
    "name-nul.EBADMSG": MAGIC + d(("a\0b", reg(b""))),
    "name-empty.EBADMSG": MAGIC + d(("", reg(b""))),
    "name-too-long.ENAMETOOLONG": MAGIC + d(("x" * 256, reg(b""))),
    "target-empty.EBADMSG": MAGIC + link(""),
    "target-nul.EBADMSG": MAGIC + link("a\0b"),
    "target-too-long.ENAMETOOLONG": MAGIC + link("x" * 4096),
    "bad-padding.EBADMSG": MAGIC + strs("(", "type", "regular", "contents")
    + struct.pack("<Q", 1) + b"x\0\0\0\0\0\0\1" + strs(")"),
    "bad-tag-padding.EBADMSG": MAGIC + struct.pack("<Q", 1) + b"(\0\0\0\0\0\0\x07"
    + strs("type", "regular", "contents") + s(b"") + strs(")"),
    "huge-tag.EBADMSG": MAGIC + big_len + b"(" * 64,
    "huge-contents.EBADMSG": MAGIC + strs("(", "type", "regular", "contents")
    + big_len + b"x" * 64,
    "executable-marker-value.EBADMSG": MAGIC + strs("(", "type", "regular",
                                                     "executable", "yes", "contents")
    + s(b"") + strs(")"),
    "unknown-type.EBADMSG": MAGIC + strs("(", "type", "fifo", ")"),
    "unknown-entry-tag.EBADMSG": MAGIC + strs("(", "type", "directory", "entri", ")"),
    "missing-close.EBADMSG": MAGIC + strs("(", "type", "regular", "contents") + s(b"x"),
    "two-roots.EBADMSG": MAGIC + reg(b"a") + reg(b"b"),
}

# a directory chain deeper than any real path can be (limit 2048)
deep = reg(b"")
for _ in range(2100):
    deep = d(("a", deep))
invalid["too-deep.E2BIG"] = MAGIC + deep

for name, data in valid.items():
    with open(os.path.join("nar", "valid", name + ".nar"), "wb") as f:
        f.write(data)
for name, data in invalid.items():
    with open(os.path.join("nar", "invalid", name + ".nar"), "wb") as f:
        f.write(data)
