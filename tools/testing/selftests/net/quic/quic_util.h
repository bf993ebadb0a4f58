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
struct quic_connection_info;

/* The UDP_QUIC_ADD_TX_CONNECTION argument for @k and @cid. */
void quic_conn_info(struct quic_connection_info *ci, const struct quic_keys *k,
		    const uint8_t *cid, size_t cid_len);
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
	uint8_t quic_cmsg_tail;	/* last byte of a longer UDP_QUIC_ENCRYPT */
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

/*
 * Key schedule of RFC 9001 section 5.1 with HKDF-Expand-Label (RFC 8446,
 * section 7.1) from OpenSSL, and the key update of section 6.
 */
#define QUIC_SECRET_MAX		48

struct quic_gen {			/* one key generation */
	uint8_t secret[QUIC_SECRET_MAX];
	struct quic_keys keys;
};

int quic_expand_label(const char *md, const uint8_t *secret,
		      size_t secret_len, const char *label, uint8_t *out,
		      size_t out_len);
/* Keys of @g->secret; the header key is derived too unless @hp_from. */
int quic_gen_keys(struct quic_gen *g, uint16_t cipher, const uint8_t *hp_from);
/* The generation after @g: secret via "quic ku", header key kept. */
int quic_gen_next(struct quic_gen *next, const struct quic_gen *g);

/* Move the caller into a new network namespace with lo up. */
int quic_netns_fresh(void);
/* Bring up the loopback device of the caller's namespace. */
int quic_lo_up(void);

/* UDP_QUIC_SET_TX_KEY_PHASE; @k may be NULL (RETIRE). */
int quic_key_phase(int fd, const uint8_t *cid, size_t cid_len, uint8_t op,
		   uint8_t phase, const struct quic_keys *k);

/* True if @len bytes at @buf contain the @plen bytes at @pat. */
bool quic_contains(const void *buf, size_t len, const void *pat, size_t plen);

/* Write @val to @dir/@name: 0, or -1 with errno set. */
int quic_file_write(const char *dir, const char *name, const char *val);
/*
 * The number after @key on a line of @dir/@name, or the file's first
 * number if @key is NULL; -1 if there is none.
 */
long long quic_file_value(const char *dir, const char *name, const char *key);
/*
 * Bytes of slab in use (/proc/meminfo), without kmemleak's records of
 * every allocation: those are the debug kernel's, not anyone's to charge.
 * KASAN holds freed objects in a quarantine until a cache is shrunk or the
 * quarantine is full, so every cache is shrunk first: a drain in the
 * middle of a measure would hide growth.  -1 on error.
 */
long long quic_slab_bytes(void);
/*
 * A cgroup v2 directory of this process in @dir, "/sys/fs/cgroup/@name.<pid>",
 * with the memory controller and memory.max set to @max ("max": no limit).
 * Mounts cgroup2 there if nothing is. Returns 0, or -1 with errno set.
 */
int quic_memcg_make(char *dir, size_t size, const char *name,
		    const char *max);

/*
 * Fault injection knobs (debugfs, /proc). quic_knob_set() remembers the
 * first value it overwrites in each file so that quic_knobs_restore() can
 * put it back; it returns -1 if the file cannot be written.
 */
int quic_knob_set(const char *path, const char *val);
void quic_knobs_restore(void);

/*
 * Make blocking and order-0 allocations eligible for failslab and
 * fail_page_alloc, quietly, and open /proc/thread-self/fail-nth. Returns
 * its fd, or -1 if fault injection is not available. Until
 * quic_knobs_restore() (or exit), no other process of these tests can
 * change the knobs: it waits in quic_fault_setup().
 */
int quic_fault_setup(void);
/* Fail the @nth allocation of the calling thread from now (0: none). */
void quic_fail_nth_set(int fd, unsigned int nth);
/*
 * 0 once the failure was injected, else how many allocations were left;
 * UINT_MAX if fail-nth cannot be read.
 */
unsigned int quic_fail_nth_left(int fd);
/*
 * Arm the failure and read it back: fail-nth also reads 0 when nothing is
 * armed, so only a failure seen armed before a call and gone after it was
 * injected.  Returns whether it is armed.
 */
bool quic_fail_nth_arm(int fd, unsigned int nth);

/* One entry of /proc/crypto */
struct quic_crypto_alg {
	char name[128], driver[128], type[32];	/* CRYPTO_MAX_ALG_NAME */
	long priority, refcnt;
};

/*
 * Up to @max entries of /proc/crypto into @v, in the file's order: their
 * number, or -1 with errno set if the file cannot be read.
 */
int quic_crypto_algs(struct quic_crypto_alg *v, int max);

/* Whether the CPU has feature @flag, as /proc/cpuinfo's flags name it */
bool quic_cpu_has(const char *flag);

/* A @len-byte connection ID of @fill bytes ending in @i, big-endian (@len >= 4) */
void quic_cid_numbered(uint8_t *cid, size_t len, uint8_t fill, uint32_t i);

#endif
