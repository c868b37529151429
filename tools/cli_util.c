// SPDX-License-Identifier: MIT
/*
 * cli_util.c - option parsing helpers for the `vhostkit` command.
 */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

int cli_parse_u64(const char *s, uint64_t *out)
{
	unsigned long long v;
	char *end;

	if (!s || !*s || *s == '-' || isspace((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end)
		return -EINVAL;
	*out = v;
	return 0;
}

int cli_parse_size(const char *s, uint64_t *out)
{
	unsigned long long v;
	unsigned int shift = 0;
	char *end;

	if (!s || !*s || !isdigit((unsigned char)*s))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno)
		return -EINVAL;
	switch (tolower((unsigned char)*end)) {
	case '\0':
		break;
	case 'k':
		shift = 10;
		break;
	case 'm':
		shift = 20;
		break;
	case 'g':
		shift = 30;
		break;
	case 't':
		shift = 40;
		break;
	default:
		return -EINVAL;
	}
	if (*end) {
		end++;
		/* Accept "4k", "4K", "4KiB", "4kb". */
		if (!strcasecmp(end, "ib") || !strcasecmp(end, "b"))
			end += strlen(end);
		if (*end)
			return -EINVAL;
	}
	if (shift && v > (~0ull >> shift))
		return -EINVAL;
	*out = v << shift;
	return 0;
}

static const char *const dma_names[] = {
	[CLI_DMA_DIRECT] = "direct",
	[CLI_DMA_IOMMU_STRICT] = "iommu-strict",
	[CLI_DMA_IOMMU_LAZY] = "iommu-lazy",
	[CLI_DMA_BOUNCE] = "bounce",
};

int cli_parse_dma(const char *s, enum cli_dma *out)
{
	unsigned int i;

	for (i = 0; i < sizeof(dma_names) / sizeof(dma_names[0]); i++) {
		if (!strcmp(s, dma_names[i])) {
			*out = (enum cli_dma)i;
			return 0;
		}
	}
	/* "iommu" alone means the strict flavour, like Linux's default. */
	if (!strcmp(s, "iommu")) {
		*out = CLI_DMA_IOMMU_STRICT;
		return 0;
	}
	return -EINVAL;
}

enum vhk_dma_mode cli_dma_config(struct vhk_fe_config *cfg, enum cli_dma d)
{
	enum vhk_dma_mode m = d == CLI_DMA_DIRECT ? VHK_DMA_DIRECT :
			      d == CLI_DMA_BOUNCE ? VHK_DMA_BOUNCE :
			      VHK_DMA_IOMMU;

	vhk_fe_config_set_dma(cfg, m, d == CLI_DMA_IOMMU_STRICT ?
				      VHK_IOMMU_STRICT : VHK_IOMMU_LAZY);
	return m;
}

const char *cli_dma_name(enum cli_dma d)
{
	if ((unsigned int)d < sizeof(dma_names) / sizeof(dma_names[0]))
		return dma_names[d];
	return "unknown";
}

int cli_usage_error(const char *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "vhostkit %s: ", cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'vhostkit %s --help'.\n", cmd);
	return CLI_EXIT_USAGE;
}

const char *cli_fmt_size(char *buf, size_t len, uint64_t bytes)
{
	static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	unsigned int u = 0;
	double v = (double)bytes;

	while (v >= 1024.0 && u + 1 < sizeof(unit) / sizeof(unit[0])) {
		v /= 1024.0;
		u++;
	}
	if (u == 0)
		snprintf(buf, len, "%llu B", (unsigned long long)bytes);
	else
		snprintf(buf, len, "%.4g %s", v, unit[u]);
	return buf;
}

bool cli_is_help(const char *arg)
{
	return !strcmp(arg, "-h") || !strcmp(arg, "--help") ||
	       !strcmp(arg, "help");
}
