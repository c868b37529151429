/* SPDX-License-Identifier: MIT */
/*
 * cli.h - pieces shared by the `vhostkit` command's subcommands.
 */
#ifndef VHK_TOOLS_CLI_H
#define VHK_TOOLS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "vhostkit/frontend.h"

/* Exit codes (see `vhostkit --help`, EXIT STATUS). */
#define CLI_EXIT_OK		0
#define CLI_EXIT_FAIL		1	/* I/O error, data mismatch, device error */
#define CLI_EXIT_USAGE		2	/* bad command line */
#define CLI_EXIT_CONNECT	3	/* could not connect / negotiate */

/* How the driver hands buffers to the device (docs/frontend.md, "The three DMA modes"). */
enum cli_dma {
	CLI_DMA_DIRECT,
	CLI_DMA_IOMMU_STRICT,
	CLI_DMA_IOMMU_LAZY,
	CLI_DMA_BOUNCE,
};

int cli_features_main(int argc, char **argv);
int cli_probe_main(int argc, char **argv);
int cli_blk_main(int argc, char **argv);
int cli_blk_io_main(int argc, char **argv);
int cli_blk_bench_main(int argc, char **argv);
int cli_net_main(int argc, char **argv);
int cli_net_io_main(int argc, char **argv);
int cli_stats_main(int argc, char **argv);
int cli_vsock_main(int argc, char **argv);

/* cli_util.c */

/**
 * cli_parse_size - "4096", "4k", "1M", "2G" (binary units) into *@out.
 * Returns 0 or -EINVAL.
 */
int cli_parse_size(const char *s, uint64_t *out);

/** cli_parse_u64 - decimal, 0x hex or 0 octal into *@out; 0 or -EINVAL. */
int cli_parse_u64(const char *s, uint64_t *out);

/** cli_parse_dma - "direct", "iommu-strict", "iommu-lazy", "bounce". */
int cli_parse_dma(const char *s, enum cli_dma *out);

/** cli_dma_name - the option spelling of @d. */
const char *cli_dma_name(enum cli_dma d);

/**
 * cli_dma_config - ask for --dma @d in @cfg (vhk_fe_config_set_dma());
 * returns the mode that asks for, to check against vhk_fe_dma_mode().
 */
enum vhk_dma_mode cli_dma_config(struct vhk_fe_config *cfg, enum cli_dma d);

/** cli_usage_error - print "vhostkit CMD: MSG" and a hint; returns 2. */
int cli_usage_error(const char *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

/** cli_fmt_size - "4 KiB" style human size of @bytes into @buf. */
const char *cli_fmt_size(char *buf, size_t len, uint64_t bytes);

/** cli_is_help - true for "-h", "--help" or "help". */
bool cli_is_help(const char *arg);

/* cli_blk.c: a blk driver on a socket, as the blk subcommands set it up. */
struct vhk_fe;
struct vhk_blk_drv;

struct cli_blk_opts {
	const char *socket;
	enum cli_dma dma;
	bool packed;
	bool poll;		/* busy-poll the used ring, not the call fd */
	uint16_t queues;	/* 0 = 1 */
	uint16_t queue_size;	/* 0 = 256 */
	unsigned int depth;	/* per queue */
	uint64_t buf_bytes;	/* data buffers the caller will allocate */
};

struct cli_blk {
	struct vhk_fe *fe;
	struct vhk_blk_drv *drv;
};

/**
 * cli_blk_open - connect, negotiate and start a blk driver as @o says;
 * prints what went wrong.  Returns 0 or a CLI_EXIT_* code.
 */
int cli_blk_open(struct cli_blk *b, const struct cli_blk_opts *o,
		 const char *cmd);

/** cli_blk_close - driver, then front-end. */
void cli_blk_close(struct cli_blk *b);

/** cli_blk_describe - one line: dma mode, ring layout, queues, depth. */
void cli_blk_describe(const struct cli_blk *b, FILE *out);

#endif /* VHK_TOOLS_CLI_H */
