# Boot helpers for the virtiofs tests: a Debian guest kernel (downloaded
# once, cached), a busybox initramfs the tests build, QEMU under TCG.
# The guest runs a script and reports over the serial console between
# "=== BEGIN" and "=== END rc=N".

VM_DIR="${VM_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)}"
VM_CACHE="${CASTORE_VM_CACHE:-/var/cache/castore-vm}"
VM_TIMEOUT="${VM_TIMEOUT:-300}"

# vm_kernel: make sure the cache holds the kernel that linux-image-amd64
# depends on and the modules the guest needs; sets VM_KERNEL, VM_MODULES.
vm_kernel() {
	local pkg ver dir tmp
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-/{print $2; exit}')
	if [ -z "$pkg" ]; then
		# no package index: take whatever was cached before
		dir=$(ls -d "$VM_CACHE"/linux-image-* 2>/dev/null | tail -1)
		[ -n "$dir" ] || { echo "vm_kernel: no package index and no cached kernel" >&2; return 1; }
		pkg=$(basename "$dir")
	fi
	dir="$VM_CACHE/$pkg"
	if [ ! -e "$dir/done" ]; then
		mkdir -p "$VM_CACHE"
		tmp=$(mktemp -d "$VM_CACHE/dl.XXXXXX")
		(cd "$tmp" && apt-get download "$pkg" >/dev/null 2>&1) ||
			{ rm -rf "$tmp"; echo "vm_kernel: apt-get download $pkg failed" >&2; return 1; }
		dpkg-deb -x "$tmp"/*.deb "$tmp/root"
		ver=${pkg#linux-image-}
		rm -rf "$dir"; mkdir -p "$dir/modules"
		cp "$tmp/root/boot/vmlinuz-$ver" "$dir/vmlinuz"
		find "$tmp/root/lib/modules/$ver/kernel" -name '*.ko' \
			\( -path '*/drivers/virtio/*' -o -path '*/fs/fuse/*' \
			-o -path '*/fs/9p/*' -o -path '*/net/9p/*' -o -path '*/fs/netfs/*' \
			-o -path '*/fs/fscache/*' \) -exec cp {} "$dir/modules/" \;
		rm -rf "$tmp"
		touch "$dir/done"
	fi
	VM_KERNEL="$dir/vmlinuz"
	VM_MODULES="$dir/modules"
}

# vm_initrd OUT SCRIPT [MODULE...]: an initramfs whose /init loads the
# virtio and FUSE modules (and any MODULE named), runs SCRIPT with the
# probe in /bin, and powers off.
vm_initrd() {
	local out="$1" script="$2" root m
	shift 2
	root=$(mktemp -d)
	mkdir -p "$root"/{bin,lib/modules,proc,sys,dev,mnt,tmp}
	cp /bin/busybox "$root/bin/busybox"
	cp "$VM_PROBE" "$root/bin/probe"
	for m in virtio_ring virtio virtio_pci_modern_dev virtio_pci_legacy_dev \
		virtio_pci fuse virtiofs "$@"; do
		cp "$VM_MODULES/$m.ko" "$root/lib/modules/" || return 1
		echo "$m" >> "$root/modules.list"
	done
	cp "$script" "$root/test.sh"
	cat > "$root/init" <<'INIT'
#!/bin/busybox sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
for m in $(cat /modules.list); do insmod /lib/modules/$m.ko; done
echo "=== BEGIN"
sh /test.sh
echo "=== END rc=$?"
poweroff -f
INIT
	chmod +x "$root/init"
	(cd "$root" && find . | cpio -o -H newc --quiet | gzip -1 > "$out")
	rm -rf "$root"
}

# vm_boot INITRD OUT [QEMU ARGS...]: boot the guest; its console goes to
# OUT (carriage returns removed) and QEMU's PID to OUT.pid (-pidfile:
# written before the guest starts, so that a test can kill QEMU by its
# PID).  vm_boot runs in the foreground: use "vm_boot ... &" to go on.
vm_boot() {
	local initrd="$1" out="$2"
	shift 2
	rm -f "$out.pid"
	timeout "$VM_TIMEOUT" qemu-system-x86_64 -machine q35,accel=tcg -cpu max \
		-pidfile "$out.pid" \
		-smp "${VM_SMP:-1}" -m "${VM_MEM:-512M}" \
		-object memory-backend-memfd,id=mem,size="${VM_MEM:-512M}",share=on \
		-numa node,memdev=mem "$@" \
		-kernel "$VM_KERNEL" -initrd "$initrd" \
		-append "console=ttyS0 quiet loglevel=1 panic=-1" \
		-nographic -no-reboot -nodefaults -serial stdio \
		< /dev/null 2>&1 | stdbuf -oL tr -d '\r' > "$out"
}

# vm_fs_args SOCKET [TAG] [QUEUES]: QEMU's arguments for a vhost-user-fs
# device on SOCKET.
vm_fs_args() {
	local q=""
	[ -z "${3:-}" ] || q=",num-request-queues=$3"
	echo "-chardev socket,id=vfs,path=$1 -device vhost-user-fs-pci,queue-size=1024,chardev=vfs,tag=${2:-castore}$q"
}

# vm_report OUT: the guest's report (between the markers); fails unless
# the script ran to its end with status 0.
vm_report() {
	sed -n '/^=== BEGIN$/,/^=== END rc=/p' "$1" | sed '1d;$d'
	grep -qx '=== END rc=0' "$1"
}
