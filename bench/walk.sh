#!/bin/bash
# bench/walk.sh NAME TREE: metadata walk and full read of a real tree on
# each system -- find -printf '%s %m %y' and tar cf - . | cat, each from a
# fresh mount (cold) and again on the same mount (warm); and, where the
# tree is a Python installation, starting its interpreter from the mount.
source "$(dirname "$0")/lib.sh"
name=$1 tree=$2
py=$(cd "$tree" && ls bin/python3.[0-9]* 2>/dev/null | grep -v config | head -1 || true)
if [ -n "$py" ]; then
	# As a Nix store holds it: every mtime 1 (castore shows 1, as Nix's
	# store does), with .pyc files compiled against mtime 1 as nixpkgs
	# builds them.  Otherwise every .pyc is stale on castore (and valid
	# on the peers, which keep mtimes) and Python recompiles each module.
	nixlike="$WORKDIR/src-$name-nixlike"
	if [ ! -e "$nixlike.done" ]; then
		echo "# making $nixlike (mtime 1, .pyc recompiled)" >&2
		rm -rf "$nixlike"
		cp -a "$tree" "$nixlike"
		find "$nixlike" -exec touch -h -d @1 {} +
		"$nixlike/$py" -m compileall -q -f -j0 "$nixlike/lib" > /dev/null 2>&1 || true
		find "$nixlike" -exec touch -h -d @1 {} +
		touch "$nixlike.done"
	fi
	tree=$nixlike
	name=$name-nixlike
fi
prepare "$name" "$tree"
echo "# $name: $tree, $(find "$tree" | wc -l) entries, $(du -sh "$tree" | cut -f1)" >&2

find_walk() { find "$1" -printf '%s %m %y\n'; }
tar_all() { (cd "$1" && tar cf - . | cat > /dev/null); }
py_import() { "$1/$py" -c 'import json, email, asyncio, decimal'; }

measure "find-$name" "$name" find_walk
measure "tar-$name" "$name" tar_all
if [ -n "$py" ]; then
	# warm: the mean of 10 starts in a row (one start is ~0.1 s)
	measure "python-import-$name" "$name" py_import 10
fi
"$BENCH_DIR/kernel-image.sh" "$name"
