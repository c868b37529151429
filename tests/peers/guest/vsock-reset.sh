#!/bin/sh
# SPDX-License-Identifier: MIT
# Device reset with open connections (sourced after vsock.sh): a guest ->
# host connection (vsockt hold) and a host -> guest one (host action hold)
# are up and have echoed a byte; the device is reset by unbind/bind; the
# guest socket must fail within 2 s; the host's held socket, written to
# after the reset, must be closed by the daemon (the guest answers RST);
# afterwards new connections work both ways.
vsockt hold 2 5000 30 > /tmp/hold.g 2>&1 &
vsk_wait_line /tmp/hold.g '^held' 20 || { cat /tmp/hold.g; vhk_fail hold-g2h not-held; }
vsk_serve 6010 echo 1
echo "VHK-HOST vsock hold 6010"
vsk_wait_line /tmp/srv.6010 '^accepted' 20 || vhk_fail hold-h2g not-accepted
sleep 1
vsk_reset_device || exit 1
if vsk_wait_line /tmp/hold.g '^failed' 2; then
	sed "s/^/VHK-INFO hold-g2h: /" /tmp/hold.g
	vhk_pass old-socket-fails "$(grep '^failed' /tmp/hold.g | tr ' ' _)"
else
	cat /tmp/hold.g
	vhk_fail old-socket-fails "guest socket still open 2 s after reset"
fi
echo "VHK-HOST vsock poke 6010"
vsk_run echo-after-reset echo 2 5000 21
vsk_serve 6011 echo 1 && vsk_host h2g-echo-after-reset 6011 60 echo 6011 21
