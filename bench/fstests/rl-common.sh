#!/bin/bash
# Shared part of the fstests defragmenter wrappers: run relayout's defrag
# on the given targets instead of e4defrag / xfs_fsr / btrfs defragment.
#   RELAYOUT        relayout binary (bench/fstests.sh sets it)
#   RL_WRAP_LOG     log of every invocation (default: $TMPDIR/relayout-fstests.log)
#   RL_WRAP_UNSHARE 1 (default): pass --unshare, as the stock tools also
#                   break reflink sharing when they rewrite a file; 0: don't
#   RELAYOUT_JOURNAL_DIR  relayout's undo journal (default: beside the log)
RELAYOUT=${RELAYOUT:?RELAYOUT: the relayout binary}
RL_WRAP_LOG=${RL_WRAP_LOG:-${TMPDIR:-/tmp}/relayout-fstests.log}
RL_WRAP_UNSHARE=${RL_WRAP_UNSHARE:-1}
export RELAYOUT_JOURNAL_DIR=${RELAYOUT_JOURNAL_DIR:-$RL_WRAP_LOG.journal}

rl_log() { printf '%s\n' "$*" >> "$RL_WRAP_LOG"; }

# rl_defrag TOOL DRYRUN(0|1) TARGET...
# Targets are files, directories, or block devices / mount points (whole fs).
# One relayout run per mount point, all its targets in one defrag command.
rl_defrag() {
	local tool=$1 dry=$2; shift 2
	local t abs mnt dev rc=0 r
	local -A files=() recur=()
	local -a order=()
	for t in "$@"; do
		if [ -b "$t" ]; then
			dev=$(readlink -f -- "$t")
			mnt=$(findmnt -n -f -o TARGET --source "$dev")
			if [ -z "$mnt" ]; then
				echo "$tool: $t: not mounted" >&2
				rl_log "  target $t: block device not mounted -> error"
				rc=1; continue
			fi
			abs=$mnt
		elif [ -e "$t" ]; then
			abs=$(realpath -- "$t")
			mnt=$(findmnt -n -f -o TARGET -T "$abs")
		else
			echo "$tool: $t: No such file or directory" >&2
			rl_log "  target $t: does not exist -> error"
			rc=1; continue
		fi
		[ -n "${files[$mnt]+x}" ] || order+=("$mnt")
		files[$mnt]+=" $abs"
		[ -d "$abs" ] && recur[$mnt]=1
	done
	for mnt in "${order[@]}"; do
		local opts=""
		[ -n "${recur[$mnt]}" ] && opts+=" --recursive"
		[ "$RL_WRAP_UNSHARE" = 1 ] && opts+=" --unshare"
		[ "$dry" = 1 ] && opts+=" --dry-run"
		# relayout takes at most 64 words after the command name
		# (CMD_MAX_ARGS): one defrag command per 32 paths, "; "-joined,
		# run with -k so that one failed batch does not stop the rest.
		local -a paths=(${files[$mnt]})
		local cmd="" i
		for ((i = 0; i < ${#paths[@]}; i += 32)); do
			[ -n "$cmd" ] && cmd+="; "
			cmd+="defrag$opts ${paths[*]:i:32}"
		done
		rl_log "  run: cd / && $RELAYOUT -k -e '$cmd' $mnt"
		local out
		out=$(cd / && "$RELAYOUT" -k -e "$cmd" "$mnt" 2>&1)
		r=$?
		printf '%s\n' "$out"
		printf '%s\n' "$out" | sed 's/^/  | /' >> "$RL_WRAP_LOG"
		rl_log "  exit status: $r"
		[ $r -ne 0 ] && rc=$r
	done
	return $rc
}
