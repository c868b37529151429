/* SPDX-License-Identifier: MIT */
/*
 * guard.c - surviving guest memory whose file the front-end shrinks.
 *
 * A front-end maps its memory with MAP_SHARED from a file it keeps; if it
 * truncates the file after SET_MEM_TABLE, every access of ours to the
 * pages past the new end raises SIGBUS, which would kill the daemon and
 * every other connection it serves.  Files sealed with F_SEAL_SHRINK cannot
 * shrink; for the others a SIGBUS handler recognises addresses inside a
 * registered mapping, replaces the whole mapping with anonymous zero pages
 * (so the faulting instruction and every later access complete) and
 * records the fault for its owner, who marks the device broken at its next
 * safe point.  Faults anywhere else go to the previous handler (or kill
 * the process as before).
 *
 * The registry is a fixed array read lock-free by the handler; owners add
 * and remove their mappings under a mutex, and remove one before
 * unmapping it (the server unmaps only with its workers parked, so no
 * thread can be faulting on a mapping that goes away).
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/mman.h>

#include "vhostkit/mem.h"

#define GUARD_SLOTS	4096

struct guard_slot {
	_Atomic uintptr_t base;		/* 0: free */
	_Atomic size_t len;
	struct vhk_mem_fault *_Atomic fault;
	_Atomic uint64_t tag;
};

static struct guard_slot slots[GUARD_SLOTS];
static pthread_mutex_t guard_lock = PTHREAD_MUTEX_INITIALIZER;
static struct sigaction old_bus;

static void guard_sigbus(int sig, siginfo_t *si, void *uc)
{
	uintptr_t a = (uintptr_t)si->si_addr;

	for (unsigned int i = 0; i < GUARD_SLOTS; i++) {
		uintptr_t b = atomic_load_explicit(&slots[i].base,
						   memory_order_acquire);
		size_t len;
		struct vhk_mem_fault *f;

		if (!b || a < b)
			continue;
		len = atomic_load_explicit(&slots[i].len, memory_order_relaxed);
		if (a - b >= len)
			continue;
		f = atomic_load_explicit(&slots[i].fault, memory_order_relaxed);
		/* Anonymous pages over the whole mapping: this access and
		 * every later one complete (mmap is a plain system call). */
		if (mmap((void *)b, len, PROT_READ | PROT_WRITE,
			 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0) ==
		    MAP_FAILED)
			break;
		if (f && !__atomic_load_n(&f->hit, __ATOMIC_ACQUIRE)) {
			__atomic_store_n(&f->tag, atomic_load(&slots[i].tag),
					 __ATOMIC_RELAXED);
			__atomic_store_n(&f->offset, (uint64_t)(a - b),
					 __ATOMIC_RELAXED);
			__atomic_store_n(&f->hit, 1, __ATOMIC_RELEASE);
		}
		return;
	}
	/* Not ours: what would have happened without us. */
	if (old_bus.sa_flags & SA_SIGINFO) {
		if (old_bus.sa_sigaction) {
			old_bus.sa_sigaction(sig, si, uc);
			return;
		}
	} else if (old_bus.sa_handler != SIG_DFL &&
		   old_bus.sa_handler != SIG_IGN) {
		old_bus.sa_handler(sig);
		return;
	}
	/* Default action: die of the signal when the access repeats. */
	signal(SIGBUS, SIG_DFL);
}

/*
 * Install the handler, or again if someone replaced it since (a test
 * framework that sets its own per test; a library): faults not ours still
 * go to whatever was there.
 */
static int install(void)
{
	struct sigaction sa, cur;

	if (sigaction(SIGBUS, NULL, &cur) < 0)
		return -errno;
	if ((cur.sa_flags & SA_SIGINFO) && cur.sa_sigaction == guard_sigbus)
		return 0;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = guard_sigbus;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	old_bus = cur;
	if (sigaction(SIGBUS, &sa, NULL) < 0)
		return -errno;
	return 0;
}

int vhk_mem_guard_add(void *base, size_t len, struct vhk_mem_fault *f,
		      uint64_t tag)
{
	int ret = -ENOSPC;

	if (!base || !len)
		return -EINVAL;
	pthread_mutex_lock(&guard_lock);
	ret = install();
	if (ret < 0)
		goto out;
	ret = -ENOSPC;
	for (unsigned int i = 0; i < GUARD_SLOTS; i++) {
		if (atomic_load(&slots[i].base))
			continue;
		atomic_store(&slots[i].len, len);
		atomic_store(&slots[i].fault, f);
		atomic_store(&slots[i].tag, tag);
		atomic_store_explicit(&slots[i].base, (uintptr_t)base,
				      memory_order_release);
		ret = 0;
		break;
	}
out:
	pthread_mutex_unlock(&guard_lock);
	return ret;
}

void vhk_mem_guard_del(void *base)
{
	if (!base)
		return;
	pthread_mutex_lock(&guard_lock);
	for (unsigned int i = 0; i < GUARD_SLOTS; i++) {
		if (atomic_load(&slots[i].base) == (uintptr_t)base) {
			atomic_store_explicit(&slots[i].base, 0,
					      memory_order_release);
			break;
		}
	}
	pthread_mutex_unlock(&guard_lock);
}

bool vhk_fd_shrink_sealed(int fd)
{
	int seals = fcntl(fd, F_GET_SEALS);

	return seals >= 0 && (seals & F_SEAL_SHRINK);
}
