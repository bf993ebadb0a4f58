// SPDX-License-Identifier: GPL-2.0
/*
 * quic_demo: the QUIC 1-RTT Tx offload seen from both ends.
 *
 *   quic_demo send ADDR PORT    attach quic-crypto, install two connections
 *                               with different ciphers, send one GSO batch
 *                               of plaintext packets for each
 *   quic_demo recv PORT COUNT   receive COUNT datagrams and open each with
 *                               OpenSSL, independently of the kernel
 *
 * Both sides derive the keys and the expected payloads from the connection
 * table below, so the receiver can tell a correct packet from a wrong one.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <linux/tls.h>

#include "quic_util.h"

#define CID_LEN		8
#define GSO_SIZE	1200
#define PKTS_PER_CONN	8
#define PN_LEN		2

struct demo_conn {
	const char *name;
	uint16_t cipher;
	uint8_t cid_byte;
	uint8_t key_base;
	uint64_t first_pn;
};

static const struct demo_conn conns[] = {
	{ "conn-A", TLS_CIPHER_AES_GCM_128, 0xa1, 0x20, 0x1000 },
	{ "conn-B", TLS_CIPHER_CHACHA20_POLY1305, 0xb2, 0x40, 0x2a0000 },
};

#define NCONNS (sizeof(conns) / sizeof(conns[0]))

static void conn_keys(const struct demo_conn *c, struct quic_keys *k)
{
	quic_keys_pattern(k, c->cipher, c->key_base);
}

static void conn_cid(const struct demo_conn *c, uint8_t *cid)
{
	memset(cid, c->cid_byte, CID_LEN);
}

/* Packet i of a connection: its size and a payload the receiver can redo. */
static size_t packet_len(unsigned int i)
{
	/* every packet fills its GSO slot but the last, as a QUIC stack would */
	return i == PKTS_PER_CONN - 1 ? 517 : GSO_SIZE - QUIC_TAG_LEN;
}

static size_t build_packet(const struct demo_conn *c, unsigned int i, uint8_t *buf)
{
	uint64_t pn = c->first_pn + i;
	uint8_t cid[CID_LEN];
	size_t hdr, len = packet_len(i), j;

	conn_cid(c, cid);
	hdr = quic_short_hdr(buf, cid, CID_LEN, pn, PN_LEN, false);
	j = hdr + snprintf((char *)buf + hdr, len - hdr,
			   "%s packet %u: plaintext written by userspace, encrypted by the kernel. ",
			   c->name, i);
	for (; j < len; j++)
		buf[j] = (uint8_t)(pn * 7 + j);
	return len;
}

static int demo_send(const char *addr, int port)
{
	static uint8_t batch[PKTS_PER_CONN * GSO_SIZE];
	struct sockaddr_in dst = { .sin_family = AF_INET, .sin_port = htons(port) };
	struct quic_send_args args = {
		.addr = (struct sockaddr *)&dst, .addrlen = sizeof(dst),
		.cid_len = CID_LEN, .gso_size = GSO_SIZE,
	};
	unsigned int n, i;
	int fd;

	if (inet_pton(AF_INET, addr, &dst.sin_addr) != 1)
		return fprintf(stderr, "bad address %s\n", addr), 1;
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || quic_ulp_attach(fd))
		return perror("attach quic-crypto"), 1;
	printf("sender: UDP socket with ULP \"quic-crypto\" attached\n");

	for (n = 0; n < NCONNS; n++) {
		const struct demo_conn *c = &conns[n];
		struct quic_keys k;
		uint8_t cid[CID_LEN];

		conn_keys(c, &k);
		conn_cid(c, cid);
		if (quic_conn_add(fd, &k, cid, CID_LEN))
			return perror("UDP_QUIC_ADD_TX_CONNECTION"), 1;
		printf("sender: %s dcid %02x x%d  %-17s 1-RTT keys installed\n",
		       c->name, c->cid_byte, CID_LEN, quic_cipher_name(c->cipher));
	}

	for (n = 0; n < NCONNS; n++) {
		const struct demo_conn *c = &conns[n];
		struct iovec iov = { .iov_base = batch };
		ssize_t sent;

		for (i = 0; i < PKTS_PER_CONN; i++)
			iov.iov_len += build_packet(c, i, batch + iov.iov_len);
		args.next_pkt_num = c->first_pn;
		sent = quic_sendmsg(fd, &iov, 1, &args);
		if (sent != (ssize_t)iov.iov_len)
			return perror("sendmsg UDP_QUIC_ENCRYPT"), 1;
		printf("sender: %s one sendmsg(): %zu plaintext bytes, %u packets, UDP_SEGMENT %d\n",
		       c->name, iov.iov_len, PKTS_PER_CONN, GSO_SIZE);
	}
	close(fd);
	return 0;
}

static const struct demo_conn *conn_of(const uint8_t *pkt, size_t len)
{
	unsigned int n;
	uint8_t cid[CID_LEN];

	for (n = 0; n < NCONNS && len > CID_LEN; n++) {
		conn_cid(&conns[n], cid);
		if (!memcmp(pkt + 1, cid, CID_LEN))
			return &conns[n];
	}
	return NULL;
}

static int demo_recv(int port, int count)
{
	static uint8_t pkt[65536], plain[65536], want[GSO_SIZE];
	struct sockaddr_in any = { .sin_family = AF_INET, .sin_port = htons(port) };
	int fd, got, bad = 0, rcvbuf = 1 << 22;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
	if (fd < 0 || bind(fd, (struct sockaddr *)&any, sizeof(any)))
		return perror("receiver bind"), 1;
	printf("receiver: listening on UDP port %d, decrypting with OpenSSL\n", port);
	fflush(stdout);

	for (got = 0; got < count; got++) {
		const struct demo_conn *c;
		struct quic_keys k;
		uint64_t pn;
		ssize_t len, plen;
		size_t wlen;
		const char *verdict = "payload matches";

		len = quic_recv(fd, pkt, sizeof(pkt), 10000);
		if (len < 0)
			return fprintf(stderr, "receiver: only %d of %d datagrams arrived\n",
				       got, count), 1;
		c = conn_of(pkt, len);
		if (!c) {
			printf("receiver: %4zd bytes  unknown connection ID\n", len);
			bad++;
			continue;
		}
		conn_keys(c, &k);
		plen = quic_unprotect(&k, pkt, len, CID_LEN, c->first_pn, plain, &pn);
		if (plen < 0) {
			printf("receiver: %4zd bytes  %s  DECRYPTION FAILED: %s\n",
			       len, c->name, quic_error());
			bad++;
			continue;
		}
		wlen = build_packet(c, pn - c->first_pn, want);
		if (pn < c->first_pn || pn >= c->first_pn + PKTS_PER_CONN ||
		    (size_t)len != wlen + QUIC_TAG_LEN || memcmp(plain, want, wlen)) {
			verdict = "PAYLOAD DIFFERS";
			bad++;
		}
		printf("receiver: %4zd bytes  %s  %-17s pn %#8llx  wire %02x%02x%02x%02x..  header+AEAD open, %s\n",
		       len, c->name, quic_cipher_name(c->cipher), (unsigned long long)pn,
		       pkt[1 + CID_LEN + PN_LEN], pkt[2 + CID_LEN + PN_LEN],
		       pkt[3 + CID_LEN + PN_LEN], pkt[4 + CID_LEN + PN_LEN], verdict);
	}
	printf("receiver: %d datagrams, %d verified, %d bad\n", count, count - bad, bad);
	return bad ? 1 : 0;
}

int main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && !strcmp(argv[1], "send"))
		return demo_send(argv[2], atoi(argv[3]));
	if (argc == 4 && !strcmp(argv[1], "recv"))
		return demo_recv(atoi(argv[2]), atoi(argv[3]));
	fprintf(stderr, "usage: %s send ADDR PORT | recv PORT COUNT\n", argv[0]);
	return 2;
}
