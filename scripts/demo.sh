#!/bin/sh
# The main job, end to end, on the embedded default store: install what
# castore needs, build it, import a real tree of this machine, mount the
# store and show the tree through the mount.  Run as root from the
# repository root:  sudo ./scripts/demo.sh [TREE]
set -eu

cd "$(dirname "$0")/.."
TREE="${1:-}"
MNT="${CASTORE_DEMO_MNT:-/tmp/castore-demo}"

./scripts/setup.sh
make -j"$(nproc)"

if [ -z "$TREE" ]; then
	for t in /usr/lib/python3.11 /usr/lib/python3 /usr/include; do
		[ -d "$t" ] && TREE=$t && break
	done
fi
[ -n "$TREE" ] || { echo "demo: no tree to import; pass one" >&2; exit 1; }

echo
echo "== store: ${CASTORE_STORE:-/var/lib/castore (the embedded default)}"
echo "== importing $TREE ($(find "$TREE" | wc -l) entries, $(du -sh "$TREE" | cut -f1))"
start=$(date +%s.%N)
P=$(./castore import "$TREE")
end=$(date +%s.%N)
echo "   $P  ($(echo "$end - $start" | bc) s)"
./castore path-info "$P"

echo
echo "== the same store path from Nix itself:"
NIX_CONFIG=$(printf 'experimental-features = nix-command\nsubstituters =\nbuild-users-group =')
export NIX_CONFIG
NIXP=$(nix-store --add "$TREE")
echo "   $NIXP"
[ "$NIXP" = "$P" ] && echo "   identical"

echo
echo "== mounting the store at $MNT"
mkdir -p "$MNT"
mountpoint -q "$MNT" && umount "$MNT"
./castore mount --daemon --list-root "$MNT"
trap 'umount "$MNT" 2>/dev/null || true' EXIT
grep " $MNT " /proc/mounts
echo "   store paths in the mount: $(ls "$MNT" | wc -l)"
B=$(basename "$P")
ls -la "$MNT/$B" | head -8
echo "   ..."
echo "== diff -r $TREE $MNT/$B"
diff -r --no-dereference "$TREE" "$MNT/$B" && echo "   no differences"
echo "== entries through the mount: $(find "$MNT/$B" | wc -l)"
f=$(find "$MNT/$B" -type f -size +1k | head -1)
echo "== $f"
stat -c '   mode %A  size %s  mtime %Y  inode %i' "$f"
printf '   xattr: '
getfattr --absolute-names --only-values -n user.snix.castore.blob.digest "$f"
echo
echo "== export through castore equals nix-store --dump: "
./castore export "$P" | cmp - "$(nix-store --dump "$TREE" > /tmp/castore-demo.nar && echo /tmp/castore-demo.nar)" && echo "   byte-identical"
rm -f /tmp/castore-demo.nar
echo
echo "demo done; unmounting $MNT (mount again: ./castore mount --list-root $MNT)"
