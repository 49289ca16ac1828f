#!/bin/bash
# make bench: every workload group, one table of medians and ratios,
# written to stdout and bench/results.txt.
source "$(dirname "$0")/lib.sh"
: > "$RECORD"
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
{
	echo "castore bench, $(date -u +%Y-%m-%d), $(uname -r), $(nproc) cores; $(uring_state); medians of $RUNS runs (seconds unless named)"
	table
	echo
	"$BENCH_DIR/import.sh" "${trees[@]#* }"
} | tee "$RESULTS"
