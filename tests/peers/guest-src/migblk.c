// SPDX-License-Identifier: MIT
/*
 * migblk - the guest side of the live-migration peer test (inside the QEMU
 * guest; built with `gcc -static` by tests/peers/guestkit.py).
 *
 *   migblk DEV PATFILE CTL_OFF BEFORE AFTER MAX PAUSE_MS
 *
 * Block i (4 KiB) of the disk gets block i of PATFILE, written O_DIRECT,
 * then read back O_DIRECT into slot i of one buffer that lives for the
 * whole run and that the guest CPU never writes again after it is set up:
 * every byte of slot i was put there by the device (the vhost-user
 * back-end).  Before each block the control block at byte CTL_OFF is read:
 * empty = before migration, "MIGRATING", "MIGRATED", "FAILED" (the host
 * writes it into the image).  After BEFORE blocks it prints "VHK-HOST
 * migrate"; it stops AFTER blocks after "MIGRATED" (or fails at MAX).
 *
 * Then, on the destination, every slot is compared with the pattern again:
 * a slot the device filled while migration ran reaches the destination
 * only if the back-end marked its page in the dirty log (the guest CPU
 * left it alone, so nothing else would have).  Finally the whole range is
 * read again from the device into a fresh buffer and compared.
 *
 * Prints VHK-RESULT lines, "VHK-PHASES before during after" and "blocks N"
 * (stdout; the scenario script parses it).  Exit 0 = every check passed.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define BS 4096u

static void pause_ms(unsigned int ms)
{
	struct timespec ts = { ms / 1000, (long)(ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static void *alloc(size_t n, int fill)
{
	void *p;

	if (posix_memalign(&p, BS, n))
		return NULL;
	memset(p, fill, n);	/* touched now, long before the migration */
	return p;
}

int main(int argc, char **argv)
{
	unsigned long before, after, max, pause, i, nph[3] = { 0 };
	unsigned long stale = 0, first_stale = 0, done_after = 0;
	char *pat, *slots, *fresh, *ctl;
	off_t ctl_off;
	int fd, pfd;

	if (argc != 8) {
		fprintf(stderr, "usage: migblk DEV PATFILE CTL_OFF BEFORE AFTER MAX PAUSE_MS\n");
		return 2;
	}
	setvbuf(stdout, NULL, _IOLBF, 0);
	ctl_off = (off_t)strtoull(argv[3], NULL, 0);
	before = strtoul(argv[4], NULL, 0);
	after = strtoul(argv[5], NULL, 0);
	max = strtoul(argv[6], NULL, 0);
	pause = strtoul(argv[7], NULL, 0);
	fd = open(argv[1], O_RDWR | O_DIRECT);
	pfd = open(argv[2], O_RDONLY);
	pat = alloc(max * BS, 0);
	slots = alloc(max * BS, 0x5a);
	ctl = alloc(BS, 0);
	if (fd < 0 || pfd < 0 || !pat || !slots || !ctl) {
		printf("VHK-RESULT FAIL migblk setup\n");
		return 1;
	}
	if (pread(pfd, pat, max * BS, 0) != (ssize_t)(max * BS)) {
		printf("VHK-RESULT FAIL migblk pattern-shorter-than-%lu-blocks\n",
		       max);
		return 1;
	}
	for (i = 0; ; i++) {
		int ph;

		if (i == max) {
			printf("VHK-RESULT FAIL migblk %lu blocks, migration not done\n",
			       i);
			return 1;
		}
		if (pread(fd, ctl, BS, ctl_off) != BS) {
			printf("VHK-RESULT FAIL migblk control-block-read\n");
			return 1;
		}
		if (!strncmp(ctl, "FAILED", 6)) {
			printf("VHK-RESULT FAIL migration host-says-failed\n");
			return 1;
		}
		ph = !strncmp(ctl, "MIGRATED", 8) ? 2 :
		     !strncmp(ctl, "MIGRATING", 9) ? 1 : 0;
		if (ph == 2 && done_after++ == after)
			break;
		nph[ph]++;
		if (pwrite(fd, pat + i * BS, BS, (off_t)(i * BS)) != BS ||
		    pread(fd, slots + i * BS, BS, (off_t)(i * BS)) != BS) {
			printf("VHK-RESULT FAIL migblk io-error block %lu\n", i);
			return 1;
		}
		if (memcmp(slots + i * BS, pat + i * BS, BS)) {
			printf("VHK-RESULT FAIL readback block %lu phase %d\n",
			       i, ph);
			return 1;
		}
		if (i + 1 == before) {
			printf("VHK-HOST migrate\n");
			fflush(stdout);
		}
		if (pause)
			pause_ms((unsigned int)pause);
	}
	printf("VHK-PHASES %lu %lu %lu\nblocks %lu\n", nph[0], nph[1], nph[2],
	       i);
	printf("VHK-RESULT PASS io-across-migration %lu-blocks\n", i);
	/* Guest memory the device wrote, as the destination sees it. */
	for (unsigned long j = 0; j < i; j++) {
		if (memcmp(slots + j * BS, pat + j * BS, BS)) {
			if (!stale++)
				first_stale = j;
		}
	}
	if (stale)
		printf("VHK-RESULT FAIL device-written-memory-after-migration %lu of %lu slots stale (first %lu)\n",
		       stale, i, first_stale);
	else
		printf("VHK-RESULT PASS device-written-memory-after-migration %lu-slots\n",
		       i);
	fresh = alloc(i * BS, 0);
	if (!fresh || pread(fd, fresh, i * BS, 0) != (ssize_t)(i * BS) ||
	    memcmp(fresh, pat, i * BS)) {
		printf("VHK-RESULT FAIL disk-after-migration\n");
		return 1;
	}
	printf("VHK-RESULT PASS disk-after-migration\n");
	return stale ? 1 : 0;
}
