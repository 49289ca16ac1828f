#!/bin/bash
# bench/substitute.sh [TREE]: time until a file of a path that is only in
# a binary cache can be read -- castore mount with --substituter (lazy:
# lookup fetches) against nix-store --realise from the same nginx into a
# fresh chroot store, then reading the file.  The cache is written by
# nix copy (zstd and xz, signed); both sides verify the signature.
source "$(dirname "$0")/lib.sh"
command -v nginx > /dev/null || die "nginx missing: run scripts/setup.sh --tests"
tree=${1:-/usr/include}
export NIX_CONFIG=$'experimental-features = nix-command\nsubstituters =\nbuild-users-group ='
d="$WORKDIR/substitute"
rm -rf "$d"
mkdir -p "$d/ngx/logs" "$d/ngx/tmp"
p=$(nix-store --add "$tree")
file=$(cd "$p" && find . -type f | sort | awk 'NR == 1')
nix-store --generate-binary-cache-key bench-1 "$d/sk" "$d/pk" 2> /dev/null
for c in zstd xz; do
	nix copy --to "file://$d/cache-$c?compression=$c&secret-key=$d/sk" "$p" 2> /dev/null
done
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat > "$d/ngx/nginx.conf" <<NGX
user root; worker_processes 1; pid $d/ngx/nginx.pid; error_log $d/ngx/logs/error.log;
events { worker_connections 64; }
http { access_log off; types { text/x-nix-narinfo narinfo; } default_type application/octet-stream;
  server { listen 127.0.0.1:$port; root $d; } }
NGX
nginx -c "$d/ngx/nginx.conf" -p "$d/ngx"
trap 'kill $(cat "$d/ngx/nginx.pid") 2> /dev/null; restore_uring' EXIT
warm "$d"
echo "# substitute: $p ($(du -sh "$tree" | cut -f1)), reading $file" >&2
for c in zstd xz; do
	url="http://127.0.0.1:$port/cache-$c"
	nix_t=(); cas_t=()
	for _ in $(seq 1 "$RUNS"); do
		rm -rf "$d/nixroot" "$d/store"
		s=$(now)
		nix-store --store "$d/nixroot" --option substituters "$url" \
			--option trusted-public-keys "$(cat "$d/pk")" --realise "$p" > /dev/null 2>&1
		cat "$d/nixroot$p/$file" > /dev/null
		e=$(now)
		nix_t+=("$(echo "$e - $s" | bc)")
		mkdir -p "$d/mnt"
		"$CASTORE" --store "$d/store" mount --daemon --substituter "$url" \
			--trusted-public-key "$(cat "$d/pk")" "$d/mnt"
		s=$(now)
		cat "$d/mnt/${p#/nix/store/}/$file" > /dev/null
		e=$(now)
		umount_sys "$d/mnt"
		cas_t+=("$(echo "$e - $s" | bc)")
	done
	echo "substitute-$c cold nix $(printf '%s\n' "${nix_t[@]}" | median)" >> "$RECORD"
	echo "substitute-$c cold castore $(printf '%s\n' "${cas_t[@]}" | median)" >> "$RECORD"
	echo "#   substitute-$c: nix $(printf '%s\n' "${nix_t[@]}" | median) s, castore $(printf '%s\n' "${cas_t[@]}" | median) s" >&2
done
