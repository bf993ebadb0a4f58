/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Userspace QUIC helpers for the quic-crypto selftests: plaintext 1-RTT
 * packet construction, an independent receiver built on OpenSSL libcrypto
 * (header protection removal, packet number recovery, AEAD open), the
 * socket calls of the offload API and a /proc/net/quic_stat reader.
 */
#ifndef __SELFTEST_NET_QUIC_UTIL_H
#define __SELFTEST_NET_QUIC_UTIL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>

#ifndef SOL_UDP
#define SOL_UDP			17	/* <netinet/udp.h> clashes with <linux/udp.h> */
#endif

#define QUIC_TAG_LEN		16
#define QUIC_SAMPLE_LEN		16
#define QUIC_IV_LEN		12
#define QUIC_KEY_MAX		32
#define QUIC_CID_MAX		20
#define QUIC_PN_MAX		((1ULL << 62) - 1)

/* Short header: 0|1|S|R|R|K|P|P, then DCID, then 1 to 4 bytes of PN. */
#define QUIC_HDR_LONG		0x80
#define QUIC_HDR_FIXED		0x40
#define QUIC_HDR_KEY_PHASE	0x04
#define QUIC_HDR_PN_LEN_MASK	0x03

/* Smallest plaintext packet that leaves room for the HP sample. */
#define QUIC_MIN_PKT(cid_len)	(1 + (cid_len) + 4)

struct quic_keys {
	uint16_t cipher;		/* TLS_CIPHER_* */
	uint8_t key[QUIC_KEY_MAX];
	uint8_t iv[QUIC_IV_LEN];
	uint8_t hp[QUIC_KEY_MAX];
};

/* Cipher table */
size_t quic_key_len(uint16_t cipher);	/* 0 if unknown */
const char *quic_cipher_name(uint16_t cipher);
void quic_keys_pattern(struct quic_keys *k, uint16_t cipher, uint8_t base);
void quic_keys_random(struct quic_keys *k, uint16_t cipher, uint64_t *rng);

/* Deterministic PRNG (splitmix64), so a failing seed can be replayed. */
uint64_t quic_rand(uint64_t *state);
uint64_t quic_rand_range(uint64_t *state, uint64_t lo, uint64_t hi);
void quic_rand_bytes(uint64_t *state, void *buf, size_t len);

/* RFC 9000 A.3; @expected is the largest packet number seen plus one. */
uint64_t quic_pn_decode(uint64_t expected, uint64_t truncated,
			unsigned int pn_len);

/*
 * Write a plaintext short header (fixed bit set, reserved bits clear) to
 * @buf and return its length (1 + cid_len + pn_len). The caller appends
 * the payload.
 */
size_t quic_short_hdr(uint8_t *buf, const uint8_t *cid, size_t cid_len,
		      uint64_t pn, unsigned int pn_len, bool key_phase);

/*
 * Receiver side of RFC 9001 section 5 for one short-header packet of
 * @len bytes: remove header protection, recover the packet number with
 * @expected, open the AEAD. On success the unprotected packet (header
 * and plaintext payload, @len - 16 bytes) is written to @out, the full
 * packet number to @pn, and the plaintext length is returned. On
 * failure -1 is returned and quic_error() says why.
 */
ssize_t quic_unprotect(const struct quic_keys *k, const uint8_t *pkt,
		       size_t len, size_t cid_len, uint64_t expected,
		       uint8_t *out, uint64_t *pn);

/*
 * Sender side, used only to check the receiver above against published
 * vectors: protect the plaintext packet @in of @len bytes into @out
 * (@len + 16 bytes). Returns the protected length or -1.
 */
ssize_t quic_protect(const struct quic_keys *k, const uint8_t *in,
		     size_t len, size_t cid_len, uint64_t expected,
		     uint8_t *out);

/* Header protection mask (5 bytes) for a 16-byte @sample. */
int quic_hp_mask(const struct quic_keys *k, const uint8_t *sample,
		 uint8_t *mask);

const char *quic_error(void);

/* Socket API of the offload. All return the syscall result, errno set. */
int quic_ulp_attach(int fd);
int quic_conn_add(int fd, const struct quic_keys *k, const uint8_t *cid,
		  size_t cid_len);
int quic_conn_del(int fd, const uint8_t *cid, size_t cid_len);

struct quic_send_args {
	const struct sockaddr *addr;	/* NULL on a connected socket */
	socklen_t addrlen;
	uint64_t next_pkt_num;
	uint8_t flags;
	uint8_t cid_len;
	uint16_t gso_size;	/* 0: no UDP_SEGMENT cmsg */
	bool gso_first;		/* put UDP_SEGMENT before UDP_QUIC_ENCRYPT */
	bool no_quic_cmsg;	/* omit UDP_QUIC_ENCRYPT */
	int quic_cmsg_count;	/* 0 means 1 */
	int quic_cmsg_len_delta; /* added to the cmsg_len of UDP_QUIC_ENCRYPT */
	int msg_flags;
	bool extra;		/* one more cmsg, with an int payload: */
	int extra_level;
	int extra_type;
	int extra_val;
};

/* Room for the control messages quic_cmsg_build() writes. */
#define QUIC_CMSG_BUF		512

/* Write the control messages described by @a; returns their length. */
size_t quic_cmsg_build(void *buf, size_t size, const struct quic_send_args *a);
ssize_t quic_sendmsg(int fd, const struct iovec *iov, size_t iovcnt,
		     const struct quic_send_args *a);

/*
 * Receive one datagram, waiting at most @timeout_ms for it. Returns its
 * length, or -1 with errno EAGAIN when nothing arrived in time.
 */
ssize_t quic_recv(int fd, void *buf, size_t len, int timeout_ms);

/*
 * Read counter @name from an open /proc/net/quic_stat (@fd >= 0) or from
 * the calling task's namespace (@fd < 0). Returns -1 if it is missing.
 */
long long quic_stat(int fd, const char *name);

#endif
