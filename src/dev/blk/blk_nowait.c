/* SPDX-License-Identifier: MIT */
/*
 * blk_nowait.c - how io_uring issues the disk's reads and writes
 * (enum vhk_blk_nowait).
 *
 * io_uring first tries a read or write in the submitting thread with
 * IOCB_NOWAIT, and completes it inside io_uring_enter() if it did not
 * have to wait; if the file would block (-EAGAIN) it goes to an io-wq
 * worker thread.  It only tries when the file says it honours
 * IOCB_NOWAIT: FMODE_NOWAIT (set by file systems such as ext4, xfs, btrfs
 * and block devices), or O_NONBLOCK in the file's flags
 * (io_uring/io_uring.c, io_file_get_flags).  tmpfs, ramfs and hugetlbfs do
 * not set FMODE_NOWAIT (Linux 6.18), so every read and write of a disk
 * file there is handed to a worker thread: a wake-up, a thread switch and
 * an eventfd signal per batch for a copy from memory that never waits for
 * a device - and the queue thread's inline reaping of the completions
 * after its submit finds nothing.
 *
 * For a file whose pages are memory there is nothing to wait for, so by
 * default (AUTO) the disk's fds of such a file get O_NONBLOCK: reads (and
 * O_DIRECT writes; buffered writes still go to io-wq, as the file system
 * declares no FOP_BUFFER_WASYNC) are copied in the queue thread, inside
 * the batch's one io_uring_enter().  Only io_uring looks at O_NONBLOCK on
 * these fds (a regular file's read/write ignore it); flush, discard and
 * write-zeroes always run on io-wq as before.  A swapped-out tmpfs page
 * is read back in that thread (like a fault on --mmap).  Files on other
 * file systems keep io_uring's own decision: one that does not honour
 * IOCB_NOWAIT could then block the queue thread on a device (ON forces
 * nowait anyway, OFF never sets it).
 */
#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <sys/vfs.h>

#include "dev/blk/blk_internal.h"

#ifndef HUGETLBFS_MAGIC
#define HUGETLBFS_MAGIC	0x958458f6
#endif
#ifndef TMPFS_MAGIC
#define TMPFS_MAGIC	0x01021994
#endif

bool vhk_blk_in_memory_fs(int fd)
{
	struct statfs sf;

	if (fstatfs(fd, &sf) < 0)
		return false;
	return (unsigned long)sf.f_type == TMPFS_MAGIC ||
	       (unsigned long)sf.f_type == HUGETLBFS_MAGIC ||
	       (unsigned long)sf.f_type == RAMFS_MAGIC;
}

static int set_nonblock(int fd)
{
	int fl = fcntl(fd, F_GETFL);

	if (fl < 0 || fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

int vhk_blk_nowait_open(struct vhk_blk *blk, enum vhk_blk_nowait mode)
{
	int ret;

	blk->nowait = false;
	switch (mode) {
	case VHK_BLK_NOWAIT_OFF:
		return 0;
	case VHK_BLK_NOWAIT_AUTO:
		if (!vhk_blk_in_memory_fs(blk->fd_buf))
			return 0;
		break;
	case VHK_BLK_NOWAIT_ON:
		break;
	default:
		return -EINVAL;
	}
	ret = set_nonblock(blk->fd_buf);
	if (!ret && blk->fd != blk->fd_buf)
		ret = set_nonblock(blk->fd);
	if (ret < 0)
		return mode == VHK_BLK_NOWAIT_ON ? ret : 0;
	blk->nowait = true;
	return 0;
}

bool vhk_blk_nowait_on(const struct vhk_blk *blk)
{
	return blk->nowait && !vhk_blk_mmapped(blk);
}
