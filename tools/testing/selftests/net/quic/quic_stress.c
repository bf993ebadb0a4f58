// SPDX-License-Identifier: GPL-2.0
/*
 * Concurrency stress of the quic-crypto Tx offload: several threads send
 * on one socket while others remove and re-add connections and update
 * their keys.  Every datagram that arrives is opened with OpenSSL using
 * keys derived here, and compared byte for byte with what was sent.
 *
 * A connection slot's state is one word that the control threads publish
 * after each change to the kernel: generation (a new DCID and new keys after
 * each DEL and ADD), key update count, and whether it is added.  A sender
 * takes a snapshot, builds packets for it and sends them without any lock;
 * ENOKEY is only acceptable if the word changed in the meantime.  Each
 * packet carries the key update count of its snapshot, and must be opened
 * by that key or a later one of the same phase: never by a stale key.
 * Senders of one slot share its packet numbers, and the kernel refuses
 * numbers below those another sender already sent (ERANGE): acceptable
 * only if another sender took later numbers meanwhile.
 *
 * QUIC_STRESS_SECONDS sets the duration: 20 s by default, short enough for
 * the kselftest runner's timeout on a debug kernel under emulation; longer
 * runs (60 s and more) give the races more chances.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/quic.h>
#include <linux/tls.h>

#include "../../kselftest_harness.h"
#include "quic_util.h"

#define SLOTS		16
#define SENDERS		3
#define CID_LEN		8
#define PN_LEN		4
#define PLAIN_MIN	64
#define PLAIN_MAX	1200
#define BATCH_MAX	8
#define BACKLOG_MAX	512	/* datagrams in flight before senders wait */
#define UPDATES_MAX	64	/* key updates per generation */
#define HISTORY		64	/* final states of removed generations */

/* The published state of a slot: generation, key updates, added. */
#define ST_LIVE		1ULL
#define ST_KU(st)	((unsigned int)((st) >> 1) & 0xff)
#define ST_GEN(st)	((uint32_t)((st) >> 32))
#define ST_MAKE(gen, ku, live) \
	((uint64_t)(gen) << 32 | (uint64_t)(ku) << 1 | (live))

struct slot {
	atomic_ullong state;
	atomic_ullong next_pn;
	atomic_ullong removed[HISTORY];	/* last state of a gen, by gen */
	pthread_mutex_t ctl;	/* control threads only, never senders */
	uint16_t cipher;
	struct quic_gen keys[UPDATES_MAX + 1];	/* of the current generation */
	unsigned int have;			/* keys derived so far */
};

/* The receiver's own copy of the keys of each slot's latest generation. */
struct rx_keys {
	uint32_t gen;
	unsigned int have;
	struct quic_gen keys[UPDATES_MAX + 1];
};

struct stress {
	int sfd, rfd;
	struct sockaddr_in dst;
	struct slot slots[SLOTS];
	atomic_bool stop;
	atomic_ullong sent, received, calls, enokey, erange, adds, dels, updates;
	atomic_ullong bad;
	char why[256];
	pthread_mutex_t why_lock;
};

static const uint16_t ciphers[] = {
	TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_256,
	TLS_CIPHER_AES_CCM_128, TLS_CIPHER_CHACHA20_POLY1305,
};

static void stress_fail(struct stress *s, const char *fmt, ...)
{
	va_list ap;

	pthread_mutex_lock(&s->why_lock);
	if (!s->bad++) {
		va_start(ap, fmt);
		vsnprintf(s->why, sizeof(s->why), fmt, ap);
		va_end(ap);
	}
	pthread_mutex_unlock(&s->why_lock);
	s->stop = true;
}

/* DCID: slot, generation, and a tag that no other test uses. */
static void make_cid(uint8_t *cid, unsigned int slot, uint32_t gen)
{
	cid[0] = slot;
	cid[1] = gen >> 24;
	cid[2] = gen >> 16;
	cid[3] = gen >> 8;
	cid[4] = gen;
	cid[5] = 's';
	cid[6] = 't';
	cid[7] = 'r';
}

/*
 * Keys of a generation, derived as far as update @last: the first from a
 * secret made of slot and generation, the next ones with "quic ku".
 * @have counts the keys already in @keys.
 */
static int derive(struct quic_gen *keys, unsigned int *have, uint16_t cipher,
		  unsigned int slot, uint32_t gen, unsigned int last)
{
	uint64_t rng = 0x7374726573730000ULL ^ (uint64_t)slot << 40 ^ gen;

	if (!*have) {
		quic_rand_bytes(&rng, keys[0].secret, QUIC_SECRET_MAX);
		if (quic_gen_keys(&keys[0], cipher, NULL))
			return -1;
		*have = 1;
	}
	for (; *have <= last; ++*have)
		if (quic_gen_next(&keys[*have], &keys[*have - 1]))
			return -1;
	return 0;
}

/* Offset of the key update count in a packet, after the header. */
#define KU_OFF		(1 + CID_LEN + PN_LEN)

/*
 * The plaintext of a packet follows from its slot, generation, number and
 * the key update count @ku of the sender's snapshot, whose parity is the
 * Key Phase bit.
 */
static size_t make_packet(uint8_t *buf, size_t len, unsigned int slot,
			  uint32_t gen, uint64_t pn, unsigned int ku)
{
	uint64_t rng = (uint64_t)slot << 56 ^ (uint64_t)gen << 32 ^ pn;
	uint8_t cid[CID_LEN];
	size_t h;

	make_cid(cid, slot, gen);
	h = quic_short_hdr(buf, cid, CID_LEN, pn, PN_LEN, ku & 1);
	buf[h] = ku;
	quic_rand_bytes(&rng, buf + h + 1, len - h - 1);
	return len;
}

static int key_phase(int fd, unsigned int slot, uint32_t gen, uint8_t op,
		     uint8_t phase, const struct quic_keys *k)
{
	uint8_t cid[CID_LEN];

	make_cid(cid, slot, gen);
	return quic_key_phase(fd, cid, CID_LEN, op, phase, k);
}

static int slot_add(struct stress *s, unsigned int i, uint32_t gen)
{
	struct slot *sl = &s->slots[i];
	uint8_t cid[CID_LEN];

	sl->have = 0;
	if (derive(sl->keys, &sl->have, sl->cipher, i, gen, 0))
		return -1;
	make_cid(cid, i, gen);
	if (quic_conn_add(s->sfd, &sl->keys[0].keys, cid, CID_LEN))
		return -1;
	sl->next_pn = 0;
	sl->state = ST_MAKE(gen, 0, ST_LIVE);
	s->adds++;
	return 0;
}

/* Remove a connection and add it back with a new DCID and new keys. */
static void *churn_fn(void *arg)
{
	struct stress *s = arg;
	uint64_t rng = 0xc4c4;

	while (!s->stop) {
		unsigned int i = quic_rand_range(&rng, 0, SLOTS - 1);
		struct slot *sl = &s->slots[i];
		uint64_t st;
		uint8_t cid[CID_LEN];

		pthread_mutex_lock(&sl->ctl);
		st = sl->state;
		sl->removed[ST_GEN(st) % HISTORY] = st & ~ST_LIVE;
		sl->state = st & ~ST_LIVE;
		make_cid(cid, i, ST_GEN(st));
		if (quic_conn_del(s->sfd, cid, CID_LEN))
			stress_fail(s, "DEL slot %u: %s", i, strerror(errno));
		s->dels++;
		if (slot_add(s, i, ST_GEN(st) + 1))
			stress_fail(s, "ADD slot %u: %s", i, strerror(errno));
		pthread_mutex_unlock(&sl->ctl);
		usleep(quic_rand_range(&rng, 0, 20000));
	}
	return NULL;
}

/*
 * RFC 9001 section 6 from the sender's side: install the next phase, let
 * senders use it, retire the previous one.
 */
static void *update_fn(void *arg)
{
	struct stress *s = arg;
	uint64_t rng = 0x4b55;

	while (!s->stop) {
		unsigned int i = quic_rand_range(&rng, 0, SLOTS - 1);
		struct slot *sl = &s->slots[i];
		unsigned int ku;
		uint32_t gen;
		uint64_t st;

		pthread_mutex_lock(&sl->ctl);
		st = sl->state;
		gen = ST_GEN(st);
		ku = ST_KU(st);
		if (ku < UPDATES_MAX &&
		    derive(sl->keys, &sl->have, sl->cipher, i, gen, ku + 1))
			stress_fail(s, "key derivation failed");
		else if (ku < UPDATES_MAX) {
			if (key_phase(s->sfd, i, gen, QUIC_KEY_PHASE_INSTALL,
				      (ku + 1) & 1, &sl->keys[ku + 1].keys))
				stress_fail(s, "INSTALL slot %u update %u: %s",
					    i, ku + 1, strerror(errno));
			sl->state = ST_MAKE(gen, ku + 1, ST_LIVE);
			if (key_phase(s->sfd, i, gen, QUIC_KEY_PHASE_RETIRE,
				      ku & 1, NULL))
				stress_fail(s, "RETIRE slot %u update %u: %s",
					    i, ku, strerror(errno));
			s->updates++;
		}
		pthread_mutex_unlock(&sl->ctl);
		usleep(quic_rand_range(&rng, 0, 10000));
	}
	return NULL;
}

static void *send_fn(void *arg)
{
	static __thread uint8_t buf[BATCH_MAX * PLAIN_MAX];
	static atomic_uint ids;
	struct stress *s = arg;
	uint64_t rng = 0x53454e44 + ids++;

	while (!s->stop) {
		unsigned int i = quic_rand_range(&rng, 0, SLOTS - 1);
		unsigned int n = quic_rand_range(&rng, 1, BATCH_MAX);
		size_t len = quic_rand_range(&rng, PLAIN_MIN, PLAIN_MAX);
		struct slot *sl = &s->slots[i];
		struct quic_send_args a = {
			.addr = (struct sockaddr *)&s->dst,
			.addrlen = sizeof(s->dst),
			.cid_len = CID_LEN,
			.gso_size = n > 1 ? len + QUIC_TAG_LEN : 0,
		};
		struct iovec iov = { .iov_base = buf, .iov_len = n * len };
		uint64_t st = sl->state, pn;
		unsigned int k;
		ssize_t ret;

		if (s->sent - s->received > BACKLOG_MAX) {
			usleep(1000);
			continue;
		}
		pn = atomic_fetch_add(&sl->next_pn, n);
		a.next_pkt_num = pn;
		for (k = 0; k < n; k++)
			make_packet(buf + k * len, len, i, ST_GEN(st), pn + k,
				    ST_KU(st));
		s->calls++;
		ret = quic_sendmsg(s->sfd, &iov, 1, &a);
		if (ret == (ssize_t)(n * len)) {
			s->sent += n;
			continue;
		}
		/* A removed connection, or keys changed since the snapshot. */
		if (ret < 0 && errno == ENOKEY &&
		    (!(st & ST_LIVE) || sl->state != st)) {
			s->enokey++;
			continue;
		}
		/* Another sender of the slot sent later numbers first. */
		if (ret < 0 && errno == ERANGE &&
		    (sl->next_pn > pn + n || sl->state != st)) {
			s->erange++;
			continue;
		}
		stress_fail(s, "sendmsg slot %u gen %u update %u (%s): %zd %s",
			    i, ST_GEN(st), ST_KU(st),
			    st & ST_LIVE ? "added" : "removed", ret,
			    ret < 0 ? strerror(errno) : "short");
	}
	return NULL;
}

/*
 * Open one datagram: the DCID names slot and generation, the Key Phase
 * bit leaves two candidate key updates near the newest one.
 */
static void verify(struct stress *s, const uint8_t *pkt, size_t len,
		   struct rx_keys *rx)
{
	uint8_t plain[PLAIN_MAX], want[PLAIN_MAX];
	unsigned int i, top;
	struct rx_keys *r;
	uint64_t pn, st;
	uint32_t gen;
	ssize_t n = -1;
	int ku;

	if (len < 1 + CID_LEN + PN_LEN + QUIC_SAMPLE_LEN ||
	    len > PLAIN_MAX + QUIC_TAG_LEN || pkt[1] >= SLOTS ||
	    memcmp(pkt + 6, "str", 3)) {
		stress_fail(s, "unexpected datagram of %zu bytes", len);
		return;
	}
	i = pkt[1];
	gen = (uint32_t)pkt[2] << 24 | pkt[3] << 16 | pkt[4] << 8 | pkt[5];
	/* The sender's update count is at most the published one. */
	st = s->slots[i].state;
	if (ST_GEN(st) != gen)
		st = s->slots[i].removed[gen % HISTORY];
	top = ST_GEN(st) == gen ? ST_KU(st) : UPDATES_MAX;
	r = &rx[i];
	if (r->gen != gen) {
		r->gen = gen;
		r->have = 0;
	}
	if (derive(r->keys, &r->have, s->slots[i].cipher, i, gen, top)) {
		stress_fail(s, "key derivation failed");
		return;
	}
	for (ku = top; ku >= 0; ku--) {
		n = quic_unprotect(&r->keys[ku].keys, pkt, len, CID_LEN, 0,
				   plain, &pn);
		if (n >= 0)
			break;
	}
	if (n < 0) {
		stress_fail(s, "slot %u gen %u: no key opens a %zu-byte packet",
			    i, gen, len);
		return;
	}
	if (!(plain[0] & QUIC_HDR_KEY_PHASE) != !(ku & 1)) {
		stress_fail(s, "slot %u gen %u: key phase bit %d, update %d",
			    i, gen, !!(plain[0] & QUIC_HDR_KEY_PHASE), ku);
		return;
	}
	/* The phase's key when sent was the snapshot's or a later one. */
	if (ku < plain[KU_OFF]) {
		stress_fail(s, "slot %u gen %u pn %llu: update %u, stale key %d",
			    i, gen, (unsigned long long)pn, plain[KU_OFF], ku);
		return;
	}
	make_packet(want, len - QUIC_TAG_LEN, i, gen, pn, plain[KU_OFF]);
	if (memcmp(plain, want, len - QUIC_TAG_LEN))
		stress_fail(s, "slot %u gen %u pn %llu: plaintext differs",
			    i, gen, (unsigned long long)pn);
}

static unsigned int stress_seconds(void)
{
	const char *env = getenv("QUIC_STRESS_SECONDS");

	return env ? atoi(env) : 20;
}

FIXTURE(stress)
{
	struct stress *s;
};

FIXTURE_SETUP(stress)
{
	socklen_t alen = sizeof(struct sockaddr_in);
	int buf = 16 << 20;
	struct stress *s;
	unsigned int i;

	if (quic_netns_fresh())
		SKIP(return, "no network namespace: %s", strerror(errno));
	s = calloc(1, sizeof(*s));
	ASSERT_NE(NULL, s);
	self->s = s;
	pthread_mutex_init(&s->why_lock, NULL);

	s->rfd = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_GE(s->rfd, 0);
	setsockopt(s->rfd, SOL_SOCKET, SO_RCVBUFFORCE, &buf, sizeof(buf));
	s->dst.sin_family = AF_INET;
	s->dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ASSERT_EQ(0, bind(s->rfd, (struct sockaddr *)&s->dst, alen));
	ASSERT_EQ(0, getsockname(s->rfd, (struct sockaddr *)&s->dst, &alen));

	s->sfd = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_GE(s->sfd, 0);
	if (quic_ulp_attach(s->sfd))
		SKIP(return, "quic-crypto ULP not available: %s",
		     strerror(errno));
	for (i = 0; i < SLOTS; i++) {
		pthread_mutex_init(&s->slots[i].ctl, NULL);
		s->slots[i].cipher = ciphers[i % ARRAY_SIZE(ciphers)];
		ASSERT_EQ(0, slot_add(s, i, 1)) TH_LOG("%s", strerror(errno));
	}
}

FIXTURE_TEARDOWN(stress)
{
	if (!self->s)
		return;
	close(self->s->sfd);
	close(self->s->rfd);
	free(self->s);
}

/* Four minutes leave room for a slow emulated machine at 60 s of load. */
TEST_F_TIMEOUT(stress, send_add_del_update, 240)
{
	struct rx_keys *rx = calloc(SLOTS, sizeof(*rx));
	pthread_t senders[SENDERS], churn, update;
	uint8_t pkt[PLAIN_MAX + QUIC_TAG_LEN];
	struct stress *s = self->s;
	time_t end;
	ssize_t n;
	int i;

	ASSERT_NE(NULL, rx);
	ASSERT_EQ(0, quic_stat(-1, "QuicTxPackets"));
	end = time(NULL) + stress_seconds();
	for (i = 0; i < SENDERS; i++)
		ASSERT_EQ(0, pthread_create(&senders[i], NULL, send_fn, s));
	ASSERT_EQ(0, pthread_create(&churn, NULL, churn_fn, s));
	ASSERT_EQ(0, pthread_create(&update, NULL, update_fn, s));

	while (!s->stop && time(NULL) < end) {
		n = quic_recv(s->rfd, pkt, sizeof(pkt), 1000);
		if (n < 0)
			continue;
		verify(s, pkt, n, rx);
		s->received++;
	}
	s->stop = true;
	for (i = 0; i < SENDERS; i++)
		pthread_join(senders[i], NULL);
	pthread_join(churn, NULL);
	pthread_join(update, NULL);

	/* Everything sent arrives: loopback, and a receive buffer to spare. */
	while (s->received < s->sent &&
	       (n = quic_recv(s->rfd, pkt, sizeof(pkt), 2000)) >= 0) {
		verify(s, pkt, n, rx);
		s->received++;
	}
	free(rx);
	TH_LOG("%llu calls, %llu packets verified, %llu ENOKEY, %llu ERANGE",
	       (unsigned long long)s->calls, (unsigned long long)s->received,
	       (unsigned long long)s->enokey, (unsigned long long)s->erange);
	TH_LOG("%llu ADD, %llu DEL, %llu key updates",
	       (unsigned long long)s->adds, (unsigned long long)s->dels,
	       (unsigned long long)s->updates);
	ASSERT_EQ(0, s->bad) TH_LOG("%s", s->why);
	EXPECT_EQ(s->sent, s->received);
	EXPECT_EQ((long long)s->sent, quic_stat(-1, "QuicTxPackets"));
	EXPECT_GT(s->sent, 0);
	EXPECT_GT(s->dels, 0);
	EXPECT_GT(s->updates, 0);
	EXPECT_EQ((long long)SLOTS, quic_stat(-1, "QuicCurrTxSw"));
}

TEST_HARNESS_MAIN
