/* SPDX-License-Identifier: MIT */
/*
 * blk_mmap.c - the memory-mapped disk mode of vhostkit-blk: a disk file
 * that lives in memory (tmpfs, hugetlbfs, a DAX / pmem file system) is
 * mapped MAP_SHARED once, and reads and writes are served with memcpy
 * between guest memory and the mapping, with no system call on the data
 * path.
 *
 * Durability.  Pages of a tmpfs or hugetlbfs file have no backing store:
 * there is nothing to write back, a FLUSH completes at once.  For any other
 * file a FLUSH, and every write in writethrough mode (CONFIG_WCE writeback
 * = 0, the only way virtio-blk asks for forced unit access), waits for an
 * fdatasync of the written range through the queue's io_uring: on Linux
 * that writes back dirty pages of shared mappings exactly like
 * msync(MS_SYNC) of the same range (msync is fsync on the range), without
 * blocking the queue's thread.
 *
 * A file that shrinks under the mapping.  Bounds are checked against the
 * capacity taken at open, as in the io_uring mode; if someone truncates
 * the file while it is served, the access past its new end raises SIGBUS.
 * The mapping is guarded (vhk_mem_guard_add): the handler replaces it with
 * zero pages, the request that touched it fails with IOERR, and the device
 * leaves the memory-mapped mode for good (later requests go through
 * io_uring and the file as it now is: a read past its end fails with IOERR
 * there as before).  Bytes of a partial last page past the new end cannot
 * fault and read as zeros until then.
 */
#include <errno.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include "dev/blk/blk_internal.h"

int vhk_blk_mmap_open(struct vhk_blk *blk, enum vhk_blk_mmap mode)
{
	bool mem;
	void *p;
	size_t len;

	if (mode == VHK_BLK_MMAP_OFF)
		return 0;
	mem = vhk_blk_in_memory_fs(blk->fd_buf);
	if (mode == VHK_BLK_MMAP_AUTO && !mem)
		return 0;
	/* Capacity 0: nothing to map (and every request is out of range). */
	if (!blk->capacity || blk->capacity > SIZE_MAX / VHK_BLK_SECTOR_SIZE)
		return mode == VHK_BLK_MMAP_ON ? -EINVAL : 0;
	len = (size_t)(blk->capacity * VHK_BLK_SECTOR_SIZE);
	p = mmap(NULL, len, PROT_READ | (blk->read_only ? 0 : PROT_WRITE),
		 MAP_SHARED, blk->fd_buf, 0);
	if (p == MAP_FAILED) {
		int err = -errno;

		if (mode == VHK_BLK_MMAP_AUTO)
			return 0;	/* io_uring it is */
		return err;
	}
	if (vhk_mem_guard_add(p, len, &blk->map_fault, 0) < 0) {
		munmap(p, len);
		return mode == VHK_BLK_MMAP_ON ? -ENOSPC : 0;
	}
	blk->map = p;
	blk->map_len = len;
	blk->map_sync = !mem;
	/* Everything else (discard, write-zeroes, writeback of the range)
	 * goes through the page cache the mapping shares: no O_DIRECT fd. */
	if (blk->fd != blk->fd_buf)
		close(blk->fd);
	blk->fd = blk->fd_buf;
	blk->direct = false;
	return 0;
}

void vhk_blk_mmap_close(struct vhk_blk *blk)
{
	if (!blk->map)
		return;
	vhk_mem_guard_del(blk->map);
	munmap(blk->map, blk->map_len);
	blk->map = NULL;
	blk->map_len = 0;
}

bool vhk_blk_mmap_rw(struct vhk_blk *blk, struct iovec *data,
		     unsigned int n, uint64_t off, bool write)
{
	uint8_t *p = blk->map + off;
	unsigned int i;

	for (i = 0; i < n; i++) {
		if (write)
			memcpy(p, data[i].iov_base, data[i].iov_len);
		else
			memcpy(data[i].iov_base, p, data[i].iov_len);
		p += data[i].iov_len;
	}
	if (__atomic_load_n(&blk->map_fault.hit, __ATOMIC_ACQUIRE)) {
		atomic_store(&blk->map_lost, true);
		return false;
	}
	return true;
}

bool vhk_blk_mmapped(const struct vhk_blk *blk)
{
	return blk->map && !atomic_load(&blk->map_lost);
}
