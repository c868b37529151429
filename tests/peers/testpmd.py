# SPDX-License-Identifier: MIT
"""testpmd.py - an interactive dpdk-testpmd driven through its prompt, for
the net peer tests (netpeer.py) and the net benchmark
(bench/net/net_bench.py).  Output is read line by line in a thread; the
prompt itself ends no line, so callers wait for the lines commands print.
"""

import re
import subprocess
import threading
import time


class TestpmdError(Exception):
    pass


class Testpmd:
    def __init__(self, argv, name='testpmd'):
        """Start @argv (dpdk-testpmd and its arguments, with -i)."""
        self.name = name
        self.out = []
        self.cond = threading.Condition()
        # line-buffered: the replies are parsed as they come
        self.p = subprocess.Popen(['stdbuf', '-oL'] + argv,
                                  stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True,
                                  bufsize=1)
        threading.Thread(target=self._reader, daemon=True).start()

    def _reader(self):
        for line in self.p.stdout:
            with self.cond:
                self.out.append(line.rstrip('\n'))
                self.cond.notify_all()

    def wait_for(self, pat, timeout=60, start=0):
        """Index of the first output line from @start matching @pat."""
        rx = re.compile(pat)
        end = time.time() + timeout
        with self.cond:
            while True:
                for i in range(start, len(self.out)):
                    if rx.search(self.out[i]):
                        return i
                left = end - time.time()
                if left <= 0 or self.p.poll() is not None:
                    raise TestpmdError('%s: no "%s" within %d s; last: %s' % (
                        self.name, pat, timeout, ' | '.join(self.out[-8:])))
                self.cond.wait(left)

    def wait_ready(self, timeout=120):
        """The ports are configured ("Done" ends the link check)."""
        self.wait_for(r'^Done$', timeout,
                      self.wait_for(r'Checking link', timeout))

    def cmd(self, c):
        self.p.stdin.write(c + '\n')
        self.p.stdin.flush()

    def fwd_stats(self, mark):
        """RX/TX totals of the accumulated block after @mark (printed by
        'stop'), and the index after it."""
        i = self.wait_for(r'Accumulated forward statistics', 60, mark)
        j = self.wait_for(r'TX-packets:', 10, i)
        rx = int(re.search(r'RX-packets:\s*(\d+)', self.out[j - 1]).group(1))
        tx = int(re.search(r'TX-packets:\s*(\d+)', self.out[j]).group(1))
        return rx, tx, j + 1

    def rx_packets(self, ports=(0, 1)):
        """Sum of RX-packets of @ports (show port stats)."""
        total = 0
        for port in ports:
            mark = len(self.out)
            self.cmd('show port stats %d' % port)
            i = self.wait_for(r'RX-packets:', 20, mark)
            total += int(re.search(r'RX-packets:\s*(\d+)',
                                   self.out[i]).group(1))
        return total

    def quit(self, timeout=20):
        if self.p.poll() is None:
            try:
                self.cmd('stop')
                self.cmd('quit')
                self.p.wait(timeout=timeout)
            except (OSError, subprocess.TimeoutExpired):
                self.p.kill()
                self.p.wait()
