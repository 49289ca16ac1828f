#!/bin/bash
# bench/gc.sh: garbage collection of a store of GC_PATHS small paths (one
# file each; half of them roots, half garbage): castore gc against
# nix-store --gc of the same paths in a chroot Nix store (its roots:
# symlinks in its gcroots).  A gc cannot be repeated on the same store:
# each round makes both stores afresh (some minutes for 100,000 paths),
# so the default is one round (GC_RUNS for more, medians).
source "$(dirname "$0")/lib.sh"
n=${GC_PATHS:-100000}
runs=${GC_RUNS:-1}
d="$WORKDIR/gc"
export NIX_CONFIG=$'experimental-features = nix-command\nsubstituters =\nbuild-users-group ='
if [ ! -e "$d/src.done" ] || [ "$(cat "$d/src.done")" != "$n" ]; then
	rm -rf "$d"
	mkdir -p "$d/src"
	(cd "$d/src" && seq 1 "$n" | awk '{ f = "f" $1; print "castore gc bench " $1 > f; close(f) }')
	echo "$n" > "$d/src.done"
fi
half=$((n / 2))
cas_t=(); nix_t=()
for _ in $(seq 1 "$runs"); do
	rm -rf "$d/store" "$d/nix"
	echo "# gc: $n paths into castore and Nix (half rooted)" >&2
	(cd "$d/src" && seq 1 "$half" | sed 's/^/f/' |
		xargs -n 5000 "$CASTORE" --store "$d/store" import > /dev/null)
	(cd "$d/src" && seq $((half + 1)) "$n" | sed 's/^/f/' |
		xargs -n 5000 "$CASTORE" --store "$d/store" import --no-root > /dev/null)
	(cd "$d/src" && seq 1 "$n" | sed 's/^/f/' |
		xargs -n 5000 nix-store --store "$d/nix" --add 2> /dev/null) > "$d/nixpaths"
	mkdir -p "$d/nix/nix/var/nix/gcroots/bench"
	head -n "$half" "$d/nixpaths" | python3 -c '
import os, sys
for p in sys.stdin.read().split():
    os.symlink(p, os.path.join(sys.argv[1], os.path.basename(p)))' "$d/nix/nix/var/nix/gcroots/bench"
	sync
	s=$(now)
	"$CASTORE" --store "$d/store" gc > "$d/cas.out"
	e=$(now)
	cas_t+=("$(echo "$e - $s" | bc)")
	grep -q "^$half store paths deleted" <(tail -1 "$d/cas.out") ||
		die "castore gc deleted $(tail -1 "$d/cas.out"), not $half paths"
	sync
	s=$(now)
	nix-store --store "$d/nix" --gc > "$d/nix.out" 2>&1
	e=$(now)
	nix_t+=("$(echo "$e - $s" | bc)")
	grep -q "^$half store paths deleted" "$d/nix.out" ||
		die "nix-store --gc: $(tail -1 "$d/nix.out")"
done
c=$(printf '%s\n' "${cas_t[@]}" | median)
x=$(printf '%s\n' "${nix_t[@]}" | median)
echo "gc-$n-paths castore $c nix $x" >> "$RECORD.gc"
echo "#   gc of $n paths ($half garbage): castore $c s, nix $x s" >&2
