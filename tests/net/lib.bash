# Shared set-up of the substituter tests: derivations built offline by
# real Nix, binary caches written by `nix copy` (xz, zstd, bzip2, gzip, br, none;
# signed), served by a real nginx on 127.0.0.1, started and stopped by the
# tests.

source "$BATS_TEST_DIRNAME/../fuse/lib.bash"

# Build the test closure (top -> dep), keys and caches, and start nginx.
# Exports TOP, DEP, PK (trusted key), WRONG_PK, F (file dir), PORT, URL.
# The closure, keys and caches are made once per `make check` pass
# (in $CASTORE_TEST_FIXTURES, under a lock: suites may run side by side)
# and copied into each file's $F, which its tests may change.
net_setup_file() {
	export F="$BATS_FILE_TMPDIR"
	local fixture="${CASTORE_TEST_FIXTURES:-$BATS_FILE_TMPDIR/fixtures}/net"
	mkdir -p "$(dirname "$fixture")"
	(
		flock 9
		[ -e "$fixture/done" ] || net_fixture_make "$fixture"
	) 9> "$fixture.lock"
	cp -a "$fixture/." "$F/"
	TOP=$(cat "$F/top")
	DEP=$(cat "$TOP/dep-path")
	PK=$(cat "$F/pk")
	WRONG_PK=$(cat "$F/wrong-pk")
	export TOP DEP PK WRONG_PK
	PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
	export PORT URL="http://127.0.0.1:$PORT"
	mkdir -p "$F/ngx/logs" "$F/ngx/tmp"
	cat > "$F/ngx/nginx.conf" <<NGX
user root; worker_processes 1; pid $F/ngx/nginx.pid; error_log $F/ngx/logs/error.log;
events { worker_connections 64; }
http {
  log_format withconn '\$remote_addr conn=\$connection "\$request" \$status \$body_bytes_sent';
  access_log $F/ngx/logs/access.log withconn;
  client_body_temp_path $F/ngx/tmp; proxy_temp_path $F/ngx/tmp; fastcgi_temp_path $F/ngx/tmp;
  uwsgi_temp_path $F/ngx/tmp; scgi_temp_path $F/ngx/tmp;
  types { text/x-nix-narinfo narinfo; application/x-nix-nar nar; }
  default_type application/octet-stream;
  server {
    listen 127.0.0.1:$PORT; root $F;
    location /slow/ { alias $F/; limit_rate 512k; }
  }
}
NGX
	nginx_start
}

# net_fixture_make DIR: the closure built by Nix, two keys and the six
# signed caches of net_setup_file, in DIR ("done" last).
net_fixture_make() {
	local d="$1" c
	rm -rf "$d"
	mkdir -p "$d"
	cat > "$d/drv.nix" <<'NIX'
let
  dep = builtins.derivation {
    name = "castore-subst-dep"; system = builtins.currentSystem; builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir -p $out/share; echo dep-data > $out/share/data; /bin/ln -s share/data $out/link; /bin/dd if=/dev/urandom of=$out/share/big bs=1M count=4 2>/dev/null" ];
  };
in builtins.derivation {
  name = "castore-subst-top"; system = builtins.currentSystem; builder = "/bin/sh";
  args = [ "-c" "/bin/mkdir -p $out/bin; echo ${dep} > $out/dep-path; printf '#!/bin/sh\\necho hi\\n' > $out/bin/hello; /bin/chmod +x $out/bin/hello" ];
}
NIX
	nix-build --no-out-link "$d/drv.nix" > "$d/top" 2>/dev/null
	nix-store --generate-binary-cache-key test-key-1 "$d/sk" "$d/pk"
	nix-store --generate-binary-cache-key test-key-1 "$d/wrong-sk" "$d/wrong-pk"
	for c in xz zstd bzip2 gzip br none; do
		nix copy --to "file://$d/cache-$c?compression=$c&secret-key=$d/sk" "$(cat "$d/top")" 2>/dev/null
	done
	touch "$d/done"
}

nginx_start() {
	nginx -c "$F/ngx/nginx.conf" -p "$F/ngx"
}

# nginx_stop: SIGTERM to the master, which is gone within 20 s or the
# stop fails, saying so.
nginx_stop() {
	local pid
	[ -e "$F/ngx/nginx.pid" ] || return 0
	pid=$(cat "$F/ngx/nginx.pid")
	kill "$pid" 2>/dev/null || return 0
	gone_within 20 "$pid" || { echo "nginx (pid $pid) did not stop"; return 1; }
}

# requests COUNT-PATTERN: access log lines matching a pattern (nginx
# writes a line when a request ends: no sign that a download started)
requests() {
	grep -c -- "$1" "$F/ngx/logs/access.log" || true
}

# The store holds no object and no path: nothing became visible.
store_is_empty() {
	local objs
	objs=$(find "$CASTORE_STORE/blobs" -type f ! -path "$CASTORE_STORE/blobs/tmp/*" 2>/dev/null | wc -l)
	[ "$objs" -eq 0 ] || { echo "store has $objs blobs"; return 1; }
	[ -z "$(find "$CASTORE_STORE/blobs/tmp" -type f 2>/dev/null)" ] || { echo "temp files left"; return 1; }
	not_stored "$TOP"
	not_stored "$DEP"
}

# not_stored PATH: castore path-info refuses PATH, exactly as it refuses a
# path not in the store (exit 1), or a store that was never made.
not_stored() {
	local out rc=0
	out=$("$CASTORE" path-info "$1" 2>&1) || rc=$?
	if [ "$rc" -ne 1 ] || [[ "$out" != *"is not in the store"* && "$out" != *"no store at"* ]]; then
		echo "path-info $1: exit $rc, '$out': expected 1, not in the store"
		return 1
	fi
}

# A copy of a cache to damage: prints its directory name under $F.
cache_copy() {
	local name="$1" from="$2"
	rm -rf "${F:?}/$name"
	cp -r "$F/$from" "$F/$name"
	echo "$name"
}

# narinfo_of CACHE PATH: the narinfo file of a store path in a cache
narinfo_of() {
	local b=${2#/nix/store/}
	echo "$F/$1/${b%%-*}.narinfo"
}
