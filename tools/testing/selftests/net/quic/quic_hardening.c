// SPDX-License-Identifier: GPL-2.0
/*
 * Hardening tests of the quic-crypto UDP ULP: malformed input, races and
 * security properties.
 *
 * The "hard" fixture feeds the socket options and sendmsg() a matrix of
 * malformed input.  Each refused call must fail with the errno
 * Documentation/networking/quic.rst gives (or the one plain UDP gives, where
 * the document defers to UDP), move exactly the documented counter of
 * /proc/net/quic_stat, and put nothing on the wire: the next datagram the
 * receiver sees must be a sentinel packet sent right after, decrypted by
 * the OpenSSL receiver of quic_util.c.  A packet socket on lo watches every
 * frame for the plaintext of the payloads, which must never be seen outside
 * QUIC_BYPASS_ENCRYPTION.  Every test runs in a network namespace of its
 * own, so the counters start from zero.
 *
 * The "race" fixture runs senders against close(), DEL, ADD/DEL/key phase
 * storms, module unload attempts and network namespace teardown, and the
 * allocation failure tests the quic_crypto tests do not cover.  A race test
 * fails unless its calls were seen to overlap, an allocation failure test
 * unless failures were injected.
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <linux/if_ether.h>
#include <linux/if_packet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <linux/quic.h>
#include <linux/tls.h>
#include <linux/udp.h>

#include "../../kselftest_harness.h"
#include "quic_util.h"

#ifndef SOL_UDPLITE
#define SOL_UDPLITE		136
#endif
#ifndef UDP_MAX_SEGMENTS
#define UDP_MAX_SEGMENTS	128	/* include/linux/udp.h */
#endif

#define RX_WAIT_MS	3000	/* for a datagram that must arrive */
#define BUF_LEN		(70 * 1024)
#define CID_LEN		8	/* of the fixture's connection */
#define MIN_PKT		QUIC_MIN_PKT(CID_LEN)

/* Payload bytes of every packet meant to be encrypted: never on the wire. */
static const char canary[] = "PLAINTEXT-CANARY";
#define CANARY_LEN	(sizeof(canary) - 1)

struct flow {
	struct quic_keys keys;
	uint8_t cid[QUIC_CID_MAX];
	size_t cid_len;
};

static uint64_t seed;
static uint64_t rng;

/*
 * Packet numbers of a connection only grow, and the kernel refuses a call
 * whose numbers do not (ERANGE).  The numbers a test names are relative:
 * each encrypting call made through tx() or ctl_anc() gets the next base,
 * a multiple of 2^32 so that the truncated numbers in the headers do not
 * change, and the receiver adds the base of the last call.  One base for
 * every connection of the test (each test is a process of its own): it
 * only grows, so it serves them all.  Numbers from PN_ABSOLUTE up, which
 * test the end of the number space, are used as they are.
 */
#define PN_STEP		0x20000000000ULL	/* 2^41 */
#define PN_ABSOLUTE	0x2000000000000000ULL	/* 2^61 */
static uint64_t pn_base = PN_STEP, last_base;

static uint64_t pn_rebase(uint64_t pn)
{
	if (pn >= PN_ABSOLUTE) {
		last_base = 0;
		return pn;
	}
	last_base = pn_base;
	pn_base += PN_STEP;
	return pn + last_base;
}

/* A number the receiver recovers packets of the last call around. */
static uint64_t pn_sent(uint64_t pn)
{
	return pn >= PN_ABSOLUTE ? pn : pn + last_base;
}

static char what[256];	/* the input under test, for failure messages */
static uint8_t pkt[BUF_LEN], dgram[BUF_LEN], out[BUF_LEN];

static void __attribute__((constructor)) seed_init(void)
{
	const char *env = getenv("QUIC_SEED");

	seed = env ? strtoull(env, NULL, 0) :
	       (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

static void describe(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
}

static void flow_init(struct flow *f, uint16_t cipher, size_t cid_len,
		      uint8_t tag)
{
	memset(f, 0, sizeof(*f));
	quic_keys_random(&f->keys, cipher, &rng);
	f->cid_len = cid_len;
	quic_rand_bytes(&rng, f->cid, cid_len);
	if (cid_len)
		f->cid[0] = tag;	/* distinct flows of one test */
}

/*
 * Plaintext packet of @len bytes at @buf: a short header (truncated if
 * @len is shorter) and the canary pattern as payload.
 */
static size_t pkt_fill(uint8_t *buf, const struct flow *f, uint64_t pn,
		       unsigned int pn_len, size_t len)
{
	uint8_t hdr[1 + QUIC_CID_MAX + 4];
	size_t hlen, i;

	hlen = quic_short_hdr(hdr, f->cid, f->cid_len, pn, pn_len, false);
	memcpy(buf, hdr, hlen < len ? hlen : len);
	for (i = hlen; i < len; i++)
		buf[i] = canary[(i - hlen) % CANARY_LEN];
	return len;
}

/* @n packets of @step bytes (the last @last if non-zero) from @pn. */
static size_t batch_fill(uint8_t *buf, const struct flow *f, uint64_t pn,
			 size_t step, int n, size_t last)
{
	size_t len = 0;
	int i;

	for (i = 0; i < n; i++)
		len += pkt_fill(buf + len, f, pn + i, 2,
				i == n - 1 && last ? last : step);
	return len;
}

/* Control messages built by hand, malformed ones included. */
struct ctl {
	union {
		struct cmsghdr align;
		uint8_t buf[1024];
	} u;
	size_t len;
};

static struct cmsghdr *ctl_add(struct ctl *c, int level, int type,
			       const void *data, size_t dlen)
{
	struct cmsghdr *cm = (struct cmsghdr *)(c->u.buf + c->len);

	memset(cm, 0, CMSG_SPACE(dlen));
	cm->cmsg_level = level;
	cm->cmsg_type = type;
	cm->cmsg_len = CMSG_LEN(dlen);
	memcpy(CMSG_DATA(cm), data, dlen);
	c->len += CMSG_SPACE(dlen);
	return cm;
}

static struct cmsghdr *ctl_anc(struct ctl *c, uint64_t pn, uint8_t flags,
			       uint8_t cid_len)
{
	struct quic_tx_ancillary_data anc;

	memset(&anc, 0, sizeof(anc));
	anc.next_pkt_num = pn_rebase(pn);
	anc.flags = flags;
	anc.conn_id_length = cid_len;
	return ctl_add(c, IPPROTO_UDP, UDP_QUIC_ENCRYPT, &anc, sizeof(anc));
}

static void ctl_gso(struct ctl *c, uint16_t gso)
{
	ctl_add(c, SOL_UDP, UDP_SEGMENT, &gso, sizeof(gso));
}

static ssize_t send_ctl(int fd, const void *data, size_t len,
			const struct sockaddr *addr, socklen_t alen,
			const void *control, size_t clen, int flags)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct msghdr msg = {
		.msg_name = (void *)addr,
		.msg_namelen = addr ? alen : 0,
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = (void *)control,
		.msg_controllen = clen,
	};

	return sendmsg(fd, &msg, flags);
}

/* Counters, in the order of Documentation/networking/quic.rst. */
static const char * const stat_names[] = {
	"QuicCurrTxSw", "QuicTxSw", "QuicTxSwError", "QuicTxPackets",
	"QuicTxBytes", "QuicTxBypassPackets", "QuicTxKeyUpdate",
	"QuicTxKeyRetire", "QuicTxSndbufFull",
	"QuicTxCoalesced", "QuicTxAsyncCrypto", "QuicTxErrSockopt",
	"QuicTxErrCmsg",
	"QuicTxErrNoCmsg", "QuicTxErrUnsupported", "QuicTxErrNoConnection",
	"QuicTxErrNoKey", "QuicTxErrBadPacket", "QuicTxErrPacketNumber",
	"QuicTxErrCrypto",
	"QuicTxErrNoMem", "QuicTxErrFault", "QuicTxErrSend",
};

#define NSTATS		ARRAY_SIZE(stat_names)
#define ST_ERROR	2
#define ST_PACKETS	3
#define ST_ASYNC	10
#define ST_FIRST_ERR	11	/* QuicTxErr* follow; QuicTxSwError sums them */

static int stat_idx(const char *name)
{
	int i;

	for (i = 0; i < NSTATS; i++)
		if (!strcmp(stat_names[i], name))
			return i;
	return -1;
}

/* All counters with a single read, so that they are one snapshot. */
static int stats_read(long long *v)
{
	char buf[4096], name[64];
	long long val;
	char *line;
	ssize_t n;
	int fd, i;

	for (i = 0; i < NSTATS; i++)
		v[i] = -1;
	fd = open("/proc/net/quic_stat", O_RDONLY);
	if (fd < 0)
		return -1;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	for (line = strtok(buf, "\n"); line; line = strtok(NULL, "\n")) {
		if (sscanf(line, "%63s %lld", name, &val) != 2)
			continue;
		i = stat_idx(name);
		if (i >= 0)
			v[i] = val;
	}
	return 0;
}

FIXTURE(hard)
{
	int sfd;	/* sender, quic-crypto attached */
	int rfd;	/* receiver on loopback */
	int sniff;	/* packet socket on lo, -1 without one */
	struct sockaddr_storage dst;
	socklen_t dst_len;
	bool connected;
	struct flow flow;	/* of the sentinels */
	uint64_t pn;		/* next sentinel packet number */
	long long exp[NSTATS];	/* counters as they must read */
	int inputs;		/* malformed inputs tried */
};

FIXTURE_VARIANT(hard)
{
	int family;
	uint16_t cipher;
	bool connected;
};

FIXTURE_VARIANT_ADD(hard, ipv4)
{
	.family = AF_INET,
	.cipher = TLS_CIPHER_AES_GCM_128,
};

FIXTURE_VARIANT_ADD(hard, ipv6_connected)
{
	.family = AF_INET6,
	.cipher = TLS_CIPHER_CHACHA20_POLY1305,
	.connected = true,
};

/* Receiver bound to loopback of @family; fills in @dst. */
static int rx_open(int family, struct sockaddr_storage *dst, socklen_t *len)
{
	int fd = socket(family, SOCK_DGRAM, 0), size = 1 << 23;

	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)))
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	memset(dst, 0, sizeof(*dst));
	dst->ss_family = family;
	if (family == AF_INET) {
		((struct sockaddr_in *)dst)->sin_addr.s_addr =
			htonl(INADDR_LOOPBACK);
		*len = sizeof(struct sockaddr_in);
	} else {
		((struct sockaddr_in6 *)dst)->sin6_addr = in6addr_loopback;
		*len = sizeof(struct sockaddr_in6);
	}
	if (bind(fd, (struct sockaddr *)dst, *len) ||
	    getsockname(fd, (struct sockaddr *)dst, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Sees every frame on lo, both ways; -1 if packet sockets are missing. */
static int sniffer_open(void)
{
	struct sockaddr_ll sll = {
		.sll_family = AF_PACKET,
		.sll_protocol = htons(ETH_P_ALL),
		.sll_ifindex = if_nametoindex("lo"),
	};
	int fd, size = 1 << 23;

	fd = socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL));
	if (fd < 0)
		return -1;
	if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &size, sizeof(size)) ||
	    bind(fd, (struct sockaddr *)&sll, sizeof(sll))) {
		close(fd);
		return -1;
	}
	return fd;
}

FIXTURE_SETUP(hard)
{
	self->sfd = -1;
	self->rfd = -1;
	self->sniff = -1;
	self->pn = 1000;
	self->inputs = 0;
	self->connected = variant->connected;
	rng = seed ^ ((uint64_t)variant->cipher << 16) ^ variant->family;
	what[0] = '\0';

	if (quic_netns_fresh())
		SKIP(return, "no network namespace: %s", strerror(errno));
	self->sniff = sniffer_open();
	self->rfd = rx_open(variant->family, &self->dst, &self->dst_len);
	ASSERT_GE(self->rfd, 0);
	self->sfd = socket(variant->family, SOCK_DGRAM, 0);
	ASSERT_GE(self->sfd, 0);
	if (quic_ulp_attach(self->sfd))
		SKIP(return, "quic-crypto ULP not available: %s",
		     strerror(errno));
	if (self->connected)
		ASSERT_EQ(0, connect(self->sfd, (struct sockaddr *)&self->dst,
				     self->dst_len));
	flow_init(&self->flow, variant->cipher, CID_LEN, 0x11);
	ASSERT_EQ(0, quic_conn_add(self->sfd, &self->flow.keys, self->flow.cid,
				   self->flow.cid_len));
	ASSERT_EQ(0, stats_read(self->exp));
	ASSERT_EQ(1, self->exp[0]);
	ASSERT_EQ(1, self->exp[1]);
}

FIXTURE_TEARDOWN(hard)
{
	quic_knobs_restore();
	if (self->sfd >= 0)
		close(self->sfd);
	if (self->rfd >= 0)
		close(self->rfd);
	if (self->sniff >= 0)
		close(self->sniff);
}

/* Send arguments for @f: the fixture's destination unless connected. */
static struct quic_send_args tx_args(FIXTURE_DATA(hard) * self,
				     const struct flow *f, uint64_t pn)
{
	struct quic_send_args a = {
		.addr = self->connected ? NULL :
			(struct sockaddr *)&self->dst,
		.addrlen = self->dst_len,
		.next_pkt_num = pn,
		.cid_len = f->cid_len,
	};

	return a;
}

static ssize_t tx(FIXTURE_DATA(hard) * self, const void *data, size_t len,
		  const struct quic_send_args *a)
{
	struct iovec iov = { .iov_base = (void *)data, .iov_len = len };
	struct quic_send_args abs = *a;

	abs.next_pkt_num = pn_rebase(a->next_pkt_num);
	return quic_sendmsg(self->sfd, &iov, 1, &abs);
}

static ssize_t tx_iov(FIXTURE_DATA(hard) * self, const struct iovec *iov,
		      int n, const struct quic_send_args *a)
{
	struct quic_send_args abs = *a;

	abs.next_pkt_num = pn_rebase(a->next_pkt_num);
	return quic_sendmsg(self->sfd, iov, n, &abs);
}

static ssize_t tx_ctl(FIXTURE_DATA(hard) * self, const void *data,
		      size_t len, const struct ctl *c, int flags)
{
	return send_ctl(self->sfd, data, len,
			self->connected ? NULL : (struct sockaddr *)&self->dst,
			self->dst_len, c->u.buf, c->len, flags);
}

static void exp_add(FIXTURE_DATA(hard) * self, const char *name,
		    long long delta)
{
	int i = stat_idx(name);

	self->exp[i] += delta;
	if (i >= ST_FIRST_ERR)
		self->exp[ST_ERROR] += delta;
}

/* Every counter reads what the calls so far must have made it. */
static void stats_check(struct __test_metadata *_metadata,
			FIXTURE_DATA(hard) * self)
{
	long long v[NSTATS];
	int i, bad = -1;

	ASSERT_EQ(0, stats_read(v));
	/*
	 * The AEAD implementation decides what completes asynchronously:
	 * every packet sent when all of them are made so, else anything.
	 */
	self->exp[ST_ASYNC] = getenv("QUIC_ASYNC_CRYPTO") ?
			      self->exp[ST_PACKETS] : v[ST_ASYNC];
	for (i = NSTATS - 1; i >= 0; i--)
		if (v[i] != self->exp[i])
			bad = i;
	if (bad < 0)
		return;
	TH_LOG("%s: %s is %lld, expected %lld", what, stat_names[bad], v[bad],
	       self->exp[bad]);
	ASSERT_EQ(-1, bad);
}

/* No frame seen on lo so far carried a payload in plaintext. */
static void wire_check(struct __test_metadata *_metadata,
		       FIXTURE_DATA(hard) * self)
{
	ssize_t n;

	if (self->sniff < 0)
		return;
	while ((n = recv(self->sniff, dgram, sizeof(dgram), MSG_DONTWAIT)) > 0)
		ASSERT_FALSE(quic_contains(dgram, n, canary, CANARY_LEN))
			TH_LOG("%s: plaintext in a %zd-byte frame on lo", what,
			       n);
}

/* Receive a datagram and check it is packet @p (@len bytes) of @f. */
static void rx_expect(struct __test_metadata *_metadata,
		      FIXTURE_DATA(hard) * self, const struct flow *f,
		      const uint8_t *p, size_t len, uint64_t expected)
{
	uint64_t pn;
	ssize_t n;

	n = quic_recv(self->rfd, dgram, sizeof(dgram), RX_WAIT_MS);
	ASSERT_EQ((ssize_t)(len + QUIC_TAG_LEN), n)
		TH_LOG("%s: got %zd bytes (%s), expected a %zu-byte packet",
		       what, n, n < 0 ? strerror(errno) : "wrong length",
		       len + QUIC_TAG_LEN);
	ASSERT_FALSE(quic_contains(dgram, n, canary, CANARY_LEN))
		TH_LOG("%s: plaintext received", what);
	ASSERT_EQ((ssize_t)len, quic_unprotect(&f->keys, dgram, n, f->cid_len,
					       pn_sent(expected), out, &pn))
		TH_LOG("%s: %s", what, quic_error());
	/* The header, packet number included, is part of the comparison. */
	ASSERT_EQ(0, memcmp(out, p, len))
		TH_LOG("%s: decrypted packet differs", what);
}

/*
 * A valid packet right after the call under test: it must be the next
 * datagram to arrive, which proves the call sent nothing, and it proves
 * the socket still encrypts.
 */
static void sentinel(struct __test_metadata *_metadata,
		     FIXTURE_DATA(hard) * self)
{
	struct quic_send_args a = tx_args(self, &self->flow, self->pn);
	uint8_t p[256];
	size_t len = MIN_PKT + self->pn % 150;
	char saved[sizeof(what)];

	/* One segment whatever the UDP_SEGMENT option says. */
	a.gso_size = len + QUIC_TAG_LEN;

	memcpy(saved, what, sizeof(saved));
	describe("check packet after [%s]", saved);
	pkt_fill(p, &self->flow, self->pn, 2, len);
	ASSERT_EQ((ssize_t)len, tx(self, p, len, &a))
		TH_LOG("%s: %s", what, strerror(errno));
	rx_expect(_metadata, self, &self->flow, p, len, self->pn);
	self->pn++;
	exp_add(self, "QuicTxPackets", 1);
	exp_add(self, "QuicTxBytes", len);
	stats_check(_metadata, self);
	wire_check(_metadata, self);
	memcpy(what, saved, sizeof(what));
}

/*
 * The call returned @ret with @err: it must have failed with @want, moved
 * counter @stat by one (NULL: no QUIC counter, the call never reached the
 * offload or UDP refused it before) and sent nothing.
 */
static void refused(struct __test_metadata *_metadata,
		    FIXTURE_DATA(hard) * self, long ret, int err, int want,
		    const char *stat)
{
	ASSERT_EQ(-1, ret) TH_LOG("%s: succeeded, expected %s", what,
				  strerror(want));
	ASSERT_EQ(want, err) TH_LOG("%s: %s, expected %s", what,
				    strerror(err), strerror(want));
	self->inputs++;
	if (stat)
		exp_add(self, stat, 1);
	sentinel(_metadata, self);
}

#define REFUSED(want, stat, call) do {					\
	long __ret;							\
									\
	errno = 0;							\
	__ret = (call);							\
	refused(_metadata, self, __ret, errno, want, stat);		\
} while (0)

/* An input the documentation says is accepted: @n packets of @f arrive. */
static void accepted(struct __test_metadata *_metadata,
		     FIXTURE_DATA(hard) * self, long ret, const struct flow *f,
		     const uint8_t *data, size_t len, size_t stride,
		     uint64_t pn)
{
	size_t off, plen;

	ASSERT_EQ((long)len, ret) TH_LOG("%s: %s", what,
					 ret < 0 ? strerror(errno) : "short");
	self->inputs++;
	for (off = 0; off < len; off += stride, pn++) {
		plen = len - off < stride ? len - off : stride;
		rx_expect(_metadata, self, f, data + off, plen, pn);
		exp_add(self, "QuicTxPackets", 1);
		exp_add(self, "QuicTxBytes", plen);
	}
	sentinel(_metadata, self);
}

static void finish(struct __test_metadata *_metadata,
		   FIXTURE_DATA(hard) * self)
{
	long long v[NSTATS], sum = 0;
	int i;

	sentinel(_metadata, self);
	ASSERT_EQ(0, stats_read(v));
	for (i = ST_FIRST_ERR; i < NSTATS; i++)
		sum += v[i];
	ASSERT_EQ(v[ST_ERROR], sum) TH_LOG("QuicTxSwError is not the sum");
	TH_LOG("%d inputs%s", self->inputs,
	       self->sniff < 0 ? " (no packet socket: wire not watched)" : "");
}

static void info_init(struct quic_connection_info *ci, const struct flow *f)
{
	memset(ci, 0, sizeof(*ci));
	ci->cipher_type = f->keys.cipher;
	ci->key.conn_id_length = f->cid_len;
	memcpy(ci->key.conn_id + QUIC_MAX_CONNECTION_ID_SIZE - f->cid_len,
	       f->cid, f->cid_len);
	memcpy(ci->payload_key, f->keys.key, sizeof(ci->payload_key));
	memcpy(ci->payload_iv, f->keys.iv, sizeof(ci->payload_iv));
	memcpy(ci->header_key, f->keys.hp, sizeof(ci->header_key));
}

/* What a plain UDP socket of @family answers to a setsockopt(). */
static int plain_setsockopt_errno(int family, int level, int optname,
				  const void *val, socklen_t len)
{
	int fd = socket(family, SOCK_DGRAM, 0), err;

	if (fd < 0)
		return -1;
	err = setsockopt(fd, level, optname, val, len) ? errno : 0;
	close(fd);
	return err;
}

/* What a plain UDP socket answers to sending a long header to @dst. */
static int plain_send_errno(int family, const struct sockaddr_storage *dst,
			    socklen_t dst_len, int flags)
{
	int fd = socket(family, SOCK_DGRAM, 0), err;
	uint8_t lh[40];

	if (fd < 0)
		return -1;
	memset(lh, 0xc3, sizeof(lh));
	err = send_ctl(fd, lh, sizeof(lh), (const struct sockaddr *)dst,
		       dst_len, NULL, 0, flags) < 0 ? errno : 0;
	close(fd);
	return err;
}

/* ------------------------------------------------------------------ */
/* setsockopt()                                                         */

TEST_F(hard, add_malformed)
{
	static const uint16_t ciphers[] = {
		0, TLS_CIPHER_AES_GCM_128 - 1, TLS_CIPHER_SM4_GCM,
		TLS_CIPHER_ARIA_GCM_256, 0xffff,
	};
	static const int lens[] = { 0, 1, 99 };
	static const int long_lens[] = { 101, 4096 };
	const int levels[] = {
		SOL_UDPLITE, SOL_SOCKET,
		variant->family == AF_INET ? SOL_IP : SOL_IPV6,
	};
	static union {
		struct quic_connection_info ci;
		uint8_t raw[8192];
	} big;
	struct quic_connection_info ci;
	struct quic_send_args a;
	struct flow f;
	int i, err;

	ASSERT_EQ(100, sizeof(ci));
	flow_init(&f, variant->cipher, 5, 0x22);
	info_init(&ci, &f);
	for (i = 0; i < ARRAY_SIZE(ciphers); i++) {
		ci.cipher_type = ciphers[i];
		describe("ADD, cipher_type %u", ciphers[i]);
		REFUSED(EINVAL, "QuicTxErrSockopt",
			setsockopt(self->sfd, SOL_UDP,
				   UDP_QUIC_ADD_TX_CONNECTION, &ci, sizeof(ci)));
	}
	info_init(&ci, &f);
	for (i = 21; i <= 255; i += 234) {
		ci.key.conn_id_length = i;
		describe("ADD, conn_id_length %d", i);
		REFUSED(EINVAL, "QuicTxErrSockopt",
			setsockopt(self->sfd, SOL_UDP,
				   UDP_QUIC_ADD_TX_CONNECTION, &ci, sizeof(ci)));
	}
	info_init(&big.ci, &f);
	for (i = 0; i < ARRAY_SIZE(lens); i++) {
		describe("ADD, optlen %d", lens[i]);
		REFUSED(EINVAL, "QuicTxErrSockopt",
			setsockopt(self->sfd, SOL_UDP,
				   UDP_QUIC_ADD_TX_CONNECTION, &big, lens[i]));
	}
	/* Longer is a newer struct: refused unless the tail is zero. */
	for (i = 0; i < ARRAY_SIZE(long_lens); i++) {
		big.raw[long_lens[i] - 1] = 0x5a;
		describe("ADD, optlen %d, tail not zero", long_lens[i]);
		REFUSED(E2BIG, "QuicTxErrSockopt",
			setsockopt(self->sfd, SOL_UDP,
				   UDP_QUIC_ADD_TX_CONNECTION, &big,
				   long_lens[i]));
		big.raw[long_lens[i] - 1] = 0;
	}
	describe("ADD, optlen -1");
	REFUSED(EINVAL, NULL, setsockopt(self->sfd, SOL_UDP,
					 UDP_QUIC_ADD_TX_CONNECTION, &big, -1));
	describe("ADD, optval NULL");
	REFUSED(EFAULT, "QuicTxErrSockopt",
		setsockopt(self->sfd, SOL_UDP, UDP_QUIC_ADD_TX_CONNECTION,
			   NULL, sizeof(ci)));
	describe("ADD, optval in unmapped memory");
	REFUSED(EFAULT, "QuicTxErrSockopt",
		setsockopt(self->sfd, SOL_UDP, UDP_QUIC_ADD_TX_CONNECTION,
			   (void *)16, sizeof(ci)));
	describe("ADD of the fixture's connection again, other keys");
	REFUSED(EEXIST, "QuicTxErrSockopt",
		quic_conn_add(self->sfd, &f.keys, self->flow.cid,
			      self->flow.cid_len));

	/* Other levels are UDP's: the same answer as a plain socket. */
	info_init(&ci, &f);
	for (i = 0; i < ARRAY_SIZE(levels); i++) {
		err = plain_setsockopt_errno(variant->family, levels[i],
					     UDP_QUIC_ADD_TX_CONNECTION, &ci,
					     sizeof(ci));
		ASSERT_EQ(ENOPROTOOPT, err);
		describe("ADD at level %d", levels[i]);
		REFUSED(err, NULL, setsockopt(self->sfd, levels[i],
					      UDP_QUIC_ADD_TX_CONNECTION, &ci,
					      sizeof(ci)));
	}

	/* None of them installed the connection. */
	describe("send on the connection all those ADDs named");
	a = tx_args(self, &f, 1);
	pkt_fill(pkt, &f, 1, 2, 100);
	REFUSED(ENOKEY, "QuicTxErrNoConnection", tx(self, pkt, 100, &a));
	finish(_metadata, self);
}

/* Fields the documentation says the kernel ignores or only reads in part. */
TEST_F(hard, add_ignored_fields)
{
	struct quic_connection_info ci;
	struct quic_send_args a;
	struct flow f;
	size_t len = 200;

	describe("ADD, reserved 0xff");
	flow_init(&f, variant->cipher, 7, 0x23);
	info_init(&ci, &f);
	ci.reserved = 0xff;
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_QUIC_ADD_TX_CONNECTION,
				&ci, sizeof(ci)));
	exp_add(self, "QuicCurrTxSw", 1);
	exp_add(self, "QuicTxSw", 1);
	a = tx_args(self, &f, 5);
	pkt_fill(pkt, &f, 5, 2, len);
	accepted(_metadata, self, tx(self, pkt, len, &a), &f, pkt, len, len,
		 5);

	describe("ADD, bytes before a 3-byte conn_id set");
	flow_init(&f, variant->cipher, 3, 0x24);
	info_init(&ci, &f);
	memset(ci.key.conn_id, 0xee, QUIC_MAX_CONNECTION_ID_SIZE - 3);
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_QUIC_ADD_TX_CONNECTION,
				&ci, sizeof(ci)));
	exp_add(self, "QuicCurrTxSw", 1);
	exp_add(self, "QuicTxSw", 1);
	a = tx_args(self, &f, 6);
	pkt_fill(pkt, &f, 6, 2, len);
	accepted(_metadata, self, tx(self, pkt, len, &a), &f, pkt, len, len,
		 6);

	/* OpenSSL reads the first 16 bytes only, as the kernel must. */
	describe("ADD, AES-128-GCM with bytes 16-31 of both keys set");
	flow_init(&f, TLS_CIPHER_AES_GCM_128, 4, 0x25);
	quic_rand_bytes(&rng, f.keys.key + 16, 16);
	quic_rand_bytes(&rng, f.keys.hp + 16, 16);
	ASSERT_EQ(0, quic_conn_add(self->sfd, &f.keys, f.cid, f.cid_len));
	exp_add(self, "QuicCurrTxSw", 1);
	exp_add(self, "QuicTxSw", 1);
	a = tx_args(self, &f, 7);
	pkt_fill(pkt, &f, 7, 2, len);
	accepted(_metadata, self, tx(self, pkt, len, &a), &f, pkt, len, len,
		 7);

	describe("ADD, empty connection ID");
	flow_init(&f, variant->cipher, 0, 0);
	ASSERT_EQ(0, quic_conn_add(self->sfd, &f.keys, f.cid, 0));
	exp_add(self, "QuicCurrTxSw", 1);
	exp_add(self, "QuicTxSw", 1);
	a = tx_args(self, &f, 8);
	pkt_fill(pkt, &f, 8, 2, len);
	accepted(_metadata, self, tx(self, pkt, len, &a), &f, pkt, len, len,
		 8);

	/* DEL reads only the key: garbage elsewhere does not matter. */
	describe("DEL with cipher_type, keys and reserved set");
	info_init(&ci, &f);
	ci.cipher_type = 0xffff;
	ci.reserved = 1;
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_QUIC_DEL_TX_CONNECTION,
				&ci, sizeof(ci)));
	exp_add(self, "QuicCurrTxSw", -1);
	describe("send after that DEL");
	REFUSED(ENOKEY, "QuicTxErrNoConnection", tx(self, pkt, len, &a));
	finish(_metadata, self);
}

TEST_F(hard, del_malformed)
{
	struct quic_connection_info ci;
	struct flow f;

	flow_init(&f, variant->cipher, CID_LEN, 0x31);
	describe("DEL of a connection never added");
	REFUSED(ENOENT, "QuicTxErrSockopt",
		quic_conn_del(self->sfd, f.cid, f.cid_len));
	describe("DEL of the empty connection ID, never added");
	REFUSED(ENOENT, "QuicTxErrSockopt", quic_conn_del(self->sfd, f.cid, 0));
	describe("DEL of a prefix of the fixture's connection ID");
	REFUSED(ENOENT, "QuicTxErrSockopt",
		quic_conn_del(self->sfd, self->flow.cid, CID_LEN - 1));
	info_init(&ci, &self->flow);
	ci.key.conn_id_length = 21;
	describe("DEL, conn_id_length 21");
	REFUSED(EINVAL, "QuicTxErrSockopt",
		setsockopt(self->sfd, SOL_UDP, UDP_QUIC_DEL_TX_CONNECTION, &ci,
			   sizeof(ci)));
	info_init(&ci, &self->flow);
	describe("DEL, optlen 99");
	REFUSED(EINVAL, "QuicTxErrSockopt",
		setsockopt(self->sfd, SOL_UDP, UDP_QUIC_DEL_TX_CONNECTION, &ci,
			   sizeof(ci) - 1));
	describe("DEL, optlen 0");
	REFUSED(EINVAL, "QuicTxErrSockopt",
		setsockopt(self->sfd, SOL_UDP, UDP_QUIC_DEL_TX_CONNECTION, &ci,
			   0));
	describe("DEL, optval NULL");
	REFUSED(EFAULT, "QuicTxErrSockopt",
		setsockopt(self->sfd, SOL_UDP, UDP_QUIC_DEL_TX_CONNECTION, NULL,
			   sizeof(ci)));

	/* The fixture's connection survived all that; now DEL it twice. */
	ASSERT_EQ(0, quic_conn_add(self->sfd, &f.keys, f.cid, f.cid_len));
	ASSERT_EQ(0, quic_conn_del(self->sfd, f.cid, f.cid_len));
	exp_add(self, "QuicTxSw", 1);
	describe("DEL twice");
	REFUSED(ENOENT, "QuicTxErrSockopt",
		quic_conn_del(self->sfd, f.cid, f.cid_len));
	finish(_metadata, self);
}

TEST_F(hard, key_phase_malformed)
{
	struct quic_tx_key_phase_info ki;
	struct quic_keys next;
	struct flow f;
	struct quic_send_args a;
	size_t len = 150;

	ASSERT_EQ(68, sizeof(ki));
	flow_init(&f, variant->cipher, 6, 0x41);
	quic_keys_random(&next, variant->cipher, &rng);
	ASSERT_EQ(0, quic_conn_add(self->sfd, &f.keys, f.cid, f.cid_len));
	exp_add(self, "QuicCurrTxSw", 1);
	exp_add(self, "QuicTxSw", 1);

	describe("KEY_PHASE, op 0");
	REFUSED(EINVAL, "QuicTxErrSockopt",
		quic_key_phase(self->sfd, f.cid, f.cid_len, 0, 1, &next));
	describe("KEY_PHASE, op 3");
	REFUSED(EINVAL, "QuicTxErrSockopt",
		quic_key_phase(self->sfd, f.cid, f.cid_len, 3, 1, &next));
	describe("KEY_PHASE, phase 2");
	REFUSED(EINVAL, "QuicTxErrSockopt",
		quic_key_phase(self->sfd, f.cid, f.cid_len,
			       QUIC_KEY_PHASE_INSTALL, 2, &next));
	describe("KEY_PHASE, phase 255");
	REFUSED(EINVAL, "QuicTxErrSockopt",
		quic_key_phase(self->sfd, f.cid, f.cid_len,
			       QUIC_KEY_PHASE_INSTALL, 255, &next));
	describe("KEY_PHASE, conn_id_length 21");
	REFUSED(EINVAL, "QuicTxErrSockopt",
		quic_key_phase(self->sfd, f.cid, 21, QUIC_KEY_PHASE_INSTALL, 1,
			       &next));
	describe("KEY_PHASE, reserved 1");
	memset(&ki, 0, sizeof(ki));
	ki.key.conn_id_length = f.cid_len;
	memcpy(ki.key.conn_id + QUIC_MAX_CONNECTION_ID_SIZE - f.cid_len, f.cid,
	       f.cid_len);
	ki.op = QUIC_KEY_PHASE_INSTALL;
	ki.phase = 1;
	ki.reserved = 1;
	REFUSED(EINVAL, "QuicTxErrSockopt",
		setsockopt(self->sfd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE, &ki,
			   sizeof(ki)));
	ki.reserved = 0;
	describe("KEY_PHASE, optlen 67");
	REFUSED(EINVAL, "QuicTxErrSockopt",
		setsockopt(self->sfd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE, &ki,
			   sizeof(ki) - 1));
	describe("KEY_PHASE, optlen 100 (an ADD argument)");
	memset(pkt, 0x11, 100);
	REFUSED(E2BIG, "QuicTxErrSockopt",
		setsockopt(self->sfd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE, pkt,
			   100));
	describe("KEY_PHASE, optval NULL");
	REFUSED(EFAULT, "QuicTxErrSockopt",
		setsockopt(self->sfd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE, NULL,
			   sizeof(ki)));
	describe("KEY_PHASE INSTALL, unknown connection");
	REFUSED(ENOENT, "QuicTxErrSockopt",
		quic_key_phase(self->sfd, f.cid, f.cid_len - 1,
			       QUIC_KEY_PHASE_INSTALL, 1, &next));
	describe("KEY_PHASE RETIRE, never installed");
	REFUSED(EINVAL, "QuicTxErrSockopt",
		quic_key_phase(self->sfd, f.cid, f.cid_len,
			       QUIC_KEY_PHASE_RETIRE, 0, NULL));

	ASSERT_EQ(0, quic_key_phase(self->sfd, f.cid, f.cid_len,
				    QUIC_KEY_PHASE_INSTALL, 1, &next));
	exp_add(self, "QuicTxKeyUpdate", 1);
	describe("KEY_PHASE INSTALL of phase 1 again");
	REFUSED(EEXIST, "QuicTxErrSockopt",
		quic_key_phase(self->sfd, f.cid, f.cid_len,
			       QUIC_KEY_PHASE_INSTALL, 1, &next));
	describe("KEY_PHASE INSTALL of phase 0, holding the ADD key");
	REFUSED(EEXIST, "QuicTxErrSockopt",
		quic_key_phase(self->sfd, f.cid, f.cid_len,
			       QUIC_KEY_PHASE_INSTALL, 0, &next));
	ASSERT_EQ(0, quic_key_phase(self->sfd, f.cid, f.cid_len,
				    QUIC_KEY_PHASE_RETIRE, 0, NULL));
	exp_add(self, "QuicTxKeyRetire", 1);
	describe("KEY_PHASE RETIRE of phase 0 again");
	REFUSED(ENOENT, "QuicTxErrSockopt",
		quic_key_phase(self->sfd, f.cid, f.cid_len,
			       QUIC_KEY_PHASE_RETIRE, 0, NULL));
	describe("send with Key Phase 0, retired");
	a = tx_args(self, &f, 9);
	pkt_fill(pkt, &f, 9, 2, len);
	REFUSED(ENOKEY, "QuicTxErrNoKey", tx(self, pkt, len, &a));

	/* Phase 1 has the installed key, and the ADD header key. */
	describe("send with Key Phase 1");
	pkt[0] |= QUIC_HDR_KEY_PHASE;
	memcpy(f.keys.key, next.key, sizeof(next.key));
	memcpy(f.keys.iv, next.iv, sizeof(next.iv));
	accepted(_metadata, self, tx(self, pkt, len, &a), &f, pkt, len, len,
		 9);
	finish(_metadata, self);
}

TEST_F(hard, not_attached)
{
	struct quic_connection_info ci;
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	char name[32] = {};
	socklen_t nlen = sizeof(name);
	int fd;

	fd = socket(variant->family, SOCK_DGRAM, 0);
	ASSERT_GE(fd, 0);
	if (self->connected)
		ASSERT_EQ(0, connect(fd, (struct sockaddr *)&self->dst,
				     self->dst_len));
	info_init(&ci, &self->flow);
	describe("ADD before UDP_ULP");
	REFUSED(ENOPROTOOPT, NULL, setsockopt(fd, SOL_UDP,
					      UDP_QUIC_ADD_TX_CONNECTION, &ci,
					      sizeof(ci)));
	describe("DEL before UDP_ULP");
	REFUSED(ENOPROTOOPT, NULL, setsockopt(fd, SOL_UDP,
					      UDP_QUIC_DEL_TX_CONNECTION, &ci,
					      sizeof(ci)));
	describe("KEY_PHASE before UDP_ULP");
	REFUSED(ENOPROTOOPT, NULL,
		quic_key_phase(fd, self->flow.cid, CID_LEN,
			       QUIC_KEY_PHASE_INSTALL, 1, &self->flow.keys));
	describe("UDP_QUIC_ENCRYPT before UDP_ULP");
	pkt_fill(pkt, &self->flow, 1, 2, 100);
	REFUSED(EINVAL, NULL, quic_sendmsg(fd, &(struct iovec) {
		.iov_base = pkt, .iov_len = 100 }, 1, &a));
	describe("UDP_ULP with an unknown name");
	REFUSED(ENOENT, NULL, setsockopt(fd, SOL_UDP, UDP_ULP, "quic-crypt",
					 sizeof("quic-crypt")));
	describe("ADD after a failed UDP_ULP");
	REFUSED(ENOPROTOOPT, NULL, setsockopt(fd, SOL_UDP,
					      UDP_QUIC_ADD_TX_CONNECTION, &ci,
					      sizeof(ci)));
	ASSERT_EQ(0, getsockopt(fd, SOL_UDP, UDP_ULP, name, &nlen));
	ASSERT_EQ(0, nlen);
	close(fd);

	describe("UDP_ULP on the attached socket again");
	REFUSED(EEXIST, NULL, quic_ulp_attach(self->sfd));
	finish(_metadata, self);
}

/* No option returns key material, whatever buffer it is given. */
TEST_F(hard, keys_not_readable)
{
	static const int opts[] = {
		UDP_QUIC_ADD_TX_CONNECTION, UDP_QUIC_DEL_TX_CONNECTION,
		UDP_QUIC_ENCRYPT, UDP_QUIC_SET_TX_KEY_PHASE,
	};
	static const int lens[] = { 0, 4, 68, 100, 4096 };
	uint8_t buf[4096];
	socklen_t len;
	int i, j, k;

	for (i = 0; i < ARRAY_SIZE(opts); i++) {
		for (j = 0; j < ARRAY_SIZE(lens); j++) {
			memset(buf, 0x5a, sizeof(buf));
			len = lens[j];
			describe("getsockopt(%d), optlen %d", opts[i], lens[j]);
			REFUSED(ENOPROTOOPT, NULL,
				getsockopt(self->sfd, SOL_UDP, opts[i], buf,
					   &len));
			ASSERT_EQ(lens[j], len) TH_LOG("%s: optlen set", what);
			for (k = 0; k < sizeof(buf); k++)
				ASSERT_EQ(0x5a, buf[k])
					TH_LOG("%s: byte %d written", what, k);
		}
	}
	finish(_metadata, self);
}

/* ------------------------------------------------------------------ */
/* Control messages                                                     */

TEST_F(hard, cmsg_malformed)
{
	static const int deltas[] = {
		-1, -8, -(int)sizeof(struct quic_tx_ancillary_data),
	};
	static const int longer[] = { 1, 8 };
	const uint8_t len_cids[] = { CID_LEN - 1, CID_LEN + 1, 0 };
	const size_t len = 120;
	struct quic_tx_ancillary_data anc;
	struct quic_send_args a;
	struct cmsghdr *cm;
	struct ctl c;
	int i;

	a = tx_args(self, &self->flow, 1);
	pkt_fill(pkt, &self->flow, 1, 2, len);
	for (i = 0; i < ARRAY_SIZE(deltas); i++) {
		a.quic_cmsg_len_delta = deltas[i];
		describe("cmsg_len CMSG_LEN(16)%+d", deltas[i]);
		REFUSED(EINVAL, "QuicTxErrCmsg", tx(self, pkt, len, &a));
	}
	/* Longer is a newer struct: refused only for a nonzero tail. */
	a.quic_cmsg_tail = 0xee;
	for (i = 0; i < ARRAY_SIZE(longer); i++) {
		a.quic_cmsg_len_delta = longer[i];
		describe("cmsg_len CMSG_LEN(16)%+d, tail not zero", longer[i]);
		REFUSED(E2BIG, "QuicTxErrCmsg", tx(self, pkt, len, &a));
	}
	a = tx_args(self, &self->flow, 1);

	describe("cmsg_len 8, below a cmsghdr (fails CMSG_OK)");
	c.len = 0;
	cm = ctl_anc(&c, 1, 0, CID_LEN);
	cm->cmsg_len = 8;
	REFUSED(EINVAL, "QuicTxErrCmsg", tx_ctl(self, pkt, len, &c, 0));

	describe("cmsg_len beyond msg_controllen");
	c.len = 0;
	cm = ctl_anc(&c, 1, 0, CID_LEN);
	cm->cmsg_len = c.len + 64;
	REFUSED(EINVAL, "QuicTxErrCmsg", tx_ctl(self, pkt, len, &c, 0));

	describe("a valid UDP_QUIC_ENCRYPT, then one of cmsg_len 8");
	c.len = 0;
	ctl_anc(&c, 1, 0, CID_LEN);
	cm = ctl_anc(&c, 1, 0, CID_LEN);
	cm->cmsg_len = 8;
	REFUSED(EINVAL, "QuicTxErrCmsg", tx_ctl(self, pkt, len, &c, 0));

	describe("msg_controllen shorter than a cmsghdr (no cmsg at all)");
	c.len = 0;
	ctl_anc(&c, 1, 0, CID_LEN);
	c.len = sizeof(struct cmsghdr) - 1;
	REFUSED(EINVAL, "QuicTxErrNoCmsg", tx_ctl(self, pkt, len, &c, 0));

	describe("UDP_QUIC_ENCRYPT twice");
	a.quic_cmsg_count = 2;
	REFUSED(EINVAL, "QuicTxErrCmsg", tx(self, pkt, len, &a));
	describe("UDP_QUIC_ENCRYPT three times");
	a.quic_cmsg_count = 3;
	REFUSED(EINVAL, "QuicTxErrCmsg", tx(self, pkt, len, &a));
	a.quic_cmsg_count = 0;

	describe("UDP_QUIC_ENCRYPT twice, second with bypass");
	c.len = 0;
	ctl_anc(&c, 1, 0, CID_LEN);
	ctl_anc(&c, 1, QUIC_BYPASS_ENCRYPTION, CID_LEN);
	REFUSED(EINVAL, "QuicTxErrCmsg", tx_ctl(self, pkt, len, &c, 0));

	/* The type at another level is not ours: a short header, refused. */
	memset(&anc, 0, sizeof(anc));
	anc.next_pkt_num = 1;
	anc.conn_id_length = CID_LEN;
	describe("UDP_QUIC_ENCRYPT at level SOL_SOCKET");
	c.len = 0;
	ctl_add(&c, SOL_SOCKET, UDP_QUIC_ENCRYPT, &anc, sizeof(anc));
	REFUSED(EINVAL, "QuicTxErrNoCmsg", tx_ctl(self, pkt, len, &c, 0));
	describe("UDP_QUIC_ENCRYPT at the IP level");
	c.len = 0;
	ctl_add(&c, variant->family == AF_INET ? SOL_IP : SOL_IPV6,
		UDP_QUIC_ENCRYPT, &anc, sizeof(anc));
	REFUSED(EINVAL, "QuicTxErrNoCmsg", tx_ctl(self, pkt, len, &c, 0));
	describe("UDP_QUIC_ENCRYPT at level SOL_UDPLITE");
	c.len = 0;
	ctl_add(&c, SOL_UDPLITE, UDP_QUIC_ENCRYPT, &anc, sizeof(anc));
	REFUSED(EINVAL, "QuicTxErrNoCmsg", tx_ctl(self, pkt, len, &c, 0));
	describe("the ancillary data as cmsg type 109 (the option number)");
	c.len = 0;
	ctl_add(&c, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE, &anc, sizeof(anc));
	REFUSED(EINVAL, "QuicTxErrNoCmsg", tx_ctl(self, pkt, len, &c, 0));

	for (i = 1; i < 256; i <<= 1) {
		if (i == QUIC_BYPASS_ENCRYPTION)
			continue;
		a.flags = i;
		describe("flags %#x", a.flags);
		REFUSED(EINVAL, "QuicTxErrCmsg", tx(self, pkt, len, &a));
	}
	a.flags = 0xff;
	describe("flags 0xff");
	REFUSED(EINVAL, "QuicTxErrCmsg", tx(self, pkt, len, &a));
	a.flags = 0;

	a.cid_len = 21;
	describe("conn_id_length 21");
	REFUSED(EINVAL, "QuicTxErrCmsg", tx(self, pkt, len, &a));
	a.cid_len = 255;
	describe("conn_id_length 255");
	REFUSED(EINVAL, "QuicTxErrCmsg", tx(self, pkt, len, &a));
	for (i = 0; i < ARRAY_SIZE(len_cids); i++) {
		a.cid_len = len_cids[i];
		describe("conn_id_length %u, connection has %u", a.cid_len,
			 CID_LEN);
		REFUSED(ENOKEY, "QuicTxErrNoConnection", tx(self, pkt, len, &a));
	}
	a.cid_len = 20;
	describe("conn_id_length 20 on a %zu-byte packet", (size_t)24);
	REFUSED(EINVAL, "QuicTxErrBadPacket", tx(self, pkt, 24, &a));
	a.cid_len = CID_LEN;

	/* Documented as ignored. */
	describe("ancillary data with reserved bytes set");
	c.len = 0;
	cm = ctl_anc(&c, 1, 0, CID_LEN);
	memset(((struct quic_tx_ancillary_data *)CMSG_DATA(cm))->reserved,
	       0xa5, 6);
	accepted(_metadata, self, tx_ctl(self, pkt, len, &c, 0), &self->flow,
		 pkt, len, len, 1);

	/* Malformed control data the socket layer refuses first. */
	describe("msg_controllen 1 MiB");
	REFUSED(ENOBUFS, NULL, send_ctl(self->sfd, pkt, len,
					(struct sockaddr *)&self->dst,
					self->dst_len, dgram, 1 << 20, 0));
	describe("msg_control not readable");
	REFUSED(EFAULT, NULL, send_ctl(self->sfd, pkt, len,
				       (struct sockaddr *)&self->dst,
				       self->dst_len, (void *)16, 64, 0));
	finish(_metadata, self);
}

/* The segment size from the socket option and from a cmsg. */
TEST_F(hard, gso_sources)
{
	const size_t len = batch_fill(pkt, &self->flow, 1, 300 - QUIC_TAG_LEN,
				      3, 100);
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	int gso, val;
	struct ctl c;

	gso = 300;
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_SEGMENT, &gso,
				sizeof(gso)));
	a.gso_size = QUIC_TAG_LEN;
	describe("UDP_SEGMENT option 300, cmsg 16");
	REFUSED(EINVAL, "QuicTxErrBadPacket", tx(self, pkt, len, &a));
	a.gso_size = 0;
	describe("UDP_SEGMENT option 300, cmsg with an int 300");
	c.len = 0;
	ctl_anc(&c, 1, 0, CID_LEN);
	val = 300;
	ctl_add(&c, SOL_UDP, UDP_SEGMENT, &val, sizeof(val));
	REFUSED(EINVAL, "QuicTxErrSend", tx_ctl(self, pkt, len, &c, 0));
	describe("UDP_SEGMENT cmsgs 300 then 16: the last one counts");
	c.len = 0;
	ctl_anc(&c, 1, 0, CID_LEN);
	ctl_gso(&c, 300);
	ctl_gso(&c, QUIC_TAG_LEN);
	REFUSED(EINVAL, "QuicTxErrBadPacket", tx_ctl(self, pkt, len, &c, 0));
	describe("UDP_SEGMENT option 300 alone");
	accepted(_metadata, self, tx(self, pkt, len, &a), &self->flow, pkt,
		 len, 300 - QUIC_TAG_LEN, 1);

	gso = QUIC_TAG_LEN;
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_SEGMENT, &gso,
				sizeof(gso)));
	describe("UDP_SEGMENT option 16");
	REFUSED(EINVAL, "QuicTxErrBadPacket", tx(self, pkt, len, &a));
	describe("UDP_SEGMENT option 16, cmsg 300");
	a.gso_size = 300;
	accepted(_metadata, self, tx(self, pkt, len, &a), &self->flow, pkt,
		 len, 300 - QUIC_TAG_LEN, 1);
	describe("UDP_SEGMENT option 16, cmsgs 16 then 300");
	c.len = 0;
	ctl_gso(&c, QUIC_TAG_LEN);
	ctl_anc(&c, 1, 0, CID_LEN);
	ctl_gso(&c, 300);
	accepted(_metadata, self, tx_ctl(self, pkt, len, &c, 0), &self->flow,
		 pkt, len, 300 - QUIC_TAG_LEN, 1);
	gso = 0;
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_SEGMENT, &gso,
				sizeof(gso)));
	finish(_metadata, self);
}

/* Another cmsg beside UDP_QUIC_ENCRYPT that UDP refuses. */
TEST_F(hard, cmsg_refused_by_ip)
{
	const size_t len = 100;
	struct ctl c;
	int val = 300;

	pkt_fill(pkt, &self->flow, 1, 2, len);
	c.len = 0;
	ctl_anc(&c, 1, 0, CID_LEN);
	if (variant->family == AF_INET)
		ctl_add(&c, SOL_IP, IP_TTL, &val, sizeof(val));
	else
		ctl_add(&c, SOL_IPV6, IPV6_HOPLIMIT, &val, sizeof(val));
	describe("hop limit 300 beside UDP_QUIC_ENCRYPT");
	REFUSED(EINVAL, "QuicTxErrSend", tx_ctl(self, pkt, len, &c, 0));
	c.len = 0;
	ctl_anc(&c, 1, 0, CID_LEN);
	ctl_add(&c, SOL_UDP, 0x7fff, &val, sizeof(val));
	describe("unknown SOL_UDP cmsg beside UDP_QUIC_ENCRYPT");
	REFUSED(EINVAL, "QuicTxErrSend", tx_ctl(self, pkt, len, &c, 0));
	finish(_metadata, self);
}

/* ------------------------------------------------------------------ */
/* Packet shapes                                                        */

TEST_F(hard, lengths_0_to_64)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	struct flow f;
	size_t len;

	for (len = 0; len <= 64; len++) {
		pkt_fill(pkt, &self->flow, 1, 2, len);
		describe("packet of %zu bytes, DCID %d", len, CID_LEN);
		if (len < MIN_PKT)
			REFUSED(EINVAL, "QuicTxErrBadPacket",
				tx(self, pkt, len, &a));
		else
			accepted(_metadata, self, tx(self, pkt, len, &a),
				 &self->flow, pkt, len, len, 1);
	}

	/* The connection ID runs past the end of the packet. */
	flow_init(&f, variant->cipher, QUIC_CID_MAX, 0x51);
	ASSERT_EQ(0, quic_conn_add(self->sfd, &f.keys, f.cid, f.cid_len));
	exp_add(self, "QuicCurrTxSw", 1);
	exp_add(self, "QuicTxSw", 1);
	a = tx_args(self, &f, 1);
	for (len = 0; len <= QUIC_MIN_PKT(QUIC_CID_MAX); len++) {
		pkt_fill(pkt, &f, 1, 1, len);
		describe("packet of %zu bytes, DCID 20", len);
		if (len < QUIC_MIN_PKT(QUIC_CID_MAX))
			REFUSED(EINVAL, "QuicTxErrBadPacket",
				tx(self, pkt, len, &a));
		else
			accepted(_metadata, self, tx(self, pkt, len, &a), &f,
				 pkt, len, len, 1);
	}
	finish(_metadata, self);
}

TEST_F(hard, packet_content)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	size_t len = 300, n;
	struct flow top;

	pkt_fill(pkt, &self->flow, 1, 2, len);
	pkt[0] |= QUIC_HDR_LONG;
	describe("long header with UDP_QUIC_ENCRYPT");
	REFUSED(EINVAL, "QuicTxErrBadPacket", tx(self, pkt, len, &a));

	/* Decoding never leaves the window around next_pkt_num. */
	pkt_fill(pkt, &self->flow, 5, 2, len);
	a.next_pkt_num = QUIC_PN_MAX + 1;
	describe("next_pkt_num 2^62, packet number 2^62 + 5");
	REFUSED(EINVAL, "QuicTxErrBadPacket", tx(self, pkt, len, &a));
	a.next_pkt_num = UINT64_MAX;
	describe("next_pkt_num 2^64 - 1");
	REFUSED(EINVAL, "QuicTxErrBadPacket", tx(self, pkt, len, &a));
	/* On a connection of its own: nothing can follow that number. */
	flow_init(&top, variant->cipher, CID_LEN, 0x7e);
	ASSERT_EQ(0, quic_conn_add(self->sfd, &top.keys, top.cid, CID_LEN));
	exp_add(self, "QuicCurrTxSw", 1);
	exp_add(self, "QuicTxSw", 1);
	pkt_fill(pkt, &top, 0xffffffff, 4, len);
	a.next_pkt_num = QUIC_PN_MAX;
	describe("packet number 2^62 - 1, the largest");
	accepted(_metadata, self, tx(self, pkt, len, &a), &top, pkt, len, len,
		 QUIC_PN_MAX);
	describe("a packet after the largest number");
	REFUSED(ERANGE, "QuicTxErrPacketNumber", tx(self, pkt, len, &a));
	a.next_pkt_num = 1;

	/* Without UDP_QUIC_ENCRYPT: short headers never leave in clear. */
	a.no_quic_cmsg = true;
	pkt_fill(pkt, &self->flow, 1, 2, len);
	describe("short header without UDP_QUIC_ENCRYPT");
	REFUSED(EINVAL, "QuicTxErrNoCmsg", tx(self, pkt, len, &a));
	n = batch_fill(pkt, &self->flow, 1, 200, 3, 0);
	pkt[0] |= QUIC_HDR_LONG;
	a.gso_size = 200;
	describe("GSO, long header then short headers, no UDP_QUIC_ENCRYPT");
	REFUSED(EINVAL, "QuicTxErrNoCmsg", tx(self, pkt, n, &a));
	finish(_metadata, self);
}

TEST_F(hard, gso_shapes)
{
	static const uint16_t small[] = { 1, 15, 16, 17, 16 + MIN_PKT - 1 };
	static const uint16_t ok[] = { 16 + MIN_PKT, 16 + MIN_PKT + 1, 64,
				       0xffff };
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	size_t len, stride;
	int i, n;

	len = batch_fill(pkt, &self->flow, 1, 100, 1, 0);
	for (i = 0; i < ARRAY_SIZE(small); i++) {
		a.gso_size = small[i];
		describe("segment size %u", small[i]);
		REFUSED(EINVAL, "QuicTxErrBadPacket", tx(self, pkt, len, &a));
	}
	for (i = 0; i < ARRAY_SIZE(ok); i++) {
		a.gso_size = ok[i];
		stride = ok[i] - QUIC_TAG_LEN;
		n = stride > 200 ? 1 : 5;
		len = batch_fill(pkt, &self->flow, 1, stride, n,
				 n == 1 ? 200 : 0);
		describe("segment size %u, %d packets", ok[i], n);
		accepted(_metadata, self, tx(self, pkt, len, &a), &self->flow,
			 pkt, len, stride, 1);
	}

	a.gso_size = 16 + MIN_PKT;
	len = batch_fill(pkt, &self->flow, 1, MIN_PKT, UDP_MAX_SEGMENTS + 1, 0);
	describe("%d segments", UDP_MAX_SEGMENTS + 1);
	REFUSED(EINVAL, "QuicTxErrBadPacket", tx(self, pkt, len, &a));
	len = batch_fill(pkt, &self->flow, 1, MIN_PKT, UDP_MAX_SEGMENTS, 0);
	describe("%d segments", UDP_MAX_SEGMENTS);
	accepted(_metadata, self, tx(self, pkt, len, &a), &self->flow, pkt,
		 len, MIN_PKT, 1);

	a.gso_size = 400;
	len = batch_fill(pkt, &self->flow, 1, 384, 4, MIN_PKT - 1);
	describe("GSO, last packet %d bytes", MIN_PKT - 1);
	REFUSED(EINVAL, "QuicTxErrBadPacket", tx(self, pkt, len, &a));
	len = batch_fill(pkt, &self->flow, 1, 384, 4, 0);
	pkt[2 * 384] |= QUIC_HDR_LONG;
	describe("GSO, third packet with a long header");
	REFUSED(EINVAL, "QuicTxErrBadPacket", tx(self, pkt, len, &a));
	len = batch_fill(pkt, &self->flow, 1, 384, 4, 0);
	pkt[3 * 384 + CID_LEN] ^= 1;
	describe("GSO, fourth packet with another DCID");
	REFUSED(EINVAL, "QuicTxErrBadPacket", tx(self, pkt, len, &a));
	finish(_metadata, self);
}

TEST_F(hard, datagram_limits)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	const size_t udp_max = variant->family == AF_INET ? 65507 : 65527;
	static struct iovec iov[1025];
	long page = sysconf(_SC_PAGESIZE);
	uint8_t *map;
	size_t len;
	int i;

	len = pkt_fill(pkt, &self->flow, 1, 2, 65536 - QUIC_TAG_LEN);
	describe("packet of %zu bytes, %zu with the tag", len,
		 len + QUIC_TAG_LEN);
	REFUSED(EMSGSIZE, "QuicTxErrBadPacket", tx(self, pkt, len, &a));
	len = pkt_fill(pkt, &self->flow, 1, 2, 65536);
	describe("packet of 65536 bytes");
	REFUSED(EMSGSIZE, "QuicTxErrBadPacket", tx(self, pkt, len, &a));
	len = pkt_fill(pkt, &self->flow, 1, 2, udp_max + 1 - QUIC_TAG_LEN);
	describe("datagram one byte over UDP's %zu", udp_max);
	REFUSED(EMSGSIZE, "QuicTxErrSend", tx(self, pkt, len, &a));
	len = pkt_fill(pkt, &self->flow, 1, 2, udp_max - QUIC_TAG_LEN);
	describe("datagram of UDP's %zu bytes", udp_max);
	accepted(_metadata, self, tx(self, pkt, len, &a), &self->flow, pkt,
		 len, len, 1);

	len = pkt_fill(pkt, &self->flow, 1, 2, 1025);
	for (i = 0; i < 1025; i++) {
		iov[i].iov_base = pkt + i;
		iov[i].iov_len = 1;
	}
	describe("1025 iovecs");
	REFUSED(EMSGSIZE, NULL, tx_iov(self, iov, 1025, &a));
	describe("1024 iovecs");
	accepted(_metadata, self, tx_iov(self, iov, 1024, &a),
		 &self->flow, pkt, 1024, 1024, 1);
	iov[0].iov_len = 0;
	iov[1].iov_base = pkt;
	iov[1].iov_len = 200;
	iov[2].iov_len = 0;
	describe("empty iovecs around a packet");
	accepted(_metadata, self, tx_iov(self, iov, 3, &a),
		 &self->flow, pkt, 200, 200, 1);

	map = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	iov[0].iov_base = pkt;
	iov[0].iov_len = 100;
	iov[1].iov_base = map;
	iov[1].iov_len = 100;
	describe("second iovec not readable");
	REFUSED(EFAULT, "QuicTxErrFault", tx_iov(self, iov, 2, &a));
	munmap(map, page);
	finish(_metadata, self);
}

TEST_F(hard, send_flags)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	const size_t len = 250;
	int one = 1, zero = 0, err;
	uint8_t lh[64];
	long ret;

	pkt_fill(pkt, &self->flow, 1, 2, len);
	a.msg_flags = MSG_MORE;
	describe("MSG_MORE");
	REFUSED(EOPNOTSUPP, "QuicTxErrUnsupported", tx(self, pkt, len, &a));
	a.flags = QUIC_BYPASS_ENCRYPTION;
	describe("MSG_MORE with bypass");
	REFUSED(EOPNOTSUPP, "QuicTxErrUnsupported", tx(self, pkt, len, &a));
	a.flags = 0;
	/* UDP refuses MSG_OOB over IPv4 only; the offload does as UDP. */
	a.msg_flags = MSG_OOB;
	describe("MSG_OOB");
	err = plain_send_errno(variant->family, &self->dst, self->dst_len,
			       MSG_OOB);
	if (!err)	/* plain UDP sent its datagram */
		ASSERT_EQ(40, quic_recv(self->rfd, dgram, sizeof(dgram),
					RX_WAIT_MS));
	if (err)
		REFUSED(err, "QuicTxErrSend", tx(self, pkt, len, &a));
	else
		accepted(_metadata, self, tx(self, pkt, len, &a), &self->flow,
			 pkt, len, len, 1);
	a.msg_flags = MSG_DONTWAIT | MSG_NOSIGNAL;
	describe("MSG_DONTWAIT | MSG_NOSIGNAL");
	accepted(_metadata, self, tx(self, pkt, len, &a), &self->flow, pkt,
		 len, len, 1);
	a.msg_flags = MSG_ZEROCOPY;
	describe("MSG_ZEROCOPY without SO_ZEROCOPY (ignored)");
	accepted(_metadata, self, tx(self, pkt, len, &a), &self->flow, pkt,
		 len, len, 1);
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_SOCKET, SO_ZEROCOPY, &one,
				sizeof(one)));
	describe("MSG_ZEROCOPY with SO_ZEROCOPY");
	REFUSED(EOPNOTSUPP, "QuicTxErrUnsupported", tx(self, pkt, len, &a));
	a.msg_flags = 0;

	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_CORK, &one,
				sizeof(one)));
	describe("UDP_CORK set");
	errno = 0;
	ret = tx(self, pkt, len, &a);
	err = errno;
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_CORK, &zero,
				sizeof(zero)));
	refused(_metadata, self, ret, err, EOPNOTSUPP, "QuicTxErrUnsupported");

	/* Plain data corked with MSG_MORE, then an encrypting call. */
	memset(lh, 0xc0, sizeof(lh));
	a.no_quic_cmsg = true;
	a.msg_flags = MSG_MORE;
	ASSERT_EQ(sizeof(lh), tx(self, lh, sizeof(lh), &a));
	a.no_quic_cmsg = false;
	a.msg_flags = 0;
	describe("corked plain data pending");
	errno = 0;
	ASSERT_EQ(-1, tx(self, pkt, len, &a));
	ASSERT_EQ(EOPNOTSUPP, errno);
	/* The corked datagram leaves alone, unchanged, when completed. */
	a.no_quic_cmsg = true;
	ASSERT_EQ(sizeof(lh), tx(self, lh, sizeof(lh), &a));
	ASSERT_EQ(2 * sizeof(lh), quic_recv(self->rfd, dgram, sizeof(dgram),
					    RX_WAIT_MS));
	ASSERT_EQ(0, memcmp(dgram, lh, sizeof(lh)));
	ASSERT_EQ(0, memcmp(dgram + sizeof(lh), lh, sizeof(lh)));
	refused(_metadata, self, -1, EOPNOTSUPP, EOPNOTSUPP,
		"QuicTxErrUnsupported");
	finish(_metadata, self);
}

/* Destinations: connected, unconnected, and those UDP refuses. */
TEST_F(hard, addressing)
{
	struct sockaddr_storage bad;
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	const size_t len = 180;
	int plain, i;
	uint8_t lh[40];
	struct {
		const char *name;
		int family;
		socklen_t len;
		bool port0;
	} cases[] = {
		{ "address too short", variant->family,
		  variant->family == AF_INET ? 15 : 23, false },
		{ "address of the other family", variant->family == AF_INET ?
		  AF_INET6 : AF_INET + 100, sizeof(struct sockaddr_in6),
		  false },
		{ "port 0", variant->family, self->dst_len, true },
	};

	pkt_fill(pkt, &self->flow, 1, 2, len);
	memset(lh, 0xc3, sizeof(lh));
	plain = socket(variant->family, SOCK_DGRAM, 0);
	ASSERT_GE(plain, 0);
	for (i = 0; i < ARRAY_SIZE(cases); i++) {
		struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&bad;
		int err;

		memcpy(&bad, &self->dst, sizeof(bad));
		bad.ss_family = cases[i].family;
		if (cases[i].port0)
			sin6->sin6_port = 0;	/* same offset in sockaddr_in */
		/* As UDP: a plain socket refuses the same address. */
		err = 0;
		if (send_ctl(plain, lh, sizeof(lh), (struct sockaddr *)&bad,
			     cases[i].len, NULL, 0, 0))
			err = errno;
		ASSERT_NE(0, err) TH_LOG("%s: plain UDP sent", cases[i].name);
		a.addr = (struct sockaddr *)&bad;
		a.addrlen = cases[i].len;
		describe("%s", cases[i].name);
		REFUSED(err, "QuicTxErrSend", tx(self, pkt, len, &a));
	}
	close(plain);

	a = tx_args(self, &self->flow, 1);
	if (self->connected) {
		describe("connected, explicit destination");
		a.addr = (struct sockaddr *)&self->dst;
		accepted(_metadata, self, tx(self, pkt, len, &a), &self->flow,
			 pkt, len, len, 1);
		bad.ss_family = AF_UNSPEC;
		ASSERT_EQ(0, connect(self->sfd, (struct sockaddr *)&bad,
				     sizeof(bad)));
		self->connected = false;
	}
	a.addr = NULL;
	describe("unconnected, no destination");
	REFUSED(EDESTADDRREQ, "QuicTxErrSend", tx(self, pkt, len, &a));
	ASSERT_EQ(0, connect(self->sfd, (struct sockaddr *)&self->dst,
			     self->dst_len));
	self->connected = true;
	describe("connected, no destination");
	accepted(_metadata, self, tx(self, pkt, len, &a), &self->flow, pkt,
		 len, len, 1);
	finish(_metadata, self);
}

/* Positive control of the plaintext watch: bypass is seen in clear. */
TEST_F(hard, bypass_seen_on_wire)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	const size_t len = 200;
	bool seen = false;
	ssize_t n;

	if (self->sniff < 0)
		SKIP(return, "no packet socket");
	pkt_fill(pkt, &self->flow, 1, 2, len);
	a.flags = QUIC_BYPASS_ENCRYPTION;
	ASSERT_EQ((ssize_t)len, tx(self, pkt, len, &a));
	ASSERT_EQ((ssize_t)len, quic_recv(self->rfd, dgram, sizeof(dgram),
					  RX_WAIT_MS));
	ASSERT_EQ(0, memcmp(dgram, pkt, len));
	while ((n = recv(self->sniff, dgram, sizeof(dgram), MSG_DONTWAIT)) > 0)
		seen |= quic_contains(dgram, n, canary, CANARY_LEN);
	ASSERT_TRUE(seen) TH_LOG("the packet socket missed plaintext");
	exp_add(self, "QuicTxBypassPackets", 1);
	finish(_metadata, self);
}

/* ------------------------------------------------------------------ */
/* Races, teardown and isolation                                        */

FIXTURE(race)
{
	int sfd, rfd;
	struct sockaddr_storage dst;
	socklen_t dst_len;
	struct flow flow;
};

FIXTURE_VARIANT(race)
{
	int family;
	uint16_t cipher;
};

FIXTURE_VARIANT_ADD(race, ipv4)
{
	.family = AF_INET,
	.cipher = TLS_CIPHER_AES_GCM_256,
};

FIXTURE_VARIANT_ADD(race, ipv6)
{
	.family = AF_INET6,
	.cipher = TLS_CIPHER_AES_CCM_128,
};

static int sender_open(int family)
{
	int fd = socket(family, SOCK_DGRAM, 0);

	if (fd >= 0 && quic_ulp_attach(fd)) {
		close(fd);
		return -1;
	}
	return fd;
}

FIXTURE_SETUP(race)
{
	self->sfd = -1;
	self->rfd = -1;
	rng = seed ^ variant->family ^ 0x5555;
	what[0] = '\0';
	if (quic_netns_fresh())
		SKIP(return, "no network namespace: %s", strerror(errno));
	self->rfd = rx_open(variant->family, &self->dst, &self->dst_len);
	ASSERT_GE(self->rfd, 0);
	self->sfd = sender_open(variant->family);
	if (self->sfd < 0)
		SKIP(return, "quic-crypto ULP not available");
	flow_init(&self->flow, variant->cipher, CID_LEN, 0x61);
	ASSERT_EQ(0, quic_conn_add(self->sfd, &self->flow.keys, self->flow.cid,
				   self->flow.cid_len));
}

FIXTURE_TEARDOWN(race)
{
	quic_knobs_restore();
	if (self->sfd >= 0)
		close(self->sfd);
	if (self->rfd >= 0)
		close(self->rfd);
}

/*
 * Whether two kinds of calls really ran at the same time.  A thread
 * announces its call before it looks at the other side (sequentially
 * consistent atomics), so of two calls that overlap at least one counts
 * the other.  A race test that saw no overlap raced nothing.
 */
struct side {
	atomic_int inside;	/* calls of this side under way */
	atomic_int overlaps;	/* started while the other side was inside */
	atomic_int peers;	/* started while another of this side was */
};

static void side_enter(struct side *me, struct side *other)
{
	if (!me)
		return;
	if (atomic_fetch_add(&me->inside, 1))
		atomic_fetch_add(&me->peers, 1);
	if (other && atomic_load(&other->inside))
		atomic_fetch_add(&me->overlaps, 1);
}

static void side_exit(struct side *me)
{
	if (me)
		atomic_fetch_sub(&me->inside, 1);
}

/*
 * Fewest overlaps a race test accepts of the calls it races.  Seen under
 * TCG and KASAN: every close (4 of 4), 14 to 27 DELs of del_vs_sendmsg,
 * hundreds to thousands of the others; serialised, none.
 */
#define MIN_OVERLAPS	3

/* A sending thread's view: its packets are reproducible from their pn. */
struct sender {
	int fd;
	const struct sockaddr_storage *dst;
	socklen_t dst_len;
	const struct flow *f;
	uint64_t first_pn;
	int count;		/* packets to try, 0: until an error */
	int ok;			/* accepted */
	int err;		/* first errno outside @allowed */
	int allowed[3];
	bool shared;		/* another thread sends for the connection */
	int erange;		/* refused: the other thread's numbers were higher */
	bool *stop;
	struct side *me, *other;	/* overlaps of the sendmsg() calls */
};

static size_t race_pkt(uint8_t *buf, const struct flow *f, uint64_t pn)
{
	return pkt_fill(buf, f, pn, 4, MIN_PKT + 40 + pn % 97);
}

static void *sender_fn(void *arg)
{
	struct sender *s = arg;
	struct quic_send_args a = {
		.addr = (const struct sockaddr *)s->dst,
		.addrlen = s->dst_len,
		.cid_len = s->f->cid_len,
	};
	uint8_t buf[256];
	struct iovec iov = { .iov_base = buf };
	uint64_t pn = s->first_pn;
	ssize_t ret;
	int i;

	for (i = 0; !s->count || i < s->count; i++, pn++) {
		if (s->stop && __atomic_load_n(s->stop, __ATOMIC_RELAXED))
			break;
		iov.iov_len = race_pkt(buf, s->f, pn);
		a.next_pkt_num = pn;
		side_enter(s->me, s->other);
		ret = quic_sendmsg(s->fd, &iov, 1, &a);
		side_exit(s->me);
		if (ret == (ssize_t)iov.iov_len) {
			s->ok++;
			continue;
		}
		/*
		 * Two threads sending for one connection: the kernel refuses
		 * the numbers of whichever claims them after the other's
		 * higher ones.
		 */
		if (errno == ERANGE && s->shared) {
			s->erange++;
			continue;
		}
		if (errno != s->allowed[0] && errno != s->allowed[1] &&
		    errno != s->allowed[2]) {
			s->err = errno;
			break;
		}
		if (!s->count && errno == EBADF)
			break;
	}
	return NULL;
}

/*
 * Whether the @n bytes at @dgram decrypt with one of the @nkeys key sets
 * of their connection to the whole packet race_pkt() makes.
 */
static bool race_match(const struct flow *keysets, int nkeys, ssize_t n)
{
	uint8_t ref[256];
	uint64_t pn;
	ssize_t plen;
	int i;

	for (i = 0; i < nkeys; i++) {
		if (memcmp(dgram + 1, keysets[i].cid, keysets[i].cid_len))
			continue;
		plen = quic_unprotect(&keysets[i].keys, dgram, n,
				      keysets[i].cid_len, 0, out, &pn);
		if (plen < 0)
			continue;
		/* 4-byte numbers: decoding against 0 is exact. */
		if (race_pkt(ref, &keysets[i], pn) == (size_t)plen &&
		    !memcmp(ref, out, plen))
			return true;
	}
	return false;
}

/*
 * Receive until @want datagrams arrived; each must decrypt with one of the
 * @nkeys key sets of its connection to the packet race_pkt() makes.
 */
static int rx_race(struct __test_metadata *_metadata, int rfd,
		   const struct flow *keysets, int nkeys, int want)
{
	int got = 0;
	ssize_t n;

	for (; got < want; got++) {
		n = quic_recv(rfd, dgram, sizeof(dgram), RX_WAIT_MS);
		if (n < 0)
			break;
		EXPECT_FALSE(quic_contains(dgram, n, canary, CANARY_LEN));
		EXPECT_TRUE(race_match(keysets, nkeys, n))
			TH_LOG("datagram %d (%zd bytes) matches no key", got,
			       n);
	}
	return got;
}

TEST_F_TIMEOUT(race, close_vs_sendmsg, 120)
{
	struct side snd = {}, cls = {};
	struct sender s[2] = {};
	pthread_t t[2];
	int round, i, sent = 0;

	for (round = 0; round < 4; round++) {
		int fd = round ? sender_open(variant->family) : self->sfd;

		ASSERT_GE(fd, 0);
		if (round)
			ASSERT_EQ(0, quic_conn_add(fd, &self->flow.keys,
						   self->flow.cid, CID_LEN));
		for (i = 0; i < 2; i++) {
			s[i] = (struct sender) {
				.fd = fd, .dst = &self->dst,
				.dst_len = self->dst_len, .f = &self->flow,
				.first_pn = (round * 2 + i) * 100000,
				.allowed = { EBADF, EBADF, EBADF },
				.shared = true, .me = &snd, .other = &cls,
			};
			ASSERT_EQ(0, pthread_create(&t[i], NULL, sender_fn,
						    &s[i]));
		}
		usleep(20000 + round * 20000);
		side_enter(&cls, &snd);
		close(fd);
		side_exit(&cls);
		for (i = 0; i < 2; i++) {
			pthread_join(t[i], NULL);
			ASSERT_EQ(0, s[i].err) TH_LOG("sender: %s",
						      strerror(s[i].err));
			sent += s[i].ok;
		}
	}
	self->sfd = -1;
	TH_LOG("%d packets sent around 4 closes; overlaps: %d close, %d sendmsg",
	       sent, atomic_load(&cls.overlaps), atomic_load(&snd.overlaps));
	/* Senders are in their calls nearly all the time: so are closes. */
	ASSERT_GE(atomic_load(&cls.overlaps), MIN_OVERLAPS);
	ASSERT_EQ(sent, rx_race(_metadata, self->rfd, &self->flow, 1, sent));
	ASSERT_EQ(-1, quic_recv(self->rfd, dgram, sizeof(dgram), 0));
	ASSERT_EQ(0, quic_stat(-1, "QuicCurrTxSw"));
}

struct churn {
	int fd;
	struct flow *gen;	/* two key sets of one connection */
	bool *stop;
	int rounds, err;
	struct side *me, *other;	/* overlaps of the DELs */
};

static void *churn_fn(void *arg)
{
	struct churn *c = arg;
	int g = 0, ret;

	while (!__atomic_load_n(c->stop, __ATOMIC_RELAXED) && !c->err) {
		side_enter(c->me, c->other);
		ret = quic_conn_del(c->fd, c->gen[g].cid, c->gen[g].cid_len);
		side_exit(c->me);
		if (ret)
			c->err = errno;
		g ^= 1;
		if (quic_conn_add(c->fd, &c->gen[g].keys, c->gen[g].cid,
				  c->gen[g].cid_len))
			c->err = errno;
		c->rounds++;
	}
	return NULL;
}

/* Sends on a connection that is deleted and added back with new keys. */
TEST_F_TIMEOUT(race, del_vs_sendmsg, 120)
{
	struct side snd = {}, del = {};
	bool stop = false;
	struct churn c = {};
	struct sender s[2] = {};
	struct flow gen[2];
	pthread_t t[3];
	int i, sent = 0;

	gen[0] = self->flow;
	gen[1] = self->flow;
	quic_keys_random(&gen[1].keys, variant->cipher, &rng);
	c = (struct churn) {
		.fd = self->sfd, .gen = gen, .stop = &stop,
		.me = &del, .other = &snd,
	};
	for (i = 0; i < 2; i++) {
		s[i] = (struct sender) {
			.fd = self->sfd, .dst = &self->dst,
			.dst_len = self->dst_len, .f = &self->flow,
			.first_pn = i * 100000, .count = 150,
			.allowed = { ENOKEY, ENOKEY, ENOKEY },
			.shared = true, .me = &snd, .other = &del,
		};
	}
	ASSERT_EQ(0, pthread_create(&t[2], NULL, churn_fn, &c));
	for (i = 0; i < 2; i++)
		ASSERT_EQ(0, pthread_create(&t[i], NULL, sender_fn, &s[i]));
	for (i = 0; i < 2; i++)
		pthread_join(t[i], NULL);
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(t[2], NULL);
	ASSERT_EQ(0, c.err) TH_LOG("DEL/ADD: %s", strerror(c.err));
	for (i = 0; i < 2; i++) {
		ASSERT_EQ(0, s[i].err) TH_LOG("sender: %s", strerror(s[i].err));
		sent += s[i].ok;
	}
	TH_LOG("%d of 300 packets accepted over %d DEL/ADD rounds", sent,
	       c.rounds);
	TH_LOG("overlaps: %d DEL during a sendmsg, %d sendmsg during a DEL",
	       atomic_load(&del.overlaps), atomic_load(&snd.overlaps));
	/* DELs are short: few sends start during one, most DELs do. */
	ASSERT_GE(atomic_load(&del.overlaps) + atomic_load(&snd.overlaps),
		  MIN_OVERLAPS);
	ASSERT_EQ(sent, rx_race(_metadata, self->rfd, gen, 2, sent));
	ASSERT_EQ(-1, quic_recv(self->rfd, dgram, sizeof(dgram), 0));
	ASSERT_EQ(1, quic_stat(-1, "QuicCurrTxSw"));
	ASSERT_EQ(sent, quic_stat(-1, "QuicTxPackets"));
}

/* Long-header datagrams a corking thread sends in clear, as QUIC allows. */
struct corker {
	int fd;
	const struct sockaddr_storage *dst;
	socklen_t dst_len;
	bool *stop;
	int sent, busy, err;
	struct side *me, *other;	/* overlaps of the corked periods */
};

#define LONG_HDR_LEN	10	/* first byte, version, DCID length, DCID */

/* Long-header datagram number @seq: its length and bytes follow from it. */
static size_t long_pkt(uint8_t *buf, uint32_t seq)
{
	size_t len = LONG_HDR_LEN + 30 + seq % 61, i;

	buf[0] = QUIC_HDR_LONG | QUIC_HDR_FIXED;	/* an Initial */
	buf[1] = 0;
	buf[2] = 0;
	buf[3] = 0;
	buf[4] = 1;
	buf[5] = 4;
	buf[6] = seq >> 24;
	buf[7] = seq >> 16;
	buf[8] = seq >> 8;
	buf[9] = seq;
	buf[10] = 0;				/* no SCID */
	buf[11] = 0;				/* no token */
	buf[12] = 0x40;				/* Length, to the end */
	buf[13] = len - LONG_HDR_LEN - 4;
	for (i = LONG_HDR_LEN + 4; i < len; i++)
		buf[i] = seq * 31 + i;
	return len;
}

/*
 * Cork, send a long-header datagram without UDP_QUIC_ENCRYPT into the
 * corked data, uncork: the datagram leaves as it was sent, alone.  UDP
 * refuses it (EINVAL) when a sender corked data between its two looks at
 * the socket.
 */
static void *corker_fn(void *arg)
{
	struct corker *k = arg;
	int on = 1, off = 0;
	uint8_t buf[128];
	ssize_t ret;
	size_t len;

	while (!__atomic_load_n(k->stop, __ATOMIC_RELAXED)) {
		len = long_pkt(buf, k->sent);
		side_enter(k->me, k->other);
		setsockopt(k->fd, SOL_UDP, UDP_CORK, &on, sizeof(on));
		ret = sendto(k->fd, buf, len, 0,
			     (const struct sockaddr *)k->dst, k->dst_len);
		if (ret < 0 && errno == EINVAL)
			k->busy++;
		else if (ret != (ssize_t)len)
			k->err = ret < 0 ? errno : EMSGSIZE;
		setsockopt(k->fd, SOL_UDP, UDP_CORK, &off, sizeof(off));
		side_exit(k->me);
		if (k->err)
			break;
		k->sent += ret > 0;
	}
	return NULL;
}

/* For the failure message: what a datagram framed wrong starts with. */
static void framing_explain(struct __test_metadata *_metadata, int got,
			    const struct flow *keysets, int nkeys, ssize_t n)
{
	uint8_t ref[128];
	uint32_t seq;
	ssize_t k;

	if (dgram[0] & QUIC_HDR_LONG && n >= LONG_HDR_LEN) {
		seq = (uint32_t)dgram[6] << 24 | dgram[7] << 16 |
		      dgram[8] << 8 | dgram[9];
		k = long_pkt(ref, seq);
		if (k < n && !memcmp(ref, dgram, k)) {
			memmove(dgram, dgram + k, n - k);
			TH_LOG("datagram %d: long header %u (%zd bytes), then %zd bytes%s",
			       got, seq, k, n - k,
			       race_match(keysets, nkeys, n - k) ?
			       ", one ciphertext" : "");
			return;
		}
	} else if (!(dgram[0] & QUIC_HDR_LONG)) {
		for (k = MIN_PKT + QUIC_TAG_LEN; k < n; k++) {
			if (!race_match(keysets, nkeys, k))
				continue;
			TH_LOG("datagram %d: a ciphertext (%zd bytes), then %zd bytes from 0x%02x",
			       got, k, n - k, dgram[k]);
			return;
		}
	}
	TH_LOG("datagram %d: %s header, %zd bytes, not as sent", got,
	       dgram[0] & QUIC_HDR_LONG ? "long" : "short", n);
}

/*
 * Receive @want datagrams.  Each is a ciphertext of a whole race_pkt()
 * packet (as rx_race() accepts) or one of the @nlong long-header
 * datagrams long_pkt() made, exactly: never encrypted and corked data
 * merged, never a short header in clear.  *@nlong_got counts the long.
 */
static int rx_framing(struct __test_metadata *_metadata, int rfd,
		      const struct flow *keysets, int nkeys, int want,
		      int nlong, int *nlong_got)
{
	int got, bad = 0, plain = 0;
	uint8_t ref[128];
	uint32_t seq;
	ssize_t n;

	*nlong_got = 0;
	for (got = 0; got < want; got++) {
		n = quic_recv(rfd, dgram, sizeof(dgram), RX_WAIT_MS);
		if (n < 0)
			break;
		if (!(dgram[0] & QUIC_HDR_LONG)) {
			if (race_match(keysets, nkeys, n))
				continue;
			plain += quic_contains(dgram, n, canary, CANARY_LEN);
		} else if (n >= LONG_HDR_LEN) {
			seq = (uint32_t)dgram[6] << 24 | dgram[7] << 16 |
			      dgram[8] << 8 | dgram[9];
			if (seq < (uint32_t)nlong &&
			    long_pkt(ref, seq) == (size_t)n &&
			    !memcmp(ref, dgram, n)) {
				(*nlong_got)++;
				continue;
			}
		}
		if (bad++ < 5)
			framing_explain(_metadata, got, keysets, nkeys, n);
	}
	EXPECT_EQ(0, bad) TH_LOG("%d datagrams framed wrong, %d with plaintext",
				 bad, plain);
	return got;
}

/*
 * DEL waits, under the socket lock, for senders still encrypting with the
 * connection.  A sender that finds the socket corked by another thread
 * after its checks takes that lock in UDP: it must not still hold the
 * connection then, or the two wait for each other for good.  Whatever the
 * interleaving, the receiver sees every encrypted packet and every corked
 * long-header datagram as a datagram of its own.
 */
TEST_F_TIMEOUT(race, del_vs_corked_sendmsg, 120)
{
	struct side snd = {}, del = {}, cork = {};
	int i, want, got, nlong, off = 0;
	struct corker k = {};
	struct churn c = {};
	struct sender s[2] = {};
	struct flow gen[2];
	bool stop = false;
	pthread_t t[4];

	gen[0] = self->flow;
	gen[1] = self->flow;
	quic_keys_random(&gen[1].keys, variant->cipher, &rng);
	c = (struct churn) {
		.fd = self->sfd, .gen = gen, .stop = &stop,
		.me = &del, .other = &snd,
	};
	k = (struct corker) {
		.fd = self->sfd, .dst = &self->dst, .dst_len = self->dst_len,
		.stop = &stop, .me = &cork, .other = &snd,
	};
	for (i = 0; i < 2; i++) {
		s[i] = (struct sender) {
			.fd = self->sfd, .dst = &self->dst,
			.dst_len = self->dst_len, .f = &self->flow,
			.first_pn = i * 1000000, .stop = &stop,
			.allowed = { ENOKEY, EOPNOTSUPP, EINVAL },
			.shared = true, .me = &snd, .other = &cork,
		};
		ASSERT_EQ(0, pthread_create(&t[i], NULL, sender_fn, &s[i]));
	}
	ASSERT_EQ(0, pthread_create(&t[2], NULL, corker_fn, &k));
	ASSERT_EQ(0, pthread_create(&t[3], NULL, churn_fn, &c));
	/* The deadlock took a few hundred rounds to show. */
	while (c.rounds < 1000 && !c.err && !k.err && !s[0].err && !s[1].err)
		usleep(10000);
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (i = 0; i < 4; i++)
		pthread_join(t[i], NULL);
	ASSERT_EQ(0, c.err) TH_LOG("DEL/ADD: %s", strerror(c.err));
	ASSERT_EQ(0, k.err) TH_LOG("corked send: %s", strerror(k.err));
	ASSERT_EQ(0, s[0].err) TH_LOG("sender: %s", strerror(s[0].err));
	ASSERT_EQ(0, s[1].err) TH_LOG("sender: %s", strerror(s[1].err));
	TH_LOG("%d DEL/ADD rounds, %d and %d sends, %d long headers (%d refused)",
	       c.rounds, s[0].ok, s[1].ok, k.sent, k.busy);
	TH_LOG("overlaps: %d DEL, %d corking during a sendmsg; %d sendmsg corked",
	       atomic_load(&del.overlaps), atomic_load(&cork.overlaps),
	       atomic_load(&snd.overlaps));

	/* Anything a sender left corked goes now, as UDP would send it. */
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_CORK, &off,
				sizeof(off)));
	want = s[0].ok + s[1].ok + k.sent;
	got = rx_framing(_metadata, self->rfd, gen, 2, want, k.sent, &nlong);
	TH_LOG("%d of %d datagrams received, %d of them long headers", got,
	       want, nlong);
	ASSERT_EQ(want, got);
	ASSERT_EQ(k.sent, nlong);
	ASSERT_EQ(-1, quic_recv(self->rfd, dgram, sizeof(dgram), 0));
	ASSERT_EQ(s[0].ok + s[1].ok, quic_stat(-1, "QuicTxPackets"));
	ASSERT_GE(atomic_load(&del.overlaps), MIN_OVERLAPS);
	ASSERT_GE(atomic_load(&cork.overlaps), MIN_OVERLAPS);
	ASSERT_GE(atomic_load(&snd.overlaps), MIN_OVERLAPS);
}

/* Corks a long header, then ends the datagram with another. */
/* What a receiver found in the datagrams it read. */
struct rx_scan {
	int got, short_hdrs, canaries;
};

/*
 * Read what has arrived, waiting up to @wait_ms for each datagram (0: only
 * what is queued now); count datagrams and cleartext.
 */
static void rx_plain_scan(int rfd, int wait_ms, struct rx_scan *s)
{
	ssize_t n;

	while ((n = quic_recv(rfd, dgram, sizeof(dgram), wait_ms)) >= 0) {
		s->got++;
		s->short_hdrs += !(dgram[0] & QUIC_HDR_LONG);
		s->canaries += quic_contains(dgram, n, canary, CANARY_LEN);
	}
}

/*
 * A sender faster than the receiver's queue (a kernel without debug
 * options sends tens of thousands of datagrams a second) reads what has
 * arrived every so many sends, so that none is lost to a full queue.
 */
#define RX_DRAIN_EVERY	1000

struct pair_corker {
	int fd, rfd;
	const struct sockaddr_storage *dst;
	socklen_t dst_len;
	bool *stop;
	int sent, err;
	struct rx_scan rx;
	struct side *me, *other;
};

static void *pair_corker_fn(void *arg)
{
	struct pair_corker *k = arg;
	uint8_t buf[128];
	ssize_t ret;
	size_t len;
	int i;

	while (!__atomic_load_n(k->stop, __ATOMIC_RELAXED) && !k->err) {
		side_enter(k->me, k->other);
		for (i = 0; i < 2; i++) {
			len = long_pkt(buf, 2 * k->sent + i);
			ret = sendto(k->fd, buf, len, i ? 0 : MSG_MORE,
				     (const struct sockaddr *)k->dst,
				     k->dst_len);
			if (ret != (ssize_t)len) {
				k->err = ret < 0 ? errno : EMSGSIZE;
				break;
			}
		}
		side_exit(k->me);
		k->sent += !k->err;
		if (k->sent % RX_DRAIN_EVERY == 0)
			rx_plain_scan(k->rfd, 0, &k->rx);
	}
	return NULL;
}

/* Sends short headers in clear without the cmsg: each must be refused. */
struct plain_sender {
	int fd;
	const struct sockaddr_storage *dst;
	socklen_t dst_len;
	const struct flow *f;
	uint8_t *buf;		/* NULL: a packet of its own */
	size_t len;
	bool *stop;
	int max_sent;		/* 0: until *stop */
	int sent, refused, err;
	struct side *me, *other;
};

/*
 * Datagrams of 1200 bytes the receiver queues unread (rx_open()'s 8 MiB,
 * doubled, at about 2.3 KiB of truesize each) with room to spare: a fast
 * sender must not overflow it and count its own drops as losses.
 */
#define RX_QUEUE_1200	4000

static void *plain_sender_fn(void *arg)
{
	struct plain_sender *p = arg;
	uint8_t own[256], *buf = p->buf ? p->buf : own;
	size_t len = p->buf ? p->len : race_pkt(own, p->f, 7);
	ssize_t ret;

	while (!__atomic_load_n(p->stop, __ATOMIC_RELAXED) &&
	       (!p->max_sent || p->sent < p->max_sent)) {
		side_enter(p->me, p->other);
		ret = sendto(p->fd, buf, len, 0,
			     (const struct sockaddr *)p->dst, p->dst_len);
		side_exit(p->me);
		if (ret == (ssize_t)len) {
			p->sent++;
		} else if (ret < 0 && errno == EINVAL) {
			p->refused++;
		} else {
			p->err = ret < 0 ? errno : EMSGSIZE;
			break;
		}
	}
	return NULL;
}

/*
 * The guard decides under the lock that orders corking: a short header
 * sent in clear while another thread corks and uncorks long headers is
 * refused whether it would start a datagram or join the corked one.
 */
TEST_F_TIMEOUT(race, plain_vs_cork, 120)
{
	struct side cork = {}, snd = {};
	struct pair_corker k = {};
	struct plain_sender p = {};
	bool stop = false;
	pthread_t t[2];

	k = (struct pair_corker) {
		.fd = self->sfd, .rfd = self->rfd,
		.dst = &self->dst, .dst_len = self->dst_len,
		.stop = &stop, .me = &cork, .other = &snd,
	};
	p = (struct plain_sender) {
		.fd = self->sfd, .dst = &self->dst, .dst_len = self->dst_len,
		.f = &self->flow, .stop = &stop, .me = &snd, .other = &cork,
	};
	ASSERT_EQ(0, pthread_create(&t[0], NULL, pair_corker_fn, &k));
	ASSERT_EQ(0, pthread_create(&t[1], NULL, plain_sender_fn, &p));
	usleep(3000000);
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	ASSERT_EQ(0, k.err) TH_LOG("corking: %s", strerror(k.err));
	ASSERT_EQ(0, p.err) TH_LOG("plain short header: %s",
				   strerror(p.err));
	rx_plain_scan(self->rfd, RX_WAIT_MS, &k.rx);
	TH_LOG("%d corked pairs, %d short headers refused, %d accepted; %d datagrams",
	       k.sent, p.refused, p.sent, k.rx.got);
	TH_LOG("overlaps: %d corking during a plain send, %d the other way",
	       atomic_load(&cork.overlaps), atomic_load(&snd.overlaps));
	EXPECT_EQ(0, p.sent);
	EXPECT_EQ(0, k.rx.short_hdrs);
	EXPECT_EQ(0, k.rx.canaries);
	EXPECT_EQ(k.sent, k.rx.got);
	ASSERT_GE(atomic_load(&cork.overlaps) + atomic_load(&snd.overlaps),
		  MIN_OVERLAPS);
}

struct flipper {
	uint8_t *byte;
	bool *stop;
	int flips;
	struct side *me;
};

static void *flipper_fn(void *arg)
{
	struct flipper *fl = arg;
	int i;

	side_enter(fl->me, NULL);
	while (!__atomic_load_n(fl->stop, __ATOMIC_RELAXED)) {
		for (i = 0; i < 64; i++)
			__atomic_xor_fetch(fl->byte, QUIC_HDR_LONG,
					   __ATOMIC_RELAXED);
		fl->flips += 64;
	}
	side_exit(fl->me);
	return NULL;
}

/*
 * The guard reads the kernel's copy, the one UDP sends: a first byte that
 * another thread flips between a long and a short header during the call
 * is either refused or sent long, never checked long and sent short.
 */
TEST_F_TIMEOUT(race, plain_first_byte_flips, 120)
{
	struct side flip = {}, snd = {};
	struct flipper fl = {};
	struct plain_sender p = {};
	struct rx_scan rx = {};
	static uint8_t buf[1200];
	bool stop = false;
	pthread_t t[2];

	long_pkt(buf, 1);
	pkt_fill(buf + 64, &self->flow, 9, 4, sizeof(buf) - 64);
	fl = (struct flipper) { .byte = buf, .stop = &stop, .me = &flip };
	p = (struct plain_sender) {
		.fd = self->sfd, .dst = &self->dst, .dst_len = self->dst_len,
		.buf = buf, .len = sizeof(buf), .stop = &stop,
		.max_sent = RX_QUEUE_1200, .me = &snd, .other = &flip,
	};
	buf[12] = 0x40 | (sizeof(buf) - 14) >> 8;
	buf[13] = (sizeof(buf) - 14) & 0xff;
	ASSERT_EQ(0, pthread_create(&t[0], NULL, flipper_fn, &fl));
	ASSERT_EQ(0, pthread_create(&t[1], NULL, plain_sender_fn, &p));
	usleep(3000000);
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(t[1], NULL);
	pthread_join(t[0], NULL);
	ASSERT_EQ(0, p.err) TH_LOG("plain send: %s", strerror(p.err));
	rx_plain_scan(self->rfd, RX_WAIT_MS, &rx);
	TH_LOG("%d flips; %d sends accepted, %d refused; %d datagrams, %d short",
	       fl.flips, p.sent, p.refused, rx.got, rx.short_hdrs);
	EXPECT_EQ(0, rx.short_hdrs);
	EXPECT_EQ(p.sent, rx.got);
	/* Both outcomes happened: the byte really changed under the calls. */
	ASSERT_GT(p.sent, 0);
	ASSERT_GT(p.refused, 0);
	ASSERT_GE(atomic_load(&snd.overlaps), MIN_OVERLAPS);
}

struct seg_flipper {
	int fd;
	bool *stop;
	int flips;
	struct side *me;
};

static void *seg_flipper_fn(void *arg)
{
	static const int sizes[] = { 600, 1200 };
	struct seg_flipper *fl = arg;

	while (!__atomic_load_n(fl->stop, __ATOMIC_RELAXED)) {
		side_enter(fl->me, NULL);
		setsockopt(fl->fd, SOL_UDP, UDP_SEGMENT, &sizes[fl->flips & 1],
			   sizeof(int));
		side_exit(fl->me);
		fl->flips++;
	}
	return NULL;
}

#define SEG_PKTS	10
#define SEG_STRIDE	(600 - QUIC_TAG_LEN)

/* Open what has arrived (@wait_ms as rx_plain_scan()); count the results. */
static void seg_scan(int rfd, struct flow *f, int wait_ms, int *good,
		     int *bad)
{
	static uint8_t ref[SEG_STRIDE];
	uint64_t got;
	ssize_t n, plen;

	while ((n = quic_recv(rfd, dgram, sizeof(dgram), wait_ms)) >= 0) {
		plen = quic_unprotect(&f->keys, dgram, n, f->cid_len, 0, out,
				      &got);
		/* 4-byte numbers: decoding against 0 is exact. */
		if (plen == SEG_STRIDE &&
		    pkt_fill(ref, f, got, 4, SEG_STRIDE) &&
		    !memcmp(ref, out, plen))
			(*good)++;
		else
			(*bad)++;
	}
}

/*
 * Without a UDP_SEGMENT cmsg, the socket option cuts the packets: UDP
 * must cut the datagrams with the same value even when another thread
 * changes the option during the call.  Calls laid out for 600 either
 * leave as datagrams that all decrypt, or are refused whole (EINVAL,
 * when the call read 1200).
 */
TEST_F_TIMEOUT(race, gso_option_vs_sendmsg, 120)
{
	static uint8_t buf[SEG_PKTS * SEG_STRIDE];
	struct quic_send_args a = {
		.addr = (const struct sockaddr *)&self->dst,
		.addrlen = self->dst_len,
		.cid_len = self->flow.cid_len,
	};
	int ok = 0, refused = 0, good = 0, bad = 0, seg = 600, i;
	struct iovec iov = { .iov_base = buf };
	struct side flip = {}, snd = {};
	struct seg_flipper fl = {};
	bool stop = false;
	uint64_t pn = 1;
	ssize_t n = 0;
	time_t end;
	pthread_t t;

	fl = (struct seg_flipper) { .fd = self->sfd, .stop = &stop,
				    .me = &flip };
	/* Never 0, which would send a call as one datagram. */
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_SEGMENT, &seg,
				sizeof(seg)));
	ASSERT_EQ(0, pthread_create(&t, NULL, seg_flipper_fn, &fl));
	for (end = time(NULL) + 3; time(NULL) < end; pn += SEG_PKTS) {
		for (i = 0; i < SEG_PKTS; i++)
			pkt_fill(buf + i * SEG_STRIDE, &self->flow, pn + i, 4,
				 SEG_STRIDE);
		iov.iov_len = sizeof(buf);
		a.next_pkt_num = pn;
		side_enter(&snd, &flip);
		n = quic_sendmsg(self->sfd, &iov, 1, &a);
		side_exit(&snd);
		if (n == (ssize_t)sizeof(buf))
			ok++;
		else if (n < 0 && errno == EINVAL)
			refused++;
		else
			break;
		if ((ok + refused) % (RX_DRAIN_EVERY / SEG_PKTS) == 0)
			seg_scan(self->rfd, &self->flow, 0, &good, &bad);
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	pthread_join(t, NULL);
	ASSERT_GE(n, -1) TH_LOG("sendmsg: %s", strerror(errno));

	seg_scan(self->rfd, &self->flow, RX_WAIT_MS, &good, &bad);
	TH_LOG("%d option flips; %d calls sent, %d refused; %d datagrams decrypt, %d do not",
	       fl.flips, ok, refused, good, bad);
	EXPECT_EQ(0, bad);
	EXPECT_EQ(ok * SEG_PKTS, good);
	ASSERT_GT(ok, 0);
	ASSERT_GT(refused, 0);
	ASSERT_GE(atomic_load(&snd.overlaps), MIN_OVERLAPS);
}

#define STORM_CIDS	6
#define STORM_THREADS	4
#define STORM_OPS	250

struct storm {
	int fd;
	struct flow *f;		/* STORM_CIDS connections, ADD keys */
	struct flow *next;	/* and the key their INSTALLs give */
	uint64_t rng;
	int adds, dels, installs, retires, refused, err;
	struct side *me, *other;	/* overlaps of the option calls */
};

static void *storm_fn(void *arg)
{
	struct storm *st = arg;
	int i, ret, c, op;

	for (i = 0; i < STORM_OPS && !st->err; i++) {
		c = quic_rand_range(&st->rng, 0, STORM_CIDS - 1);
		op = quic_rand_range(&st->rng, 0, 3);
		side_enter(st->me, st->other);
		switch (op) {
		case 0:
			ret = quic_conn_add(st->fd, &st->f[c].keys, st->f[c].cid,
					    st->f[c].cid_len);
			st->adds += !ret;
			if (ret && errno != EEXIST)
				st->err = errno;
			break;
		case 1:
			ret = quic_conn_del(st->fd, st->f[c].cid,
					    st->f[c].cid_len);
			st->dels += !ret;
			if (ret && errno != ENOENT)
				st->err = errno;
			break;
		case 2:
			ret = quic_key_phase(st->fd, st->f[c].cid,
					     st->f[c].cid_len,
					     QUIC_KEY_PHASE_INSTALL, 1,
					     &st->next[c].keys);
			st->installs += !ret;
			if (ret && errno != ENOENT && errno != EEXIST)
				st->err = errno;
			break;
		default:
			ret = quic_key_phase(st->fd, st->f[c].cid,
					     st->f[c].cid_len,
					     QUIC_KEY_PHASE_RETIRE, 1, NULL);
			st->retires += !ret;
			if (ret && errno != ENOENT && errno != EINVAL)
				st->err = errno;
			break;
		}
		side_exit(st->me);
		st->refused += !!ret;
	}
	return NULL;
}

/*
 * Several threads add, delete, install and retire keys of a few
 * connections while another sends on them; every counter must add up.
 */
TEST_F_TIMEOUT(race, add_del_storm, 120)
{
	struct flow f[STORM_CIDS], next[STORM_CIDS], keysets[2 * STORM_CIDS];
	struct storm st[STORM_THREADS];
	struct sender s[STORM_CIDS];
	struct side snd = {}, opt = {};
	bool stop = false;
	long long adds = 1, dels = 0, installs = 0, retires = 0, refused = 0;
	pthread_t t[STORM_THREADS], ts[STORM_CIDS];
	int i, present = 0, sent = 0;

	for (i = 0; i < STORM_CIDS; i++) {
		flow_init(&f[i], variant->cipher, 1 + i * 3, 0x70 + i);
		next[i] = f[i];
		quic_keys_random(&next[i].keys, variant->cipher, &rng);
		next[i].keys.cipher = variant->cipher;
		memcpy(next[i].keys.hp, f[i].keys.hp, sizeof(f[i].keys.hp));
		keysets[2 * i] = f[i];
		keysets[2 * i + 1] = next[i];
	}
	for (i = 0; i < STORM_THREADS; i++) {
		st[i] = (struct storm) {
			.fd = self->sfd, .f = f, .next = next,
			.rng = seed + i, .me = &opt, .other = &snd,
		};
		ASSERT_EQ(0, pthread_create(&t[i], NULL, storm_fn, &st[i]));
	}
	for (i = 0; i < STORM_CIDS; i++) {
		s[i] = (struct sender) {
			.fd = self->sfd, .dst = &self->dst,
			.dst_len = self->dst_len, .f = &f[i],
			.first_pn = i * 1000, .count = 40, .stop = &stop,
			.allowed = { ENOKEY, ENOKEY, ENOKEY },
			.shared = true, .me = &snd, .other = &opt,
		};
		ASSERT_EQ(0, pthread_create(&ts[i], NULL, sender_fn, &s[i]));
	}
	for (i = 0; i < STORM_THREADS; i++) {
		pthread_join(t[i], NULL);
		ASSERT_EQ(0, st[i].err) TH_LOG("storm: %s",
					       strerror(st[i].err));
		adds += st[i].adds;
		dels += st[i].dels;
		installs += st[i].installs;
		retires += st[i].retires;
		refused += st[i].refused;
	}
	__atomic_store_n(&stop, true, __ATOMIC_RELAXED);
	for (i = 0; i < STORM_CIDS; i++) {
		pthread_join(ts[i], NULL);
		ASSERT_EQ(0, s[i].err) TH_LOG("sender: %s", strerror(s[i].err));
		sent += s[i].ok;
	}
	TH_LOG("%lld ADD, %lld DEL, %lld INSTALL, %lld RETIRE, %lld refused, %d sent",
	       adds - 1, dels, installs, retires, refused, sent);
	TH_LOG("overlaps: %d option, %d sendmsg; %d option during an option",
	       atomic_load(&opt.overlaps), atomic_load(&snd.overlaps),
	       atomic_load(&opt.peers));
	ASSERT_GE(atomic_load(&opt.overlaps), MIN_OVERLAPS);
	ASSERT_GE(atomic_load(&snd.overlaps), MIN_OVERLAPS);
	ASSERT_GE(atomic_load(&opt.peers), MIN_OVERLAPS);

	ASSERT_EQ(adds, quic_stat(-1, "QuicTxSw"));
	ASSERT_EQ(installs, quic_stat(-1, "QuicTxKeyUpdate"));
	ASSERT_EQ(retires, quic_stat(-1, "QuicTxKeyRetire"));
	ASSERT_EQ(refused, quic_stat(-1, "QuicTxErrSockopt"));
	ASSERT_EQ(adds - dels, quic_stat(-1, "QuicCurrTxSw"));
	for (i = 0; i < STORM_CIDS; i++)
		present += !quic_conn_del(self->sfd, f[i].cid, f[i].cid_len);
	ASSERT_EQ(adds - dels - 1, present);
	ASSERT_EQ(1, quic_stat(-1, "QuicCurrTxSw"));
	ASSERT_EQ(sent, quic_stat(-1, "QuicTxPackets"));
	ASSERT_EQ(sent, rx_race(_metadata, self->rfd, keysets, 2 * STORM_CIDS,
				sent));
	ASSERT_EQ(-1, quic_recv(self->rfd, dgram, sizeof(dgram), 0));
}

/* quic.ko cannot go while a socket uses it; the socket keeps working. */
TEST_F_TIMEOUT(race, module_unload_refused, 60)
{
	bool stop = false;
	struct sender s;
	pthread_t t;
	int i, err;

	if (access("/sys/module/quic/initstate", F_OK))
		SKIP(return, "quic is not a loaded module");
	s = (struct sender) {
		.fd = self->sfd, .dst = &self->dst, .dst_len = self->dst_len,
		.f = &self->flow, .count = 200, .stop = &stop,
	};
	ASSERT_EQ(0, pthread_create(&t, NULL, sender_fn, &s));
	for (i = 0; i < 10; i++) {
		err = syscall(__NR_delete_module, "quic", O_NONBLOCK) ? errno : 0;
		ASSERT_EQ(EWOULDBLOCK, err)
			TH_LOG("delete_module(quic) with a socket attached: %s",
			       strerror(err));
		usleep(5000);
	}
	pthread_join(t, NULL);
	ASSERT_EQ(0, s.err) TH_LOG("sender: %s", strerror(s.err));
	ASSERT_EQ(s.ok, rx_race(_metadata, self->rfd, &self->flow, 1, s.ok));
	ASSERT_EQ(200, s.ok);
}

static int send_fd(int sock, int fd)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {};
	char byte = 0;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);

	cm->cmsg_level = SOL_SOCKET;
	cm->cmsg_type = SCM_RIGHTS;
	cm->cmsg_len = CMSG_LEN(sizeof(int));
	memcpy(CMSG_DATA(cm), &fd, sizeof(int));
	return sendmsg(sock, &msg, 0) == 1 ? 0 : -1;
}

static int recv_fd(int sock)
{
	char cbuf[CMSG_SPACE(sizeof(int))] = {};
	char byte;
	struct iovec iov = { .iov_base = &byte, .iov_len = 1 };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf, .msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	int fd;

	if (recvmsg(sock, &msg, 0) != 1)
		return -1;
	cm = CMSG_FIRSTHDR(&msg);
	if (!cm || cm->cmsg_type != SCM_RIGHTS)
		return -1;
	memcpy(&fd, CMSG_DATA(cm), sizeof(int));
	return fd;
}

/*
 * In a child's namespace: sockets of both families with connections and
 * ciphertext queued at a receiver nobody reads.  One socket goes to the
 * parent through @sock, the rest die with the child.
 */
static int netns_child(int sock, const struct flow *f, bool hang)
{
	struct sockaddr_storage dst;
	socklen_t dst_len;
	struct quic_send_args a = {};
	struct iovec iov = { .iov_base = pkt };
	int fam, i, j, fd, rfd;

	if (quic_netns_fresh())
		return 4;
	for (fam = 0; fam < 2; fam++) {
		int family = fam ? AF_INET6 : AF_INET;

		rfd = rx_open(family, &dst, &dst_len);
		if (rfd < 0)
			return 1;
		for (i = 0; i < 3; i++) {
			fd = sender_open(family);
			if (fd < 0)
				return 1;
			for (j = 0; j < 10; j++) {
				struct flow g = *f;

				g.cid[1] += j;	/* j = 0: @f itself */
				if (quic_conn_add(fd, &g.keys, g.cid, g.cid_len))
					return 1;
			}
			a = (struct quic_send_args) {
				.addr = (struct sockaddr *)&dst,
				.addrlen = dst_len, .cid_len = f->cid_len,
				.gso_size = 1000,
			};
			iov.iov_len = batch_fill(pkt, f, 0, 1000 - QUIC_TAG_LEN,
						 8, 0);
			if (quic_sendmsg(fd, &iov, 1, &a) != (ssize_t)iov.iov_len)
				return 2;
			if (!fam && !i && send_fd(sock, fd))
				return 3;
		}
	}
	if (hang)
		pause();
	return 0;
}

TEST_F_TIMEOUT(race, netns_teardown, 120)
{
	struct quic_send_args a = {};
	struct iovec iov = { .iov_base = pkt };
	int sv[2], status, fd, i;
	pid_t pid;

	for (i = 0; i < 2; i++) {
		/* A stream: the child's exit ends recv_fd() if it failed. */
		ASSERT_EQ(0, socketpair(AF_UNIX, SOCK_STREAM, 0, sv));
		pid = fork();
		ASSERT_GE(pid, 0);
		if (!pid)
			_exit(netns_child(sv[1], &self->flow, i == 1));
		close(sv[1]);
		fd = recv_fd(sv[0]);
		close(sv[0]);
		if (i == 1)
			kill(pid, SIGKILL);
		ASSERT_EQ(pid, waitpid(pid, &status, 0));
		if (i == 0)
			ASSERT_EQ(0, WEXITSTATUS(status))
				TH_LOG("child failed at step %d",
				       WEXITSTATUS(status));
		ASSERT_GE(fd, 0);

		/*
		 * The socket keeps its namespace alive: it still encrypts
		 * (to a port nobody listens on any more).
		 */
		a = (struct quic_send_args) {
			.addr = (struct sockaddr *)&self->dst,
			.addrlen = self->dst_len, .cid_len = CID_LEN,
			.next_pkt_num = pn_rebase(3),
		};
		if (variant->family == AF_INET6) {
			static struct sockaddr_in lo4;

			lo4.sin_family = AF_INET;
			lo4.sin_port = htons(9);
			lo4.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
			a.addr = (struct sockaddr *)&lo4;
			a.addrlen = sizeof(lo4);
		}
		iov.iov_len = pkt_fill(pkt, &self->flow, 3, 2, 300);
		ASSERT_EQ((ssize_t)iov.iov_len, quic_sendmsg(fd, &iov, 1, &a))
			TH_LOG("send after the namespace's last task: %s",
			       strerror(errno));
		/* Last reference: the namespace goes with this socket. */
		close(fd);
	}
	/* Our own namespace saw none of it. */
	ASSERT_EQ(1, quic_stat(-1, "QuicTxSw"));
	ASSERT_EQ(0, quic_stat(-1, "QuicTxPackets"));
}

/*
 * Another namespace cannot see this one's counters nor touch its
 * connections: a child in a new namespace adds the same connection ID on
 * its own socket, sends and deletes, and reports its counters.
 */
TEST_F(race, netns_isolation)
{
	struct quic_send_args a = {
		.addr = (struct sockaddr *)&self->dst,
		.addrlen = self->dst_len, .next_pkt_num = 5,
		.cid_len = CID_LEN,
	};
	struct iovec iov = { .iov_base = pkt };
	long long child[4];
	int pfd[2], status;
	uint64_t pn;
	pid_t pid;

	ASSERT_EQ(0, pipe(pfd));
	pid = fork();
	ASSERT_GE(pid, 0);
	if (!pid) {
		struct sockaddr_storage dst;
		socklen_t dst_len;
		struct quic_keys k;
		int fd, rfd;

		if (quic_netns_fresh())
			_exit(1);
		child[0] = quic_stat(-1, "QuicCurrTxSw");
		rfd = rx_open(variant->family, &dst, &dst_len);
		fd = sender_open(variant->family);
		quic_keys_random(&k, variant->cipher, &rng);
		if (rfd < 0 || fd < 0 ||
		    quic_conn_add(fd, &k, self->flow.cid, CID_LEN))
			_exit(2);
		a.addr = (struct sockaddr *)&dst;
		a.addrlen = dst_len;
		iov.iov_len = pkt_fill(pkt, &self->flow, 5, 2, 200);
		if (quic_sendmsg(fd, &iov, 1, &a) != 200 ||
		    quic_conn_del(fd, self->flow.cid, CID_LEN) ||
		    !quic_conn_del(fd, self->flow.cid, CID_LEN))
			_exit(3);
		child[1] = quic_stat(-1, "QuicTxSw");
		child[2] = quic_stat(-1, "QuicTxPackets");
		child[3] = quic_stat(-1, "QuicTxErrSockopt");
		if (write(pfd[1], child, sizeof(child)) != sizeof(child))
			_exit(4);
		_exit(0);
	}
	close(pfd[1]);
	ASSERT_EQ(sizeof(child), read(pfd[0], child, sizeof(child)));
	ASSERT_EQ(pid, waitpid(pid, &status, 0));
	ASSERT_EQ(0, WEXITSTATUS(status));
	close(pfd[0]);
	/* The child's namespace started empty and counted only its calls. */
	ASSERT_EQ(0, child[0]);
	ASSERT_EQ(1, child[1]);
	ASSERT_EQ(1, child[2]);
	ASSERT_EQ(1, child[3]);
	/* Ours is untouched and our connection has our keys. */
	ASSERT_EQ(1, quic_stat(-1, "QuicCurrTxSw"));
	ASSERT_EQ(1, quic_stat(-1, "QuicTxSw"));
	ASSERT_EQ(0, quic_stat(-1, "QuicTxPackets"));
	ASSERT_EQ(0, quic_stat(-1, "QuicTxSwError"));
	iov.iov_len = pkt_fill(pkt, &self->flow, 5, 2, 200);
	ASSERT_EQ(200, quic_sendmsg(self->sfd, &iov, 1, &a));
	ASSERT_EQ(216, quic_recv(self->rfd, dgram, sizeof(dgram), RX_WAIT_MS));
	ASSERT_EQ(200, quic_unprotect(&self->flow.keys, dgram, 216, CID_LEN, 5,
				      out, &pn));
	ASSERT_EQ(0, memcmp(out, pkt, 200));
}

/* ------------------------------------------------------------------ */
/* Allocation failures not covered by quic_crypto's allocation_failures */

/*
 * Without IP_RECVERR, UDP reports a local drop for want of memory (ENOBUFS,
 * e.g. the loopback neighbour could not be allocated) as a success: a
 * datagram a test would wait for in vain.
 */
static int recverr_on(int fd, int family)
{
	int one = 1;

	return family == AF_INET ?
	       setsockopt(fd, SOL_IP, IP_RECVERR, &one, sizeof(one)) :
	       setsockopt(fd, SOL_IPV6, IPV6_RECVERR, &one, sizeof(one));
}

/*
 * A batch larger than the task's page fragment, so that every call
 * refills it: each page and slab allocation of the call fails in turn.
 * A call fails only where a failure was injected, and some must.
 */
TEST_F_TIMEOUT(race, alloc_failures_page_frag, 300)
{
	const int gso = 1400, n = 44;
	long long errs = 0, packets = 0;
	unsigned int nth, left, injected = 0;
	bool armed;
	struct quic_send_args a = {
		.addr = (struct sockaddr *)&self->dst,
		.addrlen = self->dst_len, .cid_len = CID_LEN,
	};
	struct iovec iov = { .iov_base = pkt };
	int fd, err, i;
	ssize_t ret;
	uint64_t pn;

	fd = quic_fault_setup();
	if (fd < 0)
		SKIP(return, "no fault injection (failslab, fail_page_alloc)");
	/* The option, not a cmsg: no allocation in the socket layer. */
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_SEGMENT, &gso,
				sizeof(gso)));
	ASSERT_EQ(0, recverr_on(self->sfd, variant->family));
	for (nth = 1; nth < 1000; nth++) {
		iov.iov_len = batch_fill(pkt, &self->flow, nth * 100,
					 gso - QUIC_TAG_LEN, n, 0);
		a.next_pkt_num = nth * 100;
		armed = quic_fail_nth_arm(fd, nth);
		ret = quic_sendmsg(self->sfd, &iov, 1, &a);
		err = errno;
		left = quic_fail_nth_left(fd);
		quic_fail_nth_set(fd, 0);
		ASSERT_TRUE(armed) TH_LOG("allocation %u: not armed", nth);
		injected += !left;
		if (ret < 0) {
			ASSERT_TRUE(err == ENOMEM || err == ENOBUFS)
				TH_LOG("allocation %u: %s", nth, strerror(err));
			ASSERT_EQ(0, left)
				TH_LOG("allocation %u: failed, none injected",
				       nth);
			errs++;
			ASSERT_EQ(-1, quic_recv(self->rfd, dgram, sizeof(dgram),
						0));
			continue;
		}
		ASSERT_EQ((ssize_t)iov.iov_len, ret);
		packets += n;
		for (i = 0; i < n; i++) {
			ASSERT_EQ(gso, quic_recv(self->rfd, dgram,
						 sizeof(dgram), RX_WAIT_MS));
			ASSERT_EQ(gso - QUIC_TAG_LEN,
				  quic_unprotect(&self->flow.keys, dgram, gso,
						 CID_LEN, nth * 100 + i, out,
						 &pn));
			ASSERT_EQ(0, memcmp(out, pkt + i * (gso - QUIC_TAG_LEN),
					    gso - QUIC_TAG_LEN));
		}
		if (left)
			break;
	}
	close(fd);
	quic_knobs_restore();
	TH_LOG("%u allocation points, %u injected, %lld calls failed",
	       nth - 1, injected, errs);
	ASSERT_LT(nth, 1000);
	ASSERT_GT(injected, 0);
	ASSERT_GT(errs, 0);
	/* Each failure counted once; nothing else moved. */
	ASSERT_EQ(errs, quic_stat(-1, "QuicTxSwError"));
	ASSERT_EQ(packets, quic_stat(-1, "QuicTxPackets"));
}

/* Send one 100-byte packet of Key Phase @kp; it must arrive under @k. */
static void kp_send(struct __test_metadata *_metadata,
		    FIXTURE_DATA(race) * self, const struct quic_keys *k,
		    bool kp, uint64_t pn)
{
	struct quic_send_args a = {
		.addr = (struct sockaddr *)&self->dst,
		.addrlen = self->dst_len, .cid_len = CID_LEN,
		.next_pkt_num = pn_rebase(pn),
	};
	struct iovec iov = { .iov_base = pkt, .iov_len = 100 };
	uint64_t got;

	pkt_fill(pkt, &self->flow, pn, 2, 100);
	if (kp)
		pkt[0] |= QUIC_HDR_KEY_PHASE;
	errno = 0;
	if (!k) {
		ASSERT_EQ(-1, quic_sendmsg(self->sfd, &iov, 1, &a));
		ASSERT_EQ(ENOKEY, errno);
		return;
	}
	ASSERT_EQ(100, quic_sendmsg(self->sfd, &iov, 1, &a))
		TH_LOG("phase %d: %s", kp, strerror(errno));
	ASSERT_EQ(116, quic_recv(self->rfd, dgram, sizeof(dgram), RX_WAIT_MS));
	ASSERT_EQ(100, quic_unprotect(k, dgram, 116, CID_LEN, pn_sent(pn), out,
				      &got))
		TH_LOG("phase %d: %s", kp, quic_error());
	ASSERT_EQ(0, memcmp(out, pkt, 100));
}

/*
 * Each allocation of a key install (phase 1) and of a retire (phase 0)
 * fails in turn: ENOMEM and the keys as they were, or the new keys.  A
 * call fails only where a failure was injected; each operation gets some.
 */
TEST_F_TIMEOUT(race, alloc_failures_key_phase, 300)
{
	const struct quic_keys *add = &self->flow.keys;
	unsigned int nth, left, fails = 0, installs = 0, retires = 0;
	unsigned int nokey = 0, injected;
	struct quic_keys next;
	int fd, ret, err, op;
	uint64_t pn = 1;
	bool armed;

	fd = quic_fault_setup();
	if (fd < 0)
		SKIP(return, "no fault injection (failslab, fail_page_alloc)");
	quic_keys_random(&next, variant->cipher, &rng);
	memcpy(next.hp, add->hp, sizeof(next.hp));

	for (op = QUIC_KEY_PHASE_INSTALL; op <= QUIC_KEY_PHASE_RETIRE; op++) {
		bool install = op == QUIC_KEY_PHASE_INSTALL;

		injected = 0;
		for (nth = 1; nth < 500; nth++, pn += 2) {
			armed = quic_fail_nth_arm(fd, nth);
			ret = quic_key_phase(self->sfd, self->flow.cid, CID_LEN,
					     op, install, &next);
			err = errno;
			left = quic_fail_nth_left(fd);
			quic_fail_nth_set(fd, 0);
			ASSERT_TRUE(armed) TH_LOG("op %d, allocation %u: not armed",
						  op, nth);
			injected += !left;
			if (ret) {
				ASSERT_EQ(ENOMEM, err)
					TH_LOG("op %d, allocation %u: %s", op,
					       nth, strerror(err));
				ASSERT_EQ(0, left)
					TH_LOG("op %d, allocation %u: failed, none injected",
					       op, nth);
				fails++;
				/* Unchanged: phase 0 has the ADD key. */
				kp_send(_metadata, self, add, false, pn);
				continue;
			}
			installs += install;
			retires += !install;
			nokey += !install;
			kp_send(_metadata, self, install ? add : NULL, false,
				pn);
			kp_send(_metadata, self, &next, true, pn + 1);
			if (left)
				break;	/* no allocation failed */
			/* An allocation failed but had a fallback: undo. */
			ret = install ?
			      quic_key_phase(self->sfd, self->flow.cid, CID_LEN,
					     QUIC_KEY_PHASE_RETIRE, 1, NULL) :
			      quic_key_phase(self->sfd, self->flow.cid, CID_LEN,
					     QUIC_KEY_PHASE_INSTALL, 0, add);
			ASSERT_EQ(0, ret);
			retires += install;
			installs += !install;
		}
		ASSERT_LT(nth, 500);
		TH_LOG("op %d: %u allocation points, %u injected", op, nth - 1,
		       injected);
		ASSERT_GT(injected, 0) TH_LOG("op %d: no failure injected", op);
	}
	close(fd);
	quic_knobs_restore();
	ASSERT_GT(fails, 0);
	ASSERT_EQ(fails, quic_stat(-1, "QuicTxErrSockopt"));
	ASSERT_EQ(installs, quic_stat(-1, "QuicTxKeyUpdate"));
	ASSERT_EQ(retires, quic_stat(-1, "QuicTxKeyRetire"));
	ASSERT_EQ(nokey, quic_stat(-1, "QuicTxErrNoKey"));
	ASSERT_EQ(-1, quic_recv(self->rfd, dgram, sizeof(dgram), 0));
}

/* Writing "0" may itself fail while this thread's allocations can. */
static void make_it_fail(int fd, bool on)
{
	while (pwrite(fd, on ? "1" : "0", 1, 0) != 1)
		;
}

/* Documented answers of the calls of alloc_failures_random. */
static bool random_errno_ok(int op, bool present, int err)
{
	switch (op) {
	case 0:		/* ADD */
		return err == (present ? EEXIST : ENOMEM);
	case 1:		/* DEL allocates nothing */
		return !present && err == ENOENT;
	case 2:		/* INSTALL of phase 1 */
		return present ? err == EEXIST || err == ENOMEM :
				 err == ENOENT;
	}
	/* Or, as UDP, no route when IPv6 cannot allocate one. */
	return err == ENOMEM || err == ENOBUFS || err == ENETUNREACH;
}

/*
 * failslab and fail_page_alloc at random (task filter, make-it-fail on
 * this thread only around each call) over ADD, DEL, key phases and GSO
 * sends: only documented errnos, counters consistent afterwards.  ADD and
 * sendmsg() must each have failed for want of memory, which nothing but
 * an injected failure explains here.
 */
TEST_F_TIMEOUT(race, alloc_failures_random, 300)
{
	static const char * const attrs[] = { "failslab", "fail_page_alloc" };
	struct quic_send_args a = {
		.addr = (struct sockaddr *)&self->dst,
		.addrlen = self->dst_len, .cid_len = CID_LEN,
	};
	int gso = 600;
	struct iovec iov = { .iov_base = pkt };
	long long fails = 0, packets = 0, conns = 1, udp_errs;
	int injected[4] = {};
	bool present[8] = {};
	char path[128];
	struct flow f[8];
	int i, j, fd, mif, ret, err, op, c;
	uint64_t pn = 0;

	fd = quic_fault_setup();
	if (fd < 0)
		SKIP(return, "no fault injection (failslab, fail_page_alloc)");
	close(fd);
	for (i = 0; i < ARRAY_SIZE(attrs); i++) {
		/* The filter first: failures must never hit other tasks. */
		static const char * const knobs[][2] = {
			{ "task-filter", "Y" }, { "interval", "1" },
			{ "times", "-1" }, { "space", "0" },
			{ "probability", "20" },
		};

		for (j = 0; j < ARRAY_SIZE(knobs); j++) {
			snprintf(path, sizeof(path), "/sys/kernel/debug/%s/%s",
				 attrs[i], knobs[j][0]);
			ASSERT_EQ(0, quic_knob_set(path, knobs[j][1]))
				TH_LOG("%s", path);
		}
	}
	/* The option, not a cmsg: no allocation in the socket layer. */
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_SEGMENT, &gso,
				sizeof(gso)));
	ASSERT_EQ(0, recverr_on(self->sfd, variant->family));
	mif = open("/proc/thread-self/make-it-fail", O_WRONLY);
	ASSERT_GE(mif, 0);
	for (i = 0; i < 8; i++)
		flow_init(&f[i], variant->cipher, 2 + i, 0x80 + i);

	for (i = 0; i < 400; i++) {
		c = i % 8;
		op = quic_rand_range(&rng, 0, 3);
		iov.iov_len = batch_fill(pkt, &self->flow, pn, 584, 5, 100);
		a.next_pkt_num = pn;
		udp_errs = quic_stat(-1, "QuicTxErrSend");
		make_it_fail(mif, true);
		switch (op) {
		case 0:
			ret = quic_conn_add(self->sfd, &f[c].keys, f[c].cid,
					    f[c].cid_len);
			break;
		case 1:
			ret = quic_conn_del(self->sfd, f[c].cid, f[c].cid_len);
			break;
		case 2:
			ret = quic_key_phase(self->sfd, f[c].cid, f[c].cid_len,
					     QUIC_KEY_PHASE_INSTALL, 1,
					     &f[c].keys);
			break;
		default:
			ret = quic_sendmsg(self->sfd, &iov, 1, &a);
			/* Numbers UDP may have sent part of are not reused. */
			pn += 5;
			break;
		}
		err = errno;
		make_it_fail(mif, false);
		if (ret < 0) {
			fails++;
			/*
			 * The packets were protected and UDP refused them:
			 * UDP's own errno, e.g. EINVAL when a failed IPv6 route
			 * lookup leaves an MTU too small for the segments.
			 */
			if (op == 3 &&
			    quic_stat(-1, "QuicTxErrSend") == udp_errs + 1) {
				injected[op]++;
				continue;
			}
			ASSERT_TRUE(random_errno_ok(op, present[c], err))
				TH_LOG("op %d (connection %s): %s", op,
				       present[c] ? "present" : "absent",
				       strerror(err));
			injected[op] += err == ENOMEM || err == ENOBUFS ||
					err == ENETUNREACH;
			continue;
		}
		if (op == 0) {
			present[c] = true;
			conns++;
		} else if (op == 1) {
			present[c] = false;
			conns--;
		} else if (op == 3) {
			packets += 5;
		}
	}
	close(mif);
	quic_knobs_restore();
	TH_LOG("%lld of 400 calls failed; out of memory: %d ADD, %d DEL, %d INSTALL, %d sendmsg",
	       fails, injected[0], injected[1], injected[2], injected[3]);
	ASSERT_GT(injected[0], 0) TH_LOG("no failure injected into ADD");
	ASSERT_GT(injected[3], 0) TH_LOG("no failure injected into sendmsg()");
	ASSERT_EQ(fails, quic_stat(-1, "QuicTxSwError"));
	ASSERT_EQ(packets, quic_stat(-1, "QuicTxPackets"));
	ASSERT_EQ(conns, quic_stat(-1, "QuicCurrTxSw"));
	for (i = 0; i < packets; i++) {
		ASSERT_LT(0, quic_recv(self->rfd, dgram, sizeof(dgram),
				       RX_WAIT_MS));
		ASSERT_FALSE(quic_contains(dgram, 600, canary, CANARY_LEN));
	}
	ASSERT_EQ(-1, quic_recv(self->rfd, dgram, sizeof(dgram), 0));
	for (i = 0; i < 8; i++)
		ASSERT_EQ(present[i] ? 0 : -1,
			  quic_conn_del(self->sfd, f[i].cid, f[i].cid_len));
	ASSERT_EQ(1, quic_stat(-1, "QuicCurrTxSw"));
}

TEST_HARNESS_MAIN

/*
 * Every page allocation of one 64 KB send fails, so the page fragment
 * cannot be refilled: the call fails with ENOMEM, and SO_SNDBUF is what
 * it was.  TCP shrinks its send buffer to what is queued when that
 * happens; on UDP nothing is queued, and the socket would be left at
 * the minimum for good.
 */
TEST_F(race, sndbuf_after_failed_refill)
{
	static const char * const knobs[][2] = {
		{ "task-filter", "Y" }, { "interval", "1" },
		{ "times", "-1" }, { "space", "0" }, { "probability", "100" },
	};
	const int gso = 1200, n = 54;
	struct quic_send_args a = {
		.addr = (struct sockaddr *)&self->dst,
		.addrlen = self->dst_len, .cid_len = CID_LEN,
	};
	struct iovec iov = { .iov_base = pkt };
	int fd, mif, i, j, err, sndbuf, now;
	socklen_t optlen = sizeof(int);
	char path[128];
	ssize_t ret;

	fd = quic_fault_setup();
	if (fd < 0)
		SKIP(return, "no fault injection (failslab, fail_page_alloc)");
	close(fd);
	for (i = 0; i < ARRAY_SIZE(knobs); i++) {
		snprintf(path, sizeof(path), "/sys/kernel/debug/fail_page_alloc/%s",
			 knobs[i][0]);
		ASSERT_EQ(0, quic_knob_set(path, knobs[i][1])) TH_LOG("%s", path);
	}
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_SEGMENT, &gso,
				sizeof(gso)));
	ASSERT_EQ(0, getsockopt(self->sfd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
				&optlen));
	mif = open("/proc/thread-self/make-it-fail", O_WRONLY);
	ASSERT_GE(mif, 0);

	/* The first send leaves the work area cached and a fragment in use. */
	for (i = 0; i < 3; i++) {
		iov.iov_len = batch_fill(pkt, &self->flow, i * 100,
					 gso - QUIC_TAG_LEN, n, 0);
		a.next_pkt_num = i * 100;
		if (i == 1)
			make_it_fail(mif, true);
		ret = quic_sendmsg(self->sfd, &iov, 1, &a);
		err = errno;
		make_it_fail(mif, false);
		if (i == 1) {
			ASSERT_EQ(-1, ret);
			ASSERT_EQ(ENOMEM, err) TH_LOG("%s", strerror(err));
			ASSERT_EQ(0, getsockopt(self->sfd, SOL_SOCKET,
						SO_SNDBUF, &now, &optlen));
			ASSERT_EQ(sndbuf, now)
				TH_LOG("SO_SNDBUF %d, was %d", now, sndbuf);
			continue;
		}
		ASSERT_EQ((ssize_t)iov.iov_len, ret) TH_LOG("%s", strerror(err));
		for (j = 0; j < n; j++)
			ASSERT_EQ(gso, quic_recv(self->rfd, dgram,
						 sizeof(dgram), RX_WAIT_MS))
				TH_LOG("send %d, datagram %d", i, j);
	}
	close(mif);
	quic_knobs_restore();
}
