/* SPDX-License-Identifier: MIT */
/*
 * vhostkit/api.h - the export annotation of libvhostkit.so.
 *
 * The shared library is built with hidden symbol visibility by default
 * (meson: gnu_symbol_visibility 'hidden'), so a function or object is part
 * of its ABI only when its declaration in an installed header carries
 * VHK_API.  Every installed header includes this one.  The exported set is
 * checked in: abi/libvhostkit.symbols, compared with the built library by
 * the abi test (docs/architecture.md, "The library boundary").
 *
 * It goes on its own line before the declaration:
 *
 *	VHK_API
 *	int vhk_backend_run(struct vhk_backend *be);
 *
 * The static library (libvhostkit.a) carries every object file; visibility
 * does not restrict what a static link can use.
 */
#ifndef VHOSTKIT_API_H
#define VHOSTKIT_API_H

#if defined(__GNUC__) || defined(__clang__)
#define VHK_API __attribute__((visibility("default")))
#else
#define VHK_API
#endif

#endif /* VHOSTKIT_API_H */
