// SPDX-License-Identifier: GPL-2.0
/*
 * QUIC 1-RTT Tx crypto offload ("quic-crypto" UDP ULP) selftests.
 *
 * A socket with the ULP attached sends plaintext short-header packets and
 * the kernel puts them on the wire protected per RFC 9001. Each test reads
 * what arrived on a loopback receiver and checks it with an independent
 * OpenSSL implementation of the receiver side (quic_util.c): header
 * protection removed, packet number recovered, AEAD tag verified and the
 * plaintext compared byte for byte with what was sent.
 *
 * Random data comes from a seeded PRNG. The seed is printed by the tests
 * that depend on it; QUIC_SEED=<n> in the environment replays a run.
 */

#define _GNU_SOURCE

#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <net/if.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <linux/quic.h>
#include <linux/tls.h>
#include <linux/udp.h>
#include <linux/userfaultfd.h>

#include "../../kselftest_harness.h"
#include "quic_util.h"

#define RX_WAIT_MS	3000	/* for a datagram that must arrive */
#define QUIET_MS	60	/* silence that proves nothing was sent */
#define BUF_LEN		(128 * 1024)
#define MAX_SEGS	160
#define MAX_IOV		1024
#define RANDOM_ITERS	48
#define STAT_WAIT_MS	2000
#define RACE_SENDS	200

#ifndef UDP_MAX_SEGMENTS
#define UDP_MAX_SEGMENTS	128	/* include/linux/udp.h */
#endif

/*
 * Packet numbers of a connection only grow: the kernel refuses a packet
 * whose number is not above every number the connection sent.  So the
 * numbers a test names are relative to a base that tx_send() adds and
 * then moves PN_STEP up, as a QUIC sender's numbers move on.  The base is
 * a multiple of 2^32, so the truncated numbers in the headers stay the
 * same; only next_pkt_num and the receiver's numbers change.  Calls whose
 * next_pkt_num is PN_ABSOLUTE or more, which test the end of the number
 * space, are sent as they are.
 */
#define PN_STEP		0x20000000000ULL	/* 2^41 */
#define PN_ABSOLUTE	0x2000000000000000ULL	/* 2^61 */

/* One registered connection: its keys and its DCID. */
struct flow {
	struct quic_keys keys;
	uint8_t cid[QUIC_CID_MAX];
	size_t cid_len;
	uint64_t pn_base;	/* added to the numbers a test names */
};

/* Plaintext packets laid out back to back, as handed to sendmsg(). */
struct batch {
	struct flow *flow;	/* of the first packet */
	uint64_t base;		/* added to the numbers when it was sent */
	size_t len;
	int n;
	size_t off[MAX_SEGS + 1];
	uint64_t pn[MAX_SEGS];
	uint8_t data[BUF_LEN];
};

static uint64_t quic_seed;
static uint64_t rng;
static struct batch bat, bat2, bat_ok;

#ifndef MSG_PROBE
#define MSG_PROBE	0x10	/* <linux/socket.h>: route only, send nothing */
#endif

static char what[256];	/* the case under test, for failure messages */

static void __attribute__((constructor)) quic_seed_init(void)
{
	const char *env = getenv("QUIC_SEED");

	if (env)
		quic_seed = strtoull(env, NULL, 0);
	else
		quic_seed = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
}

static void describe(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
}

static void flow_init(struct flow *f, uint16_t cipher, size_t cid_len)
{
	memset(f, 0, sizeof(*f));
	quic_keys_random(&f->keys, cipher, &rng);
	f->cid_len = cid_len;
	quic_rand_bytes(&rng, f->cid, cid_len);
}

static void batch_reset(struct batch *b)
{
	b->flow = NULL;
	b->base = 0;
	b->len = 0;
	b->n = 0;
	b->off[0] = 0;
}

/*
 * Append a plaintext packet of @len bytes: header, then random payload.
 * A @len shorter than the header truncates the header (for bad input).
 */
static void batch_add(struct batch *b, struct flow *f, uint64_t pn,
		      unsigned int pn_len, bool key_phase, size_t len)
{
	uint8_t hdr[1 + QUIC_CID_MAX + 4];
	uint8_t *p = b->data + b->len;
	size_t hlen;

	if (!b->n)
		b->flow = f;
	hlen = quic_short_hdr(hdr, f->cid, f->cid_len, pn, pn_len, key_phase);
	memcpy(p, hdr, hlen < len ? hlen : len);
	if (len > hlen)
		quic_rand_bytes(&rng, p + hlen, len - hlen);
	b->pn[b->n++] = pn;
	b->len += len;
	b->off[b->n] = b->len;
}

/* @n packets every @step bytes, numbered from @pn; the last is @last long. */
static void batch_fill(struct batch *b, struct flow *f, uint64_t pn,
		       unsigned int pn_len, size_t step, int n, size_t last)
{
	int i;

	batch_reset(b);
	for (i = 0; i < n; i++)
		batch_add(b, f, pn + i, pn_len, false,
			  i == n - 1 && last ? last : step);
}

/* Write @v as a QUIC variable-length integer of @n (2 or 4) bytes. */
static uint8_t *put_varint(uint8_t *p, size_t v, int n)
{
	if (n == 2) {
		*p++ = 0x40 | v >> 8;
	} else {
		*p++ = 0x80 | v >> 24;
		*p++ = v >> 16;
		*p++ = v >> 8;
	}
	*p++ = v;
	return p;
}

#define QUIC_V1		0x00000001
#define QUIC_V2		0x6b3343cf
/* Long packet types of version 1 (RFC 9000 17.2); version 2 adds one. */
enum { LONG_INITIAL, LONG_0RTT, LONG_HANDSHAKE, LONG_RETRY };

/*
 * Append a long-header packet of @len bytes: @version, @type (version 1
 * numbering), an 8-byte DCID, no SCID, an Initial's @token, and a Length
 * that ends the packet at @len.  Shorter than that header, the rest is
 * random: a header cut at the end of the datagram.
 */
static void batch_long_pkt(struct batch *b, size_t len, uint32_t version,
			   int type, size_t token)
{
	bool initial = type == LONG_INITIAL;
	uint8_t *p = b->data + b->len, *q = p + 5;
	size_t rest, hdr = 5 + 1 + 8 + 1 + (initial ? 2 + token : 0) + 4;
	int n;

	quic_rand_bytes(&rng, p, len);
	if (version == QUIC_V2)
		type = (type + 1) & 3;
	p[0] = QUIC_HDR_LONG | QUIC_HDR_FIXED | type << 4 | (p[0] & 0x0f);
	if (len >= 5) {
		p[1] = version >> 24;
		p[2] = version >> 16;
		p[3] = version >> 8;
		p[4] = version;
	}
	if (len >= hdr) {
		*q++ = 8;
		q += 8;
		*q++ = 0;
		if (initial) {
			q = put_varint(q, token, 2);
			q += token;
		}
		rest = len - (q - p);
		n = rest - 2 < 0x4000 ? 2 : 4;
		put_varint(q, rest - n, n);
	}
	b->pn[b->n++] = 0;
	b->len += len;
	b->off[b->n] = b->len;
}

/* Make the Length of a batch_long_hdr() packet its largest, 16383. */
static void long_hdr_length_max(uint8_t *p)
{
	p[15] = 0x7f;
	p[16] = 0xff;
}

/* A plausible long-header packet (version 1), sent without offload. */
static void batch_long_hdr(struct batch *b, size_t len)
{
	batch_long_pkt(b, len, QUIC_V1, LONG_HANDSHAKE, 0);
}

static ssize_t first_diff(const uint8_t *a, const uint8_t *b, size_t len)
{
	size_t i;

	for (i = 0; i < len; i++)
		if (a[i] != b[i])
			return i;
	return -1;
}

FIXTURE(quic)
{
	int sfd;	/* sender, quic-crypto attached */
	int rfd;	/* receiver on loopback */
	struct sockaddr_storage dst;
	socklen_t dst_len;
	struct flow flow;	/* registered by the setup */
};

FIXTURE_VARIANT(quic)
{
	int family;	/* of the sending socket */
	bool mapped;	/* AF_INET6 sender, IPv4 receiver, ::ffff:127.0.0.1 */
	uint16_t cipher;
};

FIXTURE_VARIANT_ADD(quic, ipv4_aes_gcm_128)
{
	.family = AF_INET,
	.cipher = TLS_CIPHER_AES_GCM_128,
};

FIXTURE_VARIANT_ADD(quic, ipv4_aes_gcm_256)
{
	.family = AF_INET,
	.cipher = TLS_CIPHER_AES_GCM_256,
};

FIXTURE_VARIANT_ADD(quic, ipv4_aes_ccm_128)
{
	.family = AF_INET,
	.cipher = TLS_CIPHER_AES_CCM_128,
};

FIXTURE_VARIANT_ADD(quic, ipv4_chacha20_poly1305)
{
	.family = AF_INET,
	.cipher = TLS_CIPHER_CHACHA20_POLY1305,
};

FIXTURE_VARIANT_ADD(quic, ipv6_aes_gcm_128)
{
	.family = AF_INET6,
	.cipher = TLS_CIPHER_AES_GCM_128,
};

FIXTURE_VARIANT_ADD(quic, ipv6_aes_gcm_256)
{
	.family = AF_INET6,
	.cipher = TLS_CIPHER_AES_GCM_256,
};

FIXTURE_VARIANT_ADD(quic, ipv6_aes_ccm_128)
{
	.family = AF_INET6,
	.cipher = TLS_CIPHER_AES_CCM_128,
};

FIXTURE_VARIANT_ADD(quic, ipv6_chacha20_poly1305)
{
	.family = AF_INET6,
	.cipher = TLS_CIPHER_CHACHA20_POLY1305,
};

/* The mapped path is UDP's IPv4 one: one cipher is enough (quic_api: CCM). */
FIXTURE_VARIANT_ADD(quic, v4mapped_aes_gcm_128)
{
	.family = AF_INET6,
	.mapped = true,
	.cipher = TLS_CIPHER_AES_GCM_128,
};

/*
 * Tests of the socket API (errnos, counters, cmsg and UDP semantics) do not
 * depend on the cipher: they run once per address family, each family with
 * another cipher, instead of for every cipher.  They share the fixture data
 * and variant types of "quic", hence its helpers, through these aliases of
 * the harness's type names.
 */
#define _test_data_quic_api		_test_data_quic
#define _fixture_variant_quic_api	_fixture_variant_quic
FIXTURE(quic_api);

FIXTURE_VARIANT_ADD(quic_api, ipv4)
{
	.family = AF_INET,
	.cipher = TLS_CIPHER_AES_GCM_128,
};

FIXTURE_VARIANT_ADD(quic_api, ipv6)
{
	.family = AF_INET6,
	.cipher = TLS_CIPHER_CHACHA20_POLY1305,
};

FIXTURE_VARIANT_ADD(quic_api, v4mapped)
{
	.family = AF_INET6,
	.mapped = true,
	.cipher = TLS_CIPHER_AES_CCM_128,
};

/* A UDP socket of the variant's sending family, not attached. */
static int sender_socket(const FIXTURE_VARIANT(quic) * variant)
{
	int fd = socket(variant->family, SOCK_DGRAM, 0);
	int v6only = 0;

	if (fd >= 0 && variant->mapped &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &v6only, sizeof(v6only))) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Open the receiver and an unattached sender; fill in the destination. */
static void open_sockets(struct __test_metadata *_metadata,
			 FIXTURE_DATA(quic) * self,
			 const FIXTURE_VARIANT(quic) * variant)
{
	int rfamily = variant->mapped ? AF_INET : variant->family;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&self->dst;
	struct sockaddr_in *sin = (struct sockaddr_in *)&self->dst;
	struct sockaddr_storage addr = {};
	socklen_t len = sizeof(addr);
	int rcvbuf = 1 << 24;
	in_port_t port;

	self->rfd = socket(rfamily, SOCK_DGRAM, 0);
	ASSERT_GE(self->rfd, 0);
	if (setsockopt(self->rfd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf,
		       sizeof(rcvbuf)))
		ASSERT_EQ(0, setsockopt(self->rfd, SOL_SOCKET, SO_RCVBUF,
					&rcvbuf, sizeof(rcvbuf)));

	addr.ss_family = rfamily;
	if (rfamily == AF_INET)
		((struct sockaddr_in *)&addr)->sin_addr.s_addr =
			htonl(INADDR_LOOPBACK);
	else
		((struct sockaddr_in6 *)&addr)->sin6_addr = in6addr_loopback;
	ASSERT_EQ(0, bind(self->rfd, (struct sockaddr *)&addr, len));
	ASSERT_EQ(0, getsockname(self->rfd, (struct sockaddr *)&addr, &len));
	port = rfamily == AF_INET ? ((struct sockaddr_in *)&addr)->sin_port :
				    ((struct sockaddr_in6 *)&addr)->sin6_port;

	memset(&self->dst, 0, sizeof(self->dst));
	if (variant->family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = port;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		self->dst_len = sizeof(*sin);
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = port;
		if (variant->mapped)
			inet_pton(AF_INET6, "::ffff:127.0.0.1", &sin6->sin6_addr);
		else
			sin6->sin6_addr = in6addr_loopback;
		self->dst_len = sizeof(*sin6);
	}

	self->sfd = sender_socket(variant);
	ASSERT_GE(self->sfd, 0);
}

/* Attach the ULP and register self->flow; false if the ULP is missing. */
static bool attach_and_add(struct __test_metadata *_metadata,
			   FIXTURE_DATA(quic) * self,
			   const FIXTURE_VARIANT(quic) * variant)
{
	if (quic_ulp_attach(self->sfd)) {
		if (errno == ENOENT || errno == ENOPROTOOPT)
			return false;
		ASSERT_EQ(0, -errno);
	}
	flow_init(&self->flow, variant->cipher, 8);
	ASSERT_EQ(0, quic_conn_add(self->sfd, &self->flow.keys, self->flow.cid,
				   self->flow.cid_len))
		TH_LOG("ADD %s: %s", quic_cipher_name(variant->cipher),
		       strerror(errno));
	return true;
}

/*
 * Remove and add the fixture's connection again: the new connection may
 * use every packet number, e.g. after a test of the end of the space.
 */
static void flow_renew(struct __test_metadata *_metadata,
		       FIXTURE_DATA(quic) * self)
{
	struct flow *f = &self->flow;

	ASSERT_EQ(0, quic_conn_del(self->sfd, f->cid, f->cid_len));
	ASSERT_EQ(0, quic_conn_add(self->sfd, &f->keys, f->cid, f->cid_len));
	f->pn_base = 0;
}

static void fixture_open(struct __test_metadata *_metadata,
			 FIXTURE_DATA(quic) * self,
			 const FIXTURE_VARIANT(quic) * variant)
{
	self->sfd = -1;
	self->rfd = -1;
	rng = quic_seed ^ ((uint64_t)variant->cipher << 8) ^ variant->family ^
	      variant->mapped;
	what[0] = '\0';

	open_sockets(_metadata, self, variant);
	if (!attach_and_add(_metadata, self, variant))
		SKIP(return, "quic-crypto ULP not available: %s",
		     strerror(errno));
}

static void fixture_close(FIXTURE_DATA(quic) * self)
{
	quic_knobs_restore();
	if (self->sfd >= 0)
		close(self->sfd);
	if (self->rfd >= 0)
		close(self->rfd);
}

FIXTURE_SETUP(quic)
{
	fixture_open(_metadata, self, variant);
}

FIXTURE_TEARDOWN(quic)
{
	fixture_close(self);
}

FIXTURE_SETUP(quic_api)
{
	fixture_open(_metadata, self, variant);
}

FIXTURE_TEARDOWN(quic_api)
{
	fixture_close(self);
}

/* Send arguments for flow @f through the fixture's sender. */
static struct quic_send_args tx_args(FIXTURE_DATA(quic) * self,
				     const struct flow *f, uint64_t next_pn)
{
	struct quic_send_args a = {
		.addr = (struct sockaddr *)&self->dst,
		.addrlen = self->dst_len,
		.next_pkt_num = next_pn,
		.cid_len = f->cid_len,
	};

	return a;
}

/* sendmsg() of @b, with iovec boundaries at the @ncuts offsets @cuts. */
static ssize_t tx_send(FIXTURE_DATA(quic) * self, struct batch *b,
		       const struct quic_send_args *a,
		       const size_t *cuts, int ncuts)
{
	static struct iovec iov[MAX_IOV];
	struct quic_send_args abs;
	size_t start = 0;
	int i, n = 0;

	for (i = 0; i <= ncuts && n < MAX_IOV; i++) {
		size_t end = i < ncuts ? cuts[i] : b->len;

		iov[n].iov_base = (void *)(b->data + start);
		iov[n].iov_len = end - start;
		n++;
		start = end;
	}
	abs = *a;
	b->base = 0;
	if (b->flow && a->next_pkt_num < PN_ABSOLUTE) {
		b->base = b->flow->pn_base;
		abs.next_pkt_num += b->base;
		b->flow->pn_base += PN_STEP;
	}
	return quic_sendmsg(self->sfd, iov, n, &abs);
}

/* sendmsg() of packet @i of @b alone. */
static ssize_t quic_send_range(FIXTURE_DATA(quic) * self,
			       const struct batch *b, int i,
			       const struct quic_send_args *a)
{
	struct iovec iov = {
		.iov_base = (void *)(b->data + b->off[i]),
		.iov_len = b->off[i + 1] - b->off[i],
	};

	return quic_sendmsg(self->sfd, &iov, 1, a);
}

/*
 * Receive @b->n datagrams and check each one against the plaintext
 * @plain with the OpenSSL receiver. As documented, the first packet's
 * number is recovered around @next_pn and every later one around the
 * number before it plus one.
 */
static void rx_check(struct __test_metadata *_metadata,
		     FIXTURE_DATA(quic) * self, const struct flow *f,
		     const struct batch *b, const uint8_t *plain,
		     uint64_t next_pn)
{
	static uint8_t dgram[BUF_LEN], out[BUF_LEN];
	ssize_t n, ret;
	uint64_t pn;
	int i;

	for (i = 0; i < b->n; i++) {
		size_t len = b->off[i + 1] - b->off[i];

		n = quic_recv(self->rfd, dgram, sizeof(dgram), RX_WAIT_MS);
		ASSERT_EQ((ssize_t)(len + QUIC_TAG_LEN), n)
			TH_LOG("%s: datagram %d of %d: %s (seed %llu)", what,
			       i, b->n, n < 0 ? strerror(errno) : "bad length",
			       (unsigned long long)quic_seed);
		ret = quic_unprotect(&f->keys, dgram, n, f->cid_len,
				     (i ? b->pn[i - 1] + 1 : next_pn) + b->base,
				     out, &pn);
		ASSERT_EQ((ssize_t)len, ret)
			TH_LOG("%s: datagram %d of %d: %s (seed %llu)", what,
			       i, b->n, quic_error(),
			       (unsigned long long)quic_seed);
		ASSERT_EQ(b->pn[i] + b->base, pn)
			TH_LOG("%s: datagram %d: packet number", what, i);
		ASSERT_EQ(-1, first_diff(out, plain + b->off[i], len))
			TH_LOG("%s: datagram %d: plaintext differs at byte %zd",
			       what, i, first_diff(out, plain + b->off[i], len));
	}
}

/* No datagram is waiting beyond those already checked. */
static void rx_none(struct __test_metadata *_metadata,
		    FIXTURE_DATA(quic) * self)
{
	static uint8_t dgram[BUF_LEN];
	ssize_t n;

	n = quic_recv(self->rfd, dgram, sizeof(dgram), 0);
	ASSERT_EQ(-1, n)
		TH_LOG("%s: one datagram more than sent, of %zd bytes", what,
		       n);
}

/* Expect a datagram identical to @len bytes at @data (no offload). */
static void rx_plain(struct __test_metadata *_metadata,
		     FIXTURE_DATA(quic) * self, const uint8_t *data, size_t len)
{
	static uint8_t dgram[BUF_LEN];
	ssize_t n;

	n = quic_recv(self->rfd, dgram, sizeof(dgram), RX_WAIT_MS);
	ASSERT_EQ((ssize_t)len, n)
		TH_LOG("%s: %s", what, n < 0 ? strerror(errno) : "bad length");
	ASSERT_EQ(0, memcmp(dgram, data, len))
		TH_LOG("%s: passthrough datagram differs at byte %zd", what,
		       first_diff(dgram, data, len));
}

/* Nothing may arrive: a refused call must put nothing on the wire. */
static void rx_quiet(struct __test_metadata *_metadata,
		     FIXTURE_DATA(quic) * self)
{
	static uint8_t dgram[BUF_LEN];
	ssize_t n;

	n = quic_recv(self->rfd, dgram, sizeof(dgram), QUIET_MS);
	ASSERT_EQ(-1, n)
		TH_LOG("%s: refused, yet a datagram of %zd bytes arrived",
		       what, n);
	ASSERT_EQ(EAGAIN, errno);
}

/*
 * Send @b for @f and check every packet: the call returns the plaintext
 * length, leaves the caller's buffer alone, and the receiver decrypts
 * exactly what was sent (compared with a copy; the buffer is scribbled
 * over before receiving).
 */
static void tx_check(struct __test_metadata *_metadata,
		     FIXTURE_DATA(quic) * self, const struct flow *f,
		     struct batch *b, const struct quic_send_args *a,
		     const size_t *cuts, int ncuts)
{
	static uint8_t sent[BUF_LEN];
	ssize_t ret;

	memcpy(sent, b->data, b->len);
	ret = tx_send(self, b, a, cuts, ncuts);
	ASSERT_EQ((ssize_t)b->len, ret)
		TH_LOG("%s: sendmsg: %s (seed %llu)", what,
		       ret < 0 ? strerror(errno) : "short count",
		       (unsigned long long)quic_seed);
	ASSERT_EQ(-1, first_diff(sent, b->data, b->len))
		TH_LOG("%s: sendmsg changed the caller's buffer", what);
	memset(b->data, 0xa5, b->len);
	rx_check(_metadata, self, f, b, sent, a->next_pkt_num);
	rx_none(_metadata, self);
	memcpy(b->data, sent, b->len);
}

/* After a refusal: nothing was sent, and the socket still encrypts. */
static void still_works(struct __test_metadata *_metadata,
			FIXTURE_DATA(quic) * self)
{
	struct quic_send_args a = tx_args(self, &self->flow, 4000);
	char saved[sizeof(what)];

	rx_quiet(_metadata, self);

	memcpy(saved, what, sizeof(saved));
	describe("after [%s]: one packet", saved);
	batch_reset(&bat_ok);
	batch_add(&bat_ok, &self->flow, 4001, 2, false, 333);
	tx_check(_metadata, self, &self->flow, &bat_ok, &a, NULL, 0);

	describe("after [%s]: GSO batch", saved);
	batch_fill(&bat_ok, &self->flow, 4000, 2, 300 - QUIC_TAG_LEN, 3, 100);
	a.gso_size = 300;
	tx_check(_metadata, self, &self->flow, &bat_ok, &a, NULL, 0);
}

#define ASSERT_REFUSED(err, call) do {					\
	long __ret;							\
									\
	errno = 0;							\
	__ret = (call);							\
	ASSERT_EQ(-1, __ret)						\
		TH_LOG("%s: returned %ld, expected %s", what, __ret,	\
		       #err);						\
	ASSERT_EQ(err, errno)						\
		TH_LOG("%s: errno %d (%s), expected %s", what, errno,	\
		       strerror(errno), #err);				\
} while (0)

static void set_gso_sockopt(struct __test_metadata *_metadata,
			    FIXTURE_DATA(quic) * self, int gso)
{
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_SEGMENT, &gso,
				sizeof(gso)));
}

/* ------------------------------------------------------------------ */
/* The socket API                                                       */

TEST_F(quic_api, ulp_name)
{
	char name[64] = {};
	socklen_t len = sizeof(name);

	ASSERT_EQ(0, getsockopt(self->sfd, SOL_UDP, UDP_ULP, name, &len));
	ASSERT_GE(len, strlen("quic-crypto"));
	ASSERT_EQ(0, memcmp(name, "quic-crypto", strlen("quic-crypto")));
}

TEST_F(quic_api, keys_not_readable)
{
	struct quic_connection_info ci;
	socklen_t len = sizeof(ci);

	describe("getsockopt(UDP_QUIC_ADD_TX_CONNECTION)");
	ASSERT_REFUSED(ENOPROTOOPT, getsockopt(self->sfd, SOL_UDP,
					       UDP_QUIC_ADD_TX_CONNECTION,
					       &ci, &len));
	len = sizeof(ci);
	describe("getsockopt(UDP_QUIC_DEL_TX_CONNECTION)");
	ASSERT_REFUSED(ENOPROTOOPT, getsockopt(self->sfd, SOL_UDP,
					       UDP_QUIC_DEL_TX_CONNECTION,
					       &ci, &len));
	still_works(_metadata, self);
}

TEST_F(quic_api, not_attached)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	struct quic_connection_info ci = {};
	int fd = sender_socket(variant);
	struct iovec iov;

	ASSERT_GE(fd, 0);
	ci.cipher_type = variant->cipher;
	ci.key.conn_id_length = 4;
	describe("ADD before attach");
	ASSERT_REFUSED(ENOPROTOOPT, setsockopt(fd, SOL_UDP,
					       UDP_QUIC_ADD_TX_CONNECTION,
					       &ci, sizeof(ci)));
	describe("DEL before attach");
	ASSERT_REFUSED(ENOPROTOOPT, setsockopt(fd, SOL_UDP,
					       UDP_QUIC_DEL_TX_CONNECTION,
					       &ci, sizeof(ci)));

	/* Asking a plain UDP socket to encrypt must not send plaintext. */
	batch_fill(&bat, &self->flow, 1, 1, 200, 1, 0);
	iov.iov_base = bat.data;
	iov.iov_len = bat.len;
	describe("UDP_QUIC_ENCRYPT before attach");
	ASSERT_REFUSED(EINVAL, quic_sendmsg(fd, &iov, 1, &a));
	close(fd);
	still_works(_metadata, self);
}

/* The guard must see a corked datagram from its start: no attach then. */
TEST_F(quic_api, attach_while_corked)
{
	struct quic_send_args plain = tx_args(self, &self->flow, 0);
	int fd = sender_socket(variant), one = 1, zero = 0;
	struct iovec iov;

	ASSERT_GE(fd, 0);
	describe("attach with UDP_CORK set");
	ASSERT_EQ(0, setsockopt(fd, SOL_UDP, UDP_CORK, &one, sizeof(one)));
	ASSERT_REFUSED(EBUSY, quic_ulp_attach(fd));
	ASSERT_EQ(0, setsockopt(fd, SOL_UDP, UDP_CORK, &zero, sizeof(zero)));

	describe("attach with MSG_MORE data waiting");
	batch_reset(&bat2);
	batch_long_hdr(&bat2, 300);
	iov.iov_base = bat2.data;
	iov.iov_len = 300;
	plain.no_quic_cmsg = true;
	plain.msg_flags = MSG_MORE;
	ASSERT_EQ(300, quic_sendmsg(fd, &iov, 1, &plain));
	ASSERT_REFUSED(EBUSY, quic_ulp_attach(fd));
	plain.msg_flags = 0;
	iov.iov_len = 0;
	ASSERT_EQ(0, quic_sendmsg(fd, &iov, 1, &plain));
	rx_plain(_metadata, self, bat2.data, 300);
	describe("attach once uncorked");
	ASSERT_EQ(0, quic_ulp_attach(fd));
	close(fd);
}

/*
 * UDP ignores the control messages of data appended to a corked
 * datagram: a request to encrypt must still be refused, not sent in
 * clear with the datagram.
 */
TEST_F(quic_api, not_attached_corked)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	struct quic_send_args plain = tx_args(self, &self->flow, 0);
	int fd = sender_socket(variant), one = 1, zero = 0;
	struct iovec iov;

	ASSERT_GE(fd, 0);
	plain.no_quic_cmsg = true;
	batch_reset(&bat2);
	batch_long_hdr(&bat2, 300);
	iov.iov_base = bat2.data;
	iov.iov_len = 300;
	batch_fill(&bat, &self->flow, 1, 1, 200, 1, 0);

	describe("UDP_CORK, a long header, then UDP_QUIC_ENCRYPT");
	ASSERT_EQ(0, setsockopt(fd, SOL_UDP, UDP_CORK, &one, sizeof(one)));
	ASSERT_EQ(300, quic_sendmsg(fd, &iov, 1, &plain));
	iov.iov_base = bat.data;
	iov.iov_len = bat.len;
	ASSERT_REFUSED(EINVAL, quic_sendmsg(fd, &iov, 1, &a));
	ASSERT_EQ(0, setsockopt(fd, SOL_UDP, UDP_CORK, &zero, sizeof(zero)));
	rx_plain(_metadata, self, bat2.data, 300);

	describe("MSG_MORE, a long header, then UDP_QUIC_ENCRYPT");
	plain.msg_flags = MSG_MORE;
	iov.iov_base = bat2.data;
	iov.iov_len = 300;
	ASSERT_EQ(300, quic_sendmsg(fd, &iov, 1, &plain));
	iov.iov_base = bat.data;
	iov.iov_len = bat.len;
	ASSERT_REFUSED(EINVAL, quic_sendmsg(fd, &iov, 1, &a));
	plain.msg_flags = 0;
	iov.iov_len = 0;
	ASSERT_EQ(0, quic_sendmsg(fd, &iov, 1, &plain));
	rx_plain(_metadata, self, bat2.data, 300);
	close(fd);
	still_works(_metadata, self);
}

TEST_F(quic_api, connected)
{
	struct quic_send_args a = tx_args(self, &self->flow, 100);

	ASSERT_EQ(0, connect(self->sfd, (struct sockaddr *)&self->dst,
			     self->dst_len));
	a.addr = NULL;
	describe("connected, one packet");
	batch_fill(&bat, &self->flow, 100, 2, 700, 1, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);

	describe("connected, GSO");
	a.gso_size = 1200;
	batch_fill(&bat, &self->flow, 100, 2, 1200 - QUIC_TAG_LEN, 5, 77);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
}

/* ------------------------------------------------------------------ */
/* Encryption without and with GSO                                      */

TEST_F(quic, single_packet)
{
	static const size_t sizes[] = {
		QUIC_MIN_PKT(8), QUIC_MIN_PKT(8) + 1, 64, 255, 256, 257,
		1200, 1452, 4095, 4096, 4097, 9000, 16384, 32768, 60000,
	};
	struct quic_send_args a = tx_args(self, &self->flow, 0x1000);
	int i;

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		describe("one packet of %zu bytes", sizes[i]);
		batch_fill(&bat, &self->flow, 0x1000 + i, 2, sizes[i], 1, 0);
		tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
	}
}

TEST_F(quic, size_sweep)
{
	struct quic_send_args a = tx_args(self, &self->flow, 50);
	size_t len;

	/* Every length around the block and sample boundaries. */
	for (len = QUIC_MIN_PKT(8); len <= 80; len++) {
		describe("one packet of %zu bytes", len);
		batch_fill(&bat, &self->flow, 50, 1, len, 1, 0);
		tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
	}
}

TEST_F(quic_api, gso_sockopt)
{
	struct quic_send_args a = tx_args(self, &self->flow, 7);

	/* The documented example: 1200-byte segments, packets every 1184. */
	set_gso_sockopt(_metadata, self, 1200);
	describe("UDP_SEGMENT sockopt 1200, last packet short");
	batch_fill(&bat, &self->flow, 7, 1, 1184, 10, 500);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);

	describe("UDP_SEGMENT sockopt 1200, last packet full");
	batch_fill(&bat, &self->flow, 7, 1, 1184, 10, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);

	describe("UDP_SEGMENT sockopt 1200, one short packet");
	batch_fill(&bat, &self->flow, 7, 1, 300, 1, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
}

TEST_F(quic, gso_cmsg)
{
	struct quic_send_args a = tx_args(self, &self->flow, 0x4242);

	a.gso_size = 1000;
	describe("UDP_SEGMENT cmsg 1000 after UDP_QUIC_ENCRYPT");
	batch_fill(&bat, &self->flow, 0x4242, 2, 984, 7, 33);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);

	a.gso_first = true;
	describe("UDP_SEGMENT cmsg 1000 before UDP_QUIC_ENCRYPT");
	batch_fill(&bat, &self->flow, 0x4242, 2, 984, 7, 984);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
}

TEST_F(quic_api, gso_cmsg_overrides_sockopt)
{
	struct quic_send_args a = tx_args(self, &self->flow, 99);

	/* A wrong socket-wide size; the per-call cmsg must win. */
	set_gso_sockopt(_metadata, self, 500);
	a.gso_size = 1400;
	describe("sockopt 500, cmsg 1400");
	batch_fill(&bat, &self->flow, 99, 4, 1400 - QUIC_TAG_LEN, 6, 200);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);

	a.gso_size = 300;
	set_gso_sockopt(_metadata, self, 1400);
	describe("sockopt 1400, cmsg 300");
	batch_fill(&bat, &self->flow, 99, 4, 300 - QUIC_TAG_LEN, 12, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
}

TEST_F(quic, gso_64_segments)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1 << 20);

	a.gso_size = 1000;
	describe("64 segments of 1000 bytes");
	batch_fill(&bat, &self->flow, 1 << 20, 3, 1000 - QUIC_TAG_LEN, 64, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);

	describe("64 segments of 1000 bytes, last of 13");
	batch_fill(&bat, &self->flow, 1 << 20, 3, 1000 - QUIC_TAG_LEN, 64,
		   QUIC_MIN_PKT(8));
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
}

TEST_F(quic_api, gso_max_segments)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1000);

	a.gso_size = 100;
	describe("%d segments (UDP's limit)", UDP_MAX_SEGMENTS);
	batch_fill(&bat, &self->flow, 1000, 2, 100 - QUIC_TAG_LEN,
		   UDP_MAX_SEGMENTS, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);

	describe("%d segments (one over UDP's limit)", UDP_MAX_SEGMENTS + 1);
	batch_fill(&bat, &self->flow, 1000, 2, 100 - QUIC_TAG_LEN,
		   UDP_MAX_SEGMENTS + 1, 0);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);
}

TEST_F(quic, big_datagram)
{
	struct quic_send_args a = tx_args(self, &self->flow, 5);

	describe("one 60000-byte packet with GSO set larger");
	set_gso_sockopt(_metadata, self, 65000);
	batch_fill(&bat, &self->flow, 5, 1, 60000, 1, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);

	/* The tag pushes the datagram over the IP limit. */
	set_gso_sockopt(_metadata, self, 0);
	describe("packet whose ciphertext exceeds 65535 bytes");
	batch_fill(&bat, &self->flow, 5, 1, 65530, 1, 0);
	ASSERT_REFUSED(EMSGSIZE, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);
}

/* The largest datagrams UDP sends count the tags, with and without GSO. */
TEST_F(quic, max_datagram)
{
	/* 65535 minus the IPv4 and UDP headers, or the IPv6 payload limit */
	const size_t max = variant->family == AF_INET || variant->mapped ?
			   65535 - 20 - 8 : 65535 - 8;
	struct quic_send_args a = tx_args(self, &self->flow, 1);

	describe("one packet of %zu bytes encrypted", max - QUIC_TAG_LEN);
	batch_fill(&bat, &self->flow, 1, 2, max - QUIC_TAG_LEN, 1, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);

	describe("one packet of %zu bytes encrypted", max - QUIC_TAG_LEN + 1);
	batch_fill(&bat, &self->flow, 1, 2, max - QUIC_TAG_LEN + 1, 1, 0);
	ASSERT_REFUSED(EMSGSIZE, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);

	/* 50 segments of 1300 bytes, then the rest up to the limit */
	a.gso_size = 1300;
	describe("GSO batch of %zu bytes encrypted", max);
	batch_fill(&bat, &self->flow, 1, 2, 1300 - QUIC_TAG_LEN, 51,
		   max - 50 * 1300 - QUIC_TAG_LEN);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);

	describe("GSO batch of %zu bytes encrypted", max + 1);
	batch_fill(&bat, &self->flow, 1, 2, 1300 - QUIC_TAG_LEN, 51,
		   max - 50 * 1300 - QUIC_TAG_LEN + 1);
	ASSERT_REFUSED(EMSGSIZE, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);
}

/*
 * net.core.max_skb_frags bounds the fragments UDP may splice into an skb.
 * A 64 KB batch takes a few 32 KB page fragments, and if it takes more
 * than the limit UDP copies it instead: either way it is sent.  A corked
 * datagram is built as UDP alone builds it, whatever the limit: a part
 * that joins it lies elsewhere in the socket's pages than the part before
 * (a refused call copied its data in between) and must not count as a
 * fragment over the limit.  The sysctl is global: run alone.
 */
TEST_F(quic, max_skb_frags)
{
	static const char * const limits[] = { "4", "2", "1" };
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	struct quic_send_args plain = a;
	unsigned int i;

	plain.no_quic_cmsg = true;
	a.gso_size = 1200;
	for (i = 0; i < ARRAY_SIZE(limits); i++) {
		ASSERT_EQ(0, quic_knob_set("/proc/sys/net/core/max_skb_frags",
					   limits[i]));
		describe("max_skb_frags %s: 54 segments of 1200 bytes",
			 limits[i]);
		batch_fill(&bat, &self->flow, 1, 2, 1200 - QUIC_TAG_LEN, 54, 0);
		tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);

		describe("max_skb_frags %s: one packet", limits[i]);
		batch_fill(&bat, &self->flow, 1, 2, 1200 - QUIC_TAG_LEN, 1, 0);
		tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);

		describe("max_skb_frags %s: a corked datagram of two parts",
			 limits[i]);
		batch_reset(&bat2);
		batch_long_hdr(&bat2, 300);
		batch_add(&bat2, &self->flow, 1, 1, false, 200);
		batch_long_hdr(&bat2, 100);
		plain.msg_flags = MSG_MORE;
		ASSERT_EQ(300, quic_send_range(self, &bat2, 0, &plain));
		ASSERT_REFUSED(EINVAL, quic_send_range(self, &bat2, 1, &plain));
		plain.msg_flags = 0;
		ASSERT_EQ(100, quic_send_range(self, &bat2, 2, &plain))
			TH_LOG("%s: %s", what, strerror(errno));
		memmove(bat2.data + 300, bat2.data + 500, 100);
		rx_plain(_metadata, self, bat2.data, 400);
	}
	quic_knobs_restore();
}

/* ------------------------------------------------------------------ */
/* Datagrams led by long-header packets (RFC 9000 12.2)                 */

/* A datagram of @prefix bytes of long headers, then a 1-RTT packet. */
struct coalesced {
	size_t prefix;
	size_t len;		/* the whole datagram's plaintext */
};

/*
 * Build @n datagrams: each one's long-header packets (an Initial and a
 * Handshake if there is room for both, random bytes as if protected),
 * then a short-header packet numbered from @pn.  Returns the length.
 */
static size_t coalesced_fill(struct batch *b, struct flow *f, uint64_t pn,
			     const struct coalesced *d, int n)
{
	int i;

	batch_reset(b);
	for (i = 0; i < n; i++) {
		size_t initial = d[i].prefix >= 60 ? d[i].prefix / 2 : 0;

		if (initial)
			batch_long_pkt(b, initial, QUIC_V1, LONG_INITIAL, 5);
		if (d[i].prefix)
			batch_long_hdr(b, d[i].prefix - initial);
		batch_add(b, f, pn + i, 2, false, d[i].len - d[i].prefix);
	}
	return b->len;
}

/* The long headers arrive as sent, the packet behind them as encrypted. */
static void rx_coalesced(struct __test_metadata *_metadata,
			 FIXTURE_DATA(quic) * self, const struct flow *f,
			 const uint8_t *plain, uint64_t pn,
			 const struct coalesced *d, int n)
{
	static uint8_t dgram[BUF_LEN], out[BUF_LEN];
	size_t off = 0, len;
	uint64_t got;
	ssize_t ret;
	int i;

	for (i = 0; i < n; i++, off += d[i - 1].len) {
		len = d[i].len - d[i].prefix;
		ret = quic_recv(self->rfd, dgram, sizeof(dgram), RX_WAIT_MS);
		ASSERT_EQ((ssize_t)(d[i].len + QUIC_TAG_LEN), ret)
			TH_LOG("%s: datagram %d: %s", what, i,
			       ret < 0 ? strerror(errno) : "bad length");
		ASSERT_EQ(-1, first_diff(dgram, plain + off, d[i].prefix))
			TH_LOG("%s: datagram %d: long headers changed", what, i);
		ret = quic_unprotect(&f->keys, dgram + d[i].prefix,
				     len + QUIC_TAG_LEN, f->cid_len, pn + i,
				     out, &got);
		ASSERT_EQ((ssize_t)len, ret)
			TH_LOG("%s: datagram %d: %s", what, i, quic_error());
		ASSERT_EQ(pn + i, got);
		ASSERT_EQ(-1, first_diff(out, plain + off + d[i].prefix, len))
			TH_LOG("%s: datagram %d: plaintext differs", what, i);
	}
	rx_none(_metadata, self);
}

static void tx_coalesced(struct __test_metadata *_metadata,
			 FIXTURE_DATA(quic) * self, uint64_t pn,
			 const struct coalesced *d, int n, uint16_t gso)
{
	static uint8_t sent[BUF_LEN];
	struct quic_send_args a = tx_args(self, &self->flow, pn);
	size_t len = coalesced_fill(&bat, &self->flow, pn, d, n);
	ssize_t ret;

	a.gso_size = gso;
	memcpy(sent, bat.data, len);
	ret = tx_send(self, &bat, &a, NULL, 0);
	ASSERT_EQ((ssize_t)len, ret)
		TH_LOG("%s: sendmsg: %s", what,
		       ret < 0 ? strerror(errno) : "short count");
	rx_coalesced(_metadata, self, &self->flow, sent, pn, d, n);
}

TEST_F(quic, coalesced)
{
	static const struct coalesced one[] = { { 300, 1200 } };
	static const struct coalesced mixed[] = {
		{ 100, 1184 }, { 0, 1184 }, { 1000, 1184 }, { 40, 600 },
	};
	static const struct coalesced last[] = {
		{ 0, 1184 }, { 0, 1184 }, { 500, 700 },
	};

	describe("a Handshake and an Initial, then a 1-RTT packet");
	tx_coalesced(_metadata, self, 10, one, 1, 0);
	describe("GSO, the first datagram coalesced");
	tx_coalesced(_metadata, self, 20, mixed, 4, 1200);
	describe("GSO, the last datagram coalesced");
	tx_coalesced(_metadata, self, 30, last, 3, 1200);
}

/* What cannot be coalesced is refused before anything is sent. */
TEST_F(quic_api, coalesced_refused)
{
	static const struct coalesced one[] = { { 300, 1200 } };
	static const struct coalesced tiny[] = { { 300, 300 + 8 } };
	static const struct coalesced gso[] = { { 0, 500 - QUIC_TAG_LEN },
						{ 200, 300 } };
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	struct flow other = self->flow;

	describe("a Retry, then a short header");
	batch_reset(&bat);
	batch_long_pkt(&bat, 100, QUIC_V1, LONG_RETRY, 0);
	batch_add(&bat, &self->flow, 1, 1, false, 100);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));

	describe("a Length past the datagram, then a short header");
	batch_reset(&bat);
	batch_long_hdr(&bat, 100);
	long_hdr_length_max(bat.data);
	batch_add(&bat, &self->flow, 1, 1, false, 100);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));

	describe("a short header too short to sample, behind a long one");
	coalesced_fill(&bat, &self->flow, 1, tiny, 1);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));

	describe("GSO: the second datagram is only long headers");
	a.gso_size = 500;
	coalesced_fill(&bat, &self->flow, 1, gso, 2);
	bat.len = 500 - QUIC_TAG_LEN + 200;
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	a.gso_size = 0;

	describe("behind a long header, another connection's DCID");
	other.cid[0] ^= 0xff;
	coalesced_fill(&bat, &other, 1, one, 1);
	ASSERT_REFUSED(ENOKEY, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);
}

/* ------------------------------------------------------------------ */
/* iovec layouts                                                        */

TEST_F(quic, two_iovecs)
{
	const size_t hdr = 1 + self->flow.cid_len + 2;
	const size_t cuts[] = { 1, 4, hdr - 1, hdr, hdr + 1, 500, 999 - 16,
				999 };
	struct quic_send_args a = tx_args(self, &self->flow, 300);
	size_t gcut;
	int i;

	for (i = 0; i < ARRAY_SIZE(cuts); i++) {
		describe("1000 bytes in two iovecs cut at %zu", cuts[i]);
		batch_fill(&bat, &self->flow, 300, 2, 1000, 1, 0);
		tx_check(_metadata, self, &self->flow, &bat, &a, &cuts[i], 1);
	}

	/* GSO: cut inside the header of the third packet, then elsewhere. */
	a.gso_size = 800;
	for (i = 0; i < ARRAY_SIZE(cuts); i++) {
		gcut = 2 * (800 - QUIC_TAG_LEN) + cuts[i];
		describe("GSO batch in two iovecs cut at %zu", gcut);
		batch_fill(&bat, &self->flow, 300, 2, 800 - QUIC_TAG_LEN, 5,
			   0);
		tx_check(_metadata, self, &self->flow, &bat, &a, &gcut, 1);
	}
}

TEST_F(quic, iovec_per_packet)
{
	struct quic_send_args a = tx_args(self, &self->flow, 10);
	size_t cuts[16];
	int i;

	a.gso_size = 600;
	batch_fill(&bat, &self->flow, 10, 1, 600 - QUIC_TAG_LEN, 16, 100);
	for (i = 0; i < 15; i++)
		cuts[i] = bat.off[i + 1];
	describe("one iovec per packet");
	tx_check(_metadata, self, &self->flow, &bat, &a, cuts, 15);
}

TEST_F(quic, iovec_per_byte)
{
	struct quic_send_args a = tx_args(self, &self->flow, 3);
	static size_t cuts[MAX_IOV];
	int i;

	a.gso_size = 256 + QUIC_TAG_LEN;
	batch_fill(&bat, &self->flow, 3, 1, 256, 3, 200);
	for (i = 0; i < (int)bat.len - 1; i++)
		cuts[i] = i + 1;
	describe("one iovec per byte, %zu bytes", bat.len);
	tx_check(_metadata, self, &self->flow, &bat, &a, cuts, bat.len - 1);
}

TEST_F(quic_api, sendmmsg)
{
	union {
		struct cmsghdr align;
		uint8_t buf[QUIC_CMSG_BUF];
	} cbuf[2];
	struct quic_send_args a0 = tx_args(self, &self->flow, 77);
	static uint8_t sent0[BUF_LEN], sent1[BUF_LEN];
	struct mmsghdr mm[2] = {};
	struct quic_send_args a1;
	struct iovec iov[2];
	struct flow f;

	flow_init(&f, variant->cipher, 3);
	ASSERT_EQ(0, quic_conn_add(self->sfd, &f.keys, f.cid, f.cid_len));
	a1 = tx_args(self, &f, 9);
	a1.gso_size = 500;

	batch_fill(&bat, &self->flow, 77, 1, 640, 1, 0);
	batch_fill(&bat2, &f, 9, 1, 500 - QUIC_TAG_LEN, 4, 50);
	memcpy(sent0, bat.data, bat.len);
	memcpy(sent1, bat2.data, bat2.len);

	iov[0].iov_base = bat.data;
	iov[0].iov_len = bat.len;
	iov[1].iov_base = bat2.data;
	iov[1].iov_len = bat2.len;
	mm[0].msg_hdr.msg_name = &self->dst;
	mm[0].msg_hdr.msg_namelen = self->dst_len;
	mm[0].msg_hdr.msg_iov = &iov[0];
	mm[0].msg_hdr.msg_iovlen = 1;
	mm[0].msg_hdr.msg_control = cbuf[0].buf;
	mm[0].msg_hdr.msg_controllen = quic_cmsg_build(cbuf[0].buf,
						       sizeof(cbuf[0]), &a0);
	mm[1].msg_hdr = mm[0].msg_hdr;
	mm[1].msg_hdr.msg_iov = &iov[1];
	mm[1].msg_hdr.msg_control = cbuf[1].buf;
	mm[1].msg_hdr.msg_controllen = quic_cmsg_build(cbuf[1].buf,
						       sizeof(cbuf[1]), &a1);

	describe("sendmmsg of two flows");
	ASSERT_EQ(2, sendmmsg(self->sfd, mm, 2, 0));
	ASSERT_EQ(bat.len, mm[0].msg_len);
	ASSERT_EQ(bat2.len, mm[1].msg_len);
	rx_check(_metadata, self, &self->flow, &bat, sent0, 77);
	rx_check(_metadata, self, &f, &bat2, sent1, 9);
	rx_none(_metadata, self);
}

/* Receive one datagram and the TTL or hop limit it arrived with. */
static ssize_t recv_ttl(int fd, void *buf, size_t len, int *ttl)
{
	union {
		struct cmsghdr align;
		char buf[256];
	} cbuf;
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov,
		.msg_iovlen = 1,
		.msg_control = cbuf.buf,
		.msg_controllen = sizeof(cbuf),
	};
	struct cmsghdr *cm;
	ssize_t n;

	*ttl = -1;
	if (poll(&pfd, 1, RX_WAIT_MS) != 1)
		return -1;
	n = recvmsg(fd, &msg, MSG_DONTWAIT);
	for (cm = CMSG_FIRSTHDR(&msg); n >= 0 && cm;
	     cm = CMSG_NXTHDR(&msg, cm))
		if ((cm->cmsg_level == IPPROTO_IP && cm->cmsg_type == IP_TTL) ||
		    (cm->cmsg_level == IPPROTO_IPV6 &&
		     cm->cmsg_type == IPV6_HOPLIMIT))
			memcpy(ttl, CMSG_DATA(cm), sizeof(*ttl));
	return n;
}

/* IP-level control messages beside UDP_QUIC_ENCRYPT still reach IP. */
TEST_F(quic_api, other_cmsgs_kept)
{
	bool v4 = variant->family == AF_INET || variant->mapped;
	struct quic_send_args a = tx_args(self, &self->flow, 5);
	static uint8_t sent[BUF_LEN], dgram[BUF_LEN], out[BUF_LEN];
	int one = 1, ttl, i;
	uint64_t pn;
	ssize_t n;

	if (v4)
		n = setsockopt(self->rfd, IPPROTO_IP, IP_RECVTTL, &one,
			       sizeof(one));
	else
		n = setsockopt(self->rfd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT,
			       &one, sizeof(one));
	ASSERT_EQ(0, n);
	a.extra = true;
	a.extra_level = v4 ? IPPROTO_IP : IPPROTO_IPV6;
	a.extra_type = v4 ? IP_TTL : IPV6_HOPLIMIT;
	a.extra_val = 42;

	describe("GSO batch with a TTL cmsg");
	a.gso_size = 600;
	batch_fill(&bat, &self->flow, 5, 1, 600 - QUIC_TAG_LEN, 4, 100);
	memcpy(sent, bat.data, bat.len);
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0))
		TH_LOG("%s", strerror(errno));
	for (i = 0; i < bat.n; i++) {
		size_t len = bat.off[i + 1] - bat.off[i];

		n = recv_ttl(self->rfd, dgram, sizeof(dgram), &ttl);
		ASSERT_EQ((ssize_t)(len + QUIC_TAG_LEN), n);
		ASSERT_EQ(42, ttl);
		ASSERT_EQ((ssize_t)len,
			  quic_unprotect(&self->flow.keys, dgram, n, 8,
					 bat.pn[i] + bat.base, out, &pn))
			TH_LOG("%s", quic_error());
		ASSERT_EQ(0, memcmp(out, sent + bat.off[i], len));
	}

	describe("bypass with a TTL cmsg");
	a.gso_size = 0;
	a.flags = QUIC_BYPASS_ENCRYPTION;
	batch_fill(&bat, &self->flow, 5, 1, 300, 1, 0);
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0));
	n = recv_ttl(self->rfd, dgram, sizeof(dgram), &ttl);
	ASSERT_EQ((ssize_t)bat.len, n);
	ASSERT_EQ(42, ttl);
	ASSERT_EQ(0, memcmp(dgram, bat.data, bat.len));
	still_works(_metadata, self);
}

/* ------------------------------------------------------------------ */
/* Connection IDs                                                       */

static void cid_case(struct __test_metadata *_metadata,
		     FIXTURE_DATA(quic) * self,
		     const FIXTURE_VARIANT(quic) * variant, size_t cid_len)
{
	const size_t min = QUIC_MIN_PKT(cid_len);
	const size_t sizes[] = { min, min + 1, min + 15, min + 16, 1300 };
	struct quic_send_args a;
	struct flow f;
	int i;

	flow_init(&f, variant->cipher, cid_len);
	ASSERT_EQ(0, quic_conn_add(self->sfd, &f.keys, f.cid, f.cid_len))
		TH_LOG("ADD with a %zu-byte CID: %s", cid_len, strerror(errno));
	a = tx_args(self, &f, 0xabcdef);

	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		describe("%zu-byte CID, one packet of %zu bytes", cid_len,
			 sizes[i]);
		batch_fill(&bat, &f, 0xabcdef + i, 3, sizes[i], 1, 0);
		tx_check(_metadata, self, &f, &bat, &a, NULL, 0);
	}

	describe("%zu-byte CID, GSO", cid_len);
	a.gso_size = 700;
	batch_fill(&bat, &f, 0xabcdef, 3, 700 - QUIC_TAG_LEN, 9, min);
	tx_check(_metadata, self, &f, &bat, &a, NULL, 0);

	ASSERT_EQ(0, quic_conn_del(self->sfd, f.cid, f.cid_len));
	describe("%zu-byte CID after DEL", cid_len);
	a.gso_size = 0;
	batch_fill(&bat, &f, 0xabcdef, 3, 100, 1, 0);
	ASSERT_REFUSED(ENOKEY, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);
}

TEST_F(quic, cid_len_0)
{
	cid_case(_metadata, self, variant, 0);
}

TEST_F(quic, cid_len_1)
{
	cid_case(_metadata, self, variant, 1);
}

TEST_F(quic, cid_len_8)
{
	cid_case(_metadata, self, variant, 8);
}

TEST_F(quic, cid_len_20)
{
	cid_case(_metadata, self, variant, 20);
}

/* Connection IDs are compared with their length: 05 and 04 05 differ. */
TEST_F(quic_api, cid_same_suffix)
{
	struct quic_send_args a;
	struct flow f1, f2;

	flow_init(&f1, variant->cipher, 1);
	flow_init(&f2, TLS_CIPHER_CHACHA20_POLY1305, 2);
	f1.cid[0] = 0x05;
	f2.cid[0] = 0x04;
	f2.cid[1] = 0x05;
	ASSERT_EQ(0, quic_conn_add(self->sfd, &f1.keys, f1.cid, f1.cid_len));
	ASSERT_EQ(0, quic_conn_add(self->sfd, &f2.keys, f2.cid, f2.cid_len));

	describe("CID 05");
	a = tx_args(self, &f1, 1);
	batch_fill(&bat, &f1, 1, 1, 100, 1, 0);
	tx_check(_metadata, self, &f1, &bat, &a, NULL, 0);

	describe("CID 04 05");
	a = tx_args(self, &f2, 1);
	batch_fill(&bat, &f2, 1, 1, 100, 1, 0);
	tx_check(_metadata, self, &f2, &bat, &a, NULL, 0);

	ASSERT_EQ(0, quic_conn_del(self->sfd, f1.cid, f1.cid_len));
	describe("CID 04 05 after DEL of 05");
	tx_check(_metadata, self, &f2, &bat, &a, NULL, 0);
}

/* Only the last conn_id_length bytes of conn_id[] name the connection. */
TEST_F(quic_api, cid_leading_bytes_ignored)
{
	struct quic_connection_info ci;
	struct quic_send_args a;
	struct flow f;

	flow_init(&f, variant->cipher, 6);
	memset(&ci, 0xee, sizeof(ci));
	ci.cipher_type = f.keys.cipher;
	ci.key.conn_id_length = f.cid_len;
	memcpy(ci.key.conn_id + QUIC_MAX_CONNECTION_ID_SIZE - f.cid_len,
	       f.cid, f.cid_len);
	memcpy(ci.payload_key, f.keys.key, quic_key_len(f.keys.cipher));
	memcpy(ci.payload_iv, f.keys.iv, sizeof(ci.payload_iv));
	memcpy(ci.header_key, f.keys.hp, quic_key_len(f.keys.cipher));
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_QUIC_ADD_TX_CONNECTION,
				&ci, sizeof(ci)));

	describe("CID added with garbage before it");
	a = tx_args(self, &f, 1);
	batch_fill(&bat, &f, 1, 1, 100, 1, 0);
	tx_check(_metadata, self, &f, &bat, &a, NULL, 0);

	memset(ci.key.conn_id, 0x11,
	       QUIC_MAX_CONNECTION_ID_SIZE - f.cid_len);
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_QUIC_DEL_TX_CONNECTION,
				&ci, sizeof(ci)));
	describe("CID deleted with other garbage before it");
	ASSERT_REFUSED(ENOKEY, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);
}

TEST_F(quic_api, multi_conn)
{
	static const uint16_t ciphers[] = {
		TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_256,
		TLS_CIPHER_AES_CCM_128, TLS_CIPHER_CHACHA20_POLY1305,
	};
	struct quic_send_args a;
	struct flow f[4];
	int i, round;

	for (i = 0; i < 4; i++) {
		flow_init(&f[i], ciphers[i], 4 + 4 * i);
		ASSERT_EQ(0, quic_conn_add(self->sfd, &f[i].keys, f[i].cid,
					   f[i].cid_len));
	}
	for (round = 0; round < 3; round++) {
		for (i = 0; i < 4; i++) {
			describe("round %d, %s flow", round,
				 quic_cipher_name(ciphers[i]));
			a = tx_args(self, &f[i], 1000 * round);
			a.gso_size = (i + round) & 1 ? 900 : 0;
			batch_fill(&bat, &f[i], 1000 * round, 2,
				   a.gso_size ? 900 - QUIC_TAG_LEN : 1100,
				   a.gso_size ? 3 : 1, 0);
			tx_check(_metadata, self, &f[i], &bat, &a, NULL, 0);
		}
		describe("round %d, fixture flow", round);
		a = tx_args(self, &self->flow, round);
		batch_fill(&bat, &self->flow, round, 1, 400, 1, 0);
		tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
	}
}

#define MAX_CRYPTO_ALGS 1024
static struct quic_crypto_alg algs[MAX_CRYPTO_ALGS];

/*
 * Driver of the highest-priority /proc/crypto entry named @name of type
 * @type, the one the crypto API would pick; "" if there is none.
 */
static const char *crypto_pick(const char *name, const char *type)
{
	int i, n = quic_crypto_algs(algs, MAX_CRYPTO_ALGS), best = -1;

	for (i = 0; i < n; i++)
		if (!strcmp(algs[i].name, name) &&
		    !strcmp(algs[i].type, type) &&
		    (best < 0 || algs[i].priority > algs[best].priority))
			best = i;
	return best < 0 ? "" : algs[best].driver;
}

/* References the crypto API counts on algorithm @driver, or -1. */
static long crypto_refs(const char *driver)
{
	int i, n = quic_crypto_algs(algs, MAX_CRYPTO_ALGS);

	for (i = 0; i < n; i++)
		if (!strcmp(algs[i].driver, driver))
			return algs[i].refcnt;
	return -1;
}

/*
 * The references on @driver once the frees that earlier tests left behind
 * an RCU grace period are done: the count has not moved for 200 ms.
 */
static long crypto_refs_settled(const char *driver)
{
	long refs = crypto_refs(driver), now;
	int quiet = 0, tries;

	for (tries = 0; tries < 500 && quiet < 20; tries++) {
		usleep(10000);
		now = crypto_refs(driver);
		quiet = now == refs ? quiet + 1 : 0;
		refs = now;
	}
	return refs;
}

/*
 * Header protection of an AES suite runs on an ecb(aes) transform, on the
 * AES implementation the crypto API ranks first (the AES instructions
 * where the CPU has them, whose timing does not depend on the data), one
 * transform per connection that a key update keeps and a DEL frees;
 * where that would be the generic C AES, the AES library instead, with
 * no transform.  ChaCha20 suites use the ChaCha20 library.  Counts the
 * references of the whole kernel: run alone (serial_tests).
 */
TEST_F(quic, hp_transform)
{
	bool aes = variant->cipher != TLS_CIPHER_CHACHA20_POLY1305;
	char aes_driver[128], ecb_driver[160];
	struct quic_send_args a;
	long before, added, now;
	struct flow f[4];
	int i, tries;

	snprintf(aes_driver, sizeof(aes_driver), "%s",
		 crypto_pick("aes", "cipher"));
	ASSERT_NE(0, aes_driver[0]) TH_LOG("no AES cipher in /proc/crypto");
	if (quic_cpu_has("aes"))
		ASSERT_STREQ("aes-aesni", aes_driver);
	snprintf(ecb_driver, sizeof(ecb_driver), "ecb(%s)", aes_driver);
	if (!strcmp(aes_driver, "aes-generic"))
		aes = false;
	before = crypto_refs_settled(ecb_driver);
	if (aes)
		ASSERT_LT(0, before)
			TH_LOG("%s not in use with an AES connection",
			       ecb_driver);

	for (i = 0; i < 4; i++) {
		flow_init(&f[i], variant->cipher, 8);
		f[i].cid[0] = 0xe0 + i;
		ASSERT_EQ(0, quic_conn_add(self->sfd, &f[i].keys, f[i].cid,
					   f[i].cid_len));
	}
	added = crypto_refs(ecb_driver) - before;
	if (aes) {
		ASSERT_LE(4, added);
		ASSERT_EQ(0, added % 4);
	} else {
		ASSERT_EQ(0, added);
	}

	/* A key update shares the header protection key. */
	ASSERT_EQ(0, quic_key_phase(self->sfd, f[0].cid, f[0].cid_len,
				    QUIC_KEY_PHASE_INSTALL, 1, &f[0].keys));
	ASSERT_EQ(before + added, crypto_refs(ecb_driver));
	for (i = 0; i < 4; i++) {
		describe("connection %d after ADD", i);
		a = tx_args(self, &f[i], 0);
		a.gso_size = 600;
		batch_fill(&bat, &f[i], 0, 1, 600 - QUIC_TAG_LEN, 5, 0);
		tx_check(_metadata, self, &f[i], &bat, &a, NULL, 0);
	}

	for (i = 0; i < 4; i++)
		ASSERT_EQ(0, quic_conn_del(self->sfd, f[i].cid, f[i].cid_len));
	/* Keys go after an RCU grace period. */
	for (tries = 0; tries < 200; tries++) {
		now = crypto_refs(ecb_driver);
		if (now == before)
			break;
		usleep(10000);
	}
	ASSERT_EQ(before, now);
	still_works(_metadata, self);
}

/* Enough connections for the table to grow several times, then shrink. */
TEST_F_TIMEOUT(quic_api, many_connections, 300)
{
	static struct flow f[400];
	struct quic_send_args a;
	int i;

	for (i = 0; i < ARRAY_SIZE(f); i++) {
		flow_init(&f[i], variant->cipher, 8);
		f[i].cid[0] = 0xa5;
		f[i].cid[1] = i >> 8;
		f[i].cid[2] = i;
		ASSERT_EQ(0, quic_conn_add(self->sfd, &f[i].keys, f[i].cid,
					   f[i].cid_len))
			TH_LOG("ADD %d: %s", i, strerror(errno));
	}
	for (i = 0; i < ARRAY_SIZE(f); i += 19) {
		describe("connection %d of %zu", i, ARRAY_SIZE(f));
		a = tx_args(self, &f[i], i);
		batch_fill(&bat, &f[i], i, 2, 150, 1, 0);
		tx_check(_metadata, self, &f[i], &bat, &a, NULL, 0);
	}

	for (i = 1; i < ARRAY_SIZE(f); i += 2)
		ASSERT_EQ(0, quic_conn_del(self->sfd, f[i].cid, f[i].cid_len));
	for (i = 0; i < ARRAY_SIZE(f); i += 19) {
		describe("connection %d after deleting the odd ones", i);
		a = tx_args(self, &f[i], i);
		batch_fill(&bat, &f[i], i, 2, 150, 1, 0);
		if (!(i & 1)) {
			tx_check(_metadata, self, &f[i], &bat, &a, NULL, 0);
			continue;
		}
		ASSERT_REFUSED(ENOKEY, tx_send(self, &bat, &a, NULL, 0));
	}
	still_works(_metadata, self);
}

/* ------------------------------------------------------------------ */
/* Packet numbers                                                       */

static void pn_case(struct __test_metadata *_metadata,
		    FIXTURE_DATA(quic) * self, unsigned int pn_len)
{
	const uint64_t win = 1ULL << (8 * pn_len), hwin = win / 2;
	const uint64_t expect[] = {
		0, 1, hwin - 1, hwin, win - 1, win, win + hwin,
		0x123456789aULL, QUIC_PN_MAX - win, QUIC_PN_MAX - hwin,
		QUIC_PN_MAX,
	};
	const int64_t delta[] = { -(int64_t)hwin + 1, -1, 0, 1, hwin };
	struct quic_send_args a;
	uint64_t pn;
	int i, j;

	for (i = 0; i < ARRAY_SIZE(expect); i++) {
		for (j = 0; j < ARRAY_SIZE(delta); j++) {
			pn = expect[i] + delta[j];
			/* Skip numbers A.3 cannot recover (near 0 or 2^62). */
			if ((delta[j] < 0 && expect[i] < (uint64_t)-delta[j]) ||
			    pn > QUIC_PN_MAX ||
			    quic_pn_decode(expect[i], pn & (win - 1),
					   pn_len) != pn)
				continue;
			describe("pn_len %u, next_pkt_num %#llx, pn %#llx",
				 pn_len, (unsigned long long)expect[i],
				 (unsigned long long)pn);
			if (expect[i] >= PN_ABSOLUTE)
				flow_renew(_metadata, self);
			a = tx_args(self, &self->flow, expect[i]);
			batch_fill(&bat, &self->flow, pn, pn_len, 60, 1, 0);
			tx_check(_metadata, self, &self->flow, &bat, &a, NULL,
				 0);
		}
	}

	/* A GSO batch whose truncated numbers wrap. */
	describe("pn_len %u, GSO batch across the wrap", pn_len);
	flow_renew(_metadata, self);
	a = tx_args(self, &self->flow, win - 3);
	a.gso_size = 300 + QUIC_TAG_LEN;
	batch_fill(&bat, &self->flow, win - 3, pn_len, 300, 8, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
}

TEST_F(quic, pn_len_1)
{
	pn_case(_metadata, self, 1);
}

TEST_F(quic, pn_len_2)
{
	pn_case(_metadata, self, 2);
}

TEST_F(quic, pn_len_3)
{
	pn_case(_metadata, self, 3);
}

TEST_F(quic, pn_len_4)
{
	pn_case(_metadata, self, 4);
}

/* Later packets of a batch are recovered around the previous one. */
TEST_F(quic, pn_gaps_in_batch)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1000);
	int i;

	/* 1-byte numbers 100 apart: only the chained reference finds them. */
	a.gso_size = 500;
	batch_reset(&bat);
	for (i = 0; i < 6; i++)
		batch_add(&bat, &self->flow, 1000 + 100 * i, 1, false,
			  i < 5 ? 500 - QUIC_TAG_LEN : 99);
	describe("GSO batch, packet numbers 100 apart");
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
}

TEST_F(quic, pn_overflow)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1ULL << 62);

	describe("next_pkt_num 2^62");
	batch_fill(&bat, &self->flow, 1ULL << 62, 4, 100, 1, 0);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	describe("next_pkt_num 2^64 - 1");
	a.next_pkt_num = ~0ULL;
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);

	/* The last packet of a batch would be number 2^62. */
	a.next_pkt_num = QUIC_PN_MAX - 1;
	a.gso_size = 300;
	describe("GSO batch running past 2^62 - 1");
	batch_fill(&bat, &self->flow, QUIC_PN_MAX - 1, 4, 300 - QUIC_TAG_LEN,
		   3, 0);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);

	describe("GSO batch ending at 2^62 - 1");
	batch_fill(&bat, &self->flow, QUIC_PN_MAX - 1, 4, 300 - QUIC_TAG_LEN,
		   2, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
}

/* The first byte's free bits are protected as given, not rewritten. */
TEST_F(quic, first_byte_bits)
{
	static const uint8_t bits[] = { 0x04, 0x7c, 0x00, 0x20, 0x18, 0x5c };
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	int i;

	for (i = 0; i < ARRAY_SIZE(bits); i++) {
		describe("first byte %#x", bits[i] | 3);
		batch_fill(&bat, &self->flow, 1, 4, 100, 1, 0);
		bat.data[0] = bits[i] | 3;
		tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
	}
}

/* ------------------------------------------------------------------ */
/* Traffic that is not encrypted                                        */

TEST_F(quic_api, bypass)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	ssize_t ret;

	a.flags = QUIC_BYPASS_ENCRYPTION;
	describe("short header with QUIC_BYPASS_ENCRYPTION");
	batch_fill(&bat, &self->flow, 1, 1, 500, 1, 0);
	ret = tx_send(self, &bat, &a, NULL, 0);
	ASSERT_EQ((ssize_t)bat.len, ret) TH_LOG("%s", strerror(errno));
	rx_plain(_metadata, self, bat.data, bat.len);

	describe("long header with QUIC_BYPASS_ENCRYPTION");
	batch_reset(&bat);
	batch_long_hdr(&bat, 1200);
	ret = tx_send(self, &bat, &a, NULL, 0);
	ASSERT_EQ((ssize_t)bat.len, ret) TH_LOG("%s", strerror(errno));
	rx_plain(_metadata, self, bat.data, bat.len);

	/* With GSO, plain UDP segmentation: no room is left for tags. */
	describe("QUIC_BYPASS_ENCRYPTION with UDP_SEGMENT 500");
	a.gso_size = 500;
	batch_fill(&bat, &self->flow, 1, 1, 500, 3, 200);
	ret = tx_send(self, &bat, &a, NULL, 0);
	ASSERT_EQ((ssize_t)bat.len, ret) TH_LOG("%s", strerror(errno));
	rx_plain(_metadata, self, bat.data, 500);
	rx_plain(_metadata, self, bat.data + 500, 500);
	rx_plain(_metadata, self, bat.data + 1000, 200);
	still_works(_metadata, self);
}

TEST_F(quic_api, long_header_passthrough)
{
	static const size_t sizes[] = { 1, 7, 1200, 1500, 9000 };
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	ssize_t ret;
	int i;

	a.no_quic_cmsg = true;
	for (i = 0; i < ARRAY_SIZE(sizes); i++) {
		describe("long header of %zu bytes, no cmsg", sizes[i]);
		batch_reset(&bat);
		batch_long_hdr(&bat, sizes[i]);
		ret = tx_send(self, &bat, &a, NULL, 0);
		ASSERT_EQ((ssize_t)bat.len, ret) TH_LOG("%s", strerror(errno));
		rx_plain(_metadata, self, bat.data, bat.len);
	}
	rx_quiet(_metadata, self);
}

/* Plain GSO: each segment is checked, a short header in any is refused. */
TEST_F(quic_api, long_header_gso)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	ssize_t ret;
	int i;

	a.no_quic_cmsg = true;
	a.gso_size = 400;
	describe("GSO batch of long headers, no cmsg");
	batch_reset(&bat);
	for (i = 0; i < 4; i++)
		batch_long_hdr(&bat, i < 3 ? 400 : 123);
	ret = tx_send(self, &bat, &a, NULL, 0);
	ASSERT_EQ((ssize_t)bat.len, ret) TH_LOG("%s", strerror(errno));
	for (i = 0; i < 4; i++)
		rx_plain(_metadata, self, bat.data + bat.off[i],
			 bat.off[i + 1] - bat.off[i]);

	for (i = 0; i < 4; i++) {
		describe("GSO batch of long headers, segment %d short", i);
		batch_reset(&bat);
		batch_long_hdr(&bat, 400);
		batch_long_hdr(&bat, 400);
		batch_long_hdr(&bat, 400);
		batch_long_hdr(&bat, 123);
		bat.data[bat.off[i]] &= ~QUIC_HDR_LONG;
		ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
		rx_quiet(_metadata, self);
	}
	still_works(_metadata, self);
}

/* Options the offload does not handle behave as on plain UDP. */
TEST_F(quic_api, other_sockopts)
{
	socklen_t len = sizeof(int);
	int val = 1234;

	set_gso_sockopt(_metadata, self, 1234);
	val = 0;
	ASSERT_EQ(0, getsockopt(self->sfd, SOL_UDP, UDP_SEGMENT, &val, &len));
	ASSERT_EQ(1234, val);
	set_gso_sockopt(_metadata, self, 0);

	val = 1;
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_GRO, &val,
				sizeof(val)));
	len = sizeof(val);
	val = 0;
	ASSERT_EQ(0, getsockopt(self->sfd, SOL_UDP, UDP_GRO, &val, &len));
	ASSERT_EQ(1, val);

	describe("unknown SOL_UDP option");
	ASSERT_REFUSED(ENOPROTOOPT, setsockopt(self->sfd, SOL_UDP, 9999, &val,
					       sizeof(val)));
	len = sizeof(val);
	ASSERT_REFUSED(ENOPROTOOPT, getsockopt(self->sfd, SOL_UDP, 9999, &val,
					       &len));
	still_works(_metadata, self);
}

/* A malformed UDP_SEGMENT is UDP's to refuse: nothing is sent either. */
TEST_F(quic_api, udp_segment_cmsg_bad)
{
	union {
		struct cmsghdr align;
		uint8_t buf[QUIC_CMSG_BUF];
	} cbuf;
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	struct msghdr msg = {};
	struct cmsghdr *cm;
	struct iovec iov;
	size_t len;

	batch_fill(&bat, &self->flow, 1, 1, 384, 3, 0);
	len = quic_cmsg_build(cbuf.buf, sizeof(cbuf.buf) - CMSG_SPACE(8), &a);
	ASSERT_GT(len, 0);
	cm = (struct cmsghdr *)(cbuf.buf + len);
	cm->cmsg_level = SOL_UDP;
	cm->cmsg_type = UDP_SEGMENT;
	cm->cmsg_len = CMSG_LEN(8);
	memset(CMSG_DATA(cm), 0, 8);
	*(uint16_t *)CMSG_DATA(cm) = 400;

	iov.iov_base = bat.data;
	iov.iov_len = bat.len;
	msg.msg_name = &self->dst;
	msg.msg_namelen = self->dst_len;
	msg.msg_iov = &iov;
	msg.msg_iovlen = 1;
	msg.msg_control = cbuf.buf;
	msg.msg_controllen = len + CMSG_SPACE(8);
	describe("UDP_SEGMENT cmsg with an 8-byte payload");
	ASSERT_REFUSED(EINVAL, sendmsg(self->sfd, &msg, 0));
	still_works(_metadata, self);
}

TEST_F(quic, mixed_sequence)
{
	struct quic_send_args plain = tx_args(self, &self->flow, 0);
	struct quic_send_args enc = tx_args(self, &self->flow, 20);
	static uint8_t sent[BUF_LEN];
	int i;

	/* Handshake-style long headers and 1-RTT packets interleaved. */
	plain.no_quic_cmsg = true;
	for (i = 0; i < 3; i++) {
		describe("mixed sequence, round %d", i);
		batch_reset(&bat2);
		batch_long_hdr(&bat2, 1200);
		batch_long_hdr(&bat2, 300);
		batch_fill(&bat, &self->flow, 20 + i, 1, 800, 1, 0);
		memcpy(sent, bat.data, bat.len);

		ASSERT_EQ(1200, quic_send_range(self, &bat2, 0, &plain));
		ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &enc, NULL, 0));
		ASSERT_EQ(300, quic_send_range(self, &bat2, 1, &plain));

		rx_plain(_metadata, self, bat2.data, 1200);
		rx_check(_metadata, self, &self->flow, &bat, sent, 20);
		rx_plain(_metadata, self, bat2.data + 1200, 300);
		rx_none(_metadata, self);
	}
}

/* ------------------------------------------------------------------ */
/* Refused setsockopt() calls                                           */

TEST_F(quic_api, add_bad_optlen)
{
	struct quic_connection_info ci[2] = {};
	static const int delta[] = { -1, -8, -99 };
	int i;

	ci[0].cipher_type = variant->cipher;
	ci[0].key.conn_id_length = 3;
	describe("ADD with optlen 0");
	ASSERT_REFUSED(EINVAL, setsockopt(self->sfd, SOL_UDP,
					  UDP_QUIC_ADD_TX_CONNECTION, ci, 0));
	describe("ADD with optlen 1");
	ASSERT_REFUSED(EINVAL, setsockopt(self->sfd, SOL_UDP,
					  UDP_QUIC_ADD_TX_CONNECTION, ci, 1));
	for (i = 0; i < ARRAY_SIZE(delta); i++) {
		describe("ADD with optlen sizeof%+d", delta[i]);
		ASSERT_REFUSED(EINVAL,
			       setsockopt(self->sfd, SOL_UDP,
					  UDP_QUIC_ADD_TX_CONNECTION, ci,
					  sizeof(ci[0]) + delta[i]));
	}
	/* None of them registered anything. */
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_QUIC_ADD_TX_CONNECTION,
				ci, sizeof(ci[0])));
	still_works(_metadata, self);
}

TEST_F(quic_api, del_bad_optlen)
{
	struct quic_connection_info ci[2] = {};
	static const int delta[] = { -1, -8, -99 };
	int i;

	ci[0].key.conn_id_length = self->flow.cid_len;
	memcpy(ci[0].key.conn_id + QUIC_MAX_CONNECTION_ID_SIZE -
	       self->flow.cid_len, self->flow.cid, self->flow.cid_len);
	describe("DEL with optlen 0");
	ASSERT_REFUSED(EINVAL, setsockopt(self->sfd, SOL_UDP,
					  UDP_QUIC_DEL_TX_CONNECTION, ci, 0));
	for (i = 0; i < ARRAY_SIZE(delta); i++) {
		describe("DEL with optlen sizeof%+d", delta[i]);
		ASSERT_REFUSED(EINVAL,
			       setsockopt(self->sfd, SOL_UDP,
					  UDP_QUIC_DEL_TX_CONNECTION, ci,
					  sizeof(ci[0]) + delta[i]));
	}
	/* The connection is still there. */
	still_works(_metadata, self);
}

/*
 * Option @opt with @arg (@size bytes) as a struct @extra bytes longer:
 * refused with E2BIG when its last byte is not zero, taken when it is.
 */
static void longer_opt(struct __test_metadata *_metadata,
		       FIXTURE_DATA(quic) * self, int opt, const char *name,
		       const void *arg, size_t size, size_t extra)
{
	static uint8_t big[256];

	memset(big, 0, sizeof(big));
	memcpy(big, arg, size);
	big[size + extra - 1] = 0x80;
	describe("%s, %zu more bytes, the last not zero", name, extra);
	ASSERT_REFUSED(E2BIG, setsockopt(self->sfd, SOL_UDP, opt, big,
					 size + extra));
	big[size + extra - 1] = 0;
	describe("%s, %zu more bytes, all zero", name, extra);
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, opt, big, size + extra))
		TH_LOG("%s: %s", what, strerror(errno));
}

/*
 * A longer option is a newer version of its struct: accepted when the
 * bytes this kernel does not know are zero, refused with E2BIG otherwise,
 * with nothing changed.
 */
TEST_F(quic_api, optlen_extensible)
{
	static const size_t extra[] = { 1, 8, 24 };
	struct quic_tx_key_phase_info ki;
	struct quic_connection_info ci;
	struct quic_send_args a;
	struct flow f;
	int i;

	flow_init(&f, variant->cipher, 5);
	quic_conn_info(&ci, &f.keys, f.cid, f.cid_len);
	memset(&ki, 0, sizeof(ki));
	ki.key = ci.key;
	ki.op = QUIC_KEY_PHASE_INSTALL;
	ki.phase = 1;
	for (i = 0; i < ARRAY_SIZE(extra); i++) {
		longer_opt(_metadata, self, UDP_QUIC_ADD_TX_CONNECTION, "ADD",
			   &ci, sizeof(ci), extra[i]);
		describe("send on the connection added with %zu more bytes",
			 extra[i]);
		a = tx_args(self, &f, 10);
		batch_fill(&bat, &f, 10, 2, 150, 1, 0);
		tx_check(_metadata, self, &f, &bat, &a, NULL, 0);

		longer_opt(_metadata, self, UDP_QUIC_SET_TX_KEY_PHASE,
			   "KEY_PHASE", &ki, sizeof(ki), extra[i]);
		longer_opt(_metadata, self, UDP_QUIC_DEL_TX_CONNECTION, "DEL",
			   &ci, sizeof(ci), extra[i]);
	}
	still_works(_metadata, self);
}

/* The same for the control message, whose reserved bytes stay ignored. */
TEST_F(quic_api, cmsg_extensible)
{
	static const int delta[] = { 1, 8, 32 };
	struct quic_send_args a;
	int i;

	for (i = 0; i < ARRAY_SIZE(delta); i++) {
		a = tx_args(self, &self->flow, 1);
		batch_fill(&bat, &self->flow, 1, 1, 100, 1, 0);
		a.quic_cmsg_len_delta = delta[i];
		a.quic_cmsg_tail = 0x01;
		describe("cmsg_len CMSG_LEN(sizeof)%+d, last byte not zero",
			 delta[i]);
		ASSERT_REFUSED(E2BIG, tx_send(self, &bat, &a, NULL, 0));
		rx_quiet(_metadata, self);

		a = tx_args(self, &self->flow, 1);
		batch_fill(&bat, &self->flow, 1, 1, 100, 1, 0);
		a.quic_cmsg_len_delta = delta[i];
		describe("cmsg_len CMSG_LEN(sizeof)%+d, zero tail", delta[i]);
		tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
	}
	still_works(_metadata, self);
}

/*
 * No nonce twice: a packet whose number is not above the connection's
 * previous one is refused with ERANGE, within a call and across calls and
 * key phases, and a refused call sends nothing and uses no number.
 */
TEST_F(quic_api, pn_only_grows)
{
	static const struct {
		const char *name;
		int n;
		uint64_t pn[3];
	} bad[] = {
		{ "GSO batch 7, 7, 8", 3, { 7, 7, 8 } },
		{ "GSO batch 9, 8", 2, { 9, 8 } },
		{ "GSO batch 12, 13, 11", 3, { 12, 13, 11 } },
	};
	struct quic_send_args a;
	uint64_t base;
	int i, j;

	a = tx_args(self, &self->flow, 7);
	base = self->flow.pn_base;
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		a.gso_size = 200 + QUIC_TAG_LEN;
		batch_reset(&bat);
		for (j = 0; j < bad[i].n; j++)
			batch_add(&bat, &self->flow, bad[i].pn[j], 4, false, 200);
		describe("%s", bad[i].name);
		ASSERT_REFUSED(ERANGE, tx_send(self, &bat, &a, NULL, 0));
		rx_quiet(_metadata, self);
		self->flow.pn_base = base;
	}

	/* None of them used a number: 7, 8 still go. */
	describe("GSO batch 7, 8 after the refusals");
	a.gso_size = 200 + QUIC_TAG_LEN;
	batch_fill(&bat, &self->flow, 7, 4, 200, 2, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);

	/* The same numbers again, in a later call. */
	self->flow.pn_base = base;
	for (j = 7; j <= 8; j++) {
		a = tx_args(self, &self->flow, j);
		batch_fill(&bat, &self->flow, j, 4, 200, 1, 0);
		describe("packet %d sent twice", j);
		ASSERT_REFUSED(ERANGE, tx_send(self, &bat, &a, NULL, 0));
		self->flow.pn_base = base;
	}
	describe("packet 6 after 8");
	a = tx_args(self, &self->flow, 6);
	batch_fill(&bat, &self->flow, 6, 4, 200, 1, 0);
	ASSERT_REFUSED(ERANGE, tx_send(self, &bat, &a, NULL, 0));
	rx_quiet(_metadata, self);

	/* Key phases share the numbers: a new phase does not restart them. */
	self->flow.pn_base = base;
	ASSERT_EQ(0, quic_key_phase(self->sfd, self->flow.cid,
				    self->flow.cid_len, QUIC_KEY_PHASE_INSTALL,
				    1, &self->flow.keys));
	a = tx_args(self, &self->flow, 8);
	batch_reset(&bat);
	batch_add(&bat, &self->flow, 8, 4, true, 200);
	describe("packet 8 again in the new key phase");
	ASSERT_REFUSED(ERANGE, tx_send(self, &bat, &a, NULL, 0));
	rx_quiet(_metadata, self);

	self->flow.pn_base = base;
	a = tx_args(self, &self->flow, 9);
	batch_reset(&bat);
	batch_add(&bat, &self->flow, 9, 4, true, 200);
	describe("packet 9 in the new key phase");
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
}

TEST_F(quic_api, add_unknown_cipher)
{
	static const uint16_t bad[] = {
		0, 1, TLS_CIPHER_AES_GCM_128 - 1, TLS_CIPHER_SM4_GCM,
		TLS_CIPHER_SM4_CCM, TLS_CIPHER_ARIA_GCM_128, 0xffff,
	};
	struct quic_send_args a;
	struct flow f;
	int i;

	flow_init(&f, variant->cipher, 5);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		f.keys.cipher = bad[i];
		describe("ADD with cipher_type %u", bad[i]);
		ASSERT_REFUSED(EINVAL, quic_conn_add(self->sfd, &f.keys,
						     f.cid, f.cid_len));
	}
	/* Nothing was registered under that CID. */
	f.keys.cipher = variant->cipher;
	describe("send on the refused CID");
	a = tx_args(self, &f, 1);
	batch_fill(&bat, &f, 1, 1, 100, 1, 0);
	ASSERT_REFUSED(ENOKEY, tx_send(self, &bat, &a, NULL, 0));
	ASSERT_EQ(0, quic_conn_add(self->sfd, &f.keys, f.cid, f.cid_len));
	still_works(_metadata, self);
}

TEST_F(quic_api, add_cid_too_long)
{
	static const uint8_t bad[] = { QUIC_MAX_CONNECTION_ID_SIZE + 1, 255 };
	struct quic_connection_info ci;
	int i;

	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		memset(&ci, 0, sizeof(ci));
		ci.cipher_type = variant->cipher;
		ci.key.conn_id_length = bad[i];
		describe("ADD with conn_id_length %u", bad[i]);
		ASSERT_REFUSED(EINVAL, setsockopt(self->sfd, SOL_UDP,
						  UDP_QUIC_ADD_TX_CONNECTION,
						  &ci, sizeof(ci)));
		describe("DEL with conn_id_length %u", bad[i]);
		ASSERT_REFUSED(EINVAL, setsockopt(self->sfd, SOL_UDP,
						  UDP_QUIC_DEL_TX_CONNECTION,
						  &ci, sizeof(ci)));
	}
	still_works(_metadata, self);
}

TEST_F(quic_api, add_exists)
{
	struct quic_keys other;

	describe("ADD of the same connection again");
	ASSERT_REFUSED(EEXIST, quic_conn_add(self->sfd, &self->flow.keys,
					     self->flow.cid,
					     self->flow.cid_len));
	/* New keys for a known CID are refused too, and not installed. */
	quic_keys_random(&other, TLS_CIPHER_CHACHA20_POLY1305, &rng);
	describe("ADD of the same CID with other keys");
	ASSERT_REFUSED(EEXIST, quic_conn_add(self->sfd, &other, self->flow.cid,
					     self->flow.cid_len));
	/* The fields are checked first, in the documented order. */
	other.cipher = 0;
	describe("ADD of the same CID with an unknown cipher");
	ASSERT_REFUSED(EINVAL, quic_conn_add(self->sfd, &other, self->flow.cid,
					     self->flow.cid_len));
	still_works(_metadata, self);
}

TEST_F(quic_api, del_unknown)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	struct flow f;

	flow_init(&f, variant->cipher, 8);
	describe("DEL of a CID never added");
	ASSERT_REFUSED(ENOENT, quic_conn_del(self->sfd, f.cid, f.cid_len));
	describe("DEL of a suffix of a known CID");
	ASSERT_REFUSED(ENOENT, quic_conn_del(self->sfd, self->flow.cid + 1,
					     self->flow.cid_len - 1));
	still_works(_metadata, self);

	ASSERT_EQ(0, quic_conn_del(self->sfd, self->flow.cid,
				   self->flow.cid_len));
	describe("DEL twice");
	ASSERT_REFUSED(ENOENT, quic_conn_del(self->sfd, self->flow.cid,
					     self->flow.cid_len));
	describe("send after DEL");
	batch_fill(&bat, &self->flow, 1, 1, 100, 1, 0);
	ASSERT_REFUSED(ENOKEY, tx_send(self, &bat, &a, NULL, 0));
	rx_quiet(_metadata, self);

	/* Add it back with new keys: the new keys are used. */
	quic_keys_random(&self->flow.keys, variant->cipher, &rng);
	ASSERT_EQ(0, quic_conn_add(self->sfd, &self->flow.keys, self->flow.cid,
				   self->flow.cid_len));
	still_works(_metadata, self);
}

/* ------------------------------------------------------------------ */
/* Refused sendmsg() calls                                              */

TEST_F(quic_api, no_cmsg_short_header)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);

	a.no_quic_cmsg = true;
	describe("short header without UDP_QUIC_ENCRYPT");
	batch_fill(&bat, &self->flow, 1, 1, 100, 1, 0);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);

	a.gso_size = 200;
	describe("short-header GSO batch without UDP_QUIC_ENCRYPT");
	batch_fill(&bat, &self->flow, 1, 1, 184, 3, 0);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);
}

TEST_F(quic_api, cmsg_bad_len)
{
	/* down to a cmsg_len shorter than struct cmsghdr (malformed) */
	static const int delta[] = {
		-1, -8, -(int)sizeof(struct quic_tx_ancillary_data),
		-(int)sizeof(struct quic_tx_ancillary_data) - 1,
	};
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	int i;

	for (i = 0; i < ARRAY_SIZE(delta); i++) {
		batch_fill(&bat, &self->flow, 1, 1, 100, 1, 0);
		a.quic_cmsg_len_delta = delta[i];
		describe("UDP_QUIC_ENCRYPT cmsg_len CMSG_LEN(sizeof)%+d",
			 delta[i]);
		ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
		still_works(_metadata, self);
	}
}

TEST_F(quic_api, cmsg_duplicate)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);

	batch_fill(&bat, &self->flow, 1, 1, 100, 1, 0);
	a.quic_cmsg_count = 2;
	describe("UDP_QUIC_ENCRYPT twice");
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);

	a.gso_size = 300;
	a.gso_first = true;
	describe("UDP_QUIC_ENCRYPT twice after UDP_SEGMENT");
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);
}

TEST_F(quic_api, cmsg_unknown_flags)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	unsigned int bit;

	batch_fill(&bat, &self->flow, 1, 1, 100, 1, 0);
	for (bit = 0; bit < 8; bit++) {
		if ((1U << bit) & QUIC_BYPASS_ENCRYPTION)
			continue;
		a.flags = 1U << bit;
		describe("flags %#x", a.flags);
		ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
		a.flags |= QUIC_BYPASS_ENCRYPTION;
		describe("flags %#x", a.flags);
		ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	}
	still_works(_metadata, self);
}

TEST_F(quic_api, cmsg_cid_len_too_long)
{
	static const uint8_t bad[] = { QUIC_MAX_CONNECTION_ID_SIZE + 1, 255 };
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	int i;

	batch_fill(&bat, &self->flow, 1, 1, 600, 1, 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		a.cid_len = bad[i];
		describe("cmsg conn_id_length %u", bad[i]);
		ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	}
	still_works(_metadata, self);
}

TEST_F(quic_api, long_header_with_cmsg)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);

	batch_reset(&bat);
	batch_long_hdr(&bat, 1200);
	describe("long header with UDP_QUIC_ENCRYPT");
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);
}

TEST_F(quic_api, unknown_connection)
{
	struct quic_send_args a;
	struct flow f;

	flow_init(&f, variant->cipher, 8);
	a = tx_args(self, &f, 1);
	batch_fill(&bat, &f, 1, 1, 100, 1, 0);
	describe("DCID not registered");
	ASSERT_REFUSED(ENOKEY, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);

	/* The right bytes with the wrong length do not match either. */
	a = tx_args(self, &self->flow, 1);
	a.cid_len = self->flow.cid_len - 1;
	batch_fill(&bat, &self->flow, 1, 1, 100, 1, 0);
	describe("registered DCID with a shorter conn_id_length");
	ASSERT_REFUSED(ENOKEY, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);
}

TEST_F(quic_api, too_short)
{
	const size_t min = QUIC_MIN_PKT(self->flow.cid_len);
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	size_t len;

	for (len = 0; len < min; len++) {
		describe("packet of %zu bytes (minimum %zu)", len, min);
		batch_fill(&bat, &self->flow, 1, 1, len, 1, 0);
		ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	}
	still_works(_metadata, self);

	describe("packet of exactly %zu bytes", min);
	batch_fill(&bat, &self->flow, 1, 1, min, 1, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);

	/* A 4-byte packet number leaves an empty payload: only the tag. */
	describe("packet of %zu bytes, 4-byte packet number", min);
	batch_fill(&bat, &self->flow, 1, 4, min, 1, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
}

TEST_F(quic_api, gso_last_too_short)
{
	const size_t min = QUIC_MIN_PKT(self->flow.cid_len);
	struct quic_send_args a = tx_args(self, &self->flow, 1);

	/* The earlier, valid segments must not leave either. */
	a.gso_size = 400;
	describe("GSO batch whose last packet is %zu bytes", min - 1);
	batch_fill(&bat, &self->flow, 1, 1, 400 - QUIC_TAG_LEN, 5, min - 1);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);

	describe("GSO batch whose last packet is 1 byte");
	batch_fill(&bat, &self->flow, 1, 1, 400 - QUIC_TAG_LEN, 5, 1);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);
}

TEST_F(quic_api, gso_size_too_small)
{
	static const uint16_t bad[] = { 1, QUIC_TAG_LEN - 1, QUIC_TAG_LEN };
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	int i;

	batch_fill(&bat, &self->flow, 1, 1, 100, 1, 0);
	for (i = 0; i < ARRAY_SIZE(bad); i++) {
		a.gso_size = bad[i];
		describe("UDP_SEGMENT cmsg %u", bad[i]);
		ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
		still_works(_metadata, self);
	}

	a.gso_size = 0;
	set_gso_sockopt(_metadata, self, QUIC_TAG_LEN);
	describe("UDP_SEGMENT sockopt %d", QUIC_TAG_LEN);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	set_gso_sockopt(_metadata, self, 0);
	still_works(_metadata, self);
}

TEST_F(quic_api, gso_mismatched_dcid)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	const int idx[] = { 1, 4 };
	int i;

	a.gso_size = 500;
	for (i = 0; i < ARRAY_SIZE(idx); i++) {
		batch_fill(&bat, &self->flow, 1, 1, 500 - QUIC_TAG_LEN, 5, 0);
		bat.data[bat.off[idx[i]] + self->flow.cid_len] ^= 0x01;
		describe("GSO batch, packet %d with another DCID", idx[i]);
		ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
		still_works(_metadata, self);
	}
}

/*
 * Without the cmsg, the guard follows the Length of each long-header
 * packet to the next one: a short header coalesced behind them is refused
 * as one at the start of the datagram is.
 */
TEST_F(quic_api, coalesced_short_header)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);

	a.no_quic_cmsg = true;
	describe("Handshake, then a short header, no cmsg");
	batch_reset(&bat);
	batch_long_hdr(&bat, 300);
	batch_add(&bat, &self->flow, 1, 1, false, 200);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));

	describe("Initial with a token, 0-RTT, Handshake, short, no cmsg");
	batch_reset(&bat);
	batch_long_pkt(&bat, 1200, QUIC_V1, LONG_INITIAL, 40);
	batch_long_pkt(&bat, 100, QUIC_V1, LONG_0RTT, 0);
	batch_long_hdr(&bat, 60);
	batch_add(&bat, &self->flow, 1, 1, false, 100);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));

	describe("version 2 Initial, then a short header, no cmsg");
	batch_reset(&bat);
	batch_long_pkt(&bat, 300, QUIC_V2, LONG_INITIAL, 0);
	batch_add(&bat, &self->flow, 1, 1, false, 200);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));

	describe("GSO: the second datagram coalesces a short header");
	a.gso_size = 500;
	batch_reset(&bat);
	batch_long_hdr(&bat, 500);
	batch_long_hdr(&bat, 300);
	batch_add(&bat, &self->flow, 1, 1, false, 200);
	batch_long_hdr(&bat, 100);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	a.gso_size = 0;

	/* The refused batches differ from the accepted one in one byte. */
	describe("Handshake, then a long header, no cmsg");
	batch_reset(&bat);
	batch_long_hdr(&bat, 300);
	batch_add(&bat, &self->flow, 1, 1, false, 200);
	bat.data[300] |= QUIC_HDR_LONG;
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0));
	rx_plain(_metadata, self, bat.data, bat.len);
	still_works(_metadata, self);
}

/* What the guard cannot parse is one packet up to the datagram's end. */
TEST_F(quic_api, coalesced_long_headers)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	static const uint32_t opaque[] = { 0, 0x1a2a3a4a, 0xff00001d };
	int i;

	a.no_quic_cmsg = true;
	describe("Initial, 0-RTT, Handshake of version 1");
	batch_reset(&bat);
	batch_long_pkt(&bat, 1200, QUIC_V1, LONG_INITIAL, 300);
	batch_long_pkt(&bat, 500, QUIC_V1, LONG_0RTT, 0);
	batch_long_pkt(&bat, 20000, QUIC_V1, LONG_HANDSHAKE, 0);
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0));
	rx_plain(_metadata, self, bat.data, bat.len);

	describe("Initial, Handshake of version 2");
	batch_reset(&bat);
	batch_long_pkt(&bat, 1200, QUIC_V2, LONG_INITIAL, 0);
	batch_long_pkt(&bat, 200, QUIC_V2, LONG_HANDSHAKE, 0);
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0));
	rx_plain(_metadata, self, bat.data, bat.len);

	/* A Retry has no Length: it ends with the datagram. */
	describe("a Retry, whatever follows");
	batch_reset(&bat);
	batch_long_pkt(&bat, 100, QUIC_V1, LONG_RETRY, 0);
	batch_add(&bat, &self->flow, 1, 1, false, 100);
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0));
	rx_plain(_metadata, self, bat.data, bat.len);

	/* Version Negotiation, and versions whose layout is not known. */
	for (i = 0; i < ARRAY_SIZE(opaque); i++) {
		describe("version %#x, whatever follows", opaque[i]);
		batch_reset(&bat);
		batch_long_pkt(&bat, 100, opaque[i], LONG_HANDSHAKE, 0);
		batch_add(&bat, &self->flow, 1, 1, false, 100);
		ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0));
		rx_plain(_metadata, self, bat.data, bat.len);
	}

	/* Version 1 forbids connection IDs of more than 20 bytes. */
	describe("a DCID length of 21, whatever follows");
	batch_reset(&bat);
	batch_long_hdr(&bat, 100);
	bat.data[5] = 21;
	batch_add(&bat, &self->flow, 1, 1, false, 100);
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0));
	rx_plain(_metadata, self, bat.data, bat.len);

	describe("a Length beyond the datagram");
	batch_reset(&bat);
	batch_long_hdr(&bat, 100);
	long_hdr_length_max(bat.data);
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0));
	rx_plain(_metadata, self, bat.data, bat.len);

	/* Zero bytes to the end are padding: nothing in them to protect. */
	describe("a Handshake, then zero padding");
	batch_reset(&bat);
	batch_long_hdr(&bat, 300);
	memset(bat.data + bat.len, 0, 900);
	bat.len += 900;
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0));
	rx_plain(_metadata, self, bat.data, bat.len);
	describe("zero padding with a byte set");
	bat.data[bat.len - 1] = 1;
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	rx_quiet(_metadata, self);
}

/*
 * Data appended to a corked datagram is checked where a packet starts
 * in it: a 1-RTT packet in clear never joins a corked long header.
 */
TEST_F(quic_api, corked_short_header)
{
	struct quic_send_args plain = tx_args(self, &self->flow, 0);
	int one = 1, zero = 0;

	plain.no_quic_cmsg = true;
	plain.msg_flags = MSG_MORE;
	batch_reset(&bat2);
	batch_long_hdr(&bat2, 300);
	batch_add(&bat2, &self->flow, 1, 1, false, 200);
	batch_long_hdr(&bat2, 100);
	ASSERT_EQ(300, quic_send_range(self, &bat2, 0, &plain));
	describe("MSG_MORE long header, then a short header");
	ASSERT_REFUSED(EINVAL, quic_send_range(self, &bat2, 1, &plain));
	plain.msg_flags = 0;
	describe("MSG_MORE long header, then a short header ending it");
	ASSERT_REFUSED(EINVAL, quic_send_range(self, &bat2, 1, &plain));
	ASSERT_EQ(100, quic_send_range(self, &bat2, 2, &plain));
	memmove(bat2.data + 300, bat2.data + 500, 100);
	rx_plain(_metadata, self, bat2.data, 400);

	/*
	 * A probe adds nothing to the datagram: a packet it would have
	 * started (whose layout the guard cannot follow) is not there.
	 */
	describe("MSG_MORE long header, an opaque probe, then a short header");
	batch_reset(&bat2);
	batch_long_hdr(&bat2, 300);
	batch_long_pkt(&bat2, 100, 0xff00001d, LONG_HANDSHAKE, 0);
	batch_add(&bat2, &self->flow, 1, 1, false, 200);
	plain.msg_flags = MSG_MORE;
	ASSERT_EQ(300, quic_send_range(self, &bat2, 0, &plain));
	plain.msg_flags = MSG_MORE | MSG_PROBE;
	ASSERT_EQ(100, quic_send_range(self, &bat2, 1, &plain));
	plain.msg_flags = 0;
	ASSERT_REFUSED(EINVAL, quic_send_range(self, &bat2, 2, &plain));
	ASSERT_EQ(100, quic_send_range(self, &bat2, 1, &plain));
	rx_plain(_metadata, self, bat2.data, 400);

	/* A packet split over calls: its middle is not a packet start. */
	describe("UDP_CORK, a long header in two calls, then a short header");
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_CORK, &one,
				sizeof(one)));
	batch_reset(&bat2);
	batch_long_hdr(&bat2, 300);
	batch_add(&bat2, &self->flow, 1, 1, false, 200);
	bat2.data[20] &= ~QUIC_HDR_LONG;
	bat2.off[1] = 20;
	bat2.off[2] = 300;
	bat2.off[3] = 500;
	bat2.n = 3;
	ASSERT_EQ(20, quic_send_range(self, &bat2, 0, &plain));
	ASSERT_EQ(280, quic_send_range(self, &bat2, 1, &plain));
	ASSERT_REFUSED(EINVAL, quic_send_range(self, &bat2, 2, &plain));
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_CORK, &zero,
				sizeof(zero)));
	rx_plain(_metadata, self, bat2.data, 300);

	/*
	 * Inside a long-header packet, as its Length says, nothing is a
	 * packet start; with GSO, a segment boundary always is.
	 */
	batch_reset(&bat2);
	batch_long_hdr(&bat2, 300);
	batch_add(&bat2, &self->flow, 1, 1, false, 200);
	long_hdr_length_max(bat2.data);
	describe("UDP_CORK, a short header inside a long header's Length");
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_CORK, &one,
				sizeof(one)));
	ASSERT_EQ(300, quic_send_range(self, &bat2, 0, &plain));
	ASSERT_EQ(200, quic_send_range(self, &bat2, 1, &plain));
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_CORK, &zero,
				sizeof(zero)));
	rx_plain(_metadata, self, bat2.data, 500);

	describe("UDP_CORK and GSO 300: a short header starting a segment");
	plain.gso_size = 300;
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_CORK, &one,
				sizeof(one)));
	ASSERT_EQ(300, quic_send_range(self, &bat2, 0, &plain));
	plain.gso_size = 0;
	ASSERT_REFUSED(EINVAL, quic_send_range(self, &bat2, 1, &plain));
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_CORK, &zero,
				sizeof(zero)));
	rx_plain(_metadata, self, bat2.data, 300);
	still_works(_metadata, self);
}

/* Without the cmsg the data is copied first: zero-copy cannot be kept. */
TEST_F(quic_api, plain_msg_zerocopy)
{
	struct quic_send_args plain = tx_args(self, &self->flow, 0);
	int one = 1;

	ASSERT_EQ(0, setsockopt(self->sfd, SOL_SOCKET, SO_ZEROCOPY, &one,
				sizeof(one)));
	plain.no_quic_cmsg = true;
	plain.msg_flags = MSG_ZEROCOPY;
	batch_reset(&bat);
	batch_long_hdr(&bat, 1000);
	describe("a long header with MSG_ZEROCOPY");
	ASSERT_REFUSED(EOPNOTSUPP, tx_send(self, &bat, &plain, NULL, 0));
	still_works(_metadata, self);
}

TEST_F(quic_api, msg_more)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);

	a.msg_flags = MSG_MORE;
	batch_fill(&bat, &self->flow, 1, 1, 100, 1, 0);
	describe("UDP_QUIC_ENCRYPT with MSG_MORE");
	ASSERT_REFUSED(EOPNOTSUPP, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);
}

TEST_F(quic_api, corked_data)
{
	struct quic_send_args plain = tx_args(self, &self->flow, 0);
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	ssize_t ret;

	/* Plain UDP data waiting for more: an encrypting call is refused. */
	plain.no_quic_cmsg = true;
	plain.msg_flags = MSG_MORE;
	batch_reset(&bat2);
	batch_long_hdr(&bat2, 300);
	batch_long_hdr(&bat2, 200);
	ret = quic_send_range(self, &bat2, 0, &plain);
	ASSERT_EQ(300, ret) TH_LOG("corking a long header: %s",
				   strerror(errno));

	batch_fill(&bat, &self->flow, 1, 1, 100, 1, 0);
	describe("UDP_QUIC_ENCRYPT with corked data pending");
	ASSERT_REFUSED(EOPNOTSUPP, tx_send(self, &bat, &a, NULL, 0));

	/* The corked data is intact and leaves with the next plain call. */
	plain.msg_flags = 0;
	ret = quic_send_range(self, &bat2, 1, &plain);
	ASSERT_EQ(200, ret);
	rx_plain(_metadata, self, bat2.data, 500);
	still_works(_metadata, self);
}

TEST_F(quic_api, msg_zerocopy)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	int one = 1;

	ASSERT_EQ(0, setsockopt(self->sfd, SOL_SOCKET, SO_ZEROCOPY, &one,
				sizeof(one)));
	a.msg_flags = MSG_ZEROCOPY;
	batch_fill(&bat, &self->flow, 1, 1, 1000, 1, 0);
	describe("UDP_QUIC_ENCRYPT with MSG_ZEROCOPY");
	ASSERT_REFUSED(EOPNOTSUPP, tx_send(self, &bat, &a, NULL, 0));
	still_works(_metadata, self);
}

TEST_F(quic_api, udp_cork)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	int one = 1, zero = 0;

	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_CORK, &one,
				sizeof(one)));
	batch_fill(&bat, &self->flow, 1, 1, 100, 1, 0);
	describe("UDP_QUIC_ENCRYPT on a corked socket");
	ASSERT_REFUSED(EOPNOTSUPP, tx_send(self, &bat, &a, NULL, 0));
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_UDP, UDP_CORK, &zero,
				sizeof(zero)));
	still_works(_metadata, self);
}

TEST_F(quic_api, bad_user_memory)
{
	struct quic_send_args a = tx_args(self, &self->flow, 1);
	long page = sysconf(_SC_PAGESIZE);
	struct iovec iov;
	uint8_t *map;

	map = mmap(NULL, 2 * page, PROT_READ | PROT_WRITE,
		   MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	ASSERT_EQ(0, munmap(map + page, page));

	/* A GSO batch whose third packet runs into unmapped memory. */
	a.gso_size = 400;
	batch_fill(&bat, &self->flow, 1, 1, 400 - QUIC_TAG_LEN, 3, 0);
	memcpy(map + page - 2 * 384 - 10, bat.data, 2 * 384 + 10);
	iov.iov_base = map + page - 2 * 384 - 10;
	iov.iov_len = bat.len;
	describe("batch crossing into unmapped memory");
	ASSERT_REFUSED(EFAULT, quic_sendmsg(self->sfd, &iov, 1, &a));
	still_works(_metadata, self);

	a.gso_size = 0;
	iov.iov_base = map + page;
	iov.iov_len = 100;
	describe("packet in unmapped memory");
	ASSERT_REFUSED(EFAULT, quic_sendmsg(self->sfd, &iov, 1, &a));
	describe("ADD from unmapped memory");
	ASSERT_REFUSED(EFAULT, setsockopt(self->sfd, SOL_UDP,
					  UDP_QUIC_ADD_TX_CONNECTION, map + page,
					  sizeof(struct quic_connection_info)));
	describe("DEL from unmapped memory");
	ASSERT_REFUSED(EFAULT, setsockopt(self->sfd, SOL_UDP,
					  UDP_QUIC_DEL_TX_CONNECTION, map + page,
					  sizeof(struct quic_connection_info)));
	munmap(map, page);
	still_works(_metadata, self);
}

/* ------------------------------------------------------------------ */
/* Sends racing with connection updates                                 */

struct race {
	int fd;
	const struct sockaddr_storage *dst;
	socklen_t dst_len;
	const struct flow *f;
	bool may_miss;		/* the flow comes and goes: ENOKEY is fine */
	bool *sent;		/* per packet number: accepted by sendmsg */
	int err;		/* first unexpected errno */
};

/* Packet @pn of @f, reproducible by the receiver; thread safe. */
static void race_packet(struct batch *b, const struct flow *f, uint64_t pn)
{
	uint64_t state = pn ^ ((uint64_t)f->cid[0] << 40);
	size_t len = 200 + pn % 100, hlen;

	hlen = quic_short_hdr(b->data, f->cid, f->cid_len, pn, 2, false);
	quic_rand_bytes(&state, b->data + hlen, len - hlen);
	b->pn[0] = pn;
	b->n = 1;
	b->len = len;
	b->off[0] = 0;
	b->off[1] = len;
}

static void *race_send(void *arg)
{
	struct race *r = arg;
	struct quic_send_args a = {
		.addr = (const struct sockaddr *)r->dst,
		.addrlen = r->dst_len,
		.cid_len = r->f->cid_len,
	};
	struct batch *b = malloc(sizeof(*b));
	struct iovec iov;
	uint64_t pn;

	for (pn = 0; b && pn < RACE_SENDS && !r->err; pn++) {
		race_packet(b, r->f, pn);
		a.next_pkt_num = pn;
		iov.iov_base = b->data;
		iov.iov_len = b->len;
		if (quic_sendmsg(r->fd, &iov, 1, &a) == (ssize_t)b->len)
			r->sent[pn] = true;
		else if (!r->may_miss || errno != ENOKEY)
			r->err = errno;
	}
	free(b);
	return NULL;
}

struct churn {
	int fd;
	const struct flow *f[2];
	bool stop;
	int err;
	int rounds;
};

static void *race_churn(void *arg)
{
	struct churn *c = arg;
	int i;

	while (!__atomic_load_n(&c->stop, __ATOMIC_RELAXED) && !c->err) {
		for (i = 0; i < 2; i++)
			if (quic_conn_del(c->fd, c->f[i]->cid, c->f[i]->cid_len))
				c->err = errno;
		for (i = 0; i < 2; i++)
			if (quic_conn_add(c->fd, &c->f[i]->keys, c->f[i]->cid,
					  c->f[i]->cid_len))
				c->err = errno;
		c->rounds++;
	}
	return NULL;
}

/*
 * Two threads send on one socket, one on a stable connection and one on a
 * connection that a third thread deletes and adds back in a loop (with a
 * bystander). Every accepted packet must arrive and decrypt.
 */
TEST_F_TIMEOUT(quic, concurrent_sends_and_updates, 300)
{
	static bool sent[2][RACE_SENDS], seen[2][RACE_SENDS];
	static uint8_t dgram[BUF_LEN], out[BUF_LEN];
	struct race r[2] = {};
	struct churn c = {};
	pthread_t t[3];
	struct flow f[3];
	int i, nsent = 0;
	uint64_t pn;
	ssize_t n;

	for (i = 0; i < 3; i++) {
		flow_init(&f[i], variant->cipher, 8);
		f[i].cid[0] = 0x10 * (i + 1);
		ASSERT_EQ(0, quic_conn_add(self->sfd, &f[i].keys, f[i].cid,
					   f[i].cid_len));
	}
	for (i = 0; i < 2; i++) {
		r[i].fd = self->sfd;
		r[i].dst = &self->dst;
		r[i].dst_len = self->dst_len;
		r[i].f = &f[i];
		r[i].may_miss = i == 1;
		r[i].sent = sent[i];
	}
	c.fd = self->sfd;
	c.f[0] = &f[1];
	c.f[1] = &f[2];

	ASSERT_EQ(0, pthread_create(&t[2], NULL, race_churn, &c));
	ASSERT_EQ(0, pthread_create(&t[0], NULL, race_send, &r[0]));
	ASSERT_EQ(0, pthread_create(&t[1], NULL, race_send, &r[1]));
	pthread_join(t[0], NULL);
	pthread_join(t[1], NULL);
	__atomic_store_n(&c.stop, true, __ATOMIC_RELAXED);
	pthread_join(t[2], NULL);
	ASSERT_EQ(0, r[0].err) TH_LOG("stable flow: %s", strerror(r[0].err));
	ASSERT_EQ(0, r[1].err) TH_LOG("churned flow: %s", strerror(r[1].err));
	ASSERT_EQ(0, c.err) TH_LOG("ADD/DEL: %s", strerror(c.err));
	TH_LOG("%d ADD/DEL rounds during the sends", c.rounds);

	for (i = 0; i < 2; i++)
		for (pn = 0; pn < RACE_SENDS; pn++)
			nsent += sent[i][pn];
	ASSERT_GE(nsent, RACE_SENDS);	/* the stable flow never misses */

	for (; nsent > 0; nsent--) {
		n = quic_recv(self->rfd, dgram, sizeof(dgram), RX_WAIT_MS);
		ASSERT_GT(n, 0) TH_LOG("%d accepted packets missing", nsent);
		i = dgram[1] == f[0].cid[0] ? 0 : 1;
		ASSERT_EQ(0, memcmp(dgram + 1, f[i].cid, f[i].cid_len));
		ASSERT_EQ(n - QUIC_TAG_LEN,
			  quic_unprotect(&f[i].keys, dgram, n, f[i].cid_len,
					 RACE_SENDS / 2, out, &pn))
			TH_LOG("flow %d: %s", i, quic_error());
		ASSERT_LT(pn, RACE_SENDS);
		ASSERT_TRUE(sent[i][pn]);
		ASSERT_FALSE(seen[i][pn]);
		seen[i][pn] = true;
		race_packet(&bat, &f[i], pn);
		ASSERT_EQ(bat.len, n - QUIC_TAG_LEN);
		ASSERT_EQ(0, memcmp(out, bat.data, bat.len));
	}
	rx_none(_metadata, self);
}

/* ------------------------------------------------------------------ */
/* A sender stuck in user memory                                        */

struct stuck_send {
	int fd;
	const struct sockaddr_storage *dst;
	socklen_t dst_len;
	struct quic_send_args a;
	struct iovec iov[2];
	ssize_t ret;
	int err;
};

static void *stuck_send_fn(void *arg)
{
	struct stuck_send *s = arg;

	s->ret = quic_sendmsg(s->fd, s->iov, 2, &s->a);
	s->err = errno;
	return NULL;
}

struct sockopt_run {
	int fd;
	struct flow *own, *other;
	int err[3];
	double secs;
	bool done;
};

static double now_secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* DEL of the stuck sender's connection, then ADD and DEL of another. */
static void *sockopt_run_fn(void *arg)
{
	struct sockopt_run *r = arg;
	double start = now_secs();

	r->err[0] = quic_conn_del(r->fd, r->own->cid, r->own->cid_len) ?
		    errno : 0;
	r->err[1] = quic_conn_add(r->fd, &r->other->keys, r->other->cid,
				  r->other->cid_len) ? errno : 0;
	r->err[2] = quic_conn_del(r->fd, r->other->cid, r->other->cid_len) ?
		    errno : 0;
	r->secs = now_secs() - start;
	__atomic_store_n(&r->done, true, __ATOMIC_RELEASE);
	return NULL;
}

/*
 * A sender whose data faults on a userfaultfd page holds no connection
 * while it waits, so a DEL of its own connection and the ADD and DEL of
 * another complete at once instead of waiting for userspace.  When the
 * page arrives the call fails with ENOKEY, its connection being gone,
 * and nothing reaches the wire.
 */
TEST_F(quic_api, del_while_sender_faults)
{
	struct uffdio_api api = { .api = UFFD_API };
	struct uffdio_register reg = { .mode = UFFDIO_REGISTER_MODE_MISSING };
	struct stuck_send st = { .fd = self->sfd, .dst = &self->dst,
				 .dst_len = self->dst_len };
	struct sockopt_run r = { .fd = self->sfd, .own = &self->flow };
	long page = sysconf(_SC_PAGESIZE);
	struct uffdio_copy copy = {};
	struct pollfd pfd;
	struct uffd_msg msg;
	pthread_t ts, tr;
	struct flow other;
	uint8_t *area, *src;
	int uffd, i;

	uffd = syscall(__NR_userfaultfd, O_CLOEXEC | O_NONBLOCK);
	if (uffd < 0)
		SKIP(return, "userfaultfd: %s", strerror(errno));
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_API, &api));
	area = mmap(NULL, page, PROT_READ | PROT_WRITE,
		    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, area);
	reg.range.start = (unsigned long)area;
	reg.range.len = page;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_REGISTER, &reg));

	/* The header is readable, so the lookup could be made: the payload faults. */
	flow_init(&other, variant->cipher, 6);
	other.cid[0] ^= 0x55;
	r.other = &other;
	st.a = tx_args(self, &self->flow, 3);
	batch_fill(&bat, &self->flow, 3, 2, 64, 1, 0);
	st.iov[0].iov_base = bat.data;
	st.iov[0].iov_len = 16;
	st.iov[1].iov_base = area;
	st.iov[1].iov_len = 400;
	ASSERT_EQ(0, pthread_create(&ts, NULL, stuck_send_fn, &st));

	pfd.fd = uffd;
	pfd.events = POLLIN;
	ASSERT_EQ(1, poll(&pfd, 1, 10000)) TH_LOG("the sender never faulted");
	ASSERT_EQ(sizeof(msg), read(uffd, &msg, sizeof(msg)));
	ASSERT_EQ(UFFD_EVENT_PAGEFAULT, msg.event);

	ASSERT_EQ(0, pthread_create(&tr, NULL, sockopt_run_fn, &r));
	for (i = 0; i < 100 && !__atomic_load_n(&r.done, __ATOMIC_ACQUIRE); i++)
		usleep(20000);

	/* Serve the page in any case, so that a failure does not hang. */
	src = malloc(page);
	ASSERT_NE(NULL, src);
	memset(src, 0x3c, page);
	copy.dst = (unsigned long)area;
	copy.src = (unsigned long)src;
	copy.len = page;
	ASSERT_EQ(0, ioctl(uffd, UFFDIO_COPY, &copy));
	pthread_join(ts, NULL);
	pthread_join(tr, NULL);
	free(src);
	munmap(area, page);
	close(uffd);

	ASSERT_TRUE(i < 100)
		TH_LOG("DEL, ADD, DEL waited for the faulting sender");
	ASSERT_LT(r.secs, 1.0);
	ASSERT_EQ(0, r.err[0]) TH_LOG("DEL: %s", strerror(r.err[0]));
	ASSERT_EQ(0, r.err[1]) TH_LOG("ADD: %s", strerror(r.err[1]));
	ASSERT_EQ(0, r.err[2]) TH_LOG("DEL: %s", strerror(r.err[2]));
	TH_LOG("DEL, ADD, DEL beside a faulting sender: %.3f s", r.secs);
	ASSERT_EQ(-1, st.ret) TH_LOG("the stuck call sent %zd bytes", st.ret);
	ASSERT_EQ(ENOKEY, st.err) TH_LOG("stuck call: %s", strerror(st.err));
	describe("call that faulted while its connection was removed");
	rx_quiet(_metadata, self);
}

/* ------------------------------------------------------------------ */
/* Random traffic checked against OpenSSL                               */

TEST_F_TIMEOUT(quic, random, 600)
{
	static size_t cuts[8];
	int iter, i, ncuts, n;

	TH_LOG("seed %llu (QUIC_SEED=%llu reproduces this run)",
	       (unsigned long long)quic_seed, (unsigned long long)quic_seed);

	for (iter = 0; iter < RANDOM_ITERS; iter++) {
		unsigned int pn_len = quic_rand_range(&rng, 1, 4);
		uint64_t win = 1ULL << (8 * pn_len), hwin = win / 2;
		bool use_gso = quic_rand(&rng) & 1;
		bool by_cmsg = quic_rand(&rng) & 1;
		uint64_t next_pn, first, lo, hi;
		size_t min, seg = 0, last;
		struct quic_send_args a;
		struct flow f;

		flow_init(&f, variant->cipher,
			  quic_rand_range(&rng, 0, QUIC_CID_MAX));
		if (f.cid_len == self->flow.cid_len &&
		    !memcmp(f.cid, self->flow.cid, f.cid_len))
			continue;
		ASSERT_EQ(0, quic_conn_add(self->sfd, &f.keys, f.cid,
					   f.cid_len));
		min = QUIC_MIN_PKT(f.cid_len);

		if (use_gso) {
			seg = quic_rand_range(&rng, min + QUIC_TAG_LEN, 1472);
			n = quic_rand_range(&rng, 1, 60000 / seg < 64 ?
						     60000 / seg : 64);
			last = quic_rand_range(&rng, min, seg - QUIC_TAG_LEN);
		} else {
			n = 1;
			last = quic_rand_range(&rng, min,
					       quic_rand(&rng) & 7 ? 2000 :
								     60000);
		}

		switch (quic_rand(&rng) & 3) {
		case 0:
			next_pn = quic_rand_range(&rng, 0, 1000);
			break;
		case 1:
			next_pn = win * quic_rand_range(&rng, 1, 1000) -
				  quic_rand_range(&rng, 0, 64);
			break;
		default:
			next_pn = quic_rand_range(&rng, 0,
						  QUIC_PN_MAX - (1ULL << 33));
			break;
		}
		/* All packet numbers of the batch within A.3's window. */
		lo = next_pn >= hwin ? next_pn - hwin + 1 : 0;
		hi = next_pn + hwin - (n - 1);
		first = quic_rand_range(&rng, lo, hi);

		batch_reset(&bat);
		for (i = 0; i < n; i++)
			batch_add(&bat, &f, first + i, pn_len,
				  quic_rand(&rng) & 1,
				  i == n - 1 ? last : seg - QUIC_TAG_LEN);

		ncuts = quic_rand_range(&rng, 0, ARRAY_SIZE(cuts));
		for (i = 0; i < ncuts; i++)
			cuts[i] = quic_rand_range(&rng, 0, bat.len);
		for (i = 1; i < ncuts; i++) {	/* insertion sort */
			size_t c = cuts[i];
			int j = i - 1;

			while (j >= 0 && cuts[j] > c) {
				cuts[j + 1] = cuts[j];
				j--;
			}
			cuts[j + 1] = c;
		}

		a = tx_args(self, &f, next_pn);
		a.gso_first = quic_rand(&rng) & 1;
		if (use_gso && by_cmsg) {
			a.gso_size = seg;
			/* Sometimes a wrong sockopt that the cmsg overrides. */
			set_gso_sockopt(_metadata, self,
					quic_rand(&rng) & 1 ? 1300 : 0);
		} else {
			set_gso_sockopt(_metadata, self, use_gso ? seg : 0);
		}

		describe("iteration %d: cid_len %zu, pn_len %u, next_pkt_num %#llx, first pn %#llx",
			 iter, f.cid_len, pn_len, (unsigned long long)next_pn,
			 (unsigned long long)first);
		snprintf(what + strlen(what), sizeof(what) - strlen(what),
			 ", %d packets, gso %zu by %s, last %zu, %d iovecs",
			 n, seg, by_cmsg ? "cmsg" : "sockopt", last, ncuts + 1);
		tx_check(_metadata, self, &f, &bat, &a, cuts, ncuts);
		ASSERT_EQ(0, quic_conn_del(self->sfd, f.cid, f.cid_len));
	}
}

/* ------------------------------------------------------------------ */
/* The seed document's examples, with its values, as test code          */

TEST_F(quic, seed_example)
{
	static const uint8_t cid[5] = { 0x01, 0x02, 0x03, 0x04, 0x05 };
	const size_t cut = 4500;
	struct quic_send_args a;
	struct flow f = {};

	/* key 00..0f, iv 00..0b, header key 10..1f */
	quic_keys_pattern(&f.keys, TLS_CIPHER_AES_GCM_128, 0x00);
	memcpy(f.cid, cid, sizeof(cid));
	f.cid_len = sizeof(cid);
	ASSERT_EQ(0, quic_conn_add(self->sfd, &f.keys, f.cid, f.cid_len));

	/* 9000 bytes in two iovecs of 4500, next_pkt_num 0x0d65c9. */
	a = tx_args(self, &f, 0x0d65c9);
	describe("seed example: 9000 bytes, two iovecs");
	batch_fill(&bat, &f, 0x0d65c9, 2, 9000, 1, 0);
	tx_check(_metadata, self, &f, &bat, &a, &cut, 1);

	/* The GSO example: 1200-byte fragments, packets every 1184. */
	describe("seed example: UDP_SEGMENT 1200");
	set_gso_sockopt(_metadata, self, 1200);
	batch_fill(&bat, &f, 0x0d65c9, 2, 1184, 8, 9000 - 7 * 1184);
	tx_check(_metadata, self, &f, &bat, &a, &cut, 1);
	set_gso_sockopt(_metadata, self, 0);

	ASSERT_EQ(0, quic_conn_del(self->sfd, f.cid, f.cid_len));
	describe("seed example after DEL");
	ASSERT_REFUSED(ENOKEY, tx_send(self, &bat, &a, &cut, 1));
	still_works(_metadata, self);
}

/* ------------------------------------------------------------------ */
/* Counters and teardown                                                */

/*
 * Move the test into a fresh network namespace, where the counters start
 * from zero, and redo the fixture's setup there. Returns false (after
 * SKIP) if namespaces are not available.
 */
static bool fresh_netns(struct __test_metadata *_metadata,
			FIXTURE_DATA(quic) * self,
			const FIXTURE_VARIANT(quic) * variant)
{
	close(self->sfd);
	close(self->rfd);
	self->sfd = -1;
	self->rfd = -1;
	if (unshare(CLONE_NEWNET)) {
		SKIP(return false, "unshare(CLONE_NEWNET): %s",
		     strerror(errno));
	}
	ASSERT_EQ(0, quic_lo_up());
	open_sockets(_metadata, self, variant);
	ASSERT_TRUE(attach_and_add(_metadata, self, variant));
	return true;
}

/* Poll until counter @name of @fd reads @want; return the last value. */
static long long stat_wait(int fd, const char *name, long long want)
{
	long long val = quic_stat(fd, name);
	int waited;

	for (waited = 0; val != want && waited < STAT_WAIT_MS; waited += 10) {
		usleep(10000);
		val = quic_stat(fd, name);
	}
	return val;
}

TEST_F(quic_api, counters_add_del)
{
	struct quic_keys bad;
	struct flow f;

	if (!fresh_netns(_metadata, self, variant))
		return;
	ASSERT_EQ(1, quic_stat(-1, "QuicCurrTxSw"));
	ASSERT_EQ(1, quic_stat(-1, "QuicTxSw"));
	ASSERT_EQ(0, quic_stat(-1, "QuicTxSwError"));

	flow_init(&f, variant->cipher, 4);
	ASSERT_EQ(0, quic_conn_add(self->sfd, &f.keys, f.cid, f.cid_len));
	ASSERT_EQ(2, quic_stat(-1, "QuicCurrTxSw"));
	ASSERT_EQ(2, quic_stat(-1, "QuicTxSw"));

	/* Refused ADDs count nothing. */
	ASSERT_EQ(-1, quic_conn_add(self->sfd, &f.keys, f.cid, f.cid_len));
	bad = f.keys;
	bad.cipher = 0;
	ASSERT_EQ(-1, quic_conn_add(self->sfd, &bad, f.cid + 1, 2));
	ASSERT_EQ(2, quic_stat(-1, "QuicCurrTxSw"));
	ASSERT_EQ(2, quic_stat(-1, "QuicTxSw"));

	ASSERT_EQ(0, quic_conn_del(self->sfd, f.cid, f.cid_len));
	ASSERT_EQ(1, quic_stat(-1, "QuicCurrTxSw"));
	ASSERT_EQ(2, quic_stat(-1, "QuicTxSw"));
	ASSERT_EQ(-1, quic_conn_del(self->sfd, f.cid, f.cid_len));
	ASSERT_EQ(1, quic_stat(-1, "QuicCurrTxSw"));

	ASSERT_EQ(0, quic_conn_del(self->sfd, self->flow.cid,
				   self->flow.cid_len));
	ASSERT_EQ(0, quic_stat(-1, "QuicCurrTxSw"));
	ASSERT_EQ(2, quic_stat(-1, "QuicTxSw"));
}

TEST_F(quic_api, counters_per_netns)
{
	long long curr, total;
	int outer;

	/* Outer and inner namespaces are both the test's own. */
	if (!fresh_netns(_metadata, self, variant))
		return;
	outer = open("/proc/net/quic_stat", O_RDONLY);
	ASSERT_GE(outer, 0);
	curr = quic_stat(outer, "QuicCurrTxSw");
	total = quic_stat(outer, "QuicTxSw");
	ASSERT_EQ(1, curr);
	ASSERT_EQ(1, total);

	if (!fresh_netns(_metadata, self, variant))
		return;
	/* The fixture's first socket, closed in fresh_netns(), counted out. */
	ASSERT_EQ(curr - 1, stat_wait(outer, "QuicCurrTxSw", curr - 1));
	/* The new namespace counts its own connection only. */
	ASSERT_EQ(1, quic_stat(-1, "QuicCurrTxSw"));
	ASSERT_EQ(1, quic_stat(-1, "QuicTxSw"));
	ASSERT_EQ(total, quic_stat(outer, "QuicTxSw"));
	close(outer);

	describe("send in a new namespace");
	still_works(_metadata, self);
}

TEST_F(quic_api, close_without_del)
{
	static const uint16_t ciphers[] = {
		TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_256,
		TLS_CIPHER_AES_CCM_128, TLS_CIPHER_CHACHA20_POLY1305,
	};
	struct flow f;
	int i, fd;

	if (!fresh_netns(_metadata, self, variant))
		return;

	/* A second socket with many connections, closed without DEL. */
	fd = sender_socket(variant);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, quic_ulp_attach(fd));
	for (i = 0; i < 40; i++) {
		flow_init(&f, ciphers[i % 4], 1 + i % QUIC_CID_MAX);
		ASSERT_EQ(0, quic_conn_add(fd, &f.keys, f.cid, f.cid_len))
			TH_LOG("ADD %d (cipher %u): %s", i, ciphers[i % 4],
			       strerror(errno));
	}
	ASSERT_EQ(41, quic_stat(-1, "QuicCurrTxSw"));
	ASSERT_EQ(41, quic_stat(-1, "QuicTxSw"));
	close(fd);
	ASSERT_EQ(1, stat_wait(-1, "QuicCurrTxSw", 1));
	ASSERT_EQ(41, quic_stat(-1, "QuicTxSw"));

	/* The other socket is unaffected. */
	still_works(_metadata, self);

	close(self->sfd);
	self->sfd = -1;
	ASSERT_EQ(0, stat_wait(-1, "QuicCurrTxSw", 0));
	ASSERT_EQ(0, quic_stat(-1, "QuicTxSwError"));
}

static const char * const stat_names[] = {
	"QuicCurrTxSw", "QuicTxSw", "QuicTxSwError", "QuicTxPackets",
	"QuicTxBytes", "QuicTxBypassPackets", "QuicTxKeyUpdate",
	"QuicTxKeyRetire", "QuicTxSndbufFull",
	"QuicTxCoalesced", "QuicTxAsyncCrypto", "QuicTxErrSockopt",
	"QuicTxErrCmsg", "QuicTxErrNoCmsg", "QuicTxErrUnsupported",
	"QuicTxErrNoConnection", "QuicTxErrNoKey", "QuicTxErrBadPacket",
	"QuicTxErrPacketNumber", "QuicTxErrCrypto", "QuicTxErrNoMem",
	"QuicTxErrFault", "QuicTxErrSend",
};

#define STAT_ASYNC	10	/* depends on the AEAD implementation */
#define STAT_FIRST_ERR	11	/* QuicTxErr* follow; QuicTxSwError sums them */

struct stats {
	long long v[ARRAY_SIZE(stat_names)];
};

static void stats_read(struct __test_metadata *_metadata, struct stats *s)
{
	long long sum = 0;
	int i;

	for (i = 0; i < ARRAY_SIZE(stat_names); i++) {
		s->v[i] = quic_stat(-1, stat_names[i]);
		ASSERT_GE(s->v[i], 0)
			TH_LOG("no %s in /proc/net/quic_stat", stat_names[i]);
		if (i >= STAT_FIRST_ERR)
			sum += s->v[i];
	}
	ASSERT_EQ(s->v[2], sum) TH_LOG("QuicTxSwError is not the sum");
}

/*
 * Since @before, counter @name1 moved by @d1 and @name2 (may be NULL) by
 * @d2, QuicTxSwError by as much as the error counters, nothing else.
 */
static void stats_expect(struct __test_metadata *_metadata,
			 struct stats *before, const char *name1,
			 long long d1, const char *name2, long long d2)
{
	struct stats now;
	long long want;
	int i;

	stats_read(_metadata, &now);
	for (i = 0; i < ARRAY_SIZE(stat_names); i++) {
		want = before->v[i];
		if (!strcmp(stat_names[i], name1))
			want += d1;
		if (name2 && !strcmp(stat_names[i], name2))
			want += d2;
		if (i == 2)
			continue;
		/* As many as were sent when every AEAD is asynchronous. */
		if (i == STAT_ASYNC) {
			if (!getenv("QUIC_ASYNC_CRYPTO"))
				continue;
			want += now.v[3] - before->v[3];
		}
		EXPECT_EQ(want, now.v[i])
			TH_LOG("%s: %s moved by %lld", what, stat_names[i],
			       now.v[i] - before->v[i]);
	}
	*before = now;
}

/*
 * Sizes UDP refuses only once a batch is built, and so encrypted, are
 * refused before the data is read: unreadable data gets the size's errno,
 * not EFAULT, so no retry pays for the copy and the crypto.  The family's
 * datagram limit, GSO without UDP checksums, and on a connected socket
 * the path MTU (lo at 1500 in a fresh namespace) for a datagram that must
 * not be fragmented and for a GSO segment.  Readable, the same calls fail
 * the same way and send nothing; what fits still goes.
 */
TEST_F(quic_api, refused_before_read)
{
	const bool v4 = variant->family == AF_INET || variant->mapped;
	const size_t hdr = v4 ? 20 + 8 : 40 + 8;
	const size_t max = v4 ? 65535 - hdr : 65535 - 8;
	struct ifreq ifr = { .ifr_mtu = 1500 };
	struct quic_send_args a;
	int one = 1, zero = 0, pmtu = IP_PMTUDISC_DO, fd;
	size_t len, map_len = 128 * 1024;
	struct iovec iov;
	uint8_t *map;

	if (!fresh_netns(_metadata, self, variant))
		return;
	map = mmap(NULL, map_len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1,
		   0);
	ASSERT_NE(MAP_FAILED, map);
	a = tx_args(self, &self->flow, 1);

	describe("ciphertext of %zu bytes, over the limit, unreadable", max + 1);
	iov.iov_base = map;
	iov.iov_len = max + 1 - QUIC_TAG_LEN;
	ASSERT_REFUSED(EMSGSIZE, quic_sendmsg(self->sfd, &iov, 1, &a));
	/* UDP checks none of these sizes for a probe. */
	describe("probe of %zu bytes, over the limit", max + 1);
	batch_fill(&bat, &self->flow, 1, 2, max + 1 - QUIC_TAG_LEN, 1, 0);
	a.msg_flags = MSG_PROBE;
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0))
		TH_LOG("%s: %s", what, strerror(errno));
	a.msg_flags = 0;

	describe("GSO without UDP checksums, unreadable");
	ASSERT_EQ(0, v4 ? setsockopt(self->sfd, SOL_SOCKET, SO_NO_CHECK, &one,
				     sizeof(one)) :
			  setsockopt(self->sfd, SOL_UDP, UDP_NO_CHECK6_TX, &one,
				     sizeof(one)));
	a.gso_size = 1200;
	iov.iov_len = 3 * (1200 - QUIC_TAG_LEN);
	ASSERT_REFUSED(EINVAL, quic_sendmsg(self->sfd, &iov, 1, &a));
	ASSERT_EQ(0, v4 ? setsockopt(self->sfd, SOL_SOCKET, SO_NO_CHECK, &zero,
				     sizeof(zero)) :
			  setsockopt(self->sfd, SOL_UDP, UDP_NO_CHECK6_TX, &zero,
				     sizeof(zero)));

	/* Connected, with DF, over a 1500-byte path */
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_GE(fd, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	ASSERT_EQ(0, ioctl(fd, SIOCSIFMTU, &ifr));
	close(fd);
	if (!v4)
		pmtu = IPV6_PMTUDISC_DO;
	ASSERT_EQ(0, setsockopt(self->sfd, v4 ? IPPROTO_IP : IPPROTO_IPV6,
				v4 ? IP_MTU_DISCOVER : IPV6_MTU_DISCOVER, &pmtu,
				sizeof(pmtu)));
	ASSERT_EQ(0, connect(self->sfd, (struct sockaddr *)&self->dst,
			     self->dst_len));
	a.addr = NULL;

	len = 1500 - hdr - QUIC_TAG_LEN + 1;
	describe("one packet over the path MTU with DF, unreadable");
	a.gso_size = 0;
	iov.iov_len = len;
	ASSERT_REFUSED(EMSGSIZE, quic_sendmsg(self->sfd, &iov, 1, &a));
	describe("one packet over the path MTU with DF");
	batch_fill(&bat, &self->flow, 1, 2, len, 1, 0);
	ASSERT_REFUSED(EMSGSIZE, tx_send(self, &bat, &a, NULL, 0));
	describe("probe of one packet over the path MTU with DF");
	a.msg_flags = MSG_PROBE;
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0))
		TH_LOG("%s: %s", what, strerror(errno));
	a.msg_flags = 0;

	describe("GSO segments over the path MTU, unreadable");
	a.gso_size = 1500 - hdr + 1;
	iov.iov_len = 2 * (a.gso_size - QUIC_TAG_LEN);
	ASSERT_REFUSED(EMSGSIZE, quic_sendmsg(self->sfd, &iov, 1, &a));
	describe("GSO segments over the path MTU");
	batch_fill(&bat, &self->flow, 1, 2, a.gso_size - QUIC_TAG_LEN, 2, 0);
	ASSERT_REFUSED(EMSGSIZE, tx_send(self, &bat, &a, NULL, 0));
	rx_quiet(_metadata, self);

	describe("GSO segments of the path MTU");
	a.gso_size = 1500 - hdr;
	batch_fill(&bat, &self->flow, 1, 2, a.gso_size - QUIC_TAG_LEN, 3, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
	describe("one packet of the path MTU with DF");
	a.gso_size = 0;
	batch_fill(&bat, &self->flow, 1, 2, len - 1, 1, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
	munmap(map, map_len);
}

/*
 * A non-blocking call on a full send buffer is refused before its data
 * is read (unreadable data gets EAGAIN, not EFAULT, as from UDP), and
 * counts as backpressure, not as an error.  A pacing qdisc on lo holds
 * the datagrams, and their memory, after the first.
 */
TEST_F(quic_api, sndbuf_full)
{
	static uint8_t drain[BUF_LEN];
	long page = sysconf(_SC_PAGESIZE);
	struct quic_send_args a;
	int i, sndbuf = 4096;
	struct iovec iov;
	struct stats st;
	ssize_t ret = 0;
	uint8_t *map;

	if (!fresh_netns(_metadata, self, variant))
		return;
	ASSERT_EQ(0, system("tc qdisc add dev lo root fq maxrate 8kbit"));
	ASSERT_EQ(0, setsockopt(self->sfd, SOL_SOCKET, SO_SNDBUF, &sndbuf,
				sizeof(sndbuf)));
	a = tx_args(self, &self->flow, 1);
	a.msg_flags = MSG_DONTWAIT;
	for (i = 0; i < 100; i++) {
		batch_fill(&bat, &self->flow, 1 + i, 2, 1200, 1, 0);
		a.next_pkt_num = 1 + i;
		ret = tx_send(self, &bat, &a, NULL, 0);
		if (ret < 0)
			break;
	}
	ASSERT_EQ(-1, ret) TH_LOG("the send buffer never filled");
	ASSERT_EQ(EAGAIN, errno);
	ASSERT_GE(i, 1);

	stats_read(_metadata, &st);
	map = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	iov.iov_base = map;
	iov.iov_len = 1200;
	describe("full send buffer, data unreadable");
	ASSERT_REFUSED(EAGAIN, quic_sendmsg(self->sfd, &iov, 1, &a));
	describe("full send buffer, GSO batch");
	a.gso_size = 1200;
	batch_fill(&bat, &self->flow, 1 + i, 2, 1200 - QUIC_TAG_LEN, 40, 0);
	ASSERT_REFUSED(EAGAIN, tx_send(self, &bat, &a, NULL, 0));
	describe("full send buffer, bypass");
	a.gso_size = 0;
	a.flags = QUIC_BYPASS_ENCRYPTION;
	ASSERT_REFUSED(EAGAIN, quic_sendmsg(self->sfd, &iov, 1, &a));
	stats_expect(_metadata, &st, "QuicTxSndbufFull", 3, NULL, 0);
	munmap(map, page);

	/* Dropping the queue frees the buffer: the refused numbers are free. */
	ASSERT_EQ(0, system("tc qdisc del dev lo root"));
	while (quic_recv(self->rfd, drain, sizeof(drain), 0) >= 0)
		;
	describe("after the queue is dropped");
	a.flags = 0;
	a.next_pkt_num = 1 + i;
	batch_fill(&bat, &self->flow, 1 + i, 2, 1200, 1, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
}

/* MSG_PROBE sends nothing: no counter moves, no packet number is used. */
TEST_F(quic_api, counters_msg_probe)
{
	struct quic_send_args a;
	struct stats st;

	if (!fresh_netns(_metadata, self, variant))
		return;
	a = tx_args(self, &self->flow, 9);
	stats_read(_metadata, &st);
	a.msg_flags = MSG_PROBE;
	describe("MSG_PROBE, one packet");
	batch_fill(&bat, &self->flow, 9, 1, 321, 1, 0);
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0));
	describe("MSG_PROBE, bypass");
	a.flags = QUIC_BYPASS_ENCRYPTION;
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0));
	rx_quiet(_metadata, self);
	stats_expect(_metadata, &st, "QuicTxPackets", 0, NULL, 0);

	describe("the probed packet number, sent");
	a.flags = 0;
	a.msg_flags = 0;
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
	stats_expect(_metadata, &st, "QuicTxPackets", 1, "QuicTxBytes", 321);
}

/* Coalesced datagrams count, and their long headers are not QuicTxBytes. */
TEST_F(quic_api, counters_coalesced)
{
	static const struct coalesced d[] = { { 100, 1184 }, { 0, 1184 },
					      { 300, 500 } };
	long long packets, bytes, coalesced;

	if (!fresh_netns(_metadata, self, variant))
		return;
	packets = quic_stat(-1, "QuicTxPackets");
	bytes = quic_stat(-1, "QuicTxBytes");
	coalesced = quic_stat(-1, "QuicTxCoalesced");
	describe("three datagrams, two led by long headers");
	tx_coalesced(_metadata, self, 40, d, 3, 1200);
	EXPECT_EQ(packets + 3, quic_stat(-1, "QuicTxPackets"));
	EXPECT_EQ(bytes + 1184 - 100 + 1184 + 500 - 300,
		  quic_stat(-1, "QuicTxBytes"));
	EXPECT_EQ(coalesced + 2, quic_stat(-1, "QuicTxCoalesced"));
	EXPECT_EQ(0, quic_stat(-1, "QuicTxSwError"));
}

/* Each kind of refusal counts once, in its own counter. */
TEST_F(quic_api, counters_tx_and_errors)
{
	struct quic_send_args a;
	struct iovec iov;
	struct stats st;
	struct flow f;
	long page;
	void *map;

	if (!fresh_netns(_metadata, self, variant))
		return;
	a = tx_args(self, &self->flow, 9);
	stats_read(_metadata, &st);
	ASSERT_EQ(1, st.v[0]);
	ASSERT_EQ(1, st.v[1]);
	ASSERT_EQ(0, st.v[2]);

	describe("one packet");
	batch_fill(&bat, &self->flow, 9, 1, 321, 1, 0);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
	stats_expect(_metadata, &st, "QuicTxPackets", 1, "QuicTxBytes", 321);

	describe("GSO batch");
	a.gso_size = 400;
	batch_fill(&bat, &self->flow, 9, 1, 384, 5, 100);
	tx_check(_metadata, self, &self->flow, &bat, &a, NULL, 0);
	stats_expect(_metadata, &st, "QuicTxPackets", 5, "QuicTxBytes",
		     4 * 384 + 100);
	a.gso_size = 0;

	describe("bypass");
	a.flags = QUIC_BYPASS_ENCRYPTION;
	batch_fill(&bat, &self->flow, 9, 1, 200, 1, 0);
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0));
	rx_plain(_metadata, self, bat.data, bat.len);
	stats_expect(_metadata, &st, "QuicTxBypassPackets", 1, NULL, 0);
	a.flags = 0;

	describe("ADD and DEL");
	flow_init(&f, variant->cipher, 3);
	ASSERT_EQ(0, quic_conn_add(self->sfd, &f.keys, f.cid, f.cid_len));
	stats_expect(_metadata, &st, "QuicCurrTxSw", 1, "QuicTxSw", 1);
	ASSERT_EQ(0, quic_conn_del(self->sfd, f.cid, f.cid_len));
	stats_expect(_metadata, &st, "QuicCurrTxSw", -1, NULL, 0);

	describe("DEL refused");
	ASSERT_REFUSED(ENOENT, quic_conn_del(self->sfd, f.cid, f.cid_len));
	stats_expect(_metadata, &st, "QuicTxErrSockopt", 1, NULL, 0);
	describe("ADD refused");
	ASSERT_REFUSED(EEXIST, quic_conn_add(self->sfd, &self->flow.keys,
					     self->flow.cid,
					     self->flow.cid_len));
	stats_expect(_metadata, &st, "QuicTxErrSockopt", 1, NULL, 0);

	describe("duplicate cmsg");
	batch_fill(&bat, &self->flow, 9, 1, 100, 1, 0);
	a.quic_cmsg_count = 2;
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	stats_expect(_metadata, &st, "QuicTxErrCmsg", 1, NULL, 0);
	a.quic_cmsg_count = 0;

	describe("no cmsg");
	a.no_quic_cmsg = true;
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	stats_expect(_metadata, &st, "QuicTxErrNoCmsg", 1, NULL, 0);
	a.no_quic_cmsg = false;

	describe("MSG_MORE");
	a.msg_flags = MSG_MORE;
	ASSERT_REFUSED(EOPNOTSUPP, tx_send(self, &bat, &a, NULL, 0));
	stats_expect(_metadata, &st, "QuicTxErrUnsupported", 1, NULL, 0);
	a.msg_flags = 0;

	describe("unknown DCID");
	bat.data[1] ^= 0xff;
	ASSERT_REFUSED(ENOKEY, tx_send(self, &bat, &a, NULL, 0));
	stats_expect(_metadata, &st, "QuicTxErrNoConnection", 1, NULL, 0);

	describe("packet too short");
	batch_fill(&bat, &self->flow, 9, 1, QUIC_MIN_PKT(8) - 1, 1, 0);
	ASSERT_REFUSED(EINVAL, tx_send(self, &bat, &a, NULL, 0));
	stats_expect(_metadata, &st, "QuicTxErrBadPacket", 1, NULL, 0);

	describe("unreadable data");
	page = sysconf(_SC_PAGESIZE);
	map = mmap(NULL, page, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	ASSERT_NE(MAP_FAILED, map);
	iov.iov_base = map;
	iov.iov_len = 100;
	ASSERT_REFUSED(EFAULT, quic_sendmsg(self->sfd, &iov, 1, &a));
	munmap(map, page);
	stats_expect(_metadata, &st, "QuicTxErrFault", 1, NULL, 0);

	rx_quiet(_metadata, self);
}

/* Ciphertext queued at the receiver outlives the sender and its keys. */
TEST_F(quic_api, close_with_data_queued)
{
	struct quic_send_args a = tx_args(self, &self->flow, 64);
	static uint8_t sent[BUF_LEN];
	struct flow f = self->flow;

	a.gso_size = 1300;
	batch_fill(&bat, &f, 64, 1, 1300 - QUIC_TAG_LEN, 20, 0);
	memcpy(sent, bat.data, bat.len);
	describe("batch sent, then the sender closed");
	ASSERT_EQ((ssize_t)bat.len, tx_send(self, &bat, &a, NULL, 0));
	memset(bat.data, 0, bat.len);
	close(self->sfd);
	self->sfd = -1;
	rx_check(_metadata, self, &f, &bat, sent, 64);
	rx_none(_metadata, self);
}

static int sysfs_entries(const char *path)
{
	struct dirent *de;
	int n = 0;
	DIR *d;

	d = opendir(path);
	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += de->d_name[0] != '.';
	closedir(d);
	return n;
}

/*
 * Unload the module right after sockets with connections were closed (their
 * entries are freed after a grace period), then let the next attach load
 * it again and check that it encrypts.
 */
TEST(module_reload)
{
	struct sockaddr_in dst = {
		.sin_family = AF_INET,
		.sin_addr.s_addr = htonl(INADDR_LOOPBACK),
	};
	socklen_t len = sizeof(dst);
	struct quic_send_args a;
	uint8_t out[512], dgram[512];
	int fd, rfd, i, err = 0;
	struct flow f;
	uint64_t pn;

	rng = quic_seed;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_GE(fd, 0);
	/* Loads the module if it is not loaded yet. */
	ASSERT_EQ(0, quic_ulp_attach(fd));
	if (access("/sys/module/quic/initstate", F_OK))
		SKIP(close(fd); return, "quic is built in");
	if (sysfs_entries("/sys/module/quic/holders") != 0)
		SKIP(close(fd); return, "another module uses quic");
	for (i = 0; i < 16; i++) {
		flow_init(&f, TLS_CIPHER_AES_GCM_128 + i % 4, i);
		ASSERT_EQ(0, quic_conn_add(fd, &f.keys, f.cid, f.cid_len));
	}
	close(fd);

	/* Other tests' sockets may take a moment to go away. */
	for (i = 0; i < 50; i++) {
		err = syscall(__NR_delete_module, "quic", O_NONBLOCK) ?
		      errno : 0;
		if (err != EAGAIN && err != EWOULDBLOCK)
			break;
		usleep(100000);
	}
	ASSERT_EQ(0, err) TH_LOG("delete_module(quic): %s", strerror(err));

	rfd = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_GE(rfd, 0);
	ASSERT_EQ(0, bind(rfd, (struct sockaddr *)&dst, sizeof(dst)));
	ASSERT_EQ(0, getsockname(rfd, (struct sockaddr *)&dst, &len));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(0, quic_ulp_attach(fd)) TH_LOG("autoload: %s",
						 strerror(errno));
	flow_init(&f, TLS_CIPHER_CHACHA20_POLY1305, 4);
	ASSERT_EQ(0, quic_conn_add(fd, &f.keys, f.cid, f.cid_len));

	batch_fill(&bat, &f, 77, 1, 300, 1, 0);
	a = (struct quic_send_args) {
		.addr = (struct sockaddr *)&dst,
		.addrlen = sizeof(dst),
		.next_pkt_num = 77,
		.cid_len = f.cid_len,
	};
	ASSERT_EQ((ssize_t)bat.len, quic_sendmsg(fd, &(struct iovec) {
		.iov_base = bat.data, .iov_len = bat.len }, 1, &a));
	ASSERT_EQ((ssize_t)bat.len + QUIC_TAG_LEN,
		  quic_recv(rfd, dgram, sizeof(dgram), RX_WAIT_MS));
	ASSERT_EQ((ssize_t)bat.len,
		  quic_unprotect(&f.keys, dgram, bat.len + QUIC_TAG_LEN,
				 f.cid_len, 77, out, &pn))
		TH_LOG("%s", quic_error());
	ASSERT_EQ(0, memcmp(out, bat.data, bat.len));
	close(fd);
	close(rfd);
}

/* Far more allocation points than one call passes */
#define ALLOC_POINTS_MAX	100000

/*
 * Allocation points (failslab, fail_page_alloc) one call passes, the
 * fewest of several calls: a page fragment refill or a queue growing at
 * the receiver adds one now and then.  The call sends @b from @plain_fd
 * as it is, or, if @plain_fd is -1, from the fixture's sender with @a.
 */
static void call_allocations(struct __test_metadata *_metadata,
			     FIXTURE_DATA(quic) * self, int nth_fd,
			     int plain_fd, struct batch *b,
			     const struct quic_send_args *a,
			     unsigned int *fewest)
{
	struct iovec iov = { .iov_base = b->data, .iov_len = b->len };
	static uint8_t dgram[BUF_LEN];
	unsigned int i, left;
	ssize_t ret;

	*fewest = UINT_MAX;
	for (i = 0; i < 8; i++) {
		ASSERT_TRUE(quic_fail_nth_arm(nth_fd, ALLOC_POINTS_MAX));
		ret = plain_fd >= 0 ? quic_sendmsg(plain_fd, &iov, 1, a) :
				      tx_send(self, b, a, NULL, 0);
		left = quic_fail_nth_left(nth_fd);
		quic_fail_nth_set(nth_fd, 0);
		ASSERT_EQ((ssize_t)b->len, ret)
			TH_LOG("%s: %s", what, strerror(errno));
		ASSERT_LT(0, left) TH_LOG("%s: a failure was injected", what);
		if (ALLOC_POINTS_MAX - left < *fewest)
			*fewest = ALLOC_POINTS_MAX - left;
		ASSERT_LT(0, quic_recv(self->rfd, dgram, sizeof(dgram),
				       RX_WAIT_MS));
	}
}

/*
 * A one-packet call allocates nothing a plain UDP send of the same
 * datagram does not: its working memory stays with the socket between
 * calls.  The same for a call that bypasses encryption and for one
 * without the cmsg, both copied before they are checked.
 */
TEST_F(quic, one_packet_allocations)
{
	struct quic_send_args a = tx_args(self, &self->flow, 0);
	struct quic_send_args plain = a;
	unsigned int offload, udp;
	int fd, ufd;

	if (!fresh_netns(_metadata, self, variant))
		return;
	a = tx_args(self, &self->flow, 0);
	plain = a;
	plain.no_quic_cmsg = true;
	fd = quic_fault_setup();
	if (fd < 0)
		SKIP(return, "no fault injection (CONFIG_FAILSLAB, debugfs)");
	ufd = sender_socket(variant);
	ASSERT_LE(0, ufd);

	describe("50-byte ACK, encrypted");
	batch_fill(&bat, &self->flow, 0, 2, 50, 1, 0);
	call_allocations(_metadata, self, fd, -1, &bat, &a, &offload);
	batch_fill(&bat, &self->flow, 0, 2, 50 + QUIC_TAG_LEN, 1, 0);
	call_allocations(_metadata, self, fd, ufd, &bat, &plain, &udp);
	TH_LOG("one packet: offload %u allocation points, UDP %u", offload,
	       udp);
	ASSERT_LE(offload, udp);

	describe("1200-byte packet, encrypted");
	batch_fill(&bat, &self->flow, 0, 2, 1200 - QUIC_TAG_LEN, 1, 0);
	call_allocations(_metadata, self, fd, -1, &bat, &a, &offload);
	batch_fill(&bat, &self->flow, 0, 2, 1200, 1, 0);
	call_allocations(_metadata, self, fd, ufd, &bat, &plain, &udp);
	ASSERT_LE(offload, udp);

	describe("packet that bypasses encryption");
	a.flags = QUIC_BYPASS_ENCRYPTION;
	call_allocations(_metadata, self, fd, -1, &bat, &a, &offload);
	ASSERT_LE(offload, udp);

	describe("long-header packet without the cmsg");
	batch_reset(&bat);
	batch_long_hdr(&bat, 1200);
	call_allocations(_metadata, self, fd, self->sfd, &bat, &plain,
			 &offload);
	call_allocations(_metadata, self, fd, ufd, &bat, &plain, &udp);
	ASSERT_LE(offload, udp);
	close(ufd);
	close(fd);
}

/*
 * Fail each allocation of ADD and of an encrypting sendmsg() in turn: the
 * call fails cleanly (ENOMEM, or ENOBUFS from the socket layer) and sends
 * nothing, or it succeeds and its packets are right. KASAN and kmemleak
 * watch the error paths. A call fails only where a failure was injected,
 * and some must: a kernel whose allocations cannot fail passes nothing.
 */
TEST_F_TIMEOUT(quic, allocation_failures, 300)
{
	unsigned int nth, left, injected, failed;
	struct quic_send_args a;
	int fd, err, ret;
	struct flow f;
	bool armed;

	if (!fresh_netns(_metadata, self, variant))
		return;
	fd = quic_fault_setup();
	if (fd < 0)
		SKIP(return, "no fault injection (CONFIG_FAILSLAB, debugfs)");

	flow_init(&f, variant->cipher, 6);
	a = tx_args(self, &f, 3);
	injected = 0;
	failed = 0;
	for (nth = 1; nth < 3000; nth++) {
		armed = quic_fail_nth_arm(fd, nth);
		ret = quic_conn_add(self->sfd, &f.keys, f.cid, f.cid_len);
		err = errno;
		left = quic_fail_nth_left(fd);
		quic_fail_nth_set(fd, 0);

		describe("ADD with allocation %u failing", nth);
		ASSERT_TRUE(armed) TH_LOG("%s: fail-nth not armed", what);
		injected += !left;
		if (ret) {
			ASSERT_EQ(ENOMEM, err)
				TH_LOG("%s: %s", what, strerror(err));
			ASSERT_EQ(0, left)
				TH_LOG("%s: failed, none injected", what);
			failed++;
			ASSERT_REFUSED(ENOENT, quic_conn_del(self->sfd, f.cid,
							     f.cid_len));
			continue;
		}
		batch_fill(&bat, &f, 3, 1, 200, 1, 0);
		tx_check(_metadata, self, &f, &bat, &a, NULL, 0);
		ASSERT_EQ(0, quic_conn_del(self->sfd, f.cid, f.cid_len));
		if (left)
			break;	/* ADD made fewer allocations than that */
	}
	TH_LOG("ADD: %u allocation points, %u injected, %u calls failed",
	       nth - 1, injected, failed);
	ASSERT_LT(nth, 3000);
	ASSERT_GT(injected, 0) TH_LOG("no failure injected into ADD");
	ASSERT_GT(failed, 0);

	a = tx_args(self, &self->flow, 50);
	a.gso_size = 1000;
	injected = 0;
	failed = 0;
	for (nth = 1; nth < 3000; nth++) {
		batch_fill(&bat, &self->flow, 50, 2, 1000 - QUIC_TAG_LEN, 4,
			   300);
		armed = quic_fail_nth_arm(fd, nth);
		ret = tx_send(self, &bat, &a, NULL, 0);
		err = errno;
		left = quic_fail_nth_left(fd);
		quic_fail_nth_set(fd, 0);

		describe("GSO send with allocation %u failing", nth);
		ASSERT_TRUE(armed) TH_LOG("%s: fail-nth not armed", what);
		injected += !left;
		if (ret < 0) {
			ASSERT_TRUE(err == ENOMEM || err == ENOBUFS)
				TH_LOG("%s: %s", what, strerror(err));
			ASSERT_EQ(0, left)
				TH_LOG("%s: failed, none injected", what);
			failed++;
			rx_none(_metadata, self);
			continue;
		}
		ASSERT_EQ((ssize_t)bat.len, ret);
		rx_check(_metadata, self, &self->flow, &bat, bat.data, 50);
		rx_none(_metadata, self);
		if (left)
			break;
	}
	TH_LOG("sendmsg: %u allocation points, %u injected, %u calls failed",
	       nth - 1, injected, failed);
	ASSERT_LT(nth, 3000);
	ASSERT_GT(injected, 0) TH_LOG("no failure injected into sendmsg()");
	ASSERT_GT(failed, 0);
	close(fd);
	quic_knobs_restore();

	ASSERT_EQ(1, quic_stat(-1, "QuicCurrTxSw"));
	still_works(_metadata, self);
}

/* ------------------------------------------------------------------ */
/* The userspace receiver itself, against published vectors             */

static size_t unhex(uint8_t *out, const char *hex)
{
	size_t n = 0;
	unsigned int byte;

	while (hex[0] && hex[1] && sscanf(hex, "%2x", &byte) == 1) {
		out[n++] = byte;
		hex += 2;
	}
	return n;
}

TEST(verifier_rfc9001_a5)
{
	uint8_t plain[64], wire[64], out[64];
	struct quic_keys k = { .cipher = TLS_CIPHER_CHACHA20_POLY1305 };
	const uint64_t pn = 654360564;
	size_t plen, wlen;
	uint64_t got;

	/* RFC 9001 A.5: ChaCha20-Poly1305 short header, empty DCID. */
	unhex(k.key, "c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8");
	unhex(k.iv, "e0459b3474bdd0e44a41c144");
	unhex(k.hp, "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4");
	plen = unhex(plain, "4200bff401");
	wlen = unhex(wire, "4cfe4189655e5cd55c41f69080575d7999c25a5bfb");

	ASSERT_EQ((ssize_t)wlen, quic_protect(&k, plain, plen, 0, pn, out));
	ASSERT_EQ(0, memcmp(out, wire, wlen));
	ASSERT_EQ((ssize_t)plen, quic_unprotect(&k, wire, wlen, 0, pn, out,
						&got));
	ASSERT_EQ(pn, got);
	ASSERT_EQ(0, memcmp(out, plain, plen));

	/* RFC 9000 A.3: largest 0xa82f30ea, 16-bit 0x9b32 -> 0xa82f9b32. */
	ASSERT_EQ(0xa82f9b32ULL, quic_pn_decode(0xa82f30eaULL + 1, 0x9b32, 2));
}

TEST(verifier_hp_masks)
{
	struct quic_keys k = {};
	uint8_t sample[16], mask[5], want[5];

	/* AES-128 and AES-256 masks (ring's test files). */
	k.cipher = TLS_CIPHER_AES_GCM_128;
	unhex(k.hp, "e8904ecc2e37a6e4cc02271e319c804b");
	unhex(sample, "13484ec85dc4d36349697c7d4ea1a159");
	unhex(want, "67387ebf3a");
	ASSERT_EQ(0, quic_hp_mask(&k, sample, mask));
	ASSERT_EQ(0, memcmp(mask, want, 5));

	k.cipher = TLS_CIPHER_AES_GCM_256;
	unhex(k.hp, "85af7213814aec7b92ace6284a906643912ec8853d00d158a927b8697c7ff585");
	unhex(sample, "82a0db90f4cee12fa4afeddb74396cf6");
	unhex(want, "670897adf5");
	ASSERT_EQ(0, quic_hp_mask(&k, sample, mask));
	ASSERT_EQ(0, memcmp(mask, want, 5));

	k.cipher = TLS_CIPHER_CHACHA20_POLY1305;
	unhex(k.hp, "59bdff7a5bcdaacf319d99646c6273ad96687d2c74ace678f15a1c710675bb23");
	unhex(sample, "215a7c1688b4ab7d830dcd052aef9f3c");
	unhex(want, "6409a6196d");
	ASSERT_EQ(0, quic_hp_mask(&k, sample, mask));
	ASSERT_EQ(0, memcmp(mask, want, 5));
}

/* The receiver must reject what it should: otherwise every test passes. */
TEST(verifier_rejects_tampering)
{
	static const uint16_t ciphers[] = {
		TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_256,
		TLS_CIPHER_AES_CCM_128, TLS_CIPHER_CHACHA20_POLY1305,
	};
	static uint8_t plain[2048], wire[2048 + QUIC_TAG_LEN], out[2048];
	static const size_t sizes[] = { 13, 14, 29, 30, 1200, 2048 };
	uint64_t state = 1, pn;
	struct flow f;
	size_t len, i;
	int c, s;

	for (c = 0; c < ARRAY_SIZE(ciphers); c++) {
		for (s = 0; s < ARRAY_SIZE(sizes); s++) {
			rng = state++;
			flow_init(&f, ciphers[c], 8);
			batch_fill(&bat, &f, 77, 4, sizes[s], 1, 0);
			len = bat.len;
			memcpy(plain, bat.data, len);
			ASSERT_EQ((ssize_t)(len + QUIC_TAG_LEN),
				  quic_protect(&f.keys, plain, len, 8, 77,
					       wire));
			ASSERT_EQ((ssize_t)len,
				  quic_unprotect(&f.keys, wire,
						 len + QUIC_TAG_LEN, 8, 77,
						 out, &pn));
			ASSERT_EQ(0, memcmp(out, plain, len));
			for (i = 0; i < len + QUIC_TAG_LEN; i += 7) {
				wire[i] ^= 0x20;
				ASSERT_EQ(-1, quic_unprotect(&f.keys, wire,
							     len + QUIC_TAG_LEN,
							     8, 77, out, &pn))
					TH_LOG("%s, %zu bytes: flip at %zu accepted",
					       quic_cipher_name(ciphers[c]),
					       len, i);
				wire[i] ^= 0x20;
			}
		}
	}
}

TEST_HARNESS_MAIN
