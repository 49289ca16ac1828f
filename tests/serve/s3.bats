#!/usr/bin/env bats
# S3: a real Ceph radosgw on loopback (started once for the file, ~15 s).
# castore pushes to it (signed, multipart for large NARs), Nix realises
# from the bucket over HTTP, castore fetches and mounts from s3://.

load lib
source "$BATS_TEST_DIRNAME/../s3/radosgw.bash"

setup_file() {
	net_setup_file
	cat > "$F/big.nix" <<'NIX'
{
  big = builtins.derivation {
    name = "castore-s3-big"; system = builtins.currentSystem; builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir $out; /bin/dd if=/dev/urandom of=$out/blob bs=1M count=12 2>/dev/null" ];
  };
  huge = builtins.derivation {
    name = "castore-s3-huge"; system = builtins.currentSystem; builder = "/bin/sh";
    args = [ "-c" "/bin/mkdir $out; /bin/dd if=/dev/urandom of=$out/blob bs=1M count=64 2>/dev/null" ];
  };
}
NIX
	BIG=$(nix-build --no-out-link "$F/big.nix" -A big 2>/dev/null)
	HUGE=$(nix-build --no-out-link "$F/big.nix" -A huge 2>/dev/null)
	export BIG HUGE
	nix copy --to "file://$F/cache-big?compression=none&secret-key=$F/sk" "$BIG" "$HUGE" 2>/dev/null
	export SRC="$F/src"
	serve_store_make "$SRC"
	CASTORE_STORE="$SRC" "$CASTORE" fetch --no-nix-conf --substituter "file://$F/cache-big" \
		--trusted-public-key "$PK" "$BIG" "$HUGE" > /dev/null
	rgw_start "$F/rgw"
	export S3_OPTS="endpoint=$RGW_ENDPOINT&scheme=http&region=us-east-1"
}

teardown_file() {
	rgw_stop
	nginx_stop
}

setup() {
	WORK="$BATS_TEST_TMPDIR/work"
	mkdir -p "$WORK"
	export CASTORE_STORE="$SRC"
	export AWS_ACCESS_KEY_ID="$RGW_ACCESS" AWS_SECRET_ACCESS_KEY="$RGW_SECRET"
	MNT="$BATS_TEST_TMPDIR/mnt"
}

teardown() {
	end_mounts
}

# s3_curl METHOD BUCKET/KEY [curl options]: a signed request; prints the
# status
s3_curl() {
	local method="$1" key="$2" sha how
	shift 2
	sha=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
	# -I, not -X HEAD: curl would wait for the body a HEAD never has
	how=(-X "$method")
	[ "$method" != HEAD ] || how=(-I)
	curl -s -o "$WORK/s3.out" -w '%{http_code}' "${how[@]}" --aws-sigv4 aws:amz:us-east-1:s3 \
		--user "$RGW_ACCESS:$RGW_SECRET" -H "x-amz-content-sha256: $sha" "$@" \
		"http://$RGW_ENDPOINT/$key"
}

# s3_uploads BUCKET: the keys of the bucket's multipart uploads in
# progress (begun, neither completed nor aborted), one a line; fails if
# the bucket cannot be listed (it does not exist yet).
s3_uploads() {
	# "uploads=": curl signs the query as S3 reads it only with the "="
	[ "$(s3_curl GET "$1?uploads=")" = 200 ] || return 1
	grep -o '<Key>[^<]*</Key>' "$WORK/s3.out" | sed 's/<[^>]*>//g'
}

# upload_begun_or_ended PID BUCKET: PID has begun a multipart upload to
# BUCKET, or has ended (for wait_for: the caller tells which).
upload_begun_or_ended() {
	kill -0 "$1" 2>/dev/null || return 0
	[ -n "$(s3_uploads "$2")" ]
}

# Let anyone read a bucket's objects (for Nix, which reads it over HTTP).
public_read() {
	local pol sha
	pol='{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::'"$1"'/*"]}]}'
	sha=$(printf %s "$pol" | sha256sum | cut -d' ' -f1)
	curl -fsS -X PUT --data-binary "$pol" --aws-sigv4 aws:amz:us-east-1:s3 \
		--user "$RGW_ACCESS:$RGW_SECRET" -H "x-amz-content-sha256: $sha" \
		"http://$RGW_ENDPOINT/$1?policy="
}

@test "push -r to radosgw, multipart for large NARs; Nix realises from the bucket" {
	run "$CASTORE" push -r -j 3 --to "s3://cache1?$S3_OPTS&secret-key=$F/sk&compression=zstd&multipart-threshold=6M&multipart-chunk-size=5M" "$TOP" "$BIG"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"3 paths pushed"* ]]
	# the large NAR went up in parts: S3's ETag says how many
	[ "$(s3_curl GET "cache1/$(hash_of "$BIG").narinfo")" = 200 ]
	nar=$(sed -n 's/^URL: //p' "$WORK/s3.out")
	[ "$(s3_curl HEAD "cache1/$nar" -D "$WORK/h")" = 200 ]
	grep -qi '^etag: "[0-9a-f]*-3"' "$WORK/h"
	# the small ones in one PUT
	[ "$(s3_curl GET "cache1/$(hash_of "$DEP").narinfo")" = 200 ]
	[ "$(s3_curl HEAD "cache1/$(sed -n 's/^URL: //p' "$WORK/s3.out")" -D "$WORK/h")" = 200 ]
	# (a plain MD5 ETag: no "-PARTS" after it)
	grep -Eqi '^etag: "[0-9a-f]{32}"' "$WORK/h" || { cat "$WORK/h"; false; }
	public_read cache1
	run nix_realise "$WORK/nix" "http://$RGW_ENDPOINT/cache1" "$PK"
	echo "$output"
	[ "$status" -eq 0 ]
	same_as_nix "$WORK/nix" "$TOP" "$DEP"
	XDG_CACHE_HOME="$WORK/nix.cache" nix-store --store "$WORK/nix" --realise "$BIG" \
		--option substituters "http://$RGW_ENDPOINT/cache1" --option trusted-public-keys "$PK"
	same_as_nix "$WORK/nix" "$BIG"
	# a second push finds everything
	run "$CASTORE" push -r --to "s3://cache1?$S3_OPTS" "$TOP" "$BIG"
	[ "$status" -eq 0 ]
	[[ "$output" == *"0 paths pushed (0.0 MiB), 3 already in the cache"* ]]
}

@test "castore fetches and mounts from an s3:// substituter (signed requests: the bucket is private)" {
	"$CASTORE" push -r --to "s3://cache2?$S3_OPTS&compression=xz" "$TOP" > /dev/null 2>&1
	# private: an unsigned read is refused
	[ "$(curl -s -o /dev/null -w '%{http_code}' "http://$RGW_ENDPOINT/cache2/nix-cache-info")" = 403 ]
	export CASTORE_STORE="$WORK/fetched"
	run "$CASTORE" fetch -r --no-nix-conf --substituter "s3://cache2?$S3_OPTS" --trusted-public-key "$PK" "$TOP"
	echo "$output"
	[ "$status" -eq 0 ]
	"$CASTORE" verify
	for p in "$TOP" "$DEP"; do
		"$CASTORE" export "$p" | cmp - <(nix-store --dump "$p")
	done
	export CASTORE_STORE="$WORK/mounted"
	mount_castore "$MNT" --no-nix-conf --substituter "s3://cache2?$S3_OPTS" --trusted-public-key "$PK"
	cmp "$MNT/$(basename "$DEP")/share/big" "$DEP/share/big"
	[ "$("$MNT/$(basename "$TOP")/bin/hello")" = hi ]
	# credentials from ~/.aws/credentials and profile=
	unmount_castore "$MNT" "$MOUNT_PID"
	mkdir -p "$WORK/home/.aws"
	printf '[default]\naws_access_key_id = nobody\naws_secret_access_key = x\n[ci]\naws_access_key_id = %s\naws_secret_access_key = %s\n' \
		"$RGW_ACCESS" "$RGW_SECRET" > "$WORK/home/.aws/credentials"
	export CASTORE_STORE="$WORK/profiled"
	run env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$WORK/home" \
		"$CASTORE" fetch --no-nix-conf --substituter "s3://cache2?$S3_OPTS&profile=ci" --trusted-public-key "$PK" "$DEP"
	echo "$output"
	[ "$status" -eq 0 ]
}

@test "a wrong secret: a clear 403 and nothing changes; no credentials: said so" {
	run env AWS_SECRET_ACCESS_KEY=wrong "$CASTORE" push -r --to "s3://cache3?$S3_OPTS" "$TOP"
	echo "$output"
	[ "$status" -eq 1 ]
	# the first request (HEAD of the bucket: no body, so no S3 error
	# code), refused
	[[ "$output" == *"push: s3://cache3?$S3_OPTS: HEAD http://$RGW_ENDPOINT/cache3/: HTTP status 403"* ]]
	[ "$(s3_curl HEAD cache3/nix-cache-info)" = 404 ]
	"$CASTORE" push --to "s3://cache3?$S3_OPTS" "$DEP" > /dev/null 2>&1
	export CASTORE_STORE="$WORK/empty"
	run env AWS_SECRET_ACCESS_KEY=wrong "$CASTORE" fetch --no-nix-conf --substituter "s3://cache3?$S3_OPTS" --trusted-public-key "$PK" "$DEP"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"403: access denied (check the S3 credentials"* ]]
	[ -z "$(find "$WORK/empty/blobs" -type f ! -path "$WORK/empty/blobs/tmp/*" 2>/dev/null)" ]
	run "$CASTORE" path-info "$DEP"
	echo "$output"
	[ "$status" -eq 1 ]
	[[ "$output" == *"is not in the store"* ]]
	run env -u AWS_ACCESS_KEY_ID -u AWS_SECRET_ACCESS_KEY HOME="$WORK/nohome" \
		"$CASTORE" push --to "s3://cache3?$S3_OPTS" "$DEP"
	[ "$status" -eq 1 ]
	[[ "$output" == *"no S3 credentials"* ]]
}

@test "a push killed mid-upload leaves no narinfo; the next one completes" {
	# the 64 MiB NAR, uncompressed (the upload begins at once), in 13
	# parts of 5 MiB
	CASTORE_STORE="$SRC" "$CASTORE" push --to "s3://cache4?$S3_OPTS&compression=none&multipart-threshold=5M&multipart-chunk-size=5M" "$HUGE" > "$WORK/push.log" 2>&1 3>&- &
	pid=$!
	# kill it while it uploads: S3 lists its multipart upload once begun
	wait_for 300 "the push to begin its multipart upload" upload_begun_or_ended "$pid" cache4
	kill -STOP "$pid" 2>/dev/null || { cat "$WORK/push.log"; echo "the push ended before its upload was seen"; false; }
	# stopped there: what S3 has in progress then, and the kill
	s3_uploads cache4 > "$WORK/uploads" || true
	kill -9 "$pid"
	wait_ended "castore push (SIGKILLed)" "$pid" 137
	cat "$WORK/push.log"
	# it was killed mid-upload: its upload was still in progress
	cat "$WORK/uploads"
	nar=$(grep "^nar/" "$WORK/uploads")
	[ -n "$nar" ] || { echo "the push's upload was no longer in progress when killed"; false; }
	if grep -q "pushed $HUGE" "$WORK/push.log"; then
		echo "the push said it pushed $HUGE, yet it was killed mid-upload"
		false
	fi
	# neither the narinfo nor the NAR is there: S3 shows an object of a
	# multipart upload only once completed
	[ "$(s3_curl HEAD "cache4/$(hash_of "$HUGE").narinfo")" = 404 ]
	[ "$(s3_curl HEAD "cache4/$nar")" = 404 ]
	run "$CASTORE" push --to "s3://cache4?$S3_OPTS&compression=zstd" "$HUGE"
	echo "$output"
	[ "$status" -eq 0 ]
	[[ "$output" == *"1 path pushed"*", 0 already in the cache, 0 failed"* ]]
	[ "$(s3_curl GET "cache4/$(hash_of "$HUGE").narinfo")" = 200 ]
	[ "$(s3_curl HEAD "cache4/$(sed -n 's/^URL: //p' "$WORK/s3.out")")" = 200 ]
}
