#!/usr/bin/env python3
"""A hostile binary cache for the tests: serves the caches under ROOT, and
misbehaves according to the first component of the request path.

usage: hostile-cache.py serve ROOT PORTFILE
       hostile-cache.py patch-xz FILE      (give an .xz file a 4 GiB dictionary)

/ok/CACHE/...        the file as it is
/drip/CACHE/...      narinfos are sent 2 bytes a second, for ever
/endless/CACHE/...   NARs are followed by zeros, for ever, with no length
/bigdict/CACHE/...   (the files as they are: the cache was patched)
/auth/CACHE/...      the file, to HTTP basic auth castore:secret only

Listens on 127.0.0.1, on a free port written to PORTFILE; stops on
SIGTERM.  Counts the NAR bytes it sent in ROOT/sent-<mode>.
"""
import base64
import http.server
import os
import socketserver
import struct
import sys
import time
import zlib


def read_vli(b, i):
    v, shift = 0, 0
    while True:
        byte = b[i]
        i += 1
        v |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            return v, i


def patch_xz(path):
    """Set the LZMA2 dictionary of every block header to 4 GiB - 1 (the
    largest xz can name) and fix the header's CRC32."""
    b = bytearray(open(path, "rb").read())
    i = 12  # after the stream header
    patched = 0
    while b[i] != 0:  # 0 starts the index
        size = (b[i] + 1) * 4
        flags = b[i + 1]
        j = i + 2
        if flags & 0x40:
            _, j = read_vli(b, j)
        if flags & 0x80:
            _, j = read_vli(b, j)
        for _ in range((flags & 3) + 1):
            fid, j = read_vli(b, j)
            psize, j = read_vli(b, j)
            if fid == 0x21 and psize == 1:
                b[j] = 40
                patched += 1
            j += psize
        crc = zlib.crc32(bytes(b[i:i + size - 4]))
        b[i + size - 4:i + size] = struct.pack("<I", crc)
        # one block is all this needs: a decoder stops at the first
        break
    assert patched, "no LZMA2 filter found"
    open(path, "wb").write(b)


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def log_message(self, fmt, *args):
        pass

    def do_GET(self):
        parts = self.path.lstrip("/").split("/", 1)
        if len(parts) != 2 or ".." in self.path:
            self.send_error(404)
            return
        mode, rest = parts
        path = os.path.join(self.server.root, rest)
        if not os.path.isfile(path):
            self.send_error(404)
            return
        data = open(path, "rb").read()
        if mode == "auth" and self.headers.get("Authorization") != \
                "Basic " + base64.b64encode(b"castore:secret").decode():
            self.send_response(401)
            self.send_header("WWW-Authenticate", 'Basic realm="cache"')
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode == "drip" and path.endswith(".narinfo"):
            self.send_response(200)
            self.end_headers()
            try:
                while True:
                    for k in range(0, len(data), 2):
                        self.wfile.write(data[k:k + 2])
                        self.wfile.flush()
                        time.sleep(1)
            except OSError:
                return
        if mode == "endless" and "/nar/" in path:
            self.send_response(200)
            self.end_headers()
            sent = 0
            try:
                self.wfile.write(data)
                sent += len(data)
                zeros = bytes(65536)
                while True:
                    self.wfile.write(zeros)
                    sent += len(zeros)
                    with open(os.path.join(self.server.root, "sent-endless"), "w") as f:
                        f.write(str(sent))
            except OSError:
                return
        self.send_response(200)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        try:
            self.wfile.write(data)
        except OSError:
            pass


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True


def main():
    if sys.argv[1] == "patch-xz":
        patch_xz(sys.argv[2])
        return
    root, portfile = sys.argv[2], sys.argv[3]
    srv = Server(("127.0.0.1", 0), Handler)
    srv.root = root
    with open(portfile + ".tmp", "w") as f:
        f.write(str(srv.server_address[1]))
    os.rename(portfile + ".tmp", portfile)
    srv.serve_forever()


if __name__ == "__main__":
    main()
