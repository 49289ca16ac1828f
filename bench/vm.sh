#!/usr/bin/env bash
# make bench-vm: one guest (QEMU, TCG, Debian's kernel) sees the same tree
# through three shares at once, and times the same workloads on each:
#   castore   castore virtiofs, serving a store the tree was imported into
#   virtiofsd QEMU's C virtiofsd (/usr/lib/qemu/virtiofsd, -o cache=always)
#   9p        -virtfs local,security_model=none (NixOS test VMs' share),
#             mounted trans=virtio,version=9p2000.L,cache=loose
# Workloads: walk (lstat of every entry), tar (read every file), cold
# (after echo 3 > drop_caches in the guest) and warm (repeated), and a
# 256 MiB file read cold.  Each figure is the median of RUNS runs, in
# milliseconds inside the guest; ratios are castore / peer in this run.
# Run as root.  TREE (default /usr/include) picks the tree.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CASTORE=${CASTORE:-$ROOT/castore}
RUNS=${RUNS:-3}
TREE=${TREE:-/usr/include}
W=${BENCH_WORK:-/var/tmp/castore-bench-vm}
RESULTS=${RESULTS:-$ROOT/bench/results-vm.txt}
VIRTIOFSD=/usr/lib/qemu/virtiofsd

[ "$(id -u)" = 0 ] || { echo "bench-vm: run as root" >&2; exit 1; }
[ -x "$VIRTIOFSD" ] || { echo "bench-vm: $VIRTIOFSD missing: scripts/setup.sh --tests" >&2; exit 1; }
VM_DIR="$ROOT/tests/vm"
VM_PROBE=${VM_PROBE:-$ROOT/build/tests/guest-probe}
source "$VM_DIR/vm.bash"
vm_kernel

rm -rf "$W"
mkdir -p "$W/share"
cp -a "$TREE" "$W/share/tree"
head -c $((256 << 20)) /dev/urandom > "$W/share/big"
export CASTORE_STORE="$W/store"
P=$("$CASTORE" import "$W/share")
P=${P#/nix/store/}
entries=$(find "$W/share/tree" | wc -l)

cat > "$W/guest.sh" <<EOF
mkdir -p /c /v /p
mount -t virtiofs castore /c || exit 1
mount -t virtiofs vfsd /v || exit 1
mount -t 9p -o ro,trans=virtio,version=9p2000.L,msize=512000,cache=loose p9 /p || exit 1
run() { # SYSTEM WORKLOAD COLD COMMAND...
	s=\$1 w=\$2 c=\$3; shift 3
	[ "\$c" = cold ] || "\$@" > /dev/null
	i=0
	while [ \$i -lt $RUNS ]; do
		[ "\$c" = warm ] || { sync; echo 3 > /proc/sys/vm/drop_caches; }
		t0=\$(probe now); "\$@" > /dev/null; t1=\$(probe now)
		echo "R \$s \$w-\$c \$(( (t1 - t0) / 1000000 ))"
		i=\$((i + 1))
	done
}
for sys in castore:/c/$P virtiofsd:/v 9p:/p; do
	s=\${sys%%:*} d=\${sys#*:}
	echo "check \$s \$(probe find \$d/tree) \$(probe tar \$d/big)"
	run \$s walk cold probe find \$d/tree
	run \$s walk warm probe find \$d/tree
	run \$s tar cold probe tar \$d/tree
	run \$s tar warm probe tar \$d/tree
	run \$s read-256M cold probe tar \$d/big
done
EOF
vm_initrd "$W/initrd.gz" "$W/guest.sh" netfs fscache 9pnet 9pnet_virtio 9p

DAEMON_LOG="$W/castore.log"
"$CASTORE" virtiofs --socket-path "$W/castore.sock" --ready-fd 9 9>"$W/ready" 2>"$DAEMON_LOG" &
cpid=$!
"$VIRTIOFSD" --socket-path="$W/vfsd.sock" -o source="$W/share" -o cache=always \
	> "$W/virtiofsd.log" 2>&1 &
vpid=$!
for _ in $(seq 1 100); do
	[ -S "$W/vfsd.sock" ] && grep -q ready "$W/ready" 2>/dev/null && break
	sleep 0.1
done
echo "bench-vm: booting the guest ($entries entries in $TREE, RUNS=$RUNS)" >&2
VM_MEM=1G VM_TIMEOUT=3600 vm_boot "$W/initrd.gz" "$W/console" \
	-chardev socket,id=c1,path="$W/castore.sock" \
	-device vhost-user-fs-pci,queue-size=1024,chardev=c1,tag=castore \
	-chardev socket,id=c2,path="$W/vfsd.sock" \
	-device vhost-user-fs-pci,queue-size=1024,chardev=c2,tag=vfsd \
	-virtfs local,path="$W/share",mount_tag=p9,security_model=none,readonly=on
wait "$cpid" || true
kill "$vpid" 2>/dev/null || true
wait "$vpid" 2>/dev/null || true
grep -q '=== END rc=0' "$W/console" || { cat "$W/console" >&2; echo "bench-vm: the guest failed" >&2; exit 1; }
grep '^check ' "$W/console" >&2

# medians and ratios
python3 - "$W/console" "$RESULTS" "$TREE" "$entries" <<'PY'
import statistics, sys, datetime
runs = {}
for line in open(sys.argv[1]):
    p = line.split()
    if len(p) == 4 and p[0] == "R":
        runs.setdefault((p[1], p[2]), []).append(int(p[3]))
works = []
for (s, w) in runs:
    if w not in works:
        works.append(w)
med = {k: statistics.median(v) for k, v in runs.items()}
out = ["castore virtiofs vs QEMU's virtiofsd (cache=always) and 9p (cache=loose)",
       "in one TCG guest; %s (%s entries) and a 256 MiB file; median of %d runs; %s"
       % (sys.argv[3], sys.argv[4], len(next(iter(runs.values()))),
          datetime.date.today().isoformat()),
       "",
       "%-16s %10s %10s %10s %12s %8s" % ("workload", "castore", "virtiofsd", "9p", "c/virtiofsd", "c/9p")]
for w in works:
    c, v, p = med[("castore", w)], med[("virtiofsd", w)], med[("9p", w)]
    out.append("%-16s %8d ms %8d ms %8d ms %11.2fx %7.2fx" % (w, c, v, p, c / max(v, 1), c / max(p, 1)))
text = "\n".join(out) + "\n"
sys.stdout.write(text)
open(sys.argv[2], "w").write(text)
PY
