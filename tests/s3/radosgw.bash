# A throwaway Ceph cluster on loopback for the S3 tests: one monitor, one
# memstore OSD and radosgw, with authentication off inside the cluster
# and an S3 user for the tests.  Started once per test file (about 13 s)
# under $RGW_DIR, stopped by the PIDs it records.
#
#   rgw_start DIR   exports RGW_ENDPOINT (127.0.0.1:PORT), RGW_ACCESS,
#                   RGW_SECRET; returns non-zero (with the logs' tails)
#                   if the cluster did not come up
#   rgw_stop        kills radosgw, the OSD and the monitor

free_port() {
	python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

rgw_start() {
	RGW_DIR=$1
	export RGW_DIR
	local fsid mon2 mon1 port id u i
	fsid=$(uuidgen)
	mon2=$(free_port)
	mon1=$(free_port)
	port=$(free_port)
	mkdir -p "$RGW_DIR"/{run,log,mon.a,osd.0,rgw.a}
	cat > "$RGW_DIR/ceph.conf" <<CONF
[global]
fsid = $fsid
mon host = [v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]
mon initial members = a
public addr = 127.0.0.1
auth cluster required = none
auth service required = none
auth client required = none
auth supported = none
ms client mode = crc secure
ms mon client mode = crc secure
auth allow insecure global id reclaim = true
osd pool default size = 1
osd pool default min size = 1
osd pool default pg num = 8
osd pool default pgp num = 8
mon allow pool size one = true
mon warn on pool no redundancy = false
osd crush chooseleaf type = 0
mon max pg per osd = 1000
run dir = $RGW_DIR/run
admin socket = $RGW_DIR/run/\$name.asok
log file = $RGW_DIR/log/\$name.log
ms bind ipv6 = false
mon data avail crit = 1
mon data avail warn = 2
[mon.a]
mon data = $RGW_DIR/mon.a
[osd.0]
osd data = $RGW_DIR/osd.0
osd objectstore = memstore
memstore device bytes = 1073741824
[client.rgw.a]
rgw frontends = beast endpoint=127.0.0.1:$port
rgw data = $RGW_DIR/rgw.a
keyring = $RGW_DIR/rgw.a/keyring
CONF
	local C="-c $RGW_DIR/ceph.conf"
	(
		cd "$RGW_DIR" || exit 1
		monmaptool --create --addv a "[v2:127.0.0.1:$mon2,v1:127.0.0.1:$mon1]" --fsid "$fsid" monmap > /dev/null &&
		ceph-authtool --create-keyring mon.keyring --gen-key -n mon. --cap mon 'allow *' > /dev/null &&
		ceph-mon $C --mkfs -i a --monmap monmap --keyring mon.keyring
	) || return 1
	ceph-mon $C -i a -f > "$RGW_DIR/log/mon.out" 2>&1 3>&- &
	echo $! > "$RGW_DIR/mon.pid"
	for i in $(seq 1 100); do
		timeout 5 ceph $C mon stat > /dev/null 2>&1 && break
		sleep 0.2
	done
	u=$(uuidgen)
	id=$(timeout 30 ceph $C osd new "$u") || { tail -5 "$RGW_DIR/log/mon.out"; return 1; }
	ceph-osd $C -i "$id" --mkfs --osd-uuid "$u" > "$RGW_DIR/log/osd-mkfs.out" 2>&1 || { tail -5 "$RGW_DIR/log/osd-mkfs.out"; return 1; }
	ceph-osd $C -i "$id" -f > "$RGW_DIR/log/osd.out" 2>&1 3>&- &
	echo $! > "$RGW_DIR/osd.pid"
	for i in $(seq 1 150); do
		timeout 5 ceph $C osd stat 2>/dev/null | grep -q "1 up" && break
		sleep 0.2
	done
	ceph-authtool --create-keyring "$RGW_DIR/rgw.a/keyring" --gen-key -n client.rgw.a > /dev/null
	radosgw $C -n client.rgw.a -f > "$RGW_DIR/log/rgw.out" 2>&1 3>&- &
	echo $! > "$RGW_DIR/rgw.pid"
	export RGW_ENDPOINT="127.0.0.1:$port"
	for i in $(seq 1 300); do
		curl -s -o /dev/null "http://$RGW_ENDPOINT/" && break
		sleep 0.1
	done
	curl -s -o /dev/null "http://$RGW_ENDPOINT/" || {
		echo "radosgw did not answer on $RGW_ENDPOINT"
		tail -5 "$RGW_DIR/log/rgw.out" "$RGW_DIR/log/client.rgw.a.log"
		return 1
	}
	export RGW_ACCESS=CASTORETESTKEY RGW_SECRET=castoretestsecret
	timeout 60 radosgw-admin $C user create --uid=castore --display-name=castore \
		--access-key="$RGW_ACCESS" --secret-key="$RGW_SECRET" > /dev/null
}

rgw_stop() {
	local p pid
	for p in rgw osd mon; do
		[ -e "$RGW_DIR/$p.pid" ] || continue
		pid=$(cat "$RGW_DIR/$p.pid")
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null || true
		rm -f "$RGW_DIR/$p.pid"
	done
}
