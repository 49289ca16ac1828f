#!/bin/bash
# bench/import.sh [TREE...]: castore import against nix-store --add of the
# same trees, RUNS times each, fresh stores for both (Nix: a chroot store
# whose path is deleted before each run; castore: an empty store
# directory).  Then castore export against nix-store --dump of the path
# each imported (byte-identical NARs, checked).  Prints medians and
# castore's ratio to Nix (< 1: faster).
# Note: castore makes the imported bytes durable (syncfs before anything
# refers to them); Nix 2.8 does not fsync file contents.
set -euo pipefail
cd "$(dirname "$0")/.."
CASTORE=${CASTORE:-$PWD/castore}
RUNS=${RUNS:-7}
OUT=${OUT:-bench/results-import.txt}
export NIX_CONFIG=$'experimental-features = nix-command\nsubstituters =\nbuild-users-group =\nfsync-metadata = true'

trees=("$@")
if [ ${#trees[@]} -eq 0 ]; then
	for t in /usr/lib/python3.11 /usr/include; do
		[ -d "$t" ] && trees+=("$t")
	done
fi
tmp=$(mktemp -d /var/tmp/castore-bench.XXXXXX)
trap 'rm -rf "$tmp"' EXIT

now() { date +%s.%N; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

exports=()
{
printf '%-22s %8s %6s | %-26s | %-26s\n' "" "" "" "returned" "durable (+ sync)"
printf '%-22s %8s %6s | %8s %8s %7s | %8s %8s %7s\n' tree entries MiB nix castore ratio nix castore ratio
for tree in "${trees[@]}"; do
	entries=$(find "$tree" | wc -l)
	mib=$(du -sm "$tree" | cut -f1)
	# page cache warm for both: measure the tools, not the disk
	cat $(find "$tree" -type f) > /dev/null 2>&1 || true
	nixroot="$tmp/nixroot"
	p=$(nix-store --store "$nixroot" --add "$tree")
	nix_t=(); cas_t=(); nix_d=(); cas_d=()
	for i in $(seq 1 "$RUNS"); do
		nix-store --store "$nixroot" --delete "$p" > /dev/null 2>&1
		# castore syncs the filesystem: flush everyone's writeback first,
		# so neither tool pays for the other's
		sync
		s=$(now); nix-store --store "$nixroot" --add "$tree" > /dev/null; e=$(now)
		sync; d=$(now)
		nix_t+=("$(echo "$e - $s" | bc)"); nix_d+=("$(echo "$d - $s" | bc)")
		rm -rf "$tmp/cas"
		sync
		s=$(now); "$CASTORE" --store "$tmp/cas" import "$tree" > /dev/null; e=$(now)
		sync; d=$(now)
		cas_t+=("$(echo "$e - $s" | bc)"); cas_d+=("$(echo "$d - $s" | bc)")
	done
	nm=$(printf '%s\n' "${nix_t[@]}" | median)
	cm=$(printf '%s\n' "${cas_t[@]}" | median)
	nd=$(printf '%s\n' "${nix_d[@]}" | median)
	cd_=$(printf '%s\n' "${cas_d[@]}" | median)
	printf '%-22s %8d %6d | %7.3fs %7.3fs %7.2f | %7.3fs %7.3fs %7.2f\n' \
		"$tree" "$entries" "$mib" "$nm" "$cm" "$(echo "$cm / $nm" | bc -l)" \
		"$nd" "$cd_" "$(echo "$cd_ / $nd" | bc -l)"
	# export of the path just imported: the NAR of each, to a pipe
	# (nix-store --dump serializes the path as it lies on disk)
	nixdir="$nixroot$p"
	cmp <(nix-store --dump "$nixdir") <("$CASTORE" --store "$tmp/cas" export "$p")
	dump_t=(); exp_t=()
	for i in $(seq 1 "$RUNS"); do
		s=$(now); nix-store --dump "$nixdir" | cat > /dev/null; e=$(now)
		dump_t+=("$(echo "$e - $s" | bc)")
		s=$(now); "$CASTORE" --store "$tmp/cas" export "$p" | cat > /dev/null; e=$(now)
		exp_t+=("$(echo "$e - $s" | bc)")
	done
	exports+=("$(printf '%-22s %8d %6d | %7.3fs %7.3fs %7.2f' "$tree" "$entries" "$mib" \
		"$(printf '%s\n' "${dump_t[@]}" | median)" "$(printf '%s\n' "${exp_t[@]}" | median)" \
		"$(echo "$(printf '%s\n' "${exp_t[@]}" | median) / $(printf '%s\n' "${dump_t[@]}" | median)" | bc -l)")")
done
echo
printf '%-22s %8s %6s | %-26s\n' "" "" "" "export (NAR to a pipe)"
printf '%-22s %8s %6s | %8s %8s %7s\n' tree entries MiB nix castore ratio
printf '%s\n' "${exports[@]}"
} | tee "$OUT"
echo "(medians of $RUNS runs; written to $OUT)"
