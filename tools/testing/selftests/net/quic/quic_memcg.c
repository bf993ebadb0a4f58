// SPDX-License-Identifier: GPL-2.0
/*
 * What a quic-crypto socket makes the kernel hold is charged to the memory
 * cgroup of the task that created the socket.
 *
 * A child in a cgroup limited to LIMIT bytes adds connections to one
 * socket until ADD fails.  It must fail with ENOMEM, the child must not be
 * OOM-killed, and the kernel's slab must not have grown by more than the
 * limit; a DEL makes room for another ADD once the connection is freed;
 * after close the cgroup holds nothing any more.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/quic.h>
#include <linux/tls.h>

#include "../../kselftest_harness.h"
#include "quic_util.h"

#define LIMIT		(4 << 20)
#define MAX_CONNS	100000
#define CID_LEN		8
/* A removed connection is freed after an RCU grace period. */
#define READD_TRIES	200
/*
 * A memory cgroup charges in batches of 64 pages that each CPU keeps
 * until used: an empty cgroup may still show one per CPU.
 */
#define STOCK_MAX	(64 * 4096)
/* A few objects of the task itself, not a connection */
#define SLAB_LEFT_MAX	(64 << 10)

/*
 * Shared with the child through memory both touched before it joined the
 * cgroup: at its limit, any new page the child needed (a pipe buffer, a
 * stack or heap page) would have the cgroup's OOM killer end it.
 */
struct memcg_shared {
	int step;		/* 1: full, 2: go on, 3: done */
	int added;		/* connections added before the failure */
	int add_errno;		/* errno of the failed ADD */
	int readd_errno;	/* ADD after a DEL, 0 if it worked */
};

static int step_get(struct memcg_shared *sh)
{
	return __atomic_load_n(&sh->step, __ATOMIC_ACQUIRE);
}

static void step_set(struct memcg_shared *sh, int step)
{
	__atomic_store_n(&sh->step, step, __ATOMIC_RELEASE);
}

static void wait_step(struct memcg_shared *sh, int want)
{
	const struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };

	while (step_get(sh) != want)
		nanosleep(&tick, NULL);
}

/* In the child, inside the cgroup: fill one socket with connections. */
static void child_fill(const char *dir, uint16_t cipher,
		       struct memcg_shared *sh)
{
	const struct timespec tick = { .tv_nsec = 10 * 1000 * 1000 };
	uint8_t cid[CID_LEN];
	struct quic_keys k;
	int fd, i;

	quic_keys_pattern(&k, cipher, 0x40);
	/*
	 * Fault in the program, its libraries and its stack (exec leaves
	 * 128 KiB of it mapped) while outside the cgroup: at the limit a page
	 * fault would meet the OOM killer.
	 */
	if (mlockall(MCL_CURRENT))
		_exit(9);
	if (quic_file_write(dir, "cgroup.procs", "0"))
		_exit(10);
	/* The socket belongs to the cgroup of the task creating it. */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || quic_ulp_attach(fd))
		_exit(11);
	for (sh->added = 0; sh->added < MAX_CONNS; sh->added++) {
		quic_cid_numbered(cid, CID_LEN, 0xc9, sh->added);
		if (quic_conn_add(fd, &k, cid, CID_LEN)) {
			sh->add_errno = errno;
			break;
		}
	}
	step_set(sh, 1);
	/* The parent measures the slab, then lets go. */
	wait_step(sh, 2);
	quic_cid_numbered(cid, CID_LEN, 0xc9, 0);
	if (quic_conn_del(fd, cid, CID_LEN))
		_exit(12);
	quic_cid_numbered(cid, CID_LEN, 0xc9, MAX_CONNS);
	for (i = 0; i < READD_TRIES; i++) {
		sh->readd_errno = quic_conn_add(fd, &k, cid, CID_LEN) ? errno : 0;
		if (sh->readd_errno != ENOMEM)
			break;
		nanosleep(&tick, NULL);
	}
	close(fd);
	step_set(sh, 3);
	_exit(0);
}

FIXTURE(memcg)
{
	char dir[256];
};

FIXTURE_VARIANT(memcg)
{
	uint16_t cipher;
};

FIXTURE_VARIANT_ADD(memcg, aes_128_gcm)
{
	.cipher = TLS_CIPHER_AES_GCM_128,
};

FIXTURE_VARIANT_ADD(memcg, aes_256_gcm)
{
	.cipher = TLS_CIPHER_AES_GCM_256,
};

FIXTURE_VARIANT_ADD(memcg, aes_128_ccm)
{
	.cipher = TLS_CIPHER_AES_CCM_128,
};

FIXTURE_VARIANT_ADD(memcg, chacha20_poly1305)
{
	.cipher = TLS_CIPHER_CHACHA20_POLY1305,
};

FIXTURE_SETUP(memcg)
{
	char max[32];

	snprintf(max, sizeof(max), "%d", LIMIT);
	ASSERT_EQ(quic_memcg_make(self->dir, sizeof(self->dir), "quic_memcg",
				  max), 0)
		TH_LOG("no cgroup v2 memory controller: %s", strerror(errno));
}

FIXTURE_TEARDOWN(memcg)
{
	/* Fails only if a child is still in it, as after a failed test. */
	rmdir(self->dir);
}

TEST_F_TIMEOUT(memcg, adds_bounded, 600)
{
	long long slab0, grown, sock, left, left_max, slab;
	struct memcg_shared *sh;
	int status, i;
	pid_t pid;

	sh = mmap(NULL, sizeof(*sh), PROT_READ | PROT_WRITE,
		  MAP_SHARED | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(sh, MAP_FAILED);
	memset(sh, 0, sizeof(*sh));
	slab0 = quic_slab_bytes();
	ASSERT_GT(slab0, 0);

	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid)
		child_fill(self->dir, variant->cipher, sh);

	while (step_get(sh) != 1 && waitpid(pid, &status, WNOHANG) == 0)
		usleep(10 * 1000);
	ASSERT_EQ(step_get(sh), 1) TH_LOG("child ended with status %#x", status);
	grown = quic_slab_bytes() - slab0;
	/*
	 * memory.stat sums per-CPU counters that are flushed every 2 s, or
	 * sooner once enough has changed: the last charges may show late.
	 */
	for (i = 0; i < 40; i++) {
		sock = quic_file_value(self->dir, "memory.stat", "sock");
		if (sock >= (long long)sh->added * 4096)
			break;
		usleep(100 * 1000);
	}
	step_set(sh, 2);

	TH_LOG("%s: %d connections in %d KiB, slab grew %lld KiB (%lld B each)",
	       quic_cipher_name(variant->cipher), sh->added, LIMIT >> 10,
	       grown >> 10, sh->added ? grown / sh->added : 0);
	TH_LOG("%lld KiB charged as socket memory", sock >> 10);
	/* A few MiB hold hundreds of connections, not a hundred thousand. */
	EXPECT_GT(sh->added, 100);
	EXPECT_LT(sh->added, MAX_CONNS);
	EXPECT_EQ(sh->add_errno, ENOMEM);
	EXPECT_LE(grown, LIMIT);
	/* Each transform was charged 4 KiB, as documented. */
	EXPECT_GE(sock, (long long)sh->added * 4096);

	ASSERT_EQ(waitpid(pid, &status, 0), pid);
	EXPECT_TRUE(WIFEXITED(status) && !WEXITSTATUS(status))
		TH_LOG("child status %#x", status);
	EXPECT_EQ(step_get(sh), 3);
	EXPECT_EQ(sh->readd_errno, 0) TH_LOG("ADD after a DEL: %s",
					     strerror(sh->readd_errno));
	EXPECT_EQ(quic_file_value(self->dir, "memory.events", "oom_kill"), 0);

	/*
	 * The last connections are freed after a grace period, and the
	 * cgroup's statistics catch up within seconds.
	 */
	left_max = sysconf(_SC_NPROCESSORS_ONLN) * STOCK_MAX;
	for (i = 0; i < 150; i++) {
		left = quic_file_value(self->dir, "memory.current", NULL);
		slab = quic_file_value(self->dir, "memory.stat", "slab");
		sock = quic_file_value(self->dir, "memory.stat", "sock");
		if (left >= 0 && left <= left_max && !sock && slab >= 0 &&
		    slab <= SLAB_LEFT_MAX)
			break;
		usleep(100 * 1000);
	}
	EXPECT_LE(left, left_max);
	EXPECT_EQ(sock, 0);
	EXPECT_LE(slab, SLAB_LEFT_MAX);
	munmap(sh, sizeof(*sh));
}

TEST_HARNESS_MAIN
