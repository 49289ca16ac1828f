#!/bin/bash
# bench/serve.sh [TREE]: castore serve against nginx serving the same NAR
# from a file:// cache (sendfile): NAR download throughput, uncompressed
# and zstd on the fly (castore) against the file nix copy compressed
# (nginx); then nix-store --realise of the path from each.  Then castore
# push to a Ceph radosgw against nix copy --to file:// of the same path.
# Lines go to stdout and $RECORD.extra.
source "$(dirname "$0")/lib.sh"
command -v nginx > /dev/null || die "nginx missing: run scripts/setup.sh --tests"
tree=${1:-/usr/include}
export NIX_CONFIG=$'experimental-features = nix-command\nsubstituters =\nbuild-users-group ='
d="$WORKDIR/serve"
rm -rf "$d"
mkdir -p "$d/ngx/logs" "$d/ngx/tmp"
p=$(nix-store --add "$tree")
h=$(basename "$p" | cut -c1-32)
nix-store --generate-binary-cache-key bench-1 "$d/sk" "$d/pk" 2> /dev/null
for c in none zstd; do
	nix copy --to "file://$d/cache-$c?compression=$c&secret-key=$d/sk" "$p" 2> /dev/null
done
"$CASTORE" --store "$d/store" fetch --no-nix-conf --substituter "file://$d/cache-none" \
	--trusted-public-key "$(cat "$d/pk")" "$p" > /dev/null
"$CASTORE" --store "$d/store" verify > /dev/null
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$d/ngx/nginx.conf" <<NGX
user root; worker_processes 1; pid $d/ngx/nginx.pid; error_log $d/ngx/logs/error.log;
events { worker_connections 64; }
http { access_log off; sendfile on; tcp_nopush on;
  types { text/x-nix-narinfo narinfo; } default_type application/octet-stream;
  server { listen 127.0.0.1:$port; root $d; } }
NGX
nginx -c "$d/ngx/nginx.conf" -p "$d/ngx"
"$CASTORE" --store "$d/store" serve --quiet --listen 127.0.0.1:0 2> "$d/serve.log" &
spid=$!
cleanup() {
	kill "$(cat "$d/ngx/nginx.pid")" 2> /dev/null || true
	kill "$spid" 2> /dev/null || true
	[ -z "${RGW_DIR:-}" ] || rgw_stop || true
	restore_uring
}
trap cleanup EXIT
for _ in $(seq 1 100); do grep -q listening "$d/serve.log" && break; sleep 0.05; done
curl_url=$(sed -n 's/^castore serve: listening on \(http[^ ]*\).*/\1/p' "$d/serve.log")
nar_size=$(sed -n 's/^NarSize: //p' "$d/cache-none/$h.narinfo")
ngx_none="http://127.0.0.1:$port/cache-none/$(sed -n 's/^URL: //p' "$d/cache-none/$h.narinfo")"
ngx_zstd="http://127.0.0.1:$port/cache-zstd/$(sed -n 's/^URL: //p' "$d/cache-zstd/$h.narinfo")"
cas_none="$curl_url/$(curl -fsS "$curl_url/$h.narinfo" | sed -n 's/^URL: //p')"
cas_zstd="${cas_none}.zst"
warm "$d/cache-none" "$d/cache-zstd" "$d/store"
echo "# serve: $p, NAR $((nar_size / 1048576)) MiB" >&2

# seconds to download URL, median of RUNS
download() {
	local t=() s e
	for _ in $(seq 1 "$RUNS"); do
		s=$(now)
		curl -fsS -o /dev/null "$1"
		e=$(now)
		t+=("$(echo "$e - $s" | bc)")
	done
	printf '%s\n' "${t[@]}" | median
}
mbs() { echo "scale=1; $nar_size / 1048576 / $1" | bc; }
tn=$(download "$ngx_none")
tc=$(download "$cas_none")
tz=$(download "$cas_zstd")
tnz=$(download "$ngx_zstd")
zsize=$(curl -fsS "$cas_zstd" | wc -c)
{
	echo "serve NAR uncompressed ($((nar_size / 1048576)) MiB): castore $(mbs "$tc") MB/s, nginx sendfile $(mbs "$tn") MB/s: $(echo "scale=2; $tn / $tc" | bc)x nginx's throughput"
	echo "serve NAR zstd on the fly: castore $(mbs "$tz") MB/s of NAR ($(echo "scale=1; $zsize / 1048576 / $tz" | bc) MB/s on the wire, $((zsize / 1048576)) MiB); nginx sending nix copy's zstd file: $(mbs "$tnz") MB/s of NAR"
} | tee -a "$RECORD.extra"

# nix-store --realise from each
realise() {
	local t=() s e
	for _ in $(seq 1 "$RUNS"); do
		rm -rf "$d/nixroot" "$d/nixroot.cache"
		s=$(now)
		XDG_CACHE_HOME="$d/nixroot.cache" nix-store --store "$d/nixroot" --option substituters "$1" \
			--option trusted-public-keys "$(cat "$d/pk")" --realise "$p" > /dev/null 2>&1
		e=$(now)
		t+=("$(echo "$e - $s" | bc)")
	done
	printf '%s\n' "${t[@]}" | median
}
rn=$(realise "http://127.0.0.1:$port/cache-none")
rc=$(realise "$curl_url")
kill "$spid"
wait "$spid" || true
"$CASTORE" --store "$d/store" serve --quiet --compression zstd --listen 127.0.0.1:0 2> "$d/serve.log" &
spid=$!
for _ in $(seq 1 100); do grep -q listening "$d/serve.log" && break; sleep 0.05; done
curl_url=$(sed -n 's/^castore serve: listening on \(http[^ ]*\).*/\1/p' "$d/serve.log")
rz=$(realise "$curl_url")
rnz=$(realise "http://127.0.0.1:$port/cache-zstd")
{
	echo "nix-store --realise from castore serve (none): castore $rc s, nginx $rn s: $(echo "scale=2; $rc / $rn" | bc)x"
	echo "nix-store --realise from castore serve (zstd on the fly): castore $rz s, nginx (nix copy's zstd) $rnz s: $(echo "scale=2; $rz / $rnz" | bc)x"
} | tee -a "$RECORD.extra"

# push: castore push to radosgw against nix copy to a directory
if command -v radosgw > /dev/null; then
	source "$ROOT/tests/s3/radosgw.bash"
	rgw_start "$d/rgw" > /dev/null || die "radosgw did not start"
	export AWS_ACCESS_KEY_ID=$RGW_ACCESS AWS_SECRET_ACCESS_KEY=$RGW_SECRET
	tp=(); tf=(); tx=()
	for i in $(seq 1 "$RUNS"); do
		rm -rf "$d/nixcopy"
		s=$(now)
		nix copy --to "file://$d/nixcopy?compression=zstd" "$p" 2> /dev/null
		e=$(now)
		tx+=("$(echo "$e - $s" | bc)")
		s=$(now)
		"$CASTORE" --store "$d/store" push -q --to "s3://bench$i?endpoint=$RGW_ENDPOINT&scheme=http&compression=zstd" "$p" 2> /dev/null
		e=$(now)
		tp+=("$(echo "$e - $s" | bc)")
		rm -rf "$d/caspush"
		s=$(now)
		"$CASTORE" --store "$d/store" push -q --to "file://$d/caspush?compression=zstd" "$p" 2> /dev/null
		e=$(now)
		tf+=("$(echo "$e - $s" | bc)")
	done
	mp=$(printf '%s\n' "${tp[@]}" | median)
	mx=$(printf '%s\n' "${tx[@]}" | median)
	mf=$(printf '%s\n' "${tf[@]}" | median)
	echo "push (zstd) to radosgw: castore $mp s, nix copy --to file:// $mx s: $(echo "scale=2; $mp / $mx" | bc)x (castore push --to file:// $mf s: $(echo "scale=2; $mf / $mx" | bc)x)" | tee -a "$RECORD.extra"
fi
