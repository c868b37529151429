#!/usr/bin/env bash
# scripts/fuzz-long.sh - fuzzing beyond CI: every libFuzzer target for a
# given time, the new inputs minimised into the committed corpora, and
# clang source-based coverage per target.
#
#   bash scripts/fuzz-long.sh [-t SECONDS | -c CPU-SECONDS] [-j JOBS] [TARGET...]
#
#   -t SECONDS  fuzzing time per target, wall clock (default 3600: one
#               CPU-hour per target on an idle core)
#   -c CPU-SECONDS
#               fuzz each target until its fuzzer has used this much CPU
#               (user + sys, read from /proc every 10 s), then stop it
#               gracefully (SIGUSR1); for a busy machine, where wall time
#               at nice 19 is not CPU time
#   -j JOBS     targets fuzzed at the same time (default 1)
#   TARGET      chain, iotlb, vu_dispatch, blk_req, vsock_pkt, net_tx
#               (default: every target of tests/fuzz/meson.build)
#
# Per target:
#   1. fuzz (clang, -fsanitize=fuzzer + ASan + UBSan; build/fuzz-long) at
#      nice 19 for SECONDS, new inputs into a scratch dir, the checked-in
#      corpus tests/fuzz/corpus/TARGET read as seeds;
#   2. minimise: libFuzzer -merge=1 -use_counters=0 adds to
#      tests/fuzz/corpus/TARGET only the scratch inputs that reach new
#      edges (commit them; the default
#      test command replays that directory, fuzz-TARGET-replay);
#   3. coverage: the replay binary built with -fprofile-instr-generate
#      -fcoverage-mapping (build/fuzz-cov) runs the corpus (and crashes/),
#      llvm-profdata merge + llvm-cov report over src/ (not tests/).
# Crash, leak and timeout inputs stay in build/fuzz-long/long-TARGET/art/
# and fail the run; so do slow-unit inputs that are still slow (10 s or
# more) when run again alone.  At the end one table: CPU seconds (user+sys of the
# fuzzer), executions, inputs added, region / function / line coverage.
# Each target's row is also appended to tests/fuzz/campaigns.tsv (commit
# it with the corpus): the ledger of every campaign, from which the last
# lines print each target's CPU time over all campaigns (the corpus each
# campaign starts from is what the earlier ones left; docs/fuzzing.md).
# Needs clang, llvm-profdata and llvm-cov (Debian: clang, llvm).
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
secs=3600
cpusecs=
jobs=1
while getopts "t:c:j:h" o; do
	case $o in
	t) secs=$OPTARG ;;
	c) cpusecs=$OPTARG; secs=$((100 * OPTARG)) ;;
	j) jobs=$OPTARG ;;
	*) sed -n '2,30p' "$0"; exit 2 ;;
	esac
done
shift $((OPTIND - 1))
if [ $# -gt 0 ]; then
	targets=("$@")
else
	# the list the build uses: fuzz_targets = ['a', 'b', ...]
	mapfile -t targets < <(python3 - tests/fuzz/meson.build <<'EOF'
import re, sys
src = open(sys.argv[1]).read()
m = re.search(r"fuzz_targets\s*=\s*\[(.*?)\]", src, re.S)
print('\n'.join(re.findall(r"'([a-z_]+)'", m.group(1))))
EOF
)
fi
for tool in clang llvm-profdata llvm-cov meson ninja; do
	command -v $tool >/dev/null || {
		echo "fuzz-long: $tool not found (apt-get install clang llvm meson ninja-build)" >&2
		exit 2
	}
done

root=${VHK_BUILD_ROOT:-$top/build}
fbuild=$root/fuzz-long
cbuild=$root/fuzz-cov
mkdir -p "$root"
setup() {		# DIR ARGS...
	local d=$1; shift
	[ -f "$d/build.ninja" ] && return 0
	# compiler checks run instrumented programs: their profiles go here
	LLVM_PROFILE_FILE="$root/setup-%p.profraw" \
	CC=clang meson setup "$d" "$@" >"$d.setup.log" 2>&1 ||
		{ cat "$d.setup.log"; exit 1; }
}
setup "$fbuild" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
cov='-fprofile-instr-generate -fcoverage-mapping'
setup "$cbuild" --buildtype=debug -Dc_args="$cov" -Dc_link_args="$cov"
fexe=() cexe=()
for t in "${targets[@]}"; do
	fexe+=("tests/fuzz/fuzz_$t")
	cexe+=("tests/fuzz/fuzz_${t}_replay")
done
nice ninja -C "$fbuild" "${fexe[@]}" >"$fbuild.ninja.log" 2>&1 ||
	{ tail -30 "$fbuild.ninja.log"; exit 1; }
nice ninja -C "$cbuild" "${cexe[@]}" >"$cbuild.ninja.log" 2>&1 ||
	{ tail -30 "$cbuild.ninja.log"; exit 1; }

# cpu_budget PID SECONDS: SIGUSR1 (libFuzzer's graceful stop: final
# stats, exit status 0) once PID has used SECONDS of user + sys CPU.
cpu_budget() {
	local pid=$1 budget=$2 hz used
	hz=$(getconf CLK_TCK)
	while kill -0 "$pid" 2>/dev/null; do
		# fields 14 and 15 of /proc/PID/stat (after the "(comm)")
		used=$(awk -v hz="$hz" '{ sub(/^.*\) /, ""); print int(($12 + $13) / hz) }' \
			"/proc/$pid/stat" 2>/dev/null) || return 0
		if [ "${used:-0}" -ge "$budget" ]; then
			kill -USR1 "$pid" 2>/dev/null
			return 0
		fi
		sleep 10
	done
}

fuzz_one() {
	local t=$1 w=$fbuild/long-$1 corpus=$top/tests/fuzz/corpus/$1
	rm -rf "$w" && mkdir -p "$w/new" "$w/art"
	if [ -n "$cpusecs" ]; then
		echo "fuzz-long: $t: fuzzing until ${cpusecs} CPU-s (nice 19)"
	else
		echo "fuzz-long: $t: fuzzing ${secs}s (nice 19)"
	fi
	TIMEFORMAT='%U %S'
	{ time {
		UBSAN_OPTIONS=halt_on_error=1:abort_on_error=1:print_stacktrace=1 \
		nice -n 19 "$fbuild/tests/fuzz/fuzz_$t" \
		-max_total_time="$secs" -error_exitcode=1 -timeout_exitcode=1 \
		-close_fd_mask=2 -rss_limit_mb=2048 -print_final_stats=1 \
		-handle_usr1=1 \
		-artifact_prefix="$w/art/" "$w/new" "$corpus" \
		>"$w/fuzz.log" 2>&1 &
		local pid=$!
		[ -n "$cpusecs" ] && cpu_budget "$pid" "$cpusecs" &
		wait "$pid"; echo $? >"$w/rc"; } ; } 2>"$w/cpu"
	local before after
	before=$(ls "$corpus" | wc -l)
	# edges only (no hit-count buckets): few, small inputs to commit
	nice -n 19 "$fbuild/tests/fuzz/fuzz_$t" -merge=1 -use_counters=0 \
		-close_fd_mask=2 \
		-rss_limit_mb=2048 "$corpus" "$w/new" >"$w/merge.log" 2>&1 ||
		echo "fuzz-long: $t: merge failed (see $w/merge.log)"
	after=$(ls "$corpus" | wc -l)
	echo $((after - before)) >"$w/added"
	echo "fuzz-long: $t: done (rc $(cat "$w/rc"), +$((after - before)) corpus inputs)"
}

running=0
for t in "${targets[@]}"; do
	fuzz_one "$t" &
	running=$((running + 1))
	if [ $running -ge "$jobs" ]; then
		wait -n
		running=$((running - 1))
	fi
done
wait

status=0
ledger=$top/tests/fuzz/campaigns.tsv
printf '\n%-12s %8s %10s %6s %6s  %-8s %-8s %-8s %s\n' target cpu-s execs inputs added \
	regions funcs lines result
for t in "${targets[@]}"; do
	w=$fbuild/long-$t
	dirs=("$top/tests/fuzz/corpus/$t")
	[ -d "$top/tests/fuzz/crashes/$t" ] && dirs+=("$top/tests/fuzz/crashes/$t")
	rm -f "$w"/cov-*.profraw
	LLVM_PROFILE_FILE="$w/cov-%p.profraw" \
		"$cbuild/tests/fuzz/fuzz_${t}_replay" "${dirs[@]}" \
		>"$w/replay.log" 2>&1 || { echo "fuzz-long: $t: replay failed"; status=1; }
	llvm-profdata merge -sparse -o "$w/cov.profdata" "$w"/cov-*.profraw &&
	llvm-cov report "$cbuild/tests/fuzz/fuzz_${t}_replay" \
		-instr-profile="$w/cov.profdata" \
		-ignore-filename-regex='(^|/)(tests|usr)/' >"$w/cov.txt" 2>&1
	# TOTAL  regions missed cover  functions missed executed  lines missed cover ...
	read -r _ _ _ rc _ _ fc _ _ lc _ < <(grep '^TOTAL' "$w/cov.txt")
	read -r u s <"$w/cpu"
	execs=$(sed -n 's/.*stat::number_of_executed_units: *//p' "$w/fuzz.log" | tail -1)
	# a slow-unit artifact is a finding only if it is slow again: wall
	# time at nice 19 (or a stopped fuzzer) makes any input look slow
	for f in "$w"/art/slow-unit-*; do
		[ -e "$f" ] || continue
		if timeout 10 "$fbuild/tests/fuzz/fuzz_$t" "$f" >/dev/null 2>&1; then
			echo "fuzz-long: $t: $(basename "$f") runs in under 10 s now: not a finding"
			mkdir -p "$w/not-slow" && mv "$f" "$w/not-slow/"
		fi
	done
	arts=$(ls "$w/art" | wc -l)
	res=ok
	if [ "$(cat "$w/rc")" != 0 ] || [ "$arts" -gt 0 ]; then
		res="FOUND $arts input(s) in $w/art (log $w/fuzz.log)"
		status=1
	fi
	cpu=$(awk -v u="$u" -v s="$s" 'BEGIN { printf "%.0f", u + s }')
	printf '%-12s %8s %10s %6s %6s  %-8s %-8s %-8s %s\n' "$t" \
		"$cpu" "${execs:-?}" \
		"$(ls "$top/tests/fuzz/corpus/$t" | wc -l)" "$(cat "$w/added")" \
		"${rc:-?}" "${fc:-?}" "${lc:-?}" "$res"
	[ -f "$ledger" ] ||
		printf 'date\tcommit\ttarget\tcpu_s\texecs\tadded\tlines\tresult\n' >"$ledger"
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$(date -u +%F)" \
		"$(git -C "$top" rev-parse --short HEAD 2>/dev/null || echo -)" \
		"$t" "$cpu" "${execs:-?}" "$(cat "$w/added")" "${lc:-?}" \
		"${res%% *}" >>"$ledger"
done
echo "CPU seconds over all campaigns ($ledger):"
awk -F'\t' 'NR > 1 { s[$3] += $4 } END { for (t in s) printf "  %-12s %8d\n", t, s[t] }' \
	"$ledger" | sort
echo "(cpu-s: user+sys of the fuzzer; coverage: llvm-cov report of the corpus replay over src/, per target: $fbuild/long-TARGET/cov.txt)"
exit $status
