// SPDX-License-Identifier: GPL-2.0
/*
 * Many connections on one quic-crypto socket: 10,000 by default, which the
 * kselftest runner's timeout allows on a debug kernel under emulation;
 * QUIC_SCALE_CONNS=100000 is the size the offload is meant to carry.
 *
 * Adds them all, measures the send cost per packet of a connection alone
 * on a second socket and of all of them (each batch to a random one of
 * them) in alternating rounds of the same run, checks a sample of packets
 * with the OpenSSL receiver, deletes them all and prints the timings, their
 * ratio and the memory used per connection.
 * Timings are reported, not asserted: the VM may run under emulation.
 */

#define _GNU_SOURCE
#include <errno.h>
#include <netinet/in.h>
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

#define CONNS_DEFAULT	10000
#define CID_LEN		8
#define PKT_LEN		1200
#define BATCH		16
#define ROUNDS		3
#define CHECKS		32
#define RX_WAIT_MS	3000

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Memory in use: MemTotal - MemFree, in kB. */
static long long mem_used_kb(void)
{
	long long total = quic_file_value("/proc", "meminfo", "MemTotal:");
	long long avail = quic_file_value("/proc", "meminfo", "MemFree:");

	return total < 0 || avail < 0 ? -1 : total - avail;
}

static void conn_keys(uint32_t i, struct quic_keys *k)
{
	uint64_t rng = 0x7363616c65ULL ^ i;

	quic_keys_random(k, TLS_CIPHER_AES_GCM_128, &rng);
}

struct scale {
	int sfd, rfd, sink;
	struct sockaddr_in dst, sink_dst;
	uint8_t buf[BATCH * PKT_LEN];
	uint64_t pn;
	uint64_t rng;
};

/* One GSO batch of BATCH packets for connection @i to @to. */
static ssize_t send_one_batch(struct scale *s, uint32_t i,
			      const struct sockaddr_in *to, int n)
{
	struct quic_send_args a = {
		.addr = (const struct sockaddr *)to,
		.addrlen = sizeof(*to),
		.next_pkt_num = s->pn,
		.cid_len = CID_LEN,
		.gso_size = PKT_LEN + QUIC_TAG_LEN,
	};
	struct iovec iov = { .iov_base = s->buf, .iov_len = n * PKT_LEN };
	uint8_t cid[CID_LEN];
	int p;

	quic_cid_numbered(cid, CID_LEN, 0xc1, i);
	for (p = 0; p < n; p++)
		quic_short_hdr(s->buf + p * PKT_LEN, cid, CID_LEN, s->pn + p, 4,
			       false);
	s->pn += n;
	return quic_sendmsg(s->sfd, &iov, 1, &a);
}

/* Seconds per packet over @batches batches to random connections. */
static double measure(struct __test_metadata *_metadata, struct scale *s,
		      uint32_t nconns, int batches)
{
	double t = now();
	int b;

	for (b = 0; b < batches; b++) {
		uint32_t i = nconns == 1 ? 0 :
			     quic_rand_range(&s->rng, 0, nconns - 1);

		ASSERT_EQ(BATCH * PKT_LEN,
			  send_one_batch(s, i, &s->sink_dst, BATCH))
			TH_LOG("send: %s", strerror(errno));
	}
	return (now() - t) / ((double)batches * BATCH);
}

static int open_tx(void)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd >= 0 && quic_ulp_attach(fd)) {
		close(fd);
		return -1;
	}
	return fd;
}

static int open_rx(struct sockaddr_in *addr, int rcvbuf)
{
	socklen_t len = sizeof(*addr);
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0)
		return -1;
	setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof(rcvbuf));
	memset(addr, 0, sizeof(*addr));
	addr->sin_family = AF_INET;
	addr->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(fd, (struct sockaddr *)addr, len) ||
	    getsockname(fd, (struct sockaddr *)addr, &len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* Send one packet of connection @i to the receiver and check it. */
static void check_conn(struct __test_metadata *_metadata, struct scale *s,
		       uint32_t i)
{
	uint8_t got[PKT_LEN + QUIC_TAG_LEN], plain[PKT_LEN];
	struct quic_keys k;
	uint64_t pn;

	conn_keys(i, &k);
	quic_rand_bytes(&s->rng, s->buf, PKT_LEN);
	ASSERT_EQ(PKT_LEN, send_one_batch(s, i, &s->dst, 1));
	ASSERT_EQ(PKT_LEN + QUIC_TAG_LEN,
		  quic_recv(s->rfd, got, sizeof(got), RX_WAIT_MS));
	ASSERT_EQ(PKT_LEN,
		  quic_unprotect(&k, got, sizeof(got), CID_LEN, s->pn - 1,
				 plain, &pn))
		TH_LOG("connection %u: %s", i, quic_error());
	EXPECT_EQ(s->pn - 1, pn);
	EXPECT_EQ(0, memcmp(plain, s->buf, PKT_LEN));
}

FIXTURE(scale)
{
	int unused;
};

FIXTURE_SETUP(scale)
{
}

FIXTURE_TEARDOWN(scale)
{
}

/* 100,000 take about five minutes under emulation with a debug kernel. */
TEST_F_TIMEOUT(scale, connections, 1800)
{
	double t_add, t_del, c1 = 1e9, cn = 1e9, t;
	long long curr0, mem0, mem1;
	static struct scale s, one;
	struct quic_keys k;
	uint8_t cid[CID_LEN];
	uint32_t i, conns = CONNS_DEFAULT;
	int batches = 200, r;

	/* QuicCurrTxSw of a namespace no other test uses. */
	if (quic_netns_fresh())
		SKIP(return, "no network namespace: %s", strerror(errno));
	s.rng = 0x100000;
	s.rfd = open_rx(&s.dst, 1 << 20);
	ASSERT_GE(s.rfd, 0);
	/* Never read: the send cost is what is measured. */
	s.sink = open_rx(&s.sink_dst, 4096);
	ASSERT_GE(s.sink, 0);
	s.sfd = open_tx();
	if (s.sfd < 0)
		SKIP(return, "quic-crypto ULP not available: %s",
		     strerror(errno));
	/* Other sizes: the acceptance size, or smaller runs for development. */
	if (getenv("QUIC_SCALE_BATCHES"))
		batches = atoi(getenv("QUIC_SCALE_BATCHES"));
	if (getenv("QUIC_SCALE_CONNS"))
		conns = strtoul(getenv("QUIC_SCALE_CONNS"), NULL, 0);
	ASSERT_GE(conns, 2);
	curr0 = quic_stat(-1, "QuicCurrTxSw");
	ASSERT_GE(curr0, 0);

	/* The same connection on a second socket, where it stays alone. */
	one.sfd = open_tx();
	ASSERT_GE(one.sfd, 0);
	one.sink_dst = s.sink_dst;
	quic_cid_numbered(cid, CID_LEN, 0xc1, 0);
	conn_keys(0, &k);
	ASSERT_EQ(0, quic_conn_add(s.sfd, &k, cid, CID_LEN));
	ASSERT_EQ(0, quic_conn_add(one.sfd, &k, cid, CID_LEN));

	mem0 = mem_used_kb();
	t_add = now();
	for (i = 1; i < conns; i++) {
		quic_cid_numbered(cid, CID_LEN, 0xc1, i);
		conn_keys(i, &k);
		ASSERT_EQ(0, quic_conn_add(s.sfd, &k, cid, CID_LEN))
			TH_LOG("ADD %u: %s", i, strerror(errno));
	}
	t_add = now() - t_add;
	mem1 = mem_used_kb();
	ASSERT_EQ(curr0 + conns + 1, quic_stat(-1, "QuicCurrTxSw"));

	/*
	 * One connection and all of them in turn, so that both see the
	 * same load from the rest of the machine; the best of each.
	 */
	measure(_metadata, &one, 1, batches / 10 + 1);
	for (r = 0; r < ROUNDS; r++) {
		t = measure(_metadata, &one, 1, batches);
		c1 = t < c1 ? t : c1;
		t = measure(_metadata, &s, conns, batches);
		cn = t < cn ? t : cn;
	}

	for (i = 0; i < CHECKS; i++)
		check_conn(_metadata, &s, quic_rand_range(&s.rng, 0, conns - 1));
	check_conn(_metadata, &s, 0);
	check_conn(_metadata, &s, conns - 1);

	t_del = now();
	for (i = 0; i < conns; i++) {
		quic_cid_numbered(cid, CID_LEN, 0xc1, i);
		ASSERT_EQ(0, quic_conn_del(s.sfd, cid, CID_LEN))
			TH_LOG("DEL %u: %s", i, strerror(errno));
	}
	t_del = now() - t_del;
	ASSERT_EQ(curr0 + 1, quic_stat(-1, "QuicCurrTxSw"));

	/* A deleted connection is gone. */
	ASSERT_EQ(-1, send_one_batch(&s, 7, &s.sink_dst, 1));
	ASSERT_EQ(ENOKEY, errno);

	ksft_print_msg("connections: %u, ADD %.2f us each, DEL %.2f us each\n",
		       conns, t_add * 1e6 / (conns - 1), t_del * 1e6 / conns);
	ksft_print_msg("send cost per %d-byte packet: 1 connection %.0f ns, ",
		       PKT_LEN, c1 * 1e9);
	printf("%u connections %.0f ns, ratio %.3f\n", conns, cn * 1e9,
	       cn / c1);
	if (mem0 >= 0 && mem1 >= 0)
		ksft_print_msg("memory per connection (AES-128-GCM): %lld bytes\n",
			       (mem1 - mem0) * 1024 / (conns - 1));
	close(one.sfd);
	close(s.sfd);
	close(s.sink);
	close(s.rfd);
}

TEST_HARNESS_MAIN
