#!/usr/bin/env python3
"""Write the seed corpora under corpus/<target>/ (run from this directory).

nar: the golden NARs; directory and path-info: hand-encoded protobuf
messages (the field layout of proto/*.proto); store-path: strings.
"""
import os
import shutil

EMPTY = bytes.fromhex("af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262")
DWK = bytes.fromhex("8b5b5d642b646bb8ed504b0862c39413e87e57491497de7bd075953f7b83810e")


def varint(n):
    out = b""
    while True:
        b = n & 0x7f
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])


def field(num, wt, payload):
    key = varint(num << 3 | wt)
    if wt == 2:
        return key + varint(len(payload)) + payload
    return key + varint(payload)


def fnode(name, digest, size=0, exe=False):
    m = field(1, 2, name) + field(2, 2, digest)
    if size:
        m += field(3, 0, size)
    if exe:
        m += field(4, 0, 1)
    return m


def dnode(name, digest, size):
    return field(1, 2, name) + field(2, 2, digest) + (field(3, 0, size) if size else b"")


def lnode(name, target):
    return field(1, 2, name) + field(2, 2, target)


def write(target, name, data):
    d = os.path.join("corpus", target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


complicated = (field(1, 2, dnode(b"keep", DWK, 1)) + field(2, 2, fnode(b".keep", EMPTY))
               + field(3, 2, lnode(b"aa", b"/nix/store/somewhereelse")))
write("directory", "empty", b"")
write("directory", "with-keep", field(2, 2, fnode(b".keep", EMPTY)))
write("directory", "complicated", complicated)
write("directory", "executable", field(2, 2, fnode(b"run", EMPTY, 10, True)))
write("directory", "unsorted", field(2, 2, fnode(b"b", EMPTY)) + field(2, 2, fnode(b"a", EMPTY)))

# PathInfo: node (1), references (2), narinfo (3)
sp_digest = bytes(range(20))
node = field(3, 2, lnode(b"00bgd045z0d4icpbc2yyz4gx48ak44la-hello", b"/nix/store/x"))
narinfo = (field(1, 0, 136) + field(2, 2, bytes(32))
           + field(3, 2, field(1, 2, b"key-1") + field(2, 2, bytes(64)))
           + field(4, 2, b"000g40820c2b1gkhjm9rjsx8l5yxjp2b-dep")
           + field(6, 2, field(1, 0, 0) + field(2, 2, bytes(32))))
write("path-info", "symlink", field(1, 2, node) + field(2, 2, sp_digest) + field(3, 2, narinfo))
write("path-info", "dir", field(1, 2, field(1, 2, dnode(b"00bgd045z0d4icpbc2yyz4gx48ak44la-d", DWK, 1)))
      + field(3, 2, field(1, 0, 96) + field(2, 2, bytes(32))))
write("path-info", "no-narinfo", field(1, 2, node))

for name, s in [("abs", "/nix/store/00bgd045z0d4icpbc2yyz4gx48ak44la-net-tools-1.60"),
                ("base", "00bgd045z0d4icpbc2yyz4gx48ak44la-x"),
                ("sub", "00bgd045z0d4icpbc2yyz4gx48ak44la-x/bin/sh"),
                ("b32-20", "00bgd045z0d4icpbc2yyz4gx48ak44la"),
                ("b32-32", "0c5b8vw40dy178xlpddw65q9gf1h2186jcc3p4swinwggbllv8mk"),
                ("bad", "00bgd045z0d4icpbc2yyz4gx48ak44le-x"),
                ("zz", "zz")]:
    write("store-path", name, s.encode())

for sub in ("valid", "invalid"):
    src = os.path.join("..", "golden", "nar", sub)
    for f in sorted(os.listdir(src)):
        if f.startswith("too-deep"):
            continue  # large; the unit test covers it
        write("nar", sub + "-" + f, open(os.path.join(src, f), "rb").read())
