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

# FUSE requests as a virtio-fs guest sends them (fuse_in_header: len,
# opcode, unique, nodeid, uid, gid, pid, total_extlen, padding).
import struct


def fuse_req(opcode, args, nodeid=1, length=None):
    n = 40 + len(args) if length is None else length
    return struct.pack("<IIQQIIIHH", n, opcode, 7, nodeid, 0, 0, 1, 0, 0) + args


write("fuse-frame", "init", fuse_req(26, struct.pack("<IIII", 7, 36, 1 << 20, 1 << 30) + bytes(48)))
write("fuse-frame", "init-ext-short", fuse_req(26, struct.pack("<IIII", 7, 36, 0, 1 << 30)))
write("fuse-frame", "lookup", fuse_req(1, b"00bgd045z0d4icpbc2yyz4gx48ak44la-x\0"))
write("fuse-frame", "lookup-no-nul", fuse_req(1, b"abc"))
write("fuse-frame", "read", fuse_req(15, struct.pack("<QQIIQII", 5, 0, 4096, 0, 0, 0, 0), 2))
write("fuse-frame", "read-short", fuse_req(15, bytes(20), 2))
write("fuse-frame", "batch-forget", fuse_req(42, struct.pack("<II", 2, 0) + struct.pack("<QQQQ", 2, 1, 3, 1)))
write("fuse-frame", "batch-forget-lying", fuse_req(42, struct.pack("<II", 1000, 0) + bytes(16)))
write("fuse-frame", "rename", fuse_req(12, struct.pack("<Q", 1) + b"a\0b\0"))
write("fuse-frame", "setxattr", fuse_req(21, struct.pack("<II", 3, 0) + b"user.x\0abc"))
write("fuse-frame", "setupmapping", fuse_req(48, bytes(40)))
write("fuse-frame", "len-lies", fuse_req(3, bytes(16), 2, 1000))
write("fuse-frame", "short", b"\x10\0\0\0")

# Guest memory for the virtqueue walker: byte 0 picks num (1 << b % 9)
# and EVENT_IDX (bit 1), byte 1 INDIRECT_DESC (bit 0); then memory from
# guest-physical 0x10000: the descriptor table, the avail ring, buffers.
def vring_mem(num_log2, descs, avail_heads, indirect=True, tail=b""):
    num = 1 << num_log2
    table = b"".join(struct.pack("<QIHH", *d) for d in descs).ljust(16 * num, b"\0")
    avail = struct.pack("<HH", 0, len(avail_heads)) + b"".join(
        struct.pack("<H", h) for h in avail_heads).ljust(2 * num, b"\0") + b"\0\0"
    body = table + avail
    body = body.ljust((len(body) + 3) & ~3, b"\0") + bytes(6 + 8 * num)
    return bytes([num_log2, 1 if indirect else 0]) + body + tail


B = 0x10000
write("vring", "chain", vring_mem(2, [(B + 0x400, 40, 1, 1), (B + 0x500, 100, 2, 0)], [0]))
write("vring", "loop", vring_mem(2, [(B + 0x400, 40, 1, 1), (B + 0x500, 100, 1, 0)], [0]))
write("vring", "read-after-write", vring_mem(2, [(B + 0x400, 40, 2 | 1, 1), (B + 0x500, 100, 0, 0)], [0]))
write("vring", "outside", vring_mem(2, [(0xdead0000, 40, 0, 0)], [0]))
write("vring", "indirect", vring_mem(2, [(B + 0x400, 32, 4, 0)], [0],
                                     tail=bytes(0x400 - 0x100) + struct.pack("<QIHHQIHH", B + 0x600, 40, 1, 1, B + 0x700, 64, 2, 0)))
write("vring", "bad-head", vring_mem(2, [], [9]))
write("vring", "many", vring_mem(3, [(B + 0x400 + 16 * i, 16, 0, 0) for i in range(8)], list(range(8))))
