/* SPDX-License-Identifier: MIT */
/*
 * vsock_opts.c - parse vhostkit-vsock's VM descriptions: --vm key=value
 * lists and YAML configuration files (through libyaml).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "vhostkit/vsock.h"
#include "vsock_opts.h"

static int fail(char *err, size_t errlen, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static int fail(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -EINVAL;
}

static int parse_num(const char *s, uint64_t max, uint64_t *out)
{
	char *end;
	unsigned long long v;

	if (!*s || *s == '-' || *s == '+')
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 0);
	if (errno || *end || v > max)
		return -EINVAL;
	*out = v;
	return 0;
}

/* One key of a VM, in --vm spelling (dashes) or YAML spelling (_). */
static int set_key(struct vsock_vm_opts *vm, const char *key,
		   const char *val, char *err, size_t errlen)
{
	char k[32];
	uint64_t v;
	size_t i;

	if (strlen(key) >= sizeof(k))
		return fail(err, errlen, "unknown key '%s'", key);
	for (i = 0; key[i]; i++)
		k[i] = key[i] == '_' ? '-' : key[i];
	k[i] = '\0';
	if (!strcmp(k, "guest-cid")) {
		if (parse_num(val, UINT64_MAX, &v))
			return fail(err, errlen, "guest-cid '%s' is not a number", val);
		vm->guest_cid = v;
		vm->guest_cid_set = true;
	} else if (!strcmp(k, "socket")) {
		free(vm->socket);
		vm->socket = strdup(val);
	} else if (!strcmp(k, "uds-path")) {
		free(vm->uds_path);
		vm->uds_path = strdup(val);
	} else if (!strcmp(k, "tx-buffer-size")) {
		if (parse_num(val, VHK_VSOCK_MAX_BUF_SIZE, &v) || v < 4096)
			return fail(err, errlen, "tx-buffer-size must be 4096-%u bytes, not '%s'",
				    VHK_VSOCK_MAX_BUF_SIZE, val);
		vm->tx_buffer_size = (uint32_t)v;
	} else if (!strcmp(k, "queue-size")) {
		if (parse_num(val, 32768, &v) || v == 0)
			return fail(err, errlen, "queue-size must be 1-32768, not '%s'", val);
		vm->queue_size = (uint16_t)v;
	} else if (!strcmp(k, "groups")) {
		free(vm->groups);
		vm->groups = strdup(val);
	} else {
		return fail(err, errlen, "unknown key '%s' (guest-cid, socket, uds-path, tx-buffer-size, queue-size, groups)",
			    key);
	}
	return 0;
}

static struct vsock_vm_opts *new_vm(struct vsock_vm_list *l, char *err,
				    size_t errlen)
{
	if (l->n >= VSOCK_OPTS_MAX_VMS) {
		fail(err, errlen, "at most %d VMs", VSOCK_OPTS_MAX_VMS);
		return NULL;
	}
	memset(&l->vm[l->n], 0, sizeof(l->vm[0]));
	return &l->vm[l->n++];
}

int vsock_parse_vm(struct vsock_vm_list *l, const char *arg, char *err,
		   size_t errlen)
{
	struct vsock_vm_opts *vm = new_vm(l, err, errlen);
	char *copy, *tok, *save = NULL;
	int ret = 0;

	if (!vm)
		return -EINVAL;
	copy = strdup(arg);
	if (!copy)
		return -ENOMEM;
	for (tok = strtok_r(copy, ",", &save); tok && !ret;
	     tok = strtok_r(NULL, ",", &save)) {
		char *eq = strchr(tok, '=');

		if (!eq) {
			ret = fail(err, errlen, "'%s' is not key=value", tok);
			break;
		}
		*eq = '\0';
		ret = set_key(vm, tok, eq + 1, err, errlen);
	}
	free(copy);
	return ret;
}

static const char *scalar(yaml_node_t *n)
{
	return n && n->type == YAML_SCALAR_NODE ?
	       (const char *)n->data.scalar.value : NULL;
}

static int parse_vm_node(struct vsock_vm_list *l, yaml_document_t *doc,
			 yaml_node_t *n, char *err, size_t errlen)
{
	struct vsock_vm_opts *vm;
	yaml_node_pair_t *p;

	if (n->type != YAML_MAPPING_NODE)
		return fail(err, errlen, "line %zu: a VM is a map of keys",
			    n->start_mark.line + 1);
	vm = new_vm(l, err, errlen);
	if (!vm)
		return -EINVAL;
	vm->line = (int)n->start_mark.line + 1;
	for (p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top;
	     p++) {
		yaml_node_t *k = yaml_document_get_node(doc, p->key);
		yaml_node_t *v = yaml_document_get_node(doc, p->value);
		const char *ks = scalar(k), *vs = scalar(v);
		char sub[200];
		int ret;

		if (!ks || !vs)
			return fail(err, errlen, "line %zu: keys and values are scalars",
				    (k ? k->start_mark.line : n->start_mark.line) + 1);
		ret = set_key(vm, ks, vs, sub, sizeof(sub));
		if (ret)
			return fail(err, errlen, "line %zu: %s",
				    k->start_mark.line + 1, sub);
	}
	return 0;
}

int vsock_parse_config(struct vsock_vm_list *l, const char *path, char *err,
		       size_t errlen)
{
	yaml_parser_t parser;
	yaml_document_t doc;
	yaml_node_t *root, *vms = NULL;
	yaml_node_pair_t *p;
	yaml_node_item_t *it;
	FILE *f;
	int ret = 0;

	f = fopen(path, "r");
	if (!f) {
		ret = -errno;
		fail(err, errlen, "%s: %s", path, strerror(-ret));
		return ret;
	}
	if (!yaml_parser_initialize(&parser)) {
		fclose(f);
		return -ENOMEM;
	}
	yaml_parser_set_input_file(&parser, f);
	if (!yaml_parser_load(&parser, &doc)) {
		ret = fail(err, errlen, "%s:%zu: %s", path,
			   parser.problem_mark.line + 1,
			   parser.problem ? parser.problem : "YAML error");
		goto out_parser;
	}
	root = yaml_document_get_root_node(&doc);
	if (root && root->type == YAML_MAPPING_NODE) {
		for (p = root->data.mapping.pairs.start;
		     p < root->data.mapping.pairs.top; p++) {
			const char *k = scalar(yaml_document_get_node(&doc,
								      p->key));

			if (k && !strcmp(k, "vms"))
				vms = yaml_document_get_node(&doc, p->value);
			else
				ret = fail(err, errlen, "%s: unknown top-level key '%s' (expected 'vms')",
					   path, k ? k : "?");
		}
	}
	if (!ret && (!vms || vms->type != YAML_SEQUENCE_NODE))
		ret = fail(err, errlen, "%s: expected a 'vms:' list", path);
	if (!ret) {
		for (it = vms->data.sequence.items.start;
		     !ret && it < vms->data.sequence.items.top; it++) {
			char sub[256];

			ret = parse_vm_node(l, &doc,
					    yaml_document_get_node(&doc, *it),
					    sub, sizeof(sub));
			if (ret)
				fail(err, errlen, "%s: %s", path, sub);
		}
	}
	yaml_document_delete(&doc);
out_parser:
	yaml_parser_delete(&parser);
	fclose(f);
	return ret;
}

int vsock_check_vms(const struct vsock_vm_list *l, char *err, size_t errlen)
{
	unsigned int i, j;

	if (!l->n)
		return fail(err, errlen, "no VM: give --vm or --config (see --help)");
	for (i = 0; i < l->n; i++) {
		const struct vsock_vm_opts *a = &l->vm[i];
		const char *why;

		if (!a->guest_cid_set || !a->socket || !a->uds_path)
			return fail(err, errlen, "VM %u: guest-cid, socket and uds-path are required",
				    i + 1);
		if (vhk_vsock_cid_check(a->guest_cid, &why))
			return fail(err, errlen, "VM %u: guest-cid %llu refused: %s",
				    i + 1, (unsigned long long)a->guest_cid, why);
		for (j = 0; j < i; j++) {
			const struct vsock_vm_opts *b = &l->vm[j];

			if (a->guest_cid == b->guest_cid)
				return fail(err, errlen, "VMs %u and %u both have guest-cid %llu",
					    j + 1, i + 1,
					    (unsigned long long)a->guest_cid);
			if (!strcmp(a->socket, b->socket) ||
			    !strcmp(a->uds_path, b->uds_path))
				return fail(err, errlen, "VMs %u and %u share a socket or uds-path",
					    j + 1, i + 1);
		}
	}
	return 0;
}

void vsock_free_vms(struct vsock_vm_list *l)
{
	unsigned int i;

	for (i = 0; i < l->n; i++) {
		free(l->vm[i].socket);
		free(l->vm[i].uds_path);
		free(l->vm[i].groups);
	}
	l->n = 0;
}
