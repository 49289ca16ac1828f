#!/bin/bash
# make bench: every workload group, one table of medians and ratios,
# written to stdout and bench/results.txt.
source "$(dirname "$0")/lib.sh"
: > "$RECORD"
: > "$RECORD.gc"
: > "$RECORD.extra"
trees=()
[ -d /root/.pyenv/versions/3.11.7 ] && trees+=("python /root/.pyenv/versions/3.11.7")
[ -d /usr/lib/python3.11 ] && [ ${#trees[@]} -eq 0 ] && trees+=("python /usr/lib/python3.11")
trees+=("include /usr/include")
for t in "${trees[@]}"; do
	"$BENCH_DIR/walk.sh" $t
done
"$BENCH_DIR/bigfile.sh"
"$BENCH_DIR/rss.sh"
"$BENCH_DIR/substitute.sh"
if [ -e "$WORKDIR/python-nixlike/ready" ]; then
	"$BENCH_DIR/quota.sh" python-nixlike
else
	"$BENCH_DIR/quota.sh" include
fi
"$BENCH_DIR/gc.sh"
if [ -e "$WORKDIR/python-nixlike/ready" ] || [ -d /root/.pyenv/versions/3.11.7 ]; then
	"$BENCH_DIR/serve.sh" "${trees[0]#* }"
else
	"$BENCH_DIR/serve.sh" /usr/include
fi
{
	echo "castore bench, $(date -u +%Y-%m-%d), $(uname -r), $(nproc) cores; $(uring_state); medians of $RUNS runs (seconds unless named)"
	table
	awk '{ printf "%s: %s %.3f s, %s %.3f s: %.2fx\n", $1, $2, $3, $4, $5, ($5 > 0 ? $3 / $5 : 0) }' "$RECORD.gc"
	cat "$RECORD.extra"
	echo
	"$BENCH_DIR/import.sh" "${trees[@]#* }"
} | tee "$RESULTS"
