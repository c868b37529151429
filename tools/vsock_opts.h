/* SPDX-License-Identifier: MIT */
/*
 * vsock_opts.h - vhostkit-vsock's VM descriptions: the --vm key=value list
 * (vhost-device-vsock compatible) and the YAML --config file.
 */
#ifndef VHK_TOOLS_VSOCK_OPTS_H
#define VHK_TOOLS_VSOCK_OPTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define VSOCK_OPTS_MAX_VMS	64

struct vsock_vm_opts {
	uint64_t guest_cid;
	bool guest_cid_set;
	char *socket;
	char *uds_path;
	uint32_t tx_buffer_size;	/* 0 = default */
	uint16_t queue_size;		/* 0 = default */
	char *groups;			/* NULL = "default" */
	int line;			/* config file line, 0 = --vm */
};

struct vsock_vm_list {
	struct vsock_vm_opts vm[VSOCK_OPTS_MAX_VMS];
	unsigned int n;
};

/**
 * vsock_parse_vm - append the VM described by @arg
 * ("guest-cid=N,socket=PATH,uds-path=PATH[,tx-buffer-size=B][,queue-size=N]
 * [,groups=a+b]") to @l.  Returns 0, or -EINVAL with a message in @err.
 */
int vsock_parse_vm(struct vsock_vm_list *l, const char *arg, char *err,
		   size_t errlen);

/**
 * vsock_parse_config - append the VMs of YAML file @path ("vms:" list of
 * maps with guest_cid, socket, uds_path, tx_buffer_size, queue_size,
 * groups) to @l.  Returns 0, or -errno with a message in @err.
 */
int vsock_parse_config(struct vsock_vm_list *l, const char *path, char *err,
		       size_t errlen);

/**
 * vsock_check_vms - the whole list: at least one VM, every CID valid and
 * unique, socket and uds-path paths given and unique.  0 or -EINVAL + @err.
 */
int vsock_check_vms(const struct vsock_vm_list *l, char *err, size_t errlen);

/** vsock_free_vms - free the strings of @l. */
void vsock_free_vms(struct vsock_vm_list *l);

#endif /* VHK_TOOLS_VSOCK_OPTS_H */
