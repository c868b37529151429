#!/bin/sh
# SPDX-License-Identifier: MIT
# The vsock I/O checks (sourced by the vsock scenarios after vsock.sh):
# every check in both directions; the host half runs in vsockpeer.py.
VSK_BULK=${VSK_BULK:-67108864}
VSK_CONNS=${VSK_CONNS:-64}
# 1. echo, then bulk transfers checksummed end to end.  3. half-close:
# the sender shuts down its write side, the receiver sees EOF and still
# answers with "<bytes> <crc32>" on the same connection.
vsk_run g2h-echo echo 2 5000 42
vsk_serve 6000 echo 1 && vsk_host h2g-echo 6000 60 echo 6000 42
vsk_run g2h-bulk-halfclose send 2 5001 "$VSK_BULK" 1
vsk_serve 6001 sink 1 && vsk_host h2g-bulk-halfclose 6001 240 bulk 6001 "$VSK_BULK"
# 2. concurrent connections, all established before data moves.
vsk_run g2h-multi multi 2 5001 "$VSK_CONNS" 65536
vsk_serve 6002 sink "$VSK_CONNS" &&
	vsk_host h2g-multi 6002 120 multi 6002 "$VSK_CONNS" 65536
# 4. SEQPACKET message boundaries, 1 B .. 64 KiB, singly and in bursts.
vsk_run g2h-seqpacket seq 2 5003
# 5. no listener: ECONNRESET promptly (vsockt: < 1 s), and the host's
# CONNECT to a guest port nobody listens on is closed without "OK".
vsk_run g2h-refused refused 2 5999
echo "VHK-HOST vsock refused 6999"
