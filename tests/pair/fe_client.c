/* SPDX-License-Identifier: MIT */
/*
 * fe_client.c - the protocol client (vu_client.h) used the way a VMM uses
 * it: the test owns the guest memory (two memfd regions at distinct GPAs),
 * places the ring itself, creates the kick / call eventfds, and writes
 * its own descriptors with the driver-side ring code.  Verified virtio-blk
 * I/O (VIRTIO 1.2, 5.2.6) through it against vhostkit-blk and
 * qemu-storage-daemon: patterns written, read back and compared, and
 * checked in the image file.  Regions are hot-added and hot-removed
 * (ADD_MEM_REG / REM_MEM_REG), the table is filled to the back-end's slot
 * count, and hostile tables (overlap, zero size, too many regions, ring
 * outside memory) get clear errors with the device left working.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <unistd.h>
#include <cmocka.h>

#include "fe_util.h"
#include "vhostkit/vhost_user.h"
#include "vhostkit/vu_client.h"
#include "vhost-user/fe/client_priv.h"	/* to make the back-end forget */

#define SECTORS		2048
#define TMO		5000
#define QSIZE		64
#define REG_A_GPA	0x00100000ull	/* 1 MiB: rings + some data */
#define REG_B_GPA	0x40000000ull	/* 1 GiB: headers, data, status */
#define REG_C_GPA	0x80000000ull	/* 2 GiB: hot-added */
#define REG_SIZE	(1u << 20)
#define RING_OFF	0x3000		/* the test's choice, not offset 0 */
#define DATA_A_OFF	0x10000
#define SMALL_GPA	0xc0000000ull	/* slot-filling regions from here */
#define IOVA_A		0x7a0000000000ull /* vIOMMU view of region A */
#define IOVA_B		0x7b0000000000ull /* ... of region B */
#define IOVA_B2		0x7c0000000000ull /* ... of region B, remapped */

/* One region the "VMM" (this test) owns. */
struct mem {
	int fd;
	uint8_t *host;
	uint64_t gpa;
	size_t size;
};

struct ctx {
	char sock[200];
	char img[200];
	struct fe_proc proc;
	bool qsd;
	bool iommu;		/* vhostkit-blk --iommu=on, IOVAs everywhere */
	bool no_slots;		/* do not ack CONFIGURE_MEM_SLOTS */
	struct vhk_vuc *c;
	struct mem a, b, cmem;
	struct mem small[64];	/* slot-filling regions */
	unsigned int nsmall;
	int kick, call;
	struct vhk_drv_vq *dq;
	uint64_t features;
};

/* struct virtio_blk_outhdr (VIRTIO 1.2, 5.2.6). */
struct blk_hdr {
	vhk_le32 type;
	vhk_le32 reserved;
	vhk_le64 sector;
};

static void mem_new(struct mem *m, uint64_t gpa, size_t size)
{
	m->fd = memfd_create("fe-client-test", MFD_CLOEXEC);
	assert_true(m->fd >= 0);
	assert_int_equal(ftruncate(m->fd, (off_t)size), 0);
	m->host = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, m->fd,
		       0);
	assert_true(m->host != MAP_FAILED);
	m->gpa = gpa;
	m->size = size;
}

static void mem_free(struct mem *m)
{
	if (m->host && m->host != MAP_FAILED)
		munmap(m->host, m->size);
	if (m->fd > 0)
		close(m->fd);
	memset(m, 0, sizeof(*m));
}

static struct vhk_vuc_region region_of(const struct mem *m)
{
	return (struct vhk_vuc_region){
		.gpa = m->gpa, .size = m->size, .host = m->host,
		.fd = m->fd, .fd_offset = 0,
	};
}

static int spawn(struct ctx *c)
{
	if (c->qsd)
		return fe_spawn_qsd(&c->proc, c->sock, c->img);
	return fe_spawn_blk(&c->proc, c->sock, c->img, c->iommu ? "on" : "off");
}

static int setup(void **state, bool qsd, bool iommu)
{
	struct ctx *c = calloc(1, sizeof(*c));

	c->qsd = qsd;
	c->iommu = iommu;
	c->kick = c->call = -1;
	snprintf(c->sock, sizeof(c->sock), "%s/%s.sock", fe_tmpdir(),
		 qsd ? "qsd" : "blk");
	snprintf(c->img, sizeof(c->img), "%s/%s.img", fe_tmpdir(),
		 qsd ? "qsd" : "blk");
	if (fe_make_image(c->img, SECTORS) || spawn(c)) {
		fe_dump_log(&c->proc);
		fe_kill(&c->proc, 0);
		free(c);
		return -1;
	}
	*state = c;
	return 0;
}

static int setup_blk(void **state)
{
	if (!fe_blk_bin()) {
		fprintf(stderr, "VHK_BLK_BIN not set or not executable\n");
		return -1;
	}
	return setup(state, false, false);
}

static int setup_blk_iommu(void **state)
{
	if (!fe_blk_bin())
		return -1;
	return setup(state, false, true);
}

static int setup_qsd(void **state)
{
	return setup(state, true, false);
}

static int teardown(void **state)
{
	struct ctx *c = *state;

	vhk_vuc_close(c->c);
	vhk_drv_vq_free(c->dq);
	fe_kill(&c->proc, 0);
	if (c->kick >= 0)
		close(c->kick);
	if (c->call >= 0)
		close(c->call);
	mem_free(&c->a);
	mem_free(&c->b);
	mem_free(&c->cmem);
	for (unsigned int i = 0; i < c->nsmall; i++)
		mem_free(&c->small[i]);
	unlink(c->img);
	free(c);
	return 0;
}

static uint8_t *host_of(struct ctx *c, uint64_t gpa)
{
	struct mem *ms[3 + 64] = { &c->a, &c->b, &c->cmem };

	/* The test's own vIOMMU: three fixed windows. */
	if (gpa >= IOVA_A && gpa < IOVA_A + REG_SIZE)
		return c->a.host + (gpa - IOVA_A);
	if (gpa >= IOVA_B && gpa < IOVA_B + REG_SIZE)
		return c->b.host + (gpa - IOVA_B);
	if (gpa >= IOVA_B2 && gpa < IOVA_B2 + REG_SIZE)
		return c->b.host + (gpa - IOVA_B2);
	for (unsigned int i = 0; i < c->nsmall; i++)
		ms[3 + i] = &c->small[i];
	for (size_t i = 0; i < 3 + c->nsmall; i++)
		if (ms[i]->host && gpa >= ms[i]->gpa &&
		    gpa < ms[i]->gpa + ms[i]->size)
			return ms[i]->host + (gpa - ms[i]->gpa);
	fail_msg("gpa 0x%llx in no test region", (unsigned long long)gpa);
	return NULL;
}

/* Lay the ring out at the test's GPA and start it through the client. */
static void start_ring(struct ctx *c)
{
	struct vhk_vq_addrs a;
	struct vhk_vuc_vring v;

	vhk_drv_vq_free(c->dq);
	c->dq = NULL;
	assert_int_equal(vhk_drv_vq_new(&c->dq, QSIZE, c->features,
					c->a.host + RING_OFF,
					(c->iommu ? IOVA_A : c->a.gpa) +
					RING_OFF), 0);
	vhk_drv_vq_addrs(c->dq, &a);
	v = (struct vhk_vuc_vring){
		.num = QSIZE, .base = vhk_drv_vq_base(c->dq),
		.desc = a.desc, .driver = a.driver, .device = a.device,
		.kick_fd = c->kick, .call_fd = c->call,
	};
	assert_int_equal(vhk_vuc_vring_start(c->c, 0, &v), 0);
}

/* DRIVER_OK, when the back-end takes status (qsd 7.2 does not). */
static void driver_ok(struct ctx *c)
{
	int ret = vhk_vuc_set_status(c->c, VHK_STATUS_ACKNOWLEDGE |
				     VHK_STATUS_DRIVER |
				     VHK_STATUS_FEATURES_OK |
				     VHK_STATUS_DRIVER_OK);

	if (vhk_has_feature(vhk_vuc_protocol_features(c->c),
			    VHK_PROTO_F_STATUS))
		assert_int_equal(ret, 0);
	else
		assert_int_equal(ret, -ENOTSUP);
}

/* What a VMM does to bring the device up on its own memory. */
static void attach(struct ctx *c)
{
	struct vhk_vuc_config cfg;
	struct vhk_vuc_region r[2];
	uint64_t guest;

	vhk_vuc_config_init(&cfg, c->sock);
	cfg.name = c->qsd ? "vmm-qsd" : "vmm-blk";
	cfg.iotlb = c->iommu;
	cfg.no_mem_slots = c->no_slots;
	assert_int_equal(vhk_vuc_connect(&c->c, &cfg), 0);
	/* Both offer CONFIGURE_MEM_SLOTS: hot add/remove goes one by one. */
	assert_int_equal(vhk_has_feature(vhk_vuc_protocol_features(c->c),
					 VHK_PROTO_F_CONFIGURE_MEM_SLOTS),
			 !c->no_slots);
	assert_true(vhk_vuc_max_regions(c->c) >= 8);

	/* The guest acked these; ACCESS_PLATFORM would go only with an
	 * IOTLB this VMM fills (it has none here). */
	guest = vhk_feature_bit(VHK_F_VERSION_1) |
		vhk_feature_bit(VHK_F_EVENT_IDX) |
		vhk_feature_bit(VHK_F_ACCESS_PLATFORM);
	c->features = vhk_fe_backend_features(guest,
					      vhk_vuc_backend_offered(c->c),
					      vhk_fe_default_allowlist(),
					      c->iommu);
	assert_int_equal(vhk_has_feature(c->features, VHK_F_ACCESS_PLATFORM),
			 c->iommu);
	assert_int_equal(vhk_vuc_set_features(c->c, c->features), 0);

	mem_new(&c->a, REG_A_GPA, REG_SIZE);
	mem_new(&c->b, REG_B_GPA, REG_SIZE);
	r[0] = region_of(&c->b);	/* any order: the client sorts */
	r[1] = region_of(&c->a);
	assert_int_equal(vhk_vuc_set_mem_table(c->c, r, 2), 0);
	if (c->iommu) {
		/* The guest's IOMMU maps both regions before the rings. */
		assert_int_equal(vhk_vuc_iotlb_map(c->c, IOVA_A, REG_SIZE,
						   c->a.host, VHK_PERM_RW), 0);
		assert_int_equal(vhk_vuc_iotlb_map(c->c, IOVA_B, REG_SIZE,
						   c->b.host, VHK_PERM_RW), 0);
	}
	assert_int_equal(vhk_vuc_num_regions(c->c), 2);
	assert_ptr_equal(vhk_vuc_gpa_to_host(c->c, REG_B_GPA + 8, 8),
			 c->b.host + 8);
	assert_null(vhk_vuc_gpa_to_host(c->c, REG_A_GPA + REG_SIZE - 4, 8));

	assert_int_equal(vhk_vuc_setup_inflight(c->c, 1, QSIZE), 0);
	c->kick = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	c->call = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
	assert_true(c->kick >= 0 && c->call >= 0);
	start_ring(c);
	driver_ok(c);
}

static int blk_submit(struct ctx *c, uint32_t type, uint64_t sector,
		      uint64_t hdr_gpa, uint64_t data_gpa, uint32_t len,
		      int *token)
{
	struct blk_hdr *h = (struct blk_hdr *)host_of(c, hdr_gpa);
	uint8_t *status = (uint8_t *)h + sizeof(*h);
	struct vhk_drv_seg segs[3] = {
		{ hdr_gpa, sizeof(*h), false },
		{ data_gpa, len, type == FE_T_IN },
		{ hdr_gpa + sizeof(*h), 1, true },
	};
	int ret;

	h->type = vhk_le32_make(type);
	h->reserved = vhk_le32_make(0);
	h->sector = vhk_le64_make(sector);
	*status = 0xff;
	ret = vhk_drv_vq_add(c->dq, segs, 3, token);
	if (ret)
		return ret;
	if (vhk_drv_vq_publish(c->dq)) {
		uint64_t one = 1;

		assert_int_equal(write(c->kick, &one, 8), 8);
	}
	return 0;
}

/* Wait for @token's completion; its status byte, or -ETIMEDOUT / -errno. */
static int blk_wait(struct ctx *c, uint64_t hdr_gpa, int *token,
		    unsigned int tmo_ms)
{
	uint8_t *status = host_of(c, hdr_gpa) + sizeof(struct blk_hdr);
	uint64_t deadline = vhk_now_ns() + tmo_ms * 1000000ull;
	int ret;

	for (;;) {
		struct pollfd p[2] = {
			{ .fd = c->call, .events = POLLIN },
			{ .fd = vhk_vuc_channel_fd(c->c), .events = POLLIN },
		};
		void *tok;
		uint32_t used;
		uint64_t v;

		ret = vhk_drv_vq_get_used(c->dq, &tok, &used);
		if (ret < 0)
			return ret;
		if (ret == 1) {
			assert_ptr_equal(tok, token);
			return *status;
		}
		if (vhk_now_ns() > deadline)
			return -ETIMEDOUT;
		if (poll(p, 2, 100) > 0) {
			if ((p[0].revents & POLLIN) && read(c->call, &v, 8) < 0)
				return -errno;
			if (p[1].revents && vhk_vuc_poll(c->c, 0) < 0)
				return -EIO;
		}
	}
}

/*
 * One request: header at @hdr_gpa, @len data bytes at @data_gpa, status
 * right after the header.  Returns the status byte or -errno.
 */
static int blk_io_tmo(struct ctx *c, uint32_t type, uint64_t sector,
		      uint64_t hdr_gpa, uint64_t data_gpa, uint32_t len,
		      unsigned int tmo_ms)
{
	int token = 1;
	int ret = blk_submit(c, type, sector, hdr_gpa, data_gpa, len, &token);

	return ret ? ret : blk_wait(c, hdr_gpa, &token, tmo_ms);
}

static int blk_io(struct ctx *c, uint32_t type, uint64_t sector,
		  uint64_t hdr_gpa, uint64_t data_gpa, uint32_t len)
{
	return blk_io_tmo(c, type, sector, hdr_gpa, data_gpa, len, TMO);
}

static uint8_t pat(uint64_t sector, unsigned int i, uint8_t seed)
{
	return (uint8_t)(sector * 7 + i * 13 + seed);
}

/* Write @n sectors from memory at @data_gpa, read them back into other
 * memory, compare both ways, then check the image file. */
static void verified_io(struct ctx *c, uint64_t sector, unsigned int n,
			uint64_t hdr_gpa, uint64_t wr_gpa, uint64_t rd_gpa,
			uint8_t seed)
{
	uint8_t *wr = host_of(c, wr_gpa), *rd = host_of(c, rd_gpa);
	uint8_t file[512];
	int fd;

	for (unsigned int i = 0; i < n * 512; i++)
		wr[i] = pat(sector + i / 512, i % 512, seed);
	memset(rd, 0xee, n * 512);
	assert_int_equal(blk_io(c, FE_T_OUT, sector, hdr_gpa, wr_gpa,
				n * 512), 0);
	assert_int_equal(blk_io(c, FE_T_IN, sector, hdr_gpa, rd_gpa,
				n * 512), 0);
	assert_memory_equal(wr, rd, n * 512);
	fd = open(c->img, O_RDONLY | O_CLOEXEC);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, file, 512, (off_t)(sector + n - 1) * 512),
			 512);
	close(fd);
	assert_memory_equal(file, wr + (n - 1) * 512, 512);
}

/* Two regions, test-placed ring, test eventfds: verified I/O. */
static void run_two_regions(struct ctx *c)
{
	uint8_t cap[8];
	vhk_le64 capacity;

	attach(c);
	/* Only the 8 bytes of capacity: qsd fails a longer GET_CONFIG. */
	assert_int_equal(vhk_vuc_get_config(c->c, 0, cap, 8), 0);
	memcpy(&capacity, cap, 8);
	assert_int_equal(vhk_le64_get(capacity), SECTORS);
	/* Data in B, then data in A (next to the ring), then a request
	 * whose header is in A and whose data is in B. */
	verified_io(c, 10, 8, REG_B_GPA, REG_B_GPA + 0x1000,
		    REG_B_GPA + 0x3000, 1);
	verified_io(c, 100, 4, REG_B_GPA + 0x100, REG_A_GPA + DATA_A_OFF,
		    REG_A_GPA + DATA_A_OFF + 0x1000, 2);
	verified_io(c, SECTORS - 2, 2, REG_A_GPA + 0x100, REG_B_GPA + 0x8000,
		    REG_A_GPA + DATA_A_OFF, 3);
	/* The data written first is still there. */
	assert_int_equal(blk_io(c, FE_T_IN, 10, REG_B_GPA, REG_B_GPA + 0x5000,
				512), 0);
	assert_int_equal(host_of(c, REG_B_GPA + 0x5000)[17], pat(10, 17, 1));
}

static void test_blk_two_regions(void **state)
{
	run_two_regions(*state);
}

static void test_qsd_two_regions(void **state)
{
	run_two_regions(*state);
}

/* Hot add region C, I/O through it, remove it, I/O elsewhere. */
static void run_hotplug(struct ctx *c)
{
	struct vhk_vuc_region rc;
	struct vhk_vuc_stats st;

	attach(c);
	mem_new(&c->cmem, REG_C_GPA, REG_SIZE);
	rc = region_of(&c->cmem);
	assert_int_equal(vhk_vuc_add_region(c->c, &rc), 0);
	assert_int_equal(vhk_vuc_num_regions(c->c), 3);
	verified_io(c, 300, 8, REG_C_GPA, REG_C_GPA + 0x1000,
		    REG_C_GPA + 0x4000, 4);
	/* Mixed: header in C, data in B. */
	verified_io(c, 310, 2, REG_C_GPA + 0x200, REG_B_GPA + 0x1000,
		    REG_B_GPA + 0x2000, 5);
	assert_int_equal(vhk_vuc_remove_region(c->c, REG_C_GPA, REG_SIZE), 0);
	assert_int_equal(vhk_vuc_num_regions(c->c), 2);
	assert_int_equal(vhk_vuc_remove_region(c->c, REG_C_GPA, REG_SIZE),
			 -ENOENT);
	verified_io(c, 320, 4, REG_B_GPA, REG_B_GPA + 0x1000,
		    REG_A_GPA + DATA_A_OFF, 6);
	/* And back in again, at the same place. */
	assert_int_equal(vhk_vuc_add_region(c->c, &rc), 0);
	verified_io(c, 330, 1, REG_C_GPA, REG_C_GPA + 0x1000,
		    REG_C_GPA + 0x2000, 7);
	/* A whole new table {A, B}: only C leaves, A (ring) and B stay. */
	{
		struct vhk_vuc_region ab[2] = { region_of(&c->a),
						region_of(&c->b) };

		assert_int_equal(vhk_vuc_set_mem_table(c->c, ab, 2), 0);
		assert_int_equal(vhk_vuc_num_regions(c->c), 2);
		assert_null(vhk_vuc_gpa_to_host(c->c, REG_C_GPA, 1));
	}
	verified_io(c, 335, 2, REG_B_GPA, REG_B_GPA + 0x1000,
		    REG_A_GPA + DATA_A_OFF, 19);
	vhk_vuc_stats(c->c, &st);
	assert_int_equal(st.mem_tables_sent, 0);	/* all one by one */
	assert_int_equal(st.regions_added, 2 + 2);
	assert_int_equal(st.regions_removed, 2);
}

/*
 * Without CONFIGURE_MEM_SLOTS every change re-sends the whole table
 * (SET_MEM_TABLE) while the ring runs; at most 8 regions.
 */
static void run_table_mode(struct ctx *c)
{
	struct vhk_vuc_region rc;
	struct vhk_vuc_stats st;

	c->no_slots = true;
	attach(c);
	assert_int_equal(vhk_vuc_max_regions(c->c), 8);
	mem_new(&c->cmem, REG_C_GPA, REG_SIZE);
	rc = region_of(&c->cmem);
	assert_int_equal(vhk_vuc_add_region(c->c, &rc), 0);
	verified_io(c, 800, 4, REG_C_GPA, REG_C_GPA + 0x1000,
		    REG_A_GPA + DATA_A_OFF, 20);
	assert_int_equal(vhk_vuc_remove_region(c->c, REG_C_GPA, REG_SIZE), 0);
	verified_io(c, 810, 2, REG_B_GPA, REG_B_GPA + 0x1000,
		    REG_A_GPA + DATA_A_OFF, 21);
	vhk_vuc_stats(c->c, &st);
	assert_int_equal(st.mem_tables_sent, 3);
	assert_int_equal(st.regions_added + st.regions_removed, 0);
}

static void test_blk_table_mode(void **state)
{
	run_table_mode(*state);
}

static void test_qsd_table_mode(void **state)
{
	run_table_mode(*state);
}

static void test_blk_hotplug(void **state)
{
	struct ctx *c = *state;
	uint8_t st = 0;

	run_hotplug(c);
	/*
	 * Removed memory is gone for the device: a request whose data lies
	 * in a removed region breaks the queue (vhostkit-blk sets
	 * DEVICE_NEEDS_RESET, VIRTIO 1.2, 2.1.2); it never reads the
	 * memory the VMM took away.  (run_hotplug() removed C last.)
	 */
	assert_int_equal(blk_io_tmo(c, FE_T_IN, 5, REG_B_GPA,
				    REG_C_GPA + 0x1000, 512, 300), -ETIMEDOUT);
	assert_int_equal(vhk_vuc_get_status(c->c, &st), 0);
	assert_true(st & VHK_STATUS_NEEDS_RESET);
	/* A VMM resets the device; the same memory table serves on. */
	assert_int_equal(vhk_vuc_reset(c->c), 0);
	assert_int_equal(vhk_vuc_set_features(c->c, c->features), 0);
	start_ring(c);
	driver_ok(c);
	verified_io(c, 340, 2, REG_B_GPA, REG_B_GPA + 0x1000,
		    REG_A_GPA + DATA_A_OFF, 14);
}

static void test_qsd_hotplug(void **state)
{
	run_hotplug(*state);
}

/* Fill every slot the back-end has, one more is refused, then empty. */
static void run_fill_slots(struct ctx *c)
{
	struct mem *small = c->small;
	unsigned int max, extra;
	struct vhk_vuc_region r;

	attach(c);
	max = vhk_vuc_max_regions(c->c);
	assert_true(max >= 2 && max - 2 <= 64);
	extra = max - 2;
	for (unsigned int i = 0; i < extra; i++) {
		mem_new(&small[i], SMALL_GPA + i * 0x10000ull, 0x4000);
		c->nsmall = i + 1;
		r = region_of(&small[i]);
		assert_int_equal(vhk_vuc_add_region(c->c, &r), 0);
	}
	assert_int_equal(vhk_vuc_num_regions(c->c), max);
	/* Full: the client refuses before the back-end sees anything. */
	mem_new(&c->cmem, REG_C_GPA, REG_SIZE);
	r = region_of(&c->cmem);
	assert_int_equal(vhk_vuc_add_region(c->c, &r), -ENOSPC);
	/* I/O through the last small region and the first ones. */
	verified_io(c, 400, 2, SMALL_GPA + (extra - 1) * 0x10000ull,
		    SMALL_GPA + (extra - 1) * 0x10000ull + 0x1000,
		    REG_B_GPA + 0x1000, 8);
	for (unsigned int i = 0; i < extra; i++) {
		assert_int_equal(vhk_vuc_remove_region(c->c, small[i].gpa,
						       small[i].size), 0);
	}
	for (unsigned int i = 0; i < extra; i++)
		mem_free(&small[i]);
	c->nsmall = 0;
	assert_int_equal(vhk_vuc_add_region(c->c, &r), 0);
	verified_io(c, 410, 2, REG_C_GPA, REG_C_GPA + 0x1000,
		    REG_A_GPA + DATA_A_OFF, 9);
}

static void test_blk_fill_slots(void **state)
{
	run_fill_slots(*state);
}

static void test_qsd_fill_slots(void **state)
{
	run_fill_slots(*state);
}

/* Hostile tables and rings: clear errors, nothing sent, device intact. */
static void test_blk_hostile(void **state)
{
	struct ctx *c = *state;
	struct vhk_vuc_region r[3], *big;
	struct vhk_vuc_vring v;
	struct vhk_vq_addrs a;
	struct mem d;
	unsigned int max;

	attach(c);
	mem_new(&d, REG_C_GPA, REG_SIZE);
	/* GPA overlap with region B (one page into it). */
	r[0] = region_of(&d);
	r[0].gpa = REG_B_GPA + REG_SIZE - 0x1000;
	assert_int_equal(vhk_vuc_add_region(c->c, &r[0]), -EINVAL);
	/* Host overlap: the same mapping again at another GPA. */
	r[0] = region_of(&c->a);
	r[0].gpa = REG_C_GPA;
	assert_int_equal(vhk_vuc_add_region(c->c, &r[0]), -EINVAL);
	/* Zero size, no fd, wrapping GPA range. */
	r[0] = region_of(&d);
	r[0].size = 0;
	assert_int_equal(vhk_vuc_add_region(c->c, &r[0]), -EINVAL);
	r[0] = region_of(&d);
	r[0].fd = -1;
	assert_int_equal(vhk_vuc_add_region(c->c, &r[0]), -EINVAL);
	r[0] = region_of(&d);
	r[0].gpa = UINT64_MAX - 0x1000;
	assert_int_equal(vhk_vuc_add_region(c->c, &r[0]), -EINVAL);
	/* A whole table whose regions overlap each other. */
	r[0] = region_of(&c->a);
	r[1] = region_of(&c->b);
	r[2] = region_of(&d);
	r[2].gpa = REG_A_GPA + 0x1000;
	assert_int_equal(vhk_vuc_set_mem_table(c->c, r, 3), -EINVAL);
	/* More regions than the back-end has slots. */
	max = vhk_vuc_max_regions(c->c);
	big = calloc(max + 1, sizeof(*big));
	for (unsigned int i = 0; i <= max; i++)
		big[i] = (struct vhk_vuc_region){
			.gpa = SMALL_GPA + i * 0x10000ull, .size = 0x1000,
			.host = d.host + i * 0x1000, .fd = d.fd,
			.fd_offset = i * 0x1000,
		};
	assert_int_equal(vhk_vuc_set_mem_table(c->c, big, max + 1), -ENOSPC);
	free(big);
	/* Removing what is not there. */
	assert_int_equal(vhk_vuc_remove_region(c->c, REG_A_GPA, 0x1000),
			 -ENOENT);
	assert_int_equal(vhk_vuc_num_regions(c->c), 2);
	/* A ring outside guest memory, or misaligned. */
	vhk_drv_vq_addrs(c->dq, &a);
	v = (struct vhk_vuc_vring){
		.num = QSIZE, .desc = REG_C_GPA, .driver = a.driver,
		.device = a.device, .kick_fd = c->kick, .call_fd = c->call,
	};
	assert_int_equal(vhk_vuc_vring_start(c->c, 0, &v), -EINVAL);
	v.desc = a.desc + 8;
	assert_int_equal(vhk_vuc_vring_start(c->c, 0, &v), -EINVAL);
	v.desc = a.desc;
	v.call_fd = -1;
	assert_int_equal(vhk_vuc_vring_start(c->c, 0, &v), -EINVAL);
	/* Nothing reached the back-end: the device still does I/O. */
	verified_io(c, 500, 4, REG_B_GPA, REG_B_GPA + 0x1000,
		    REG_A_GPA + DATA_A_OFF, 10);
	assert_true(vhk_vuc_connected(c->c));
	mem_free(&d);
}

/* Ring enable, reset and back-end restart replay on the caller's memory. */
static void test_blk_reset_reconnect(void **state)
{
	struct ctx *c = *state;
	static int token = 7;

	attach(c);
	verified_io(c, 600, 2, REG_B_GPA, REG_B_GPA + 0x1000,
		    REG_B_GPA + 0x2000, 11);
	/* A disabled ring is not served; enabling it picks the request up. */
	assert_int_equal(vhk_vuc_vring_enable(c->c, 0, false), 0);
	memset(host_of(c, REG_B_GPA + 0x4000), 0x3c, 512);
	assert_int_equal(blk_submit(c, FE_T_OUT, 605, REG_B_GPA + 0x100,
				    REG_B_GPA + 0x4000, 512, &token), 0);
	assert_int_equal(blk_wait(c, REG_B_GPA + 0x100, &token, 300),
			 -ETIMEDOUT);
	assert_int_equal(vhk_vuc_vring_enable(c->c, 0, true), 0);
	assert_int_equal(blk_wait(c, REG_B_GPA + 0x100, &token, TMO), 0);
	assert_int_equal(blk_io(c, FE_T_IN, 605, REG_B_GPA,
				REG_B_GPA + 0x5000, 512), 0);
	assert_int_equal(host_of(c, REG_B_GPA + 0x5000)[100], 0x3c);
	assert_int_equal(vhk_vuc_vring_enable(c->c, 1, true), -EINVAL);
	/* Reset: rings forgotten, features and rings again, same memory. */
	assert_int_equal(vhk_vuc_reset(c->c), 0);
	assert_int_equal(vhk_vuc_set_features(c->c, c->features), 0);
	start_ring(c);
	driver_ok(c);
	verified_io(c, 610, 2, REG_A_GPA + 0x100, REG_A_GPA + DATA_A_OFF,
		    REG_B_GPA + 0x2000, 12);
	/* Restart: the client replays table, inflight, ring, status. */
	fe_kill(&c->proc, SIGKILL);
	assert_int_equal(spawn(c), 0);
	assert_int_equal(vhk_vuc_reconnect(c->c), 0);
	assert_true(vhk_vuc_connected(c->c));
	assert_int_equal(vhk_vuc_num_regions(c->c), 2);
	verified_io(c, 620, 2, REG_B_GPA, REG_B_GPA + 0x1000,
		    REG_A_GPA + DATA_A_OFF, 13);
}

/*
 * A VMM with a vIOMMU: the client is the IOTLB provider.  Rings and
 * buffers at IOVAs, mapped onto the caller's regions; a remap moves a
 * buffer window; hostile mapping calls are refused; misses are served.
 */
static void test_blk_iotlb(void **state)
{
	struct ctx *c = *state;
	struct vhk_vuc_stats st;

	attach(c);
	assert_true(vhk_vuc_channel_fd(c->c) >= 0);
	verified_io(c, 700, 4, IOVA_B, IOVA_B + 0x1000,
		    IOVA_A + DATA_A_OFF, 15);
	/* The guest moves region B's window: unmap, map elsewhere. */
	assert_int_equal(vhk_vuc_iotlb_unmap(c->c, IOVA_B, REG_SIZE), 0);
	assert_int_equal(vhk_vuc_iotlb_map(c->c, IOVA_B2, REG_SIZE, c->b.host,
					   VHK_PERM_RW), 0);
	verified_io(c, 710, 2, IOVA_B2, IOVA_B2 + 0x1000, IOVA_B2 + 0x3000,
		    16);
	/* Hostile calls: overlap, no permission, wrap, unknown unmap. */
	assert_int_equal(vhk_vuc_iotlb_map(c->c, IOVA_B2 + 0x1000, 0x1000,
					   c->b.host, VHK_PERM_RO), -EINVAL);
	assert_int_equal(vhk_vuc_iotlb_map(c->c, IOVA_B, 0x1000, c->b.host,
					   0), -EINVAL);
	assert_int_equal(vhk_vuc_iotlb_map(c->c, UINT64_MAX - 0xfff, 0x2000,
					   c->b.host, VHK_PERM_RW), -EINVAL);
	assert_int_equal(vhk_vuc_iotlb_unmap(c->c, IOVA_B, REG_SIZE),
			 -ENOENT);
	assert_int_equal(vhk_vuc_iotlb_unmap(c->c, IOVA_B2, 0x1000), -ENOENT);
	vhk_vuc_stats(c->c, &st);
	assert_int_equal(st.iotlb_updates_sent, 3);
	assert_int_equal(st.iotlb_invalidates_sent, 1);
	assert_int_equal(st.misses_unmapped, 0);
	verified_io(c, 720, 1, IOVA_B2, IOVA_B2 + 0x1000, IOVA_A + DATA_A_OFF,
		    17);
	/*
	 * The back-end loses every entry behind the client's back (a global
	 * INVALIDATE the client does not record): the next request misses,
	 * and the client answers each MISS from the mappings it remembers.
	 */
	pthread_mutex_lock(&c->c->lock);
	assert_int_equal(vuc_iotlb_send_locked(c->c, VHK_VU_IOTLB_INVALIDATE,
					       0, 0, 0, 0), 0);
	pthread_mutex_unlock(&c->c->lock);
	verified_io(c, 730, 2, IOVA_B2, IOVA_B2 + 0x1000, IOVA_A + DATA_A_OFF,
		    18);
	vhk_vuc_stats(c->c, &st);
	assert_true(st.misses_served >= 2);	/* ring area + buffer window */
	assert_int_equal(st.misses_unmapped, 0);
}

int main(void)
{
	const struct CMUnitTest blk[] = {
		cmocka_unit_test_setup_teardown(test_blk_two_regions,
						setup_blk, teardown),
		cmocka_unit_test_setup_teardown(test_blk_hotplug, setup_blk,
						teardown),
		cmocka_unit_test_setup_teardown(test_blk_fill_slots,
						setup_blk, teardown),
		cmocka_unit_test_setup_teardown(test_blk_hostile, setup_blk,
						teardown),
		cmocka_unit_test_setup_teardown(test_blk_reset_reconnect,
						setup_blk, teardown),
		cmocka_unit_test_setup_teardown(test_blk_iotlb,
						setup_blk_iommu, teardown),
		cmocka_unit_test_setup_teardown(test_blk_table_mode,
						setup_blk, teardown),
	};
	const struct CMUnitTest qsd[] = {
		cmocka_unit_test_setup_teardown(test_qsd_two_regions,
						setup_qsd, teardown),
		cmocka_unit_test_setup_teardown(test_qsd_hotplug, setup_qsd,
						teardown),
		cmocka_unit_test_setup_teardown(test_qsd_fill_slots,
						setup_qsd, teardown),
		cmocka_unit_test_setup_teardown(test_qsd_table_mode,
						setup_qsd, teardown),
	};
	int ret;

	ret = cmocka_run_group_tests_name("vhostkit-blk", blk, NULL, NULL);
	if (access("/usr/bin/qemu-storage-daemon", X_OK) != 0) {
		fprintf(stderr, "qemu-storage-daemon not installed\n");
		ret = 1;
	} else {
		ret |= cmocka_run_group_tests_name("qemu-storage-daemon", qsd,
						   NULL, NULL);
	}
	fe_tmp_cleanup();
	return ret;
}
