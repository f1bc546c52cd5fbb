# shellcheck shell=bash
# Shell functions shared by the benchmarks (bench/defrag.sh, bench/aged.sh),
# sourced after tests/lib/volume.sh (they use its VOL_* and vol__umount).

R() { "$RELAYOUT" "$@"; }

# layout: "path size physical-runs" of every regular file (runs as
# START+LEN, in bytes, physically adjacent extents merged). One filefrag
# per batch of files (xargs), not per file: thousands of files in seconds.
layout() {
	find "$VOL_MNT" -xdev -type f ! -name 'low-groups' -print0 | sort -z |
		xargs -0 -r filefrag -v -b1 2>/dev/null | awk '
		function flush() { if (f != "") { if (n) printf "%.0f+%.0f,", ps, pe - ps; printf "\n" } }
		/^File size of .* is [0-9]+ \(/ {
			flush()
			h = $0; sub(/^File size of /, "", h)
			i = match(h, / is [0-9]+ \([0-9]+ blocks? of [0-9]+ bytes\)$/)
			f = substr(h, 1, i - 1); sz = substr(h, i + 4); sub(/ .*/, "", sz)
			printf "%s\t%s\t", f, sz; n = 0; next }
		f != "" && $1 ~ /^[0-9]+:$/ {
			gsub(/\.\./, " "); gsub(/:/, " ");
			if (n && $4 == pe) { pe = $4 + $6; next }
			if (n) printf "%.0f+%.0f,", ps, pe - ps;
			ps = $4; pe = $4 + $6; n++ }
		END { flush() }'
}
extents() { awk -F'\t' '{ n += gsub(/,/, ",", $3) } END { print n + 0 }' "$1"; }
# moved BEFORE AFTER: bytes of each file's runs after that lie outside
# its runs before (data written to a new place).
moved() {
	join -t $'\t' <(sort "$1") <(sort "$2") |
		awk -F'\t' '$3 != $5 {
			nb = split($3, B, ","); na = split($5, A, ",")
			for (i = 1; i <= na; i++) {
				if (A[i] == "") continue
				split(A[i], a, "+"); s = a[1]; e = a[1] + a[2]; in_old = 0
				for (k = 1; k <= nb; k++) {
					if (B[k] == "") continue
					split(B[k], x, "+"); lo = x[1] > s ? x[1] : s
					hi = x[1] + x[2] < e ? x[1] + x[2] : e
					if (hi > lo) in_old += hi - lo
				}
				b += a[2] - in_old
			}
		} END { print b + 0 }'
}
# changed BEFORE AFTER: paths of the files whose runs changed.
changed() {
	join -t $'\t' <(sort "$1") <(sort "$2") | awk -F'\t' '$3 != $5 { print $1 }'
}
freefrags() { R --json -e freefrag "$VOL_MNT" | jq -r .free_extents; }

# restore: the starting image back, on a fresh loop device (a device kept
# across the copy can serve stale blocks: once seen on XFS, a round that
# started from the previous tool's result).
restore() {
	vol__umount "$VOL_MNT" nolazy || vol_fail "umount"
	losetup -d "$VOL_DEV" || vol_fail "losetup -d"
	cp --sparse=always "$VOL_DIR/base.img" "$VOL_IMG"
	VOL_DEV=$(losetup -f --show "$VOL_IMG") || vol_fail "losetup"
	echo "$VOL_DEV" >"$VOL_DIR/dev"
	mount "$VOL_DEV" "$VOL_MNT" || vol_fail "mount"
}
