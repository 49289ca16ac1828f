# Shared set-up of the CLI and mount tests (bats).
#
# Each test gets its own store ($CASTORE_STORE) and work directory under
# $BATS_TEST_TMPDIR; Nix runs offline as the oracle.

source "$BATS_TEST_DIRNAME/../lib/common.bash"

CASTORE="${CASTORE:-$BATS_TEST_DIRNAME/../../castore}"
GEN_TREE="$BATS_TEST_DIRNAME/../gen-tree.py"
GOLDEN="$BATS_TEST_DIRNAME/../golden"
export NIX_CONFIG=$'experimental-features = nix-command\nsubstituters =\nbuild-users-group =\nsandbox = false'
NIX_X="--extra-experimental-features nix-command"

common_setup() {
	export CASTORE_STORE="$BATS_TEST_TMPDIR/store"
	WORK="$BATS_TEST_TMPDIR/work"
	mkdir -p "$WORK"
}

# The store path `nix-store --add` gives, without keeping it in /nix/store
# longer than needed.
nix_add() {
	nix-store --add "$1"
}

nix_dump_sha() {
	nix-store --dump "$1" | sha256sum | cut -d' ' -f1
}

# Compare castore with Nix for one tree: store path, NAR bytes, NAR hash.
check_against_nix() {
	local tree="$1" ours theirs
	ours=$("$CASTORE" import "$tree")
	theirs=$(nix_add "$tree")
	[ "$ours" = "$theirs" ] || {
		echo "store path differs for $tree: castore $ours, nix $theirs"
		return 1
	}
	"$CASTORE" export "$ours" > "$WORK/ours.nar"
	nix-store --dump "$tree" > "$WORK/nix.nar"
	cmp "$WORK/ours.nar" "$WORK/nix.nar" || {
		echo "NAR differs for $tree"
		return 1
	}
	local want got
	want="sha256:$(nix $NIX_X hash path --type sha256 --base32 "$tree")"
	got=$("$CASTORE" path-info "$ours" | awk '/nar-hash/ {print $2}')
	[ "$want" = "$got" ] || {
		echo "NAR hash differs: castore $got, nix $want"
		return 1
	}
	local size
	size=$("$CASTORE" path-info --json "$ours" | sed 's/.*"narSize":\([0-9]*\).*/\1/')
	[ "$size" = "$(stat -c %s "$WORK/nix.nar")" ] || {
		echo "NAR size differs: $size"
		return 1
	}
}
