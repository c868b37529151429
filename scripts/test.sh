#!/usr/bin/env bash
# scripts/test.sh - the one command that installs, builds and runs every test.
#
#   bash scripts/test.sh            # everything (what CI runs)
#   VHK_FUZZ_SECONDS=10 bash scripts/test.sh
#   VHK_SKIP_PEERS=1 bash scripts/test.sh   # no QEMU guest tests (says so)
#
# Runs, in order:
#   1. apt-get install of the build and peer dependencies that are missing;
#   2. a normal build: unit, proto (raw vhost-user), pair (front-end <->
#      back-end, qemu-storage-daemon interop) suites;
#   3. the threaded tests under ThreadSanitizer (run_tsan below);
#   4. the same suites again under ASan + UBSan, plus the real-peer suite
#      (a Linux guest under QEMU doing I/O through vhostkit-blk) against the
#      sanitized daemon;
#   5. the libFuzzer targets (clang) for a bounded time;
#   6. the Debian packages (dpkg-buildpackage -b + lintian, no errors);
# and ends with one line "vhostkit: N passed, N failed, N skipped".
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

fuzz_seconds=${VHK_FUZZ_SECONDS:-60}
builddir=${VHK_BUILD_ROOT:-$top/build}

# ---- 1. dependencies ------------------------------------------------------
pkgs=(meson ninja-build gcc clang libclang-rt-14-dev pkg-config
      libcmocka-dev liburing-dev libxdp-dev libbpf-dev libyaml-dev python3 cpio libc6-dev
      libseccomp-dev libcap-ng-dev systemd scdoc debhelper dpkg-dev lintian
      qemu-system-x86 qemu-utils qemu-system-common busybox-static fio
      dpdk-dev iproute2)
missing=()
for p in "${pkgs[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' ||
		missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
	echo "== installing: ${missing[*]}"
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null &&
	$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
		--no-install-recommends "${missing[@]}" >/dev/null ||
		{ echo "apt-get install failed"; echo "0 passed, 1 failed"; exit 1; }
fi

logs=()
status=0

# run_suites BUILD_DIR SETUP_ARGS... -- SUITES...
run_suites() {
	local dir=$1; shift
	local setup=()
	while [ "$1" != "--" ]; do setup+=("$1"); shift; done
	shift
	local suites=()
	for s in "$@"; do suites+=(--suite "$s"); done

	echo "== build $dir (${setup[*]:-default})"
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" "${setup[@]}" >"$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log"; status=1; return; }
	elif [ ${#setup[@]} -gt 0 ]; then
		meson configure "$dir" "${setup[@]}" >"$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log"; status=1; return; }
	fi
	if ! ninja -C "$dir" >"$dir.ninja.log" 2>&1; then
		tail -50 "$dir.ninja.log"
		status=1
		return
	fi
	if grep -q 'warning:' "$dir.ninja.log"; then
		echo "compiler warnings in $dir:"
		grep 'warning:' "$dir.ninja.log" | head -20
	fi
	echo "== test $dir: $*"
	meson test -C "$dir" "${suites[@]}" --print-errorlogs \
		--num-processes 2 || status=1
	logs+=("$dir/meson-logs/testlog.json")
}

mkdir -p "$builddir"

run_suites "$builddir/release" --buildtype=debugoptimized -- unit proto pair

# ThreadSanitizer: the tests where threads share state - the threaded
# ring test, the server thread and its queue workers (proto), the daemons
# with --queue-workers or VM threads, the front-end's IOTLB thread, the
# in-process fake devices (pair).  Only their targets are built (GCC's
# TSan, whose runtime ships with gcc).  halt_on_error: a race in a spawned
# daemon kills it, so the test driving it fails.  No suppressions.
tsan_tests=(drv_threads proto_flow proto_workers proto_interop proto_vsock
	    proto_hostile vsock_cli drv_workers drv_hostile drv_matrix drv_vsock
	    fe_fake fe_blk fe_client drv_probe_type)
run_tsan() {
	local dir=$1
	local targets=()
	echo "== build $dir (-Db_sanitize=thread; ${#tsan_tests[@]} tests)"
	if [ ! -f "$dir/build.ninja" ]; then
		meson setup "$dir" -Db_sanitize=thread -Db_lundef=false \
			>"$dir.setup.log" 2>&1 ||
			{ cat "$dir.setup.log"; status=1; return; }
	fi
	# the chosen tests' executables (+ the daemons and CLI they run)
	mapfile -t targets < <(meson introspect --tests "$dir" | python3 -c '
import json, os, sys
want, top = set(sys.argv[2:]), os.path.realpath(sys.argv[1])
for t in json.load(sys.stdin):
    if t["name"] in want:
        print(os.path.relpath(os.path.realpath(t["cmd"][0]), top))' \
		"$dir" "${tsan_tests[@]}" | sort -u)
	if ! ninja -C "$dir" "${targets[@]}" tools/vhostkit tools/vhostkit-blk \
		tools/vhostkit-vsock >"$dir.ninja.log" 2>&1; then
		tail -50 "$dir.ninja.log"
		status=1
		return
	fi
	if grep -q 'warning:' "$dir.ninja.log"; then
		echo "compiler warnings in $dir:"
		grep 'warning:' "$dir.ninja.log" | head -20
	fi
	echo "== test $dir: ${tsan_tests[*]}"
	TSAN_OPTIONS="halt_on_error=1 ${TSAN_OPTIONS:-}" \
		meson test -C "$dir" --no-rebuild --print-errorlogs \
		--num-processes 2 "${tsan_tests[@]}" || status=1
	logs+=("$dir/meson-logs/testlog.json")
}
run_tsan "$builddir/tsan"

peer_suite=peer
if [ -n "${VHK_SKIP_PEERS:-}" ]; then
	echo "== real-peer suite SKIPPED: VHK_SKIP_PEERS is set"
	peer_suite=""
fi
# shellcheck disable=SC2086
run_suites "$builddir/asan" -Db_sanitize=address,undefined -Db_lundef=false \
	-- unit proto pair $peer_suite

if [ "$fuzz_seconds" -gt 0 ]; then
	CC=clang run_suites "$builddir/fuzz" -Dfuzz=true \
		-Dfuzz_seconds="$fuzz_seconds" \
		-Db_sanitize=address,undefined -Db_lundef=false -- fuzz
else
	echo "== fuzzing SKIPPED: VHK_FUZZ_SECONDS=0"
fi

# ---- 5. Debian packages ----------------------------------------------------
# dpkg-buildpackage -us -uc -b on a copy of the tracked files (tests off in
# the package build: one compile), then lintian must report no error.
# VHK_SKIP_PACKAGE=1 skips it (says so).
if [ -z "${VHK_SKIP_PACKAGE:-}" ]; then
	echo "== debian packages (dpkg-buildpackage -b, lintian)"
	pkgdir="$builddir/deb"
	rm -rf "$pkgdir" && mkdir -p "$pkgdir/vhostkit"
	pkg_result=FAIL
	if git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$pkgdir/vhostkit" &&
	   (cd "$pkgdir/vhostkit" && dpkg-buildpackage -us -uc -b \
		>"$pkgdir/build.log" 2>&1); then
		lintian "$pkgdir"/vhostkit_*.changes >"$pkgdir/lintian.log" 2>&1
		if grep -q '^E:' "$pkgdir/lintian.log"; then
			grep '^E:' "$pkgdir/lintian.log"
		else
			ls "$pkgdir"/vhostkit_*.deb "$pkgdir"/libvhostkit0_*.deb \
				"$pkgdir"/libvhostkit-dev_*.deb >/dev/null &&
				pkg_result=OK
		fi
	else
		tail -30 "$pkgdir/build.log"
	fi
	echo "{\"name\": \"debian-packages\", \"result\": \"$pkg_result\"}" \
		>"$pkgdir/testlog.json"
	logs+=("$pkgdir/testlog.json")
	echo "== debian packages: $pkg_result"
else
	echo "== debian packages SKIPPED: VHK_SKIP_PACKAGE is set"
fi

# ---- summary ----------------------------------------------------------------
python3 - "${logs[@]}" <<'EOF'
import json, sys
passed = failed = skipped = 0
for path in sys.argv[1:]:
    try:
        lines = open(path).read().splitlines()
    except OSError:
        failed += 1
        print(f"missing test log {path}")
        continue
    for line in lines:
        t = json.loads(line)
        r = t.get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
            print(f"skipped: {t['name']}")
        else:
            failed += 1
            print(f"FAILED: {t['name']} ({r})")
print(f"vhostkit: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
EOF
summary=$?
[ $status -eq 0 ] && [ $summary -eq 0 ]
