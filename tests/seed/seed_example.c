// SPDX-License-Identifier: GPL-2.0
/*
 * The code examples of the seed document (Documentation/networking/quic.rst
 * as first proposed), pasted unmodified, must compile against the installed
 * uAPI headers and work. This program wraps them with the least scaffolding
 * they need: the sockets, the `fd`, `client` and `self` names they use, the
 * ULP attach, and a receiver that checks the result with OpenSSL.
 *
 *	gcc -I build/usr/include -o seed_example tests/seed/seed_example.c -lcrypto
 *
 * Run as root in the test VM. Exit status: 0 pass, 1 fail, 4 skip (no ULP).
 * The examples run in document order except that the sends (without, then
 * with the GSO example's fragment size) come before the removal; after the
 * removal the same message must be refused with ENOKEY and not sent.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <unistd.h>

#include <linux/quic.h>
#include <linux/tls.h>
#include <linux/udp.h>

#include <openssl/evp.h>

#ifndef SOL_UDP
#define SOL_UDP 17	/* <netinet/udp.h> would clash with <linux/udp.h> */
#endif

#define KSFT_SKIP 4

/* The names the examples use for the peer address and the sending socket. */
static union {
	struct sockaddr_in addr;
	struct sockaddr_in6 addr6;
} client;

static struct {
	int sfd;
} seed_ctx;

/*
 * Short-header packets for connection 01 02 03 04 05 every @step bytes of
 * @buf, numbered from 0x0d65c9 on, each with a 2-byte packet number
 * (0x65c9, ...) that next_pkt_num 0x0d65c9 expands back.
 */
static void build_packets(char *buf, size_t len, size_t step, size_t pn)
{
	size_t off, i;

	for (off = 0; off < len; off += step, pn++) {
		buf[off] = 0x41;
		for (i = 1; i <= 5; i++)
			buf[off + i] = i;
		buf[off + 6] = pn >> 8;
		buf[off + 7] = pn;
		for (i = off + 8; i < off + step && i < len; i++)
			buf[i] = i * 7 + 3;
	}
}

/*
 * The send example transmits quic_data[] without writing to it: the buffer
 * stands for the application's QUIC packets. `self` is the last name the
 * example evaluates before sendmsg(), so the scaffolding writes one
 * 9000-byte packet there. (The GSO example evaluates it too; its packets
 * are written after it.)
 */
#define self (build_packets(quic_data, sizeof(quic_data), sizeof(quic_data), \
			  0x0d65c9), \
	      &seed_ctx)

static int fail(const char *what)
{
	fprintf(stderr, "seed_example: %s: %s\n", what, strerror(errno));
	return 1;
}

/* Receive one datagram, or -1 after a second of nothing. */
static ssize_t recv_wait(int fd, void *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, 1000) != 1) {
		errno = EAGAIN;
		return -1;
	}
	return recv(fd, buf, len, MSG_DONTWAIT);
}

/*
 * RFC 9001 receiver for AES-128-GCM: remove header protection (AES-ECB
 * mask), recover the packet number around @expected, open the AEAD.
 * Returns the plaintext packet length in @out, or -1.
 */
static ssize_t open_packet(const uint8_t *key, const uint8_t *iv,
			   const uint8_t *hp, const uint8_t *pkt, size_t len,
			   size_t cid_len, uint64_t expected, uint8_t *out)
{
	size_t pn_off = 1 + cid_len, hdr_len, pn_len, i;
	uint64_t win, trunc = 0, pn;
	uint8_t mask[16], nonce[12];
	EVP_CIPHER_CTX *ctx;
	int outl, ok;

	if (len < pn_off + 4 + 16)
		return -1;
	ctx = EVP_CIPHER_CTX_new();
	ok = EVP_EncryptInit_ex(ctx, EVP_aes_128_ecb(), NULL, hp, NULL) &&
	     EVP_EncryptUpdate(ctx, mask, &outl, pkt + pn_off + 4, 16);
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return -1;

	memcpy(out, pkt, pn_off);
	out[0] ^= mask[0] & 0x1f;
	pn_len = (out[0] & 3) + 1;
	for (i = 0; i < pn_len; i++) {
		out[pn_off + i] = pkt[pn_off + i] ^ mask[1 + i];
		trunc = trunc << 8 | out[pn_off + i];
	}
	hdr_len = pn_off + pn_len;

	/* RFC 9000 A.3 */
	win = 1ULL << (8 * pn_len);
	pn = (expected & ~(win - 1)) | trunc;
	if (pn + win / 2 <= expected && pn < (1ULL << 62) - win)
		pn += win;
	else if (pn > expected + win / 2 && pn >= win)
		pn -= win;

	memcpy(nonce, iv, 12);
	for (i = 0; i < 8; i++)
		nonce[11 - i] ^= pn >> (8 * i);

	ctx = EVP_CIPHER_CTX_new();
	ok = EVP_DecryptInit_ex(ctx, EVP_aes_128_gcm(), NULL, key, nonce) &&
	     EVP_DecryptUpdate(ctx, NULL, &outl, out, hdr_len) &&
	     EVP_DecryptUpdate(ctx, out + hdr_len, &outl, pkt + hdr_len,
			       len - hdr_len - 16) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_GCM_SET_TAG, 16,
				 (void *)(pkt + len - 16)) &&
	     EVP_DecryptFinal_ex(ctx, out + hdr_len + outl, &outl);
	EVP_CIPHER_CTX_free(ctx);
	return ok ? (ssize_t)(len - 16) : -1;
}

/* Receive and check @len bytes of packets sent every @step bytes. */
static int check_rx(int rfd, const char *data, size_t len, size_t step,
		    const char *key, const char *iv, const char *hp)
{
	static uint8_t dgram[65536], plain[65536];
	size_t off, plen;
	ssize_t n;

	for (off = 0; off < len; off += step) {
		plen = len - off < step ? len - off : step;
		n = recv_wait(rfd, dgram, sizeof(dgram));
		if (n != (ssize_t)plen + 16)
			return fail("receiving a datagram");
		if (open_packet((const uint8_t *)key, (const uint8_t *)iv,
				(const uint8_t *)hp, dgram, n, 5, 0x0d65c9,
				plain) != (ssize_t)plen) {
			fprintf(stderr, "seed_example: datagram at %zu does not decrypt\n",
				off);
			return 1;
		}
		if (memcmp(plain, data + off, plen)) {
			fprintf(stderr, "seed_example: decrypted data differs at %zu\n",
				off);
			return 1;
		}
	}
	if (recv_wait(rfd, dgram, sizeof(dgram)) != -1) {
		fprintf(stderr, "seed_example: unexpected datagram\n");
		return 1;
	}
	return 0;
}

static int run_examples(int family)
{
	static uint8_t dgram[65536];
	socklen_t alen = sizeof(client);
	int frag_size = 1200;
	int rfd, fd;

	/* Scaffolding: a receiver on loopback, which the sender calls client. */
	memset(&client, 0, sizeof(client));
	rfd = socket(family, SOCK_DGRAM, 0);
	if (rfd < 0)
		return fail("receiver socket");
	if (family == AF_INET) {
		client.addr.sin_family = AF_INET;
		client.addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	} else {
		client.addr6.sin6_family = AF_INET6;
		client.addr6.sin6_addr = in6addr_loopback;
	}
	if (bind(rfd, (struct sockaddr *)&client, alen) ||
	    getsockname(rfd, (struct sockaddr *)&client, &alen))
		return fail("receiver bind");

	fd = socket(family, SOCK_DGRAM, 0);
	if (fd < 0)
		return fail("socket");
	if (setsockopt(fd, SOL_UDP, UDP_ULP, "quic-crypto",
		       sizeof("quic-crypto"))) {
		fprintf(stderr, "seed_example: quic-crypto ULP: %s\n",
			strerror(errno));
		return errno == ENOENT || errno == ENOPROTOOPT ? KSFT_SKIP : 1;
	}
	seed_ctx.sfd = fd;

	/* ---- seed example 1: adding a connection, unmodified ---- */
	struct quic_connection_info conn_info;
	char conn_id[5] = {0x01, 0x02, 0x03, 0x04, 0x05};
	const size_t conn_id_len = sizeof(conn_id);
	char conn_key[16] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
			     0x08, 0x09, 0x0a, 0x0b, 0x0c, 0x0d, 0x0e, 0x0f};
	char conn_iv[12] = {0x00, 0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07,
			    0x08, 0x09, 0x0a, 0x0b};
	char conn_hdr_key[16] = {0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17,
				 0x18, 0x19, 0x1a, 0x1b, 0x1c, 0x1d, 0x1e, 0x1f
				};

	conn_info.cipher_type = TLS_CIPHER_AES_GCM_128;

	memset(&conn_info.key, 0, sizeof(struct quic_connection_info_key));
	conn_info.key.conn_id_length = 5;
	memcpy(&conn_info.key.conn_id[QUIC_MAX_CONNECTION_ID_SIZE
				      - conn_id_len],
	       &conn_id, conn_id_len);

	memcpy(&conn_info.payload_key, conn_key, sizeof(conn_key));
	memcpy(&conn_info.payload_iv, conn_iv, sizeof(conn_iv));
	memcpy(&conn_info.header_key, conn_hdr_key, sizeof(conn_hdr_key));

	setsockopt(fd, SOL_UDP, UDP_QUIC_ADD_TX_CONNECTION, &conn_info,
		   sizeof(conn_info));
	/* ---- end of seed example 1 ---- */

	/* ---- seed example 3: sending QUIC application data, unmodified ---- */
	size_t cmsg_tx_len = sizeof(struct quic_tx_ancillary_data);
	uint8_t cmsg_buf[CMSG_SPACE(cmsg_tx_len)];
	struct quic_tx_ancillary_data * anc_data;
	size_t quic_data_len = 4500;
	struct cmsghdr * cmsg_hdr;
	char quic_data[9000];
	struct iovec iov[2];
	int send_len = 9000;
	struct msghdr msg;
	int err;

	iov[0].iov_base = quic_data;
	iov[0].iov_len = quic_data_len;
	iov[1].iov_base = quic_data + 4500;
	iov[1].iov_len = quic_data_len;

	if (client.addr.sin_family == AF_INET) {
		msg.msg_name = &client.addr;
		msg.msg_namelen = sizeof(client.addr);
	} else {
		msg.msg_name = &client.addr6;
		msg.msg_namelen = sizeof(client.addr6);
	}

	msg.msg_iov = iov;
	msg.msg_iovlen = 2;
	msg.msg_control = cmsg_buf;
	msg.msg_controllen = sizeof(cmsg_buf);
	cmsg_hdr = CMSG_FIRSTHDR(&msg);
	cmsg_hdr->cmsg_level = IPPROTO_UDP;
	cmsg_hdr->cmsg_type = UDP_QUIC_ENCRYPT;
	cmsg_hdr->cmsg_len = CMSG_LEN(cmsg_tx_len);
	anc_data = CMSG_DATA(cmsg_hdr);
	anc_data->flags = 0;
	anc_data->next_pkt_num = 0x0d65c9;
	anc_data->conn_id_length = conn_id_len;
	err = sendmsg(self->sfd, &msg, 0);
	/* ---- end of seed example 3 ---- */

	if (err != send_len)
		return fail("seed sendmsg");
	if (check_rx(rfd, quic_data, send_len, send_len, conn_key, conn_iv,
		     conn_hdr_key))
		return 1;

	/* ---- seed example 4: GSO fragment size, unmodified ---- */
	setsockopt(self->sfd, SOL_UDP, UDP_SEGMENT, &frag_size,
		   sizeof(frag_size));
	/* ---- end of seed example 4 ---- */

	/*
	 * The same message again, now as packets every 1200 - 16 bytes,
	 * numbered on from the first send: numbers never repeat.
	 */
	build_packets(quic_data, sizeof(quic_data), frag_size - 16, 0x0d65ca);
	if (sendmsg(fd, &msg, 0) != send_len)
		return fail("sendmsg with UDP_SEGMENT 1200");
	if (check_rx(rfd, quic_data, send_len, frag_size - 16, conn_key,
		     conn_iv, conn_hdr_key))
		return 1;

	/* ---- seed example 2: removing the connection, unmodified ---- */
	memset(&conn_info.key, 0, sizeof(struct quic_connection_info_key));
	conn_info.key.conn_id_length = 5;
	memcpy(&conn_info.key.conn_id[QUIC_MAX_CONNECTION_ID_SIZE
				      - conn_id_len],
	       &conn_id, conn_id_len);
	setsockopt(fd, SOL_UDP, UDP_QUIC_DEL_TX_CONNECTION, &conn_info,
		   sizeof(conn_info));
	/* ---- end of seed example 2 ---- */

	/* The connection is gone: the same message is refused, unsent. */
	if (sendmsg(fd, &msg, 0) != -1 || errno != ENOKEY) {
		fprintf(stderr, "seed_example: send after removal not refused with ENOKEY\n");
		return 1;
	}
	if (recv_wait(rfd, dgram, sizeof(dgram)) != -1) {
		fprintf(stderr, "seed_example: a refused send reached the wire\n");
		return 1;
	}

	close(fd);
	close(rfd);
	printf("seed_example: %s: ok\n", family == AF_INET ? "IPv4" : "IPv6");
	return 0;
}

/*
 * The examples leave most of conn_info and msg uninitialised; make sure
 * that stack memory holds garbage rather than lucky zeros.
 */
static void __attribute__((noinline)) dirty_stack(void)
{
	volatile uint8_t junk[32768];
	size_t i;

	for (i = 0; i < sizeof(junk); i++)
		junk[i] = 0xa5 ^ i;
}

int main(void)
{
	int ret;

	dirty_stack();
	ret = run_examples(AF_INET);
	if (ret)
		return ret;
	dirty_stack();
	return run_examples(AF_INET6);
}
