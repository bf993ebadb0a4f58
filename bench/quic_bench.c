// SPDX-License-Identifier: GPL-2.0
/*
 * quic_bench: sender CPU cost of QUIC 1-RTT packet protection, kernel
 * offload against userspace crypto, in one run on one kernel.
 *
 *   quic_bench [-r REPS] [-m MS] [-c 1,1000,100000] [-M MODES] [-a ACCEL]
 *              [-S SIZE/BATCH] [-C CIPHER] [-e DST,ID,PEER,NETNS] -o DIR DST
 *
 * DST is an IPv4 address routed to a dummy device, which frees every skb in
 * its xmit routine: nothing is received, so no receiver can be the
 * bottleneck and every cycle measured is the sender's.  -e gives the
 * device mode its own DST, routed through port 0 of netdevsim device ID,
 * that port linked to the one of device PEER in the namespace NETNS (a
 * path), which holds DST.  Modes:
 *
 *   plain    plaintext UDP GSO send, no crypto (the floor)
 *   user     OpenSSL AEAD + header protection per packet, then GSO send
 *            (what QUIC libraries do today)
 *   user-zc  the same with MSG_ZEROCOPY
 *   kernel   plaintext handed to the UDP_QUIC_ENCRYPT offload
 *   device   the same through the netdevsim port of -e, which holds the
 *            connection and, its crypto switched off ("encrypt" 0), counts
 *            and frees the packets: the host's part when a NIC encrypts
 *   aead     OpenSSL AEAD alone on the same packets (no header
 *            protection, no send)
 *   af_alg   the kernel's AEAD on the same packets through AF_ALG, one
 *            packet per sendmsg()/read() pair (syscalls and copies included)
 *   kaead    the kernel's AEAD alone, in the kernel: bench/kmod's module
 *            seals KAEAD_BATCH packets per write() to its debugfs file
 *   conns    kernel mode, one packet per call, each to a random one of N
 *            connections on one socket
 *   setup    ADD then DEL of connections, 1, 1000 and 100000 on one
 *            socket: busy CPU time per call (bench/kmod's busy file,
 *            which also holds the RCU callbacks that free a DEL's keys),
 *            and the bytes each connection holds as the memory cgroup of
 *            the task adding it counts them (everything a connection
 *            makes the kernel hold is charged there)
 *
 * -M limits the run to a comma-separated list of modes (default: all, the
 * device mode only with -e), -S the send modes to one shape (BATCH 0: as
 * many packets as fit 64 KB), -C them to one cipher (its label, such as
 * AES-128-GCM), for a profile of that shape alone.
 *
 * Cost is the sending thread's CPU time (CLOCK_THREAD_CPUTIME_ID, user and
 * system: encryption inside sendmsg() is charged to the caller) per wire
 * byte (UDP payload, tags included).  Repetitions are interleaved so that
 * noise from other load hits every mode alike.  Before measuring, each
 * cipher's userspace sealer and the kernel offload are checked against the
 * selftests' independent OpenSSL receiver over loopback; the device mode
 * with the port's crypto on, its receiver in the peer's namespace.  Then
 * the peer is deleted, so that the port sends nothing on, and its crypto
 * switched off.  The dummy device and the port must count every packet
 * sent (for the port: every one marked for it, none other), or the run
 * fails.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <linux/errqueue.h>
#include <linux/if_alg.h>
#include <linux/quic.h>
#include <linux/tls.h>
#include <linux/udp.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "quic_util.h"

#ifndef SOL_ALG
#define SOL_ALG			279
#endif
#ifndef SO_ZEROCOPY
#define SO_ZEROCOPY		60
#endif
#ifndef MSG_ZEROCOPY
#define MSG_ZEROCOPY		0x4000000
#endif

#define CID_LEN			8
#define PN_LEN			4
#define HDR_LEN			(1 + CID_LEN + PN_LEN)
#define MAX_DGRAM		65535
#define IP_UDP_HDRS		28	/* IPv4 + UDP: the 64 KB limit counts them */
#define MAX_SEGS		128	/* the kernel's UDP_MAX_SEGMENTS */
#define ZC_RING			8	/* MSG_ZEROCOPY buffers in flight */
#define PORT			4433
#define MAX_RESULTS		4096
/* Connections per socket of the setup mode, and per measurement at least */
static const uint32_t setup_conns[] = { 1, 1000, 100000 };
#define NSETUP (sizeof(setup_conns) / sizeof(setup_conns[0]))
#define SETUP_TOTAL		10000
#define BUSY_FILE		"/sys/kernel/debug/quic_bench_busy"

enum mode { M_PLAIN, M_USER, M_USER_ZC, M_KERNEL, M_DEVICE, M_AEAD, M_AF_ALG,
	    M_KAEAD, M_CONNS, M_SETUP, M_COUNT };
static const char *const mode_name[M_COUNT] = {
	"plain", "user", "user-zc", "kernel", "device", "aead", "af_alg",
	"kaead", "conns", "setup",
};
/* Packets per write() to bench/kmod's file: one syscall is noise to them */
#define KAEAD_BATCH		16
#define KAEAD_FILE		"/sys/kernel/debug/quic_bench_aead"
/* The device mode's netdevsim port */
#define NSIM_BUS		"/sys/bus/netdevsim"
#define NSIM_DFS		"/sys/kernel/debug/netdevsim"
#define ATTACH_MS		30000	/* for a connection to move to it */

static const uint16_t ciphers[] = {
	TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_256,
	TLS_CIPHER_CHACHA20_POLY1305,
};
#define NCIPHERS (sizeof(ciphers) / sizeof(ciphers[0]))
/* Names of the plot files of each cipher, in the order of ciphers[] */
static const char *const cipher_file[NCIPHERS] = {
	"aes128gcm", "aes256gcm", "chacha20poly1305",
};
/* 50 B: an ACK-only packet; 1200 and 1452 B: full-size ones */
static const unsigned int sizes[] = { 50, 1200, 1452 };
#define NSIZES (sizeof(sizes) / sizeof(sizes[0]))
/* 0 stands for a full batch: as many packets as fit a 64 KB datagram */
static const unsigned int batches[] = { 1, 8, 0 };
#define NBATCHES (sizeof(batches) / sizeof(batches[0]))

struct result {
	int rep;
	enum mode mode;
	uint16_t cipher;	/* 0 for plain */
	unsigned int size, batch, conns;
	uint64_t calls, packets, bytes, wall_ns, cpu_ns, errors;
};

static struct result results[MAX_RESULTS];
static unsigned int nresults;
static unsigned int opt_reps = 5, opt_ms = 250;
/*
 * Packet numbers of a connection only grow, and the kernel refuses any
 * other: every run goes on from the numbers of the one before.
 */
static uint64_t bench_pn = 1000;
static const char *opt_accel = "unknown", *opt_out = ".";
static char opt_conns[256] = "1,1000,100000";
static unsigned int opt_modes = (1u << M_COUNT) - 1;
static int opt_size = -1, opt_batch = -1;	/* -S: every shape */
static unsigned int opt_ciphers = ~0u;		/* -C: one cipher */
static struct sockaddr_in dst;
/* Every call that went to the dummy device, warm-up included. */
static uint64_t dev_sends, dev_errors;
/* What ran: the kernel's drivers per cipher, OpenSSL's build and CPU use */
#define IMPL_LEN		256
static char impl_aead[NCIPHERS][IMPL_LEN], impl_hp[NCIPHERS][IMPL_LEN];
static char openssl_ver[64], openssl_cap[256];

/*
 * What counts the device mode's packets: the port's own QUIC counters
 * (debugfs "stats"), its netdev's (what it sent on to its peer or
 * dropped: any skb not marked for it, and with its crypto on the
 * segments it sealed) and the QUIC core's.
 */
enum {
	N_PACKETS, N_BYTES, N_DROPS, N_BAD_HANDLE, N_PN_REUSE, N_SENT_ON,
	N_DROPPED, N_DEV_PACKETS, N_SOFTWARE, N_FALLBACK, N_DEV_DROP, N_NR
};
static const struct {
	char src;		/* 'p' port, 'n' netdev, 'q' /proc/net/quic_stat */
	const char *name;
} nsim_counter[N_NR] = {
	[N_PACKETS]	= { 'p', "tx_packets" },
	[N_BYTES]	= { 'p', "tx_bytes" },
	[N_DROPS]	= { 'p', "drops" },
	[N_BAD_HANDLE]	= { 'p', "bad_handle" },
	[N_PN_REUSE]	= { 'p', "pn_reuse" },
	[N_SENT_ON]	= { 'n', "tx_packets" },
	[N_DROPPED]	= { 'n', "tx_dropped" },
	[N_DEV_PACKETS]	= { 'q', "QuicTxDevicePackets" },
	[N_SOFTWARE]	= { 'q', "QuicTxDeviceSoftware" },
	[N_FALLBACK]	= { 'q', "QuicTxDeviceFallback" },
	[N_DEV_DROP]	= { 'q', "QuicTxDeviceDrop" },
};

/* The device mode's port (-e), and what the mode sent through it */
static struct {
	bool on;
	struct sockaddr_in dst;
	unsigned int id, peer;		/* netdevsim device IDs */
	char netns[256];		/* the peer port's namespace */
	char ifname[IF_NAMESIZE];
	char dfs[128];			/* the port's debugfs quic/ */
	uint64_t packets, bytes;	/* warm-up included */
	long long base[N_NR];		/* counters before them */
} nsim;

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "quic_bench: ");
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static uint64_t clock_ns(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ULL + ts.tv_nsec;
}

static unsigned int full_batch(unsigned int size)
{
	unsigned int n = (MAX_DGRAM - IP_UDP_HDRS) / size;

	return n > MAX_SEGS ? MAX_SEGS : n;
}

static unsigned int batch_count(unsigned int batch, unsigned int size)
{
	return batch ? batch : full_batch(size);
}

static int cipher_index(uint16_t cipher)
{
	unsigned int i;

	for (i = 0; i < NCIPHERS; i++)
		if (ciphers[i] == cipher)
			return i;
	return -1;
}

static const char *cipher_label(uint16_t cipher)
{
	return cipher ? quic_cipher_name(cipher) : "none";
}

/* ---- userspace packet protection, contexts kept across packets ---- */

struct sealer {
	EVP_CIPHER_CTX *aead, *hp;
	bool chacha;
	uint8_t iv[QUIC_IV_LEN];
};

static void sealer_init(struct sealer *s, const struct quic_keys *k)
{
	const EVP_CIPHER *aead, *hp;

	s->chacha = k->cipher == TLS_CIPHER_CHACHA20_POLY1305;
	if (s->chacha) {
		aead = EVP_chacha20_poly1305();
		hp = EVP_chacha20();
	} else if (k->cipher == TLS_CIPHER_AES_GCM_256) {
		aead = EVP_aes_256_gcm();
		hp = EVP_aes_256_ecb();
	} else {
		aead = EVP_aes_128_gcm();
		hp = EVP_aes_128_ecb();
	}
	memcpy(s->iv, k->iv, sizeof(s->iv));
	s->aead = EVP_CIPHER_CTX_new();
	s->hp = EVP_CIPHER_CTX_new();
	if (!s->aead || !s->hp ||
	    !EVP_EncryptInit_ex(s->aead, aead, NULL, k->key, NULL) ||
	    !EVP_EncryptInit_ex(s->hp, hp, NULL, k->hp, NULL) ||
	    (!s->chacha && !EVP_CIPHER_CTX_set_padding(s->hp, 0)))
		die("OpenSSL context setup failed");
}

static void sealer_free(struct sealer *s)
{
	EVP_CIPHER_CTX_free(s->aead);
	EVP_CIPHER_CTX_free(s->hp);
}

/* AEAD of one packet of @len bytes (@HDR_LEN of header) from @in to @out. */
static void seal_payload(struct sealer *s, uint64_t pn, const uint8_t *in,
			 size_t len, uint8_t *out)
{
	uint8_t nonce[QUIC_IV_LEN];
	int outl, i;

	memcpy(nonce, s->iv, sizeof(nonce));
	for (i = 0; i < 8; i++)
		nonce[QUIC_IV_LEN - 1 - i] ^= pn >> (8 * i);
	if (!EVP_EncryptInit_ex(s->aead, NULL, NULL, NULL, nonce) ||
	    !EVP_EncryptUpdate(s->aead, NULL, &outl, in, HDR_LEN) ||
	    !EVP_EncryptUpdate(s->aead, out + HDR_LEN, &outl, in + HDR_LEN,
			       len - HDR_LEN) ||
	    !EVP_EncryptFinal_ex(s->aead, out + HDR_LEN + outl, &outl) ||
	    !EVP_CIPHER_CTX_ctrl(s->aead, EVP_CTRL_AEAD_GET_TAG, QUIC_TAG_LEN,
				 out + len))
		die("OpenSSL seal failed");
}

/* RFC 9001 packet protection: AEAD, then mask the first byte and the PN. */
static void seal_packet(struct sealer *s, uint64_t pn, const uint8_t *in,
			size_t len, uint8_t *out)
{
	static const uint8_t zero[5];
	const uint8_t *sample;
	uint8_t mask[16];
	int outl, i;

	seal_payload(s, pn, in, len, out);
	memcpy(out, in, HDR_LEN);
	sample = out + 1 + CID_LEN + 4;
	if (s->chacha) {
		if (!EVP_EncryptInit_ex(s->hp, NULL, NULL, NULL, sample) ||
		    !EVP_EncryptUpdate(s->hp, mask, &outl, zero, sizeof(zero)))
			die("OpenSSL header protection failed");
	} else if (!EVP_EncryptUpdate(s->hp, mask, &outl, sample, 16)) {
		die("OpenSSL header protection failed");
	}
	out[0] ^= mask[0] & 0x1f;
	for (i = 0; i < PN_LEN; i++)
		out[1 + CID_LEN + i] ^= mask[1 + i];
}

/* ---- the kernel's AEAD through AF_ALG ---- */

static int alg_open(const struct quic_keys *k)
{
	struct sockaddr_alg sa = { .salg_family = AF_ALG, .salg_type = "aead" };
	bool chacha = k->cipher == TLS_CIPHER_CHACHA20_POLY1305;
	int tfm, op;

	snprintf((char *)sa.salg_name, sizeof(sa.salg_name), "%s",
		 chacha ? "rfc7539(chacha20,poly1305)" : "gcm(aes)");
	tfm = socket(AF_ALG, SOCK_SEQPACKET, 0);
	if (tfm < 0)
		return -1;
	if (bind(tfm, (struct sockaddr *)&sa, sizeof(sa)) ||
	    setsockopt(tfm, SOL_ALG, ALG_SET_KEY, k->key,
		       quic_key_len(k->cipher)) ||
	    setsockopt(tfm, SOL_ALG, ALG_SET_AEAD_AUTHSIZE, NULL,
		       QUIC_TAG_LEN)) {
		close(tfm);
		return -1;
	}
	op = accept(tfm, NULL, 0);
	close(tfm);
	return op;
}

static int alg_seal(int op, const struct quic_keys *k, uint64_t pn,
		    const uint8_t *in, size_t len, uint8_t *out)
{
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(uint32_t)) * 2 +
			    CMSG_SPACE(sizeof(struct af_alg_iv) + QUIC_IV_LEN)];
	} cbuf;
	struct iovec iov = { .iov_base = (void *)in, .iov_len = len };
	struct msghdr msg = {
		.msg_iov = &iov, .msg_iovlen = 1,
		.msg_control = cbuf.buf, .msg_controllen = sizeof(cbuf.buf),
	};
	struct af_alg_iv *aiv;
	struct cmsghdr *cm;
	uint32_t val;
	int i;

	memset(&cbuf, 0, sizeof(cbuf));
	cm = CMSG_FIRSTHDR(&msg);
	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_OP;
	cm->cmsg_len = CMSG_LEN(sizeof(val));
	val = ALG_OP_ENCRYPT;
	memcpy(CMSG_DATA(cm), &val, sizeof(val));
	cm = CMSG_NXTHDR(&msg, cm);
	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_AEAD_ASSOCLEN;
	cm->cmsg_len = CMSG_LEN(sizeof(val));
	val = HDR_LEN;
	memcpy(CMSG_DATA(cm), &val, sizeof(val));
	cm = CMSG_NXTHDR(&msg, cm);
	cm->cmsg_level = SOL_ALG;
	cm->cmsg_type = ALG_SET_IV;
	cm->cmsg_len = CMSG_LEN(sizeof(*aiv) + QUIC_IV_LEN);
	aiv = (struct af_alg_iv *)CMSG_DATA(cm);
	aiv->ivlen = QUIC_IV_LEN;
	memcpy(aiv->iv, k->iv, QUIC_IV_LEN);
	for (i = 0; i < 8; i++)
		aiv->iv[QUIC_IV_LEN - 1 - i] ^= pn >> (8 * i);

	if (sendmsg(op, &msg, 0) != (ssize_t)len)
		return -1;
	return read(op, out, len + QUIC_TAG_LEN) == (ssize_t)(len + QUIC_TAG_LEN) ?
	       0 : -1;
}

/* ---- sockets ---- */

static int udp_socket(const struct sockaddr_in *to)
{
	int fd = socket(AF_INET, SOCK_DGRAM, 0);

	if (fd < 0 || connect(fd, (const struct sockaddr *)to, sizeof(*to)))
		die("UDP socket to %s: %s", inet_ntoa(to->sin_addr),
		    strerror(errno));
	return fd;
}

static void conn_keys(uint16_t cipher, struct quic_keys *k)
{
	quic_keys_pattern(k, cipher, 0x30 + 0x20 * cipher_index(cipher));
}

/* An offload socket with connections 0..n-1, all with the same keys. */
static int offload_socket(const struct sockaddr_in *to, uint16_t cipher,
			  uint32_t n)
{
	uint8_t cid[CID_LEN];
	struct quic_keys k;
	int fd = udp_socket(to);
	uint32_t i;

	conn_keys(cipher, &k);
	if (quic_ulp_attach(fd))
		die("UDP_ULP quic-crypto: %s", strerror(errno));
	for (i = 0; i < n; i++) {
		quic_cid_numbered(cid, CID_LEN, 0xbe, i);
		if (quic_conn_add(fd, &k, cid, CID_LEN))
			die("adding connection %u: %s", i, strerror(errno));
	}
	return fd;
}

/* ---- one measured run ---- */

struct run {
	enum mode mode;
	uint16_t cipher;
	unsigned int size, batch;	/* batch: packets per call */
	int fd;
	uint32_t conns;
	struct sealer *seal;
	const struct quic_keys *keys;
	uint8_t *pt;		/* plaintext packets, size - 16 apart */
	uint8_t *wire[ZC_RING];	/* datagram buffers */
	uint64_t pn;
	uint64_t zc_sent, zc_done, zc_copied;
	uint32_t rng;
};

static void put_hdr(uint8_t *p, const uint8_t *cid, uint64_t pn)
{
	p[0] = QUIC_HDR_FIXED | (PN_LEN - 1);
	memcpy(p + 1, cid, CID_LEN);
	p[1 + CID_LEN] = pn >> 24;
	p[2 + CID_LEN] = pn >> 16;
	p[3 + CID_LEN] = pn >> 8;
	p[4 + CID_LEN] = pn;
}

static size_t add_cmsg(uint8_t *buf, size_t off, int level, int type,
		       const void *data, size_t len)
{
	struct cmsghdr *cm = (struct cmsghdr *)(buf + off);

	cm->cmsg_level = level;
	cm->cmsg_type = type;
	cm->cmsg_len = CMSG_LEN(len);
	memcpy(CMSG_DATA(cm), data, len);
	return off + CMSG_SPACE(len);
}

static int send_batch(int fd, uint8_t *buf, size_t len, uint16_t gso,
		      const struct quic_tx_ancillary_data *anc, int flags)
{
	union {
		struct cmsghdr align;
		uint8_t buf[CMSG_SPACE(sizeof(uint16_t)) +
			    CMSG_SPACE(sizeof(*anc))];
	} cbuf;
	struct iovec iov = { .iov_base = buf, .iov_len = len };
	struct msghdr msg = { .msg_iov = &iov, .msg_iovlen = 1,
			      .msg_control = cbuf.buf };
	size_t off = 0;

	memset(&cbuf, 0, sizeof(cbuf));
	if (gso)
		off = add_cmsg(cbuf.buf, off, SOL_UDP, UDP_SEGMENT, &gso,
			       sizeof(gso));
	if (anc)
		off = add_cmsg(cbuf.buf, off, IPPROTO_UDP, UDP_QUIC_ENCRYPT,
			       anc, sizeof(*anc));
	msg.msg_controllen = off;
	if (!off)
		msg.msg_control = NULL;
	return sendmsg(fd, &msg, flags) == (ssize_t)len ? 0 : -1;
}

/* Read MSG_ZEROCOPY completions; wait for them if @need is not done. */
static void zc_reap(struct run *r, uint64_t need)
{
	for (;;) {
		uint8_t control[128];
		struct msghdr msg = { .msg_control = control,
				      .msg_controllen = sizeof(control) };
		struct sock_extended_err *ee;
		struct cmsghdr *cm;
		struct pollfd pfd = { .fd = r->fd, .events = 0 };

		if (recvmsg(r->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) {
			if (errno != EAGAIN)
				die("MSG_ERRQUEUE: %s", strerror(errno));
			if (r->zc_done >= need)
				return;
			poll(&pfd, 1, 1000);
			continue;
		}
		for (cm = CMSG_FIRSTHDR(&msg); cm; cm = CMSG_NXTHDR(&msg, cm)) {
			ee = (struct sock_extended_err *)CMSG_DATA(cm);
			if (ee->ee_origin != SO_EE_ORIGIN_ZEROCOPY)
				continue;
			/* Completions arrive in order here: one sender. */
			r->zc_done = (uint64_t)ee->ee_data + 1;
			if (ee->ee_code & SO_EE_CODE_ZEROCOPY_COPIED)
				r->zc_copied += ee->ee_data - ee->ee_info + 1;
		}
	}
}

/* One call of the mode: @r->batch packets.  Returns 0 or -1 (errno). */
static int run_once(struct run *r)
{
	unsigned int i, n = r->batch, stride = r->size - QUIC_TAG_LEN;
	uint16_t gso = n > 1 ? r->size : 0;
	struct quic_tx_ancillary_data anc;
	uint8_t cid[CID_LEN], *wire;
	uint32_t c = 0;

	switch (r->mode) {
	case M_PLAIN:
		quic_cid_numbered(cid, CID_LEN, 0xbe, 0);
		for (i = 0; i < n; i++)
			put_hdr(r->wire[0] + i * r->size, cid, r->pn++);
		return send_batch(r->fd, r->wire[0], n * r->size, gso, NULL, 0);
	case M_USER:
	case M_USER_ZC:
		quic_cid_numbered(cid, CID_LEN, 0xbe, 0);
		wire = r->wire[0];
		if (r->mode == M_USER_ZC) {
			/* Wait until the buffer's previous send completed. */
			if (r->zc_sent >= ZC_RING)
				zc_reap(r, r->zc_sent - ZC_RING + 1);
			wire = r->wire[r->zc_sent % ZC_RING];
		}
		for (i = 0; i < n; i++) {
			uint8_t *p = r->pt + i * stride;

			put_hdr(p, cid, r->pn);
			seal_packet(r->seal, r->pn++, p, stride,
				    wire + i * r->size);
		}
		if (r->mode == M_USER)
			return send_batch(r->fd, wire, n * r->size, gso, NULL, 0);
		if (send_batch(r->fd, wire, n * r->size, gso, NULL,
			       MSG_ZEROCOPY))
			return -1;
		r->zc_sent++;
		return 0;
	case M_KERNEL:
	case M_DEVICE:
	case M_CONNS:
		if (r->conns > 1) {
			r->rng = r->rng * 1103515245 + 12345;
			c = (r->rng >> 8) % r->conns;
		}
		quic_cid_numbered(cid, CID_LEN, 0xbe, c);
		memset(&anc, 0, sizeof(anc));
		anc.next_pkt_num = r->pn;
		anc.conn_id_length = CID_LEN;
		for (i = 0; i < n; i++)
			put_hdr(r->pt + i * stride, cid, r->pn++);
		return send_batch(r->fd, r->pt, n * stride, gso, &anc, 0);
	case M_AEAD:
		quic_cid_numbered(cid, CID_LEN, 0xbe, 0);
		for (i = 0; i < n; i++) {
			uint8_t *p = r->pt + i * stride;

			put_hdr(p, cid, r->pn);
			seal_payload(r->seal, r->pn++, p, stride,
				     r->wire[0] + i * r->size);
		}
		return 0;
	case M_AF_ALG:
		quic_cid_numbered(cid, CID_LEN, 0xbe, 0);
		for (i = 0; i < n; i++) {
			uint8_t *p = r->pt + i * stride;

			put_hdr(p, cid, r->pn);
			if (alg_seal(r->fd, r->keys, r->pn++, p, stride,
				     r->wire[0] + i * r->size))
				return -1;
		}
		return 0;
	case M_KAEAD: {
		char cmd[64];
		int len = snprintf(cmd, sizeof(cmd), "%u %u %u", r->cipher,
				   r->size, n);

		return write(r->fd, cmd, len) == len ? 0 : -1;
	}
	default:
		return -1;
	}
}

static void measure(struct run *r, int rep, unsigned int ms,
		    struct result *res)
{
	/* Reading the clock per call would weigh on single-packet calls. */
	unsigned int every = r->batch >= 16 ? 1 : 16 / r->batch;
	uint64_t t0, c0, t1, end, calls = 0, errors = 0;

	t0 = clock_ns(CLOCK_MONOTONIC);
	c0 = clock_ns(CLOCK_THREAD_CPUTIME_ID);
	end = t0 + (uint64_t)ms * 1000000ULL;
	do {
		unsigned int i;

		for (i = 0; i < every; i++, calls++)
			if (run_once(r))
				errors++;
		t1 = clock_ns(CLOCK_MONOTONIC);
	} while (t1 < end);
	if (r->mode == M_USER_ZC)
		zc_reap(r, r->zc_sent);

	memset(res, 0, sizeof(*res));
	res->cpu_ns = clock_ns(CLOCK_THREAD_CPUTIME_ID) - c0;
	res->wall_ns = clock_ns(CLOCK_MONOTONIC) - t0;
	res->rep = rep;
	res->mode = r->mode;
	res->cipher = r->mode == M_PLAIN ? 0 : r->cipher;
	res->size = r->size;
	res->batch = r->batch;
	res->conns = r->mode == M_CONNS ? r->conns : 1;
	res->calls = calls;
	res->errors = errors;
	res->packets = (calls - errors) * r->batch;
	res->bytes = res->packets * r->size;
}

/* ---- setup and checks ---- */

static uint8_t *buffer(void)
{
	uint8_t *p = aligned_alloc(4096, MAX_DGRAM + 4096);

	if (!p)
		die("out of memory");
	/* Payload content does not change the cost; touch every page. */
	for (size_t i = 0; i < MAX_DGRAM + 4096; i++)
		p[i] = i * 7;
	return p;
}

/*
 * Datagram @i of a check of @mode, @len bytes: it must open with @k as
 * packet number @pn, its payload that of the plaintext packet @want.
 */
static void check_open(enum mode mode, const struct quic_keys *k,
		       unsigned int i, const uint8_t *got, ssize_t len,
		       unsigned int size, uint64_t pn, const uint8_t *want)
{
	uint8_t out[1500];
	uint64_t got_pn;

	if (len != (ssize_t)size)
		die("check %s: datagram %u: %zd bytes", mode_name[mode], i,
		    len);
	if (quic_unprotect(k, got, len, CID_LEN, pn, out, &got_pn) < 0)
		die("check %s %s: %s", mode_name[mode],
		    quic_cipher_name(k->cipher), quic_error());
	if (got_pn != pn || memcmp(out + HDR_LEN, want + HDR_LEN,
				   size - QUIC_TAG_LEN - HDR_LEN))
		die("check %s: datagram %u differs", mode_name[mode], i);
}

/*
 * Send packets through @mode over loopback and check every datagram the
 * way the selftests' receiver would: plaintext must arrive unchanged, the
 * rest is opened with the connection's keys.  A GSO batch of 4 for the
 * batched modes, 8 single-packet calls over 16 connections for conns: a
 * broken sealer, offload or send path cannot produce figures.
 */
static void check_mode(enum mode mode, uint16_t cipher, struct sealer *s)
{
	struct sockaddr_in lo = { .sin_family = AF_INET,
				  .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	unsigned int i, n = mode == M_CONNS ? 8 : 4, size = 1200, cids = 0;
	unsigned int stride = size - QUIC_TAG_LEN;
	uint8_t *pt = buffer(), *wire = buffer(), got[1500];
	uint8_t first_cid[CID_LEN];
	socklen_t alen = sizeof(lo);
	struct quic_keys k;
	struct run r;
	int rx, one = 1;

	rx = socket(AF_INET, SOCK_DGRAM, 0);
	if (rx < 0 || bind(rx, (struct sockaddr *)&lo, sizeof(lo)) ||
	    getsockname(rx, (struct sockaddr *)&lo, &alen))
		die("loopback receiver: %s", strerror(errno));
	conn_keys(cipher, &k);
	memset(&r, 0, sizeof(r));
	r.mode = mode;
	r.cipher = cipher;
	r.size = size;
	r.batch = mode == M_CONNS ? 1 : n;
	r.seal = s;
	r.pt = pt;
	r.wire[0] = wire;
	r.pn = 0x1234567;
	r.conns = mode == M_CONNS ? 16 : 1;
	r.rng = 1;
	if (mode == M_KERNEL || mode == M_CONNS) {
		r.fd = offload_socket(&lo, cipher, r.conns);
	} else {
		r.fd = udp_socket(&lo);
		if (mode == M_USER_ZC &&
		    setsockopt(r.fd, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)))
			die("SO_ZEROCOPY: %s", strerror(errno));
	}
	for (i = 0; i < n / r.batch; i++)
		if (run_once(&r))
			die("check %s send: %s", mode_name[mode],
			    strerror(errno));
	if (mode == M_USER_ZC)
		zc_reap(&r, r.zc_sent);
	for (i = 0; i < n; i++) {
		/* conns sends every packet from the start of the buffer */
		const uint8_t *want = pt + (mode == M_CONNS ? 0 : i * stride);
		ssize_t len = quic_recv(rx, got, sizeof(got), 3000);

		if (mode == M_PLAIN) {
			if (len != (ssize_t)size)
				die("check plain: datagram %u: %zd bytes", i,
				    len);
			if (memcmp(got, wire + i * size, size))
				die("check plain: datagram %u differs", i);
			continue;
		}
		check_open(mode, &k, i, got, len, size, 0x1234567 + i, want);
		if (!i)
			memcpy(first_cid, got + 1, CID_LEN);
		else if (memcmp(first_cid, got + 1, CID_LEN))
			cids++;
	}
	if (mode == M_CONNS && !cids)
		die("check conns: every datagram went to one connection");
	close(r.fd);
	close(rx);
	free(pt);
	free(wire);
	printf("check: %-7s %-17s %u datagrams %s\n", mode_name[mode],
	       mode == M_PLAIN ? "" : quic_cipher_name(cipher), n,
	       mode == M_PLAIN ? "arrived unchanged" :
				 "opened by the OpenSSL receiver");
}

/*
 * The kernel's implementations behind a connection of @cipher: the
 * /proc/crypto entries whose references grow when one is added (the
 * reference counts are the whole kernel's, and nothing else runs).
 */
static void kernel_impl(unsigned int ci)
{
	static struct quic_crypto_alg before[1024], after[1024];
	bool chacha = ciphers[ci] == TLS_CIPHER_CHACHA20_POLY1305;
	char *aead = impl_aead[ci], *hp = impl_hp[ci];
	int nb, na, i, j, fd;

	nb = quic_crypto_algs(before, 1024);
	fd = offload_socket(&dst, ciphers[ci], 1);
	na = quic_crypto_algs(after, 1024);
	close(fd);
	if (nb < 0 || na < 0)
		die("/proc/crypto: %s", strerror(errno));
	aead[0] = hp[0] = '\0';
	for (i = 0; i < na; i++) {
		const struct quic_crypto_alg *a = &after[i];
		long was = 0;
		char *to = NULL;

		for (j = 0; j < nb; j++)
			if (!strcmp(before[j].driver, a->driver))
				was = before[j].refcnt;
		if (a->refcnt <= was)
			continue;
		if (!strcmp(a->name, "ecb(aes)"))
			to = hp;
		else if (!strcmp(a->type, "aead"))
			to = aead;
		if (to)
			snprintf(to + strlen(to), IMPL_LEN - strlen(to), "%s%s",
				 to[0] ? "+" : "", a->driver);
	}
	if (!hp[0])
		snprintf(hp, IMPL_LEN, "%s library", chacha ? "chacha20" : "aes");
	printf("kernel: %-17s AEAD %s, header protection %s\n",
	       quic_cipher_name(ciphers[ci]), aead, hp);
}

/*
 * bench/kmod's file for @cipher, its transform set up by one packet;
 * prints the driver it got.  -1 if the module is not loaded.
 */
static int kaead_open(uint16_t cipher)
{
	char cmd[64], driver[160] = "";
	int fd = open(KAEAD_FILE, O_RDWR), len;
	ssize_t n;

	if (fd < 0) {
		if (opt_modes & 1u << M_KAEAD)
			printf("kaead: %s: %s (bench/kmod not loaded): the overhead split is left out\n",
			       KAEAD_FILE, strerror(errno));
		return -1;
	}
	len = snprintf(cmd, sizeof(cmd), "%u 1200 1", cipher);
	if (write(fd, cmd, len) != len)
		die("%s: %s", KAEAD_FILE, strerror(errno));
	n = read(fd, driver, sizeof(driver) - 1);
	driver[n > 0 ? n : 0] = '\0';
	driver[strcspn(driver, "\n")] = '\0';
	printf("kaead:  %-17s AEAD %s\n", quic_cipher_name(cipher), driver);
	return fd;
}

/* OpenSSL's version and the CPU capability vector it runs with. */
static void openssl_impl(void)
{
	char line[256];
	FILE *p;

	snprintf(openssl_ver, sizeof(openssl_ver), "%s",
		 OpenSSL_version(OPENSSL_VERSION));
	snprintf(openssl_cap, sizeof(openssl_cap), "unknown");
	/* The vector is not in the library's API; its own tool prints it. */
	p = popen("openssl info -cpusettings 2>/dev/null", "r");
	if (p) {
		if (fgets(line, sizeof(line), p) &&
		    !strncmp(line, "OPENSSL_ia32cap=", 16)) {
			line[strcspn(line, "\n")] = '\0';
			snprintf(openssl_cap, sizeof(openssl_cap), "%s",
				 line + 16);
		}
		pclose(p);
	}
	printf("openssl: %s, OPENSSL_ia32cap=%s%s\n", openssl_ver, openssl_cap,
	       getenv("OPENSSL_ia32cap") ? " (masked by the environment)" : "");
}

/* Counter @name of the statistics of netdev @ifname, or -1 */
static long long netdev_stat(const char *ifname, const char *name)
{
	char dir[64];

	snprintf(dir, sizeof(dir), "/sys/class/net/%s/statistics", ifname);
	return quic_file_value(dir, name, NULL);
}

static uint64_t dev_tx_packets(void)
{
	long long v = netdev_stat("dummy0", "tx_packets");

	return v < 0 ? 0 : v;
}

/* ---- the device mode's netdevsim port ---- */

/* The port's name and debugfs directory, from -e */
static void nsim_find(void)
{
	char path[128];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), NSIM_BUS "/devices/netdevsim%u/net",
		 nsim.id);
	d = opendir(path);
	if (!d)
		die("%s: %s", path, strerror(errno));
	while ((e = readdir(d)) && e->d_name[0] == '.')
		;
	if (!e)
		die("%s: no port", path);
	/* A netdev's name is shorter than IF_NAMESIZE */
	snprintf(nsim.ifname, sizeof(nsim.ifname), "%.*s",
		 (int)sizeof(nsim.ifname) - 1, e->d_name);
	closedir(d);
	snprintf(nsim.dfs, sizeof(nsim.dfs), NSIM_DFS "/netdevsim%u/ports/0/quic",
		 nsim.id);
	if (quic_file_value(nsim.dfs, "encrypt", NULL) != 1)
		die("%s/encrypt: not 1 (%s)", nsim.dfs, strerror(errno));
	printf("device: netdevsim %u, port %s, linked to netdevsim %u in %s\n",
	       nsim.id, nsim.ifname, nsim.peer, nsim.netns);
}

static void nsim_counters(long long *v)
{
	unsigned int i;

	for (i = 0; i < N_NR; i++) {
		const char *name = nsim_counter[i].name;

		switch (nsim_counter[i].src) {
		case 'p':
			v[i] = quic_file_value(nsim.dfs, "stats", name);
			break;
		case 'n':
			v[i] = netdev_stat(nsim.ifname, name);
			break;
		default:
			v[i] = quic_stat(-1, name);
		}
		if (v[i] < 0)
			die("device: counter %s missing", name);
	}
}

/* @v less the counters now: what changed since @v was read */
static void nsim_delta(long long *v)
{
	long long now[N_NR];
	unsigned int i;

	nsim_counters(now);
	for (i = 0; i < N_NR; i++)
		v[i] = now[i] - v[i];
}

/*
 * Whether the changes @d are those of @pkts packets of @bytes in all, every
 * one marked for the port and taken by it and nothing else; with @sent_on
 * (its crypto on, linked) each sealed segment is also sent to the peer.
 */
static bool nsim_exact(const long long *d, long long pkts, long long bytes,
		       bool sent_on)
{
	unsigned int i;

	for (i = 0; i < N_NR; i++) {
		long long want = 0;

		if (i == N_PACKETS || i == N_DEV_PACKETS ||
		    (sent_on && i == N_SENT_ON))
			want = pkts;
		else if (i == N_BYTES)
			want = bytes;
		if (d[i] != want)
			return false;
	}
	return true;
}

/* The changes @d, for a message: "port tx_packets 4, ..." */
static const char *nsim_show(const long long *d)
{
	static char buf[1024];
	unsigned int i;
	size_t len = 0;

	buf[0] = '\0';
	for (i = 0; i < N_NR && len < sizeof(buf); i++) {
		char src = nsim_counter[i].src;

		len += snprintf(buf + len, sizeof(buf) - len, "%s%s %s %lld",
				i ? ", " : "",
				src == 'p' ? "port" : src == 'n' ? "netdev" :
							"quic",
				nsim_counter[i].name, d[i]);
	}
	return buf;
}

/*
 * A UDP socket bound to the device mode's DST in the peer's namespace: a
 * socket stays in the namespace it was made in.
 */
static int nsim_receiver(void)
{
	int self = open("/proc/self/ns/net", O_RDONLY);
	int peer = open(nsim.netns, O_RDONLY), fd;

	if (self < 0 || peer < 0 || setns(peer, CLONE_NEWNET))
		die("namespace %s: %s", nsim.netns, strerror(errno));
	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&nsim.dst, sizeof(nsim.dst)))
		die("receiver on %s in %s: %s", inet_ntoa(nsim.dst.sin_addr),
		    nsim.netns, strerror(errno));
	if (setns(self, CLONE_NEWNET))
		die("back from %s: %s", nsim.netns, strerror(errno));
	close(self);
	close(peer);
	return fd;
}

/*
 * A connection moves to the port once a call of it left through the port,
 * sealed in software: one-packet calls of @r until the port holds it.
 * Returns the calls made.
 */
static unsigned int nsim_attach(struct run *r)
{
	long long want = quic_stat(-1, "QuicTxDevice") + 1;
	uint64_t end = clock_ns(CLOCK_MONOTONIC) + ATTACH_MS * 1000000ULL;
	unsigned int batch = r->batch, calls = 0, i;

	r->batch = 1;
	do {
		if (run_once(r))
			die("device: send: %s", strerror(errno));
		calls++;
		for (i = 0; i < 50 && quic_stat(-1, "QuicTxDevice") < want; i++)
			usleep(10000);
	} while (quic_stat(-1, "QuicTxDevice") < want &&
		 clock_ns(CLOCK_MONOTONIC) < end);
	if (quic_stat(-1, "QuicTxDevice") < want)
		die("device: no connection moved to %s in %d ms", nsim.ifname,
		    ATTACH_MS);
	r->batch = batch;
	return calls;
}

/*
 * The device mode with the port's crypto on and its peer linked: the
 * connection's first calls go out sealed in software until it moves to
 * the port; then a GSO batch of 4 must be taken by the port, sealed
 * there and sent on, and nothing else (its counters, the QUIC core's).
 * The OpenSSL receiver in the peer's namespace opens every datagram.
 */
static void check_device(uint16_t cipher)
{
	unsigned int i, n = 4, size = 1200, stride = size - QUIC_TAG_LEN, w;
	uint8_t *pt = buffer(), got[1500];
	long long d[N_NR];
	struct quic_keys k;
	struct run r;
	int rx = nsim_receiver();

	conn_keys(cipher, &k);
	memset(&r, 0, sizeof(r));
	r.mode = M_DEVICE;
	r.cipher = cipher;
	r.size = size;
	r.batch = n;
	r.pt = pt;
	r.pn = 0x1234567;
	r.conns = 1;
	r.fd = offload_socket(&nsim.dst, cipher, 1);
	w = nsim_attach(&r);
	nsim_counters(d);
	if (run_once(&r))
		die("check device send: %s", strerror(errno));
	for (i = 0; i < w + n; i++) {
		/* The one-packet calls send from the start of the buffer */
		const uint8_t *want = pt + (i < w ? 0 : (i - w) * stride);
		ssize_t len = quic_recv(rx, got, sizeof(got), 3000);

		check_open(M_DEVICE, &k, i, got, len, size, 0x1234567 + i,
			   want);
	}
	nsim_delta(d);
	if (!nsim_exact(d, n, n * size, true))
		die("check device %s: not %u packets sealed by the port: %s",
		    quic_cipher_name(cipher), n, nsim_show(d));
	close(r.fd);
	close(rx);
	free(pt);
	printf("check: %-7s %-17s %u datagrams sealed by netdevsim, %u by the kernel before, opened by the OpenSSL receiver\n",
	       mode_name[M_DEVICE], quic_cipher_name(cipher), n, w);
}

/*
 * The port as the device mode is timed: its peer deleted, so that it
 * sends nothing on (an skb not marked for it is dropped, and counted),
 * and its crypto off: it counts and frees every skb marked for it.
 */
static void nsim_sink(void)
{
	char id[16];

	snprintf(id, sizeof(id), "%u", nsim.peer);
	if (quic_file_write(NSIM_BUS, "del_device", id))
		die("deleting netdevsim %u: %s", nsim.peer, strerror(errno));
	if (quic_file_write(nsim.dfs, "encrypt", "0") ||
	    quic_file_value(nsim.dfs, "encrypt", NULL))
		die("%s/encrypt: %s", nsim.dfs, strerror(errno));
	printf("device: netdevsim %u deleted, %s/encrypt 0\n", nsim.peer,
	       nsim.dfs);
}

/* ---- output ---- */

static void write_csv(const char *path)
{
	FILE *f = fopen(path, "w");
	unsigned int i;

	if (!f)
		die("%s: %s", path, strerror(errno));
	fprintf(f, "accel,rep,mode,cipher,size,batch,conns,calls,packets,bytes,"
		"wall_ns,cpu_ns,cpu_ns_per_byte,mbyte_per_s,errors,kernel_aead,"
		"kernel_hp,openssl,openssl_ia32cap\n");
	for (i = 0; i < nresults; i++) {
		const struct result *x = &results[i];
		int ci = cipher_index(x->cipher);
		bool kern = ci >= 0 && (x->mode == M_KERNEL ||
					x->mode == M_DEVICE ||
					x->mode == M_CONNS ||
					x->mode == M_SETUP ||
					x->mode == M_AF_ALG);
		bool user = x->mode == M_USER || x->mode == M_USER_ZC ||
			    x->mode == M_AEAD;

		fprintf(f, "%s,%d,%s,%s,%u,%u,%u,%llu,%llu,%llu,%llu,%llu,%.4f,%.2f,%llu,%s,%s,%s,%s\n",
			opt_accel, x->rep, mode_name[x->mode],
			cipher_label(x->cipher), x->size, x->batch, x->conns,
			(unsigned long long)x->calls,
			(unsigned long long)x->packets,
			(unsigned long long)x->bytes,
			(unsigned long long)x->wall_ns,
			(unsigned long long)x->cpu_ns,
			x->bytes ? (double)x->cpu_ns / x->bytes : 0,
			x->wall_ns ? x->bytes * 1e3 / x->wall_ns : 0,
			(unsigned long long)x->errors,
			kern ? impl_aead[ci] : "",
			kern && x->mode != M_AF_ALG ? impl_hp[ci] : "",
			user ? openssl_ver : "", user ? openssl_cap : "");
	}
	fclose(f);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

struct stat3 {
	double med, min, max;
	unsigned int n;
};

static struct stat3 stats(double *v, unsigned int n)
{
	struct stat3 s = { 0 };

	if (!n)
		return s;
	qsort(v, n, sizeof(*v), cmp_double);
	s.n = n;
	s.min = v[0];
	s.max = v[n - 1];
	s.med = n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
	return s;
}

/* cpu ns per byte (or MB/s with @tput) of every rep of one configuration */
static unsigned int collect(enum mode mode, uint16_t cipher, unsigned int size,
			    unsigned int batch, unsigned int conns, bool tput,
			    double *v)
{
	unsigned int i, n = 0;

	for (i = 0; i < nresults; i++) {
		const struct result *x = &results[i];

		if (x->mode != mode || x->cipher != cipher || x->size != size ||
		    x->batch != batch || x->conns != conns || !x->bytes)
			continue;
		v[n++] = tput ? x->bytes * 1e3 / x->wall_ns :
				(double)x->cpu_ns / x->bytes;
	}
	return n;
}

static struct stat3 cost(enum mode mode, uint16_t cipher, unsigned int size,
			 unsigned int batch)
{
	double v[256];

	return stats(v, collect(mode, mode == M_PLAIN ? 0 : cipher, size,
				batch, 1, false, v));
}

/* Per-rep ratio of two modes' costs (reps are interleaved, so paired). */
static struct stat3 ratio(enum mode num, enum mode den, uint16_t cipher,
			  unsigned int size, unsigned int batch)
{
	double a[256], c[256], v[256];
	unsigned int na, nc, i, n = 0;

	na = collect(num, cipher, size, batch, 1, false, a);
	nc = collect(den, den == M_PLAIN ? 0 : cipher, size, batch, 1, false,
		     c);
	for (i = 0; i < na && i < nc; i++)
		if (c[i] > 0)
			v[n++] = a[i] / c[i];
	return stats(v, n);
}

/*
 * Per-rep overhead of a protected send: its cost less the plaintext
 * send's (the floor) and less the AEAD's alone (@alone, measured in
 * batches of @alone_batch; M_COUNT: none, the host runs no AEAD), ns per
 * wire byte.  n == 0 if a part is missing.
 */
static struct stat3 overhead(enum mode num, enum mode alone, uint16_t cipher,
			     unsigned int size, unsigned int batch,
			     unsigned int alone_batch)
{
	double a[256], p[256], c[256], v[256];
	unsigned int na, np, nc, i, n = 0;

	na = collect(num, cipher, size, batch, 1, false, a);
	np = collect(M_PLAIN, 0, size, batch, 1, false, p);
	if (alone == M_COUNT) {
		memset(c, 0, sizeof(c));
		nc = na;
	} else {
		nc = collect(alone, cipher, size, alone_batch, 1, false, c);
	}
	for (i = 0; i < na && i < np && i < nc; i++)
		v[n++] = a[i] - p[i] - c[i];
	return stats(v, n);
}

/* @dir/@kind-<cipher>.dat, open for writing */
static FILE *plot_file(const char *dir, const char *kind, uint16_t cipher)
{
	char path[4096];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s-%s.dat", dir, kind,
		 cipher_file[cipher_index(cipher)]);
	f = fopen(path, "w");
	if (!f)
		die("%s: %s", path, strerror(errno));
	return f;
}

/* "med [min..max]" of @s with @prec decimals into @buf (64 bytes), or "not run" */
static const char *cell3f(struct stat3 s, int prec, char *buf)
{
	if (!s.n)
		return "not run";
	snprintf(buf, 64, "%.*f [%.*f..%.*f]", prec, s.med, prec, s.min,
		 prec, s.max);
	return buf;
}

static const char *cell3(struct stat3 s, char *buf)
{
	return cell3f(s, 2, buf);
}

/* What the summary ends with: AES-128-GCM, 1200 B unless said otherwise */
struct headline {
	struct stat3 ku, kz, ko, uo;	/* full batches */
	struct stat3 ep, ek;		/* full batches: (e)/(a), (e)/(d) */
	struct stat3 ku_one, ku_ack;	/* one packet per call; 50 B */
	struct stat3 conns_ratio;	/* per packet, most connections / 1 */
	uint32_t conns_most;
	struct {
		double add_per_s, del_per_s, charged, slab;
	} setup[NSETUP];
};
static struct headline headline;

static void head_row(struct headline *h, unsigned int size,
		     unsigned int batch, struct stat3 ku, struct stat3 kz,
		     struct stat3 ko, struct stat3 uo, struct stat3 ep,
		     struct stat3 ek)
{
	if (size == 1200 && !batch) {
		h->ku = ku;
		h->kz = kz;
		h->ko = ko;
		h->uo = uo;
		h->ep = ep;
		h->ek = ek;
	} else if (size == 1200 && batch == 1) {
		h->ku_one = ku;
	} else if (size == 50 && batch == 1) {
		h->ku_ack = ku;
	}
}

/* The CPU model the guest reports */
static void cpu_model(char *model, size_t size)
{
	char line[4096];
	FILE *f = fopen("/proc/cpuinfo", "r");

	snprintf(model, size, "unknown");
	while (f && fgets(line, sizeof(line), f)) {
		if (!strncmp(line, "model name", 10) && strchr(line, ':')) {
			snprintf(model, size, "%.*s", (int)size - 1,
				 strchr(line, ':') + 2);
			break;
		}
	}
	if (f)
		fclose(f);
	model[strcspn(model, "\n")] = '\0';
	while (strlen(model) && model[strlen(model) - 1] == ' ')
		model[strlen(model) - 1] = '\0';
}

static void out(FILE *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	vfprintf(f, fmt, ap);
	va_end(ap);
}

static void report(const char *dir, uint64_t dev_pkts, uint64_t sends,
		   uint64_t errors, uint64_t zc_copied, uint64_t zc_sent,
		   const long long *nsim_d, const char *conn_lines)
{
	char path[4096];
	FILE *f, *dat;
	const struct headline *h = &headline;
	FILE *split;
	unsigned int ci, si, bi;
	bool emulated = strncmp(opt_accel, "kvm", 3);
	char model[128], c3[2][64];

	snprintf(path, sizeof(path), "%s/summary.txt", dir);
	f = fopen(path, "w");
	if (!f)
		die("%s: %s", path, strerror(errno));

	out(f, "\nquic_bench: accel=%s, %u repetitions of %u ms per configuration\n",
	    opt_accel, opt_reps, opt_ms);
	if (!strncmp(opt_accel, "tcg-icount", 10))
		out(f, "NOTE: accel=%s: the guest CPU is emulated (TCG) under -icount shift=0:\n"
		    "1 ns of guest CPU time is one emulated instruction, so every cost is an\n"
		    "instruction count (per byte), not a time; compare modes with each other.\n",
		    opt_accel);
	else if (emulated)
		out(f, "NOTE: accel=%s: the guest CPU is emulated (TCG); every figure is an\n"
		    "emulated cost, useful only for comparing modes with each other.\n",
		    opt_accel);
	out(f, "sink: dummy0 (frees each skb in its xmit): %llu skbs counted by the device\n"
	    "for %llu successful sends (%s), %llu send errors; MSG_ZEROCOPY: %llu of\n"
	    "%llu sends fell back to copying\n",
	    (unsigned long long)dev_pkts, (unsigned long long)sends,
	    dev_pkts == sends ? "equal" : "MISMATCH: the run fails",
	    (unsigned long long)errors, (unsigned long long)zc_copied,
	    (unsigned long long)zc_sent);
	if (nsim_d)
		out(f, "sink (e): netdevsim port %s, its peer deleted and its crypto off (counts and\n"
		    "frees each skb marked for it): %lld packets, %lld bytes counted by the port\n"
		    "for %llu packets, %llu bytes sent (%s); QuicTxDevicePackets %lld;\n"
		    "skbs not marked for it: %lld sent on, %lld dropped; packets sealed by the\n"
		    "kernel instead: %lld at send, %lld at transmit, %lld dropped\n",
		    nsim.ifname, nsim_d[N_PACKETS], nsim_d[N_BYTES],
		    (unsigned long long)nsim.packets,
		    (unsigned long long)nsim.bytes,
		    nsim_exact(nsim_d, nsim.packets, nsim.bytes, false) ?
		    "equal" : "MISMATCH: the run fails",
		    nsim_d[N_DEV_PACKETS], nsim_d[N_SENT_ON],
		    nsim_d[N_DROPPED], nsim_d[N_SOFTWARE], nsim_d[N_FALLBACK],
		    nsim_d[N_DEV_DROP]);
	for (ci = 0; ci < NCIPHERS; ci++)
		out(f, "kernel %s: AEAD %s, header protection %s\n",
		    quic_cipher_name(ciphers[ci]), impl_aead[ci], impl_hp[ci]);
	out(f, "userspace: %s, OPENSSL_ia32cap=%s\n", openssl_ver, openssl_cap);
	out(f, "cost = sending thread CPU ns per wire byte (user+system), median [min..max]\n"
	    "ratios are per-repetition pairs, median [min..max]; aead = OpenSSL AEAD alone\n\n");

	for (ci = 0; ci < NCIPHERS; ci++) {
		uint16_t c = ciphers[ci];

		dat = plot_file(dir, "plot", c);
		fprintf(dat, "# label plain(med min max) user(...) user-zc(...) kernel(...) device(...) aead(...)\n");
		split = plot_file(dir, "split", c);
		fprintf(split, "# label floor aead overhead (medians, ns per wire byte)\n");

		out(f, "%s\n", quic_cipher_name(c));
		out(f, "%-5s %5s | %-17s | %-17s | %-17s | %-17s | %-17s | %7s | %5s | %5s | %5s | %6s | %6s\n",
		    "size", "batch", "plain", "user", "user-zc", "kernel",
		    "device", "kern MB/s", "k/u", "k/uzc", "e/p", "k ovh",
		    "u ovh");
		for (si = 0; si < NSIZES; si++) {
			unsigned int size = sizes[si];
			struct stat3 aead = cost(M_AEAD, c, size, 1);
			struct stat3 alg = cost(M_AF_ALG, c, size, 1);
			struct stat3 kaead = cost(M_KAEAD, c, size,
						  KAEAD_BATCH);
			char alone[3][64];

			for (bi = 0; bi < NBATCHES; bi++) {
				unsigned int b = batch_count(batches[bi], size);
				struct stat3 s[5], ku, kz, ko, uo, tp;
				struct stat3 ep, ek, eo;
				enum mode m[5] = { M_PLAIN, M_USER, M_USER_ZC,
						   M_KERNEL, M_DEVICE };
				double v[256];
				char cell[5][64];
				int j;

				for (j = 0; j < 5; j++)
					s[j] = cost(m[j], c, size, b);
				tp = stats(v, collect(M_KERNEL, c, size, b, 1,
						      true, v));
				ku = ratio(M_KERNEL, M_USER, c, size, b);
				kz = ratio(M_KERNEL, M_USER_ZC, c, size, b);
				ep = ratio(M_DEVICE, M_PLAIN, c, size, b);
				ek = ratio(M_DEVICE, M_KERNEL, c, size, b);
				ko = overhead(M_KERNEL, M_KAEAD, c, size, b,
					      KAEAD_BATCH);
				uo = overhead(M_USER, M_AEAD, c, size, b, 1);
				eo = overhead(M_DEVICE, M_COUNT, c, size, b, 0);
				out(f, "%-5u %5u | %-17s | %-17s | %-17s | %-17s | %-17s | %9.1f | %5.2f | %5.2f | %5.2f | %6.2f | %6.2f\n",
				    size, b, cell3(s[0], cell[0]),
				    cell3(s[1], cell[1]), cell3(s[2], cell[2]),
				    cell3(s[3], cell[3]), cell3(s[4], cell[4]),
				    tp.med, ku.med, kz.med, ep.med, ko.med,
				    uo.med);
				out(f, "%-5s %5s   [min..max]: k/u %.2f..%.2f, k/uzc %.2f..%.2f, e/p %.2f..%.2f, k ovh %.2f..%.2f, u ovh %.2f..%.2f\n",
				    "", "", ku.min, ku.max, kz.min, kz.max,
				    ep.min, ep.max, ko.min, ko.max, uo.min,
				    uo.max);
				if (c == TLS_CIPHER_AES_GCM_128)
					head_row(&headline, size, batches[bi],
						 ku, kz, ko, uo, ep, ek);
				fprintf(dat, "\"%u/%u\"", size, b);
				for (j = 0; j < 5; j++)
					fprintf(dat, " %.4f %.4f %.4f", s[j].med,
						s[j].min, s[j].max);
				fprintf(dat, " %.4f %.4f %.4f\n", aead.med,
					aead.min, aead.max);
				/* 50 B costs are of another scale */
				if (size < 1200)
					continue;
				if (uo.n && ko.n) {
					fprintf(split, "\"%u/%u (b)\" %.4f %.4f %.4f\n",
						size, b, s[0].med, aead.med,
						uo.med);
					fprintf(split, "\"%u/%u (d)\" %.4f %.4f %.4f\n",
						size, b, s[0].med, kaead.med,
						ko.med);
				}
				/* The host runs no AEAD: the device does. */
				if (eo.n)
					fprintf(split, "\"%u/%u (e)\" %.4f 0 %.4f\n",
						size, b, s[0].med, eo.med);
			}
			out(f, "%-5u  aead alone, ns/B: OpenSSL %s; the kernel's in the kernel %s, through AF_ALG %s (2 syscalls + 2 copies per packet)\n",
			    size, cell3(aead, alone[0]), cell3(kaead, alone[1]),
			    cell3(alg, alone[2]));
		}
		fclose(dat);
		fclose(split);
		out(f, "\n");
	}
	out(f, "%s", conn_lines);
	out(f, "k = kernel offload (d), u = userspace (b), uzc = userspace + MSG_ZEROCOPY (c), p = plain (a),\n"
	    "e = device (e): the kernel offload through a netdevsim port that holds the connections\n"
	    "with its crypto off, the host's part when a NIC encrypts\n"
	    "k ovh = (d) - (a) - the kernel's AEAD in the kernel, u ovh = (b) - (a) - OpenSSL's AEAD,\n"
	    "ns per wire byte: what each design costs beyond the send and the AEAD\n\n");
	cpu_model(model, sizeof(model));
	out(f, "summary: AES-128-GCM, 1200 B; CPU %s (AVX %s), OpenSSL %s\n",
	    model, quic_cpu_has("avx") ? "on" : "off", openssl_cap);
	out(f, "  (d)/(b), full batches: %s\n", cell3f(h->ku, 3, c3[0]));
	out(f, "  (d)/(c), full batches: %s\n", cell3f(h->kz, 3, c3[0]));
	if (h->ep.n)
		out(f, "  (e) the offload to a device with its crypto off, full batches: (e)/(a) %s, (e)/(d) %s\n",
		    cell3f(h->ep, 3, c3[0]), cell3f(h->ek, 3, c3[1]));
	out(f, "  overhead per wire byte, full batches: offload (d)-(a)-kernel AEAD %s, userspace (b)-(a)-OpenSSL AEAD %s\n",
	    cell3f(h->ko, 3, c3[0]), cell3f(h->uo, 3, c3[1]));
	out(f, "  one packet per call, (d)/(b): 1200 B %s, 50 B %s\n",
	    cell3f(h->ku_one, 3, c3[0]), cell3f(h->ku_ack, 3, c3[1]));
	if (h->conns_ratio.n)
		out(f, "  per packet, %u/1 connections: %s\n", h->conns_most,
		    cell3f(h->conns_ratio, 3, c3[0]));
	for (si = 0; si < NSETUP; si++) {
		if (!h->setup[si].add_per_s)
			continue;
		out(f, "  connection setup, %u on one socket: %.0f ADD and %.0f DEL per CPU second, %.0f bytes charged and %.0f of slab per connection\n",
		    setup_conns[si], h->setup[si].add_per_s,
		    h->setup[si].del_per_s, h->setup[si].charged,
		    h->setup[si].slab);
	}
	fclose(f);
}

/* ---- main ---- */

/* ---- connection setup ---- */

/* Busy nanoseconds of every CPU, once every pending RCU callback has run */
static uint64_t busy_ns(int fd)
{
	char buf[32];
	ssize_t n = pread(fd, buf, sizeof(buf) - 1, 0);

	if (n <= 0)
		die("%s: %s", BUSY_FILE, n ? strerror(errno) : "empty");
	buf[n] = '\0';
	return strtoull(buf, NULL, 10);
}

/*
 * memory.current of @dir, to the byte: a memory cgroup charges pages
 * ahead, up to 64 in a per-CPU stock, and gives them back when another
 * cgroup charges on that CPU.  A pipe made from @other does that.
 */
static long long memcg_exact(const char *dir, const char *other)
{
	int p[2];

	if (quic_file_write(other, "cgroup.procs", "0") || pipe(p))
		die("%s: %s", other, strerror(errno));
	close(p[0]);
	close(p[1]);
	if (quic_file_write(dir, "cgroup.procs", "0"))
		die("%s: %s", dir, strerror(errno));
	return quic_file_value(dir, "memory.current", NULL);
}

struct setup_run {
	const char *dir, *other;	/* memory cgroups */
	int busy_fd;
	FILE *csv;
	char *lines;
	size_t size;
};

/*
 * Per repetition: SETUP_TOTAL connections (more if one socket is to hold
 * more), @per on each fresh socket, all ADDed, then all DELed.  ADD is
 * charged what the CPUs did from the first ADD to the last; DEL also what
 * the RCU callbacks freeing the keys did.  The cgroup's memory.current
 * gives the bytes charged per connection, the kernel's slab the bytes
 * really held (the charge for a transform is a fixed bound, see
 * quic_cipher.aead_charge).
 */
static void measure_setup(const struct setup_run *sr, uint16_t cipher,
			  unsigned int shape)
{
	uint32_t per = setup_conns[shape];
	uint32_t nsk = per >= SETUP_TOTAL ? 1 : SETUP_TOTAL / per;
	double add[64], del[64], mem[64], slab[64], n = (double)nsk * per;
	struct stat3 a, d, m, sl;
	uint8_t cid[CID_LEN];
	struct quic_keys k;
	uint64_t t0, t1, t2;
	long long m0, m1, s0, s1;
	unsigned int rep;
	uint32_t i, j;
	int *fd = calloc(nsk, sizeof(*fd));

	if (!fd)
		die("out of memory");
	conn_keys(cipher, &k);
	for (rep = 0; rep < opt_reps; rep++) {
		for (j = 0; j < nsk; j++)
			fd[j] = offload_socket(&dst, cipher, 0);
		m0 = memcg_exact(sr->dir, sr->other);
		s0 = quic_slab_bytes();
		t0 = busy_ns(sr->busy_fd);
		for (j = 0; j < nsk; j++) {
			for (i = 0; i < per; i++) {
				quic_cid_numbered(cid, CID_LEN, 0xbe, i);
				if (quic_conn_add(fd[j], &k, cid, CID_LEN))
					die("setup ADD %u/%u: %s", j, i,
					    strerror(errno));
			}
		}
		t1 = busy_ns(sr->busy_fd);
		m1 = memcg_exact(sr->dir, sr->other);
		s1 = quic_slab_bytes();
		add[rep] = (double)(t1 - t0) / n;
		t1 = busy_ns(sr->busy_fd);
		for (j = 0; j < nsk; j++) {
			for (i = 0; i < per; i++) {
				quic_cid_numbered(cid, CID_LEN, 0xbe, i);
				if (quic_conn_del(fd[j], cid, CID_LEN))
					die("setup DEL %u/%u: %s", j, i,
					    strerror(errno));
			}
		}
		t2 = busy_ns(sr->busy_fd);
		for (j = 0; j < nsk; j++)
			close(fd[j]);
		if (m0 < 0 || m1 < 0 || s0 < 0 || s1 < 0)
			die("%s/memory.current or slab: %s", sr->dir,
			    strerror(errno));
		del[rep] = (double)(t2 - t1) / n;
		mem[rep] = (double)(m1 - m0) / n;
		slab[rep] = (double)(s1 - s0) / n;
		printf("rep %u setup   %-17s %6u per socket, %5u sockets: ADD %.0f ns, DEL %.0f ns, %.0f bytes charged, %.0f of slab each\n",
		       rep, cipher_label(cipher), per, nsk, add[rep], del[rep],
		       mem[rep], slab[rep]);
		fprintf(sr->csv, "%s,%u,%s,%u,%u,%.1f,%.1f,%.1f,%.1f\n",
			opt_accel, rep, cipher_label(cipher), per, nsk,
			add[rep], del[rep], mem[rep], slab[rep]);
	}
	free(fd);
	a = stats(add, opt_reps);
	d = stats(del, opt_reps);
	m = stats(mem, opt_reps);
	sl = stats(slab, opt_reps);
	if (cipher == TLS_CIPHER_AES_GCM_128) {
		headline.setup[shape].add_per_s = 1e9 / a.med;
		headline.setup[shape].del_per_s = 1e9 / d.med;
		headline.setup[shape].charged = m.med;
		headline.setup[shape].slab = sl.med;
	}
	snprintf(sr->lines + strlen(sr->lines), sr->size - strlen(sr->lines),
		 "connection setup, %s, %u on each of %u sockets: ADD %.1f [%.1f..%.1f] us (%.0f per CPU second), DEL %.1f [%.1f..%.1f] us (%.0f per CPU second); per connection %.0f [%.0f..%.0f] bytes charged to the memory cgroup, %.0f [%.0f..%.0f] bytes of slab\n",
		 quic_cipher_name(cipher), per, nsk, a.med / 1e3,
		 a.min / 1e3, a.max / 1e3, 1e9 / a.med, d.med / 1e3,
		 d.min / 1e3, d.max / 1e3, 1e9 / d.med, m.med, m.min, m.max,
		 sl.med, sl.min, sl.max);
}

static void run_setup(char *lines, size_t size)
{
	char dir[256], other[256], path[4096];
	struct rlimit fds = { SETUP_TOTAL + 64, SETUP_TOTAL + 64 };
	struct setup_run sr = { dir, other, -1, NULL, lines, size };
	unsigned int ci, shape;

	/* A connection's memory is charged to the cgroup of the task adding it. */
	if (quic_memcg_make(dir, sizeof(dir), "quic_bench", "max") ||
	    quic_memcg_make(other, sizeof(other), "quic_bench_other", "max") ||
	    quic_file_write(dir, "cgroup.procs", "0"))
		die("memory cgroups for the setup run: %s", strerror(errno));
	if (setrlimit(RLIMIT_NOFILE, &fds))
		die("RLIMIT_NOFILE %u: %s", SETUP_TOTAL + 64, strerror(errno));
	sr.busy_fd = open(BUSY_FILE, O_RDONLY);
	if (sr.busy_fd < 0)
		die("%s: %s (bench/kmod not loaded)", BUSY_FILE,
		    strerror(errno));
	snprintf(path, sizeof(path), "%s/setup.csv", opt_out);
	sr.csv = fopen(path, "w");
	if (!sr.csv)
		die("%s: %s", path, strerror(errno));
	fprintf(sr.csv, "accel,rep,cipher,conns_per_socket,sockets,add_ns,del_ns,charged_bytes,slab_bytes\n");
	for (shape = 0; shape < NSETUP; shape++)
		for (ci = 0; ci < NCIPHERS; ci++)
			measure_setup(&sr, ciphers[ci], shape);
	fclose(sr.csv);
	close(sr.busy_fd);
	if (quic_file_write("/sys/fs/cgroup", "cgroup.procs", "0"))
		die("leaving %s: %s", dir, strerror(errno));
	rmdir(dir);
	rmdir(other);
}

static void usage(void)
{
	fprintf(stderr, "usage: quic_bench [-r REPS] [-m MS] [-c CONNS] [-M MODES] [-a ACCEL] [-S SIZE/BATCH] [-C CIPHER] [-e DST,ID,PEER,NETNS] -o DIR DST\n");
	exit(2);
}

static unsigned int parse_modes(char *list)
{
	unsigned int mask = 0, m;
	char *save = NULL, *tok;

	for (tok = strtok_r(list, ",", &save); tok;
	     tok = strtok_r(NULL, ",", &save)) {
		for (m = 0; m < M_COUNT && strcmp(tok, mode_name[m]); m++)
			;
		if (m == M_COUNT)
			usage();
		mask |= 1u << m;
	}
	return mask;
}

static void run_config(struct run *r, int rep, unsigned int ms, bool keep)
{
	struct result res;

	if (!(opt_modes & 1u << r->mode))
		return;
	measure(r, rep, ms, &res);
	if (r->mode == M_DEVICE) {
		nsim.packets += res.packets;
		nsim.bytes += res.bytes;
		dev_errors += res.errors;
	} else if (r->mode != M_AEAD && r->mode != M_AF_ALG &&
		   r->mode != M_KAEAD) {
		dev_sends += res.calls - res.errors;
		dev_errors += res.errors;
	}
	if (!keep)
		return;
	if (nresults == MAX_RESULTS)
		die("too many results");
	results[nresults++] = res;
	printf("rep %d %-7s %-17s %4u x%-3u %6u conns: %8.3f ns/B %9.2f MB/s%s\n",
	       rep, mode_name[res.mode], cipher_label(res.cipher), res.size,
	       res.batch, res.conns,
	       res.bytes ? (double)res.cpu_ns / res.bytes : 0,
	       res.wall_ns ? res.bytes * 1e3 / res.wall_ns : 0,
	       res.errors ? " SEND ERRORS" : "");
	fflush(stdout);
}

int main(int argc, char **argv)
{
	int fd_plain, fd_zc, fd_off[NCIPHERS], fd_alg[NCIPHERS], one = 1, opt;
	int fd_kaead[NCIPHERS], fd_dev[NCIPHERS];
	struct sealer seal[NCIPHERS];
	struct quic_keys keys[NCIPHERS];
	uint64_t dev0, sends = 0, errors = 0, zc_copied = 0, zc_sent = 0;
	uint8_t *pt = buffer(), *wire[ZC_RING];
	char conn_lines[8192] = "", path[4096], addr[64];
	long long nsim_d[N_NR];
	unsigned int ci, si, bi, mi, i;
	bool device, nsim_ok = true, modes_given = false;
	int rep;

	while ((opt = getopt(argc, argv, "r:m:c:M:a:o:S:C:e:")) != -1) {
		switch (opt) {
		case 'r':
			opt_reps = atoi(optarg);
			break;
		case 'm':
			opt_ms = atoi(optarg);
			break;
		case 'c':
			snprintf(opt_conns, sizeof(opt_conns), "%s", optarg);
			break;
		case 'M':
			opt_modes = parse_modes(optarg);
			modes_given = true;
			break;
		case 'a':
			opt_accel = optarg;
			break;
		case 'o':
			opt_out = optarg;
			break;
		case 'S':
			if (sscanf(optarg, "%d/%d", &opt_size, &opt_batch) != 2)
				usage();
			break;
		case 'C':
			opt_ciphers = 0;
			for (ci = 0; ci < NCIPHERS; ci++)
				if (!strcmp(optarg, cipher_label(ciphers[ci])))
					opt_ciphers |= 1u << ci;
			if (!opt_ciphers)
				usage();
			break;
		case 'e':
			if (sscanf(optarg, "%63[^,],%u,%u,%255s", addr, &nsim.id,
				   &nsim.peer, nsim.netns) != 4 ||
			    inet_pton(AF_INET, addr, &nsim.dst.sin_addr) != 1)
				usage();
			nsim.dst.sin_family = AF_INET;
			nsim.dst.sin_port = htons(PORT);
			nsim.on = true;
			break;
		default:
			usage();
		}
	}
	if (optind != argc - 1 || !opt_reps || opt_reps > 64 || !opt_ms)
		usage();
	dst.sin_family = AF_INET;
	dst.sin_port = htons(PORT);
	if (inet_pton(AF_INET, argv[optind], &dst.sin_addr) != 1)
		usage();
	if (!nsim.on && modes_given && opt_modes & 1u << M_DEVICE)
		die("mode device needs its netdevsim port (-e)");
	if (!nsim.on)
		opt_modes &= ~(1u << M_DEVICE);
	device = opt_modes & 1u << M_DEVICE;
	for (i = 0; i < ZC_RING; i++)
		wire[i] = buffer();

	openssl_impl();
	if (device)
		nsim_find();
	check_mode(M_PLAIN, 0, NULL);
	for (ci = 0; ci < NCIPHERS; ci++) {
		conn_keys(ciphers[ci], &keys[ci]);
		sealer_init(&seal[ci], &keys[ci]);
		kernel_impl(ci);
		check_mode(M_USER, ciphers[ci], &seal[ci]);
		check_mode(M_USER_ZC, ciphers[ci], &seal[ci]);
		check_mode(M_KERNEL, ciphers[ci], &seal[ci]);
		check_mode(M_CONNS, ciphers[ci], &seal[ci]);
		if (device)
			check_device(ciphers[ci]);
		fd_off[ci] = offload_socket(&dst, ciphers[ci], 1);
		fd_alg[ci] = alg_open(&keys[ci]);
		if (fd_alg[ci] < 0)
			printf("af_alg: %s unavailable (%s): row left out\n",
			       quic_cipher_name(ciphers[ci]), strerror(errno));
		/* One file per cipher: each keeps its own transform. */
		fd_kaead[ci] = kaead_open(ciphers[ci]);
	}
	fd_plain = udp_socket(&dst);
	fd_zc = udp_socket(&dst);
	if (setsockopt(fd_zc, SOL_SOCKET, SO_ZEROCOPY, &one, sizeof(one)))
		die("SO_ZEROCOPY: %s", strerror(errno));
	/*
	 * The device mode's sockets, each connection on the port before its
	 * counters are read: the calls until then are sealed in software
	 * and dropped by the port, which has no peer any more.
	 */
	if (device)
		nsim_sink();
	for (ci = 0; ci < NCIPHERS; ci++) {
		struct run r;

		fd_dev[ci] = -1;
		if (!device)
			continue;
		memset(&r, 0, sizeof(r));
		r.mode = M_DEVICE;
		r.cipher = ciphers[ci];
		r.size = 1200;
		r.pt = pt;
		r.conns = 1;
		r.pn = bench_pn;
		fd_dev[ci] = offload_socket(&nsim.dst, ciphers[ci], 1);
		r.fd = fd_dev[ci];
		nsim_attach(&r);
		bench_pn = r.pn;
	}
	if (device)
		nsim_counters(nsim.base);

	dev0 = dev_tx_packets();
	/* rep 0 is a short warm-up, not recorded */
	for (rep = 0; rep <= (int)opt_reps; rep++) {
		for (si = 0; si < NSIZES; si++) {
			for (bi = 0; bi < NBATCHES; bi++) {
				for (mi = 0; mi < 1 + NCIPHERS * 4; mi++) {
					static const enum mode cm[4] = {
						M_USER, M_USER_ZC, M_KERNEL,
						M_DEVICE };
					struct run r;

					if (opt_size >= 0 &&
					    (opt_size != (int)sizes[si] ||
					     opt_batch != (int)batches[bi]))
						continue;
					memset(&r, 0, sizeof(r));
					ci = mi ? (mi - 1) / 4 : 0;
					if (mi && !(opt_ciphers & 1u << ci))
						continue;
					r.mode = mi ? cm[(mi - 1) % 4] : M_PLAIN;
					r.cipher = ciphers[ci];
					r.size = sizes[si];
					r.batch = batch_count(batches[bi], r.size);
					r.seal = &seal[ci];
					r.keys = &keys[ci];
					r.pt = pt;
					memcpy(r.wire, wire, sizeof(r.wire));
					r.conns = 1;
					r.pn = bench_pn;
					r.fd = r.mode == M_PLAIN ? fd_plain :
					       r.mode == M_USER ? fd_plain :
					       r.mode == M_USER_ZC ? fd_zc :
					       r.mode == M_DEVICE ? fd_dev[ci] :
					       fd_off[ci];
					run_config(&r, rep, rep ? opt_ms : opt_ms / 5,
						   rep);
					bench_pn = r.pn;
					if (r.mode == M_USER_ZC) {
						zc_copied += r.zc_copied;
						zc_sent += r.zc_sent;
					}
				}
			}
			for (ci = 0; ci < NCIPHERS; ci++) {
				struct run r;

				if (!(opt_ciphers & 1u << ci))
					continue;
				memset(&r, 0, sizeof(r));
				r.cipher = ciphers[ci];
				r.size = sizes[si];
				r.batch = 1;
				r.seal = &seal[ci];
				r.keys = &keys[ci];
				r.pt = pt;
				r.wire[0] = wire[0];
				r.mode = M_AEAD;
				run_config(&r, rep, rep ? opt_ms : opt_ms / 5, rep);
				if (fd_alg[ci] >= 0) {
					r.mode = M_AF_ALG;
					r.fd = fd_alg[ci];
					run_config(&r, rep, rep ? opt_ms : opt_ms / 5,
						   rep);
				}
				if (fd_kaead[ci] < 0)
					continue;
				r.mode = M_KAEAD;
				r.batch = KAEAD_BATCH;
				r.fd = fd_kaead[ci];
				run_config(&r, rep, rep ? opt_ms : opt_ms / 5, rep);
			}
		}
	}
	/*
	 * Connections on one socket: AES-128-GCM, 1200 B, one packet per call,
	 * each to a random connection.  All sockets exist at once so that the
	 * repetitions interleave and each count's figure pairs with the
	 * single-connection one of the same repetition.
	 */
	if (opt_modes & 1u << M_CONNS) {
		char *save = NULL, *tok, list[256];
		uint32_t conns[8];
		FILE *cdat;
		int fds[8];
		unsigned int nc = 0, j;

		snprintf(list, sizeof(list), "%s", opt_conns);
		for (tok = strtok_r(list, " ,", &save); tok && nc < 8;
		     tok = strtok_r(NULL, " ,", &save)) {
			uint64_t t0 = clock_ns(CLOCK_MONOTONIC);

			conns[nc] = strtoul(tok, NULL, 10);
			if (!conns[nc])
				continue;
			fds[nc] = offload_socket(&dst, TLS_CIPHER_AES_GCM_128,
						 conns[nc]);
			printf("conns: %u connections added in %.1f s\n",
			       conns[nc], (clock_ns(CLOCK_MONOTONIC) - t0) / 1e9);
			nc++;
		}
		for (rep = 0; rep <= (int)opt_reps; rep++) {
			for (j = 0; j < nc; j++) {
				struct run r;

				memset(&r, 0, sizeof(r));
				r.mode = M_CONNS;
				r.cipher = TLS_CIPHER_AES_GCM_128;
				r.size = 1200;
				r.batch = 1;
				r.pt = pt;
				r.conns = conns[j];
				r.rng = 12345 + rep;
				r.pn = bench_pn;
				r.fd = fds[j];
				run_config(&r, rep, rep ? opt_ms : opt_ms / 5,
					   rep);
				bench_pn = r.pn;
			}
		}
		snprintf(path, sizeof(path), "%s/conns.dat", opt_out);
		cdat = fopen(path, "w");
		if (!cdat)
			die("%s: %s", path, strerror(errno));
		fprintf(cdat, "# connections, ns per packet (med min max): AES-128-GCM 1200 B, 1 per call\n");
		for (j = 0; j < nc; j++) {
			double v[256], b[256], q[256];
			struct stat3 st, rt;
			unsigned int n, k;

			close(fds[j]);
			n = collect(M_CONNS, TLS_CIPHER_AES_GCM_128, 1200, 1,
				    conns[j], false, v);
			collect(M_CONNS, TLS_CIPHER_AES_GCM_128, 1200, 1,
				conns[0], false, b);
			for (k = 0; k < n; k++)
				q[k] = v[k] / b[k];
			rt = stats(q, n);
			st = stats(v, n);
			headline.conns_ratio = rt;
			headline.conns_most = conns[j];
			fprintf(cdat, "%u %.1f %.1f %.1f\n", conns[j],
				st.med * 1200, st.min * 1200, st.max * 1200);
			snprintf(conn_lines + strlen(conn_lines),
				 sizeof(conn_lines) - strlen(conn_lines),
				 "kernel offload, AES-128-GCM 1200 B, 1 packet per call, random one of %6u connections: %.0f [%.0f..%.0f] ns per packet, %.2f [%.2f..%.2f] x %u connection(s)\n",
				 conns[j], st.med * 1200, st.min * 1200,
				 st.max * 1200, rt.med, rt.min, rt.max,
				 conns[0]);
		}
		fclose(cdat);
	}

	if (opt_modes & 1u << M_SETUP)
		run_setup(conn_lines, sizeof(conn_lines));

	sends = dev_sends;
	errors = dev_errors;
	if (device) {
		memcpy(nsim_d, nsim.base, sizeof(nsim_d));
		nsim_delta(nsim_d);
		nsim_ok = nsim_exact(nsim_d, nsim.packets, nsim.bytes, false);
	}
	snprintf(path, sizeof(path), "%s/results.csv", opt_out);
	write_csv(path);
	report(opt_out, dev_tx_packets() - dev0, sends, errors, zc_copied,
	       zc_sent, device ? nsim_d : NULL, conn_lines);
	for (ci = 0; ci < NCIPHERS; ci++) {
		sealer_free(&seal[ci]);
		close(fd_off[ci]);
		if (fd_dev[ci] >= 0)
			close(fd_dev[ci]);
		if (fd_alg[ci] >= 0)
			close(fd_alg[ci]);
		if (fd_kaead[ci] >= 0)
			close(fd_kaead[ci]);
	}
	if (dev_tx_packets() - dev0 != sends)
		fprintf(stderr, "quic_bench: the device counted %llu skbs for %llu sends\n",
			(unsigned long long)(dev_tx_packets() - dev0),
			(unsigned long long)sends);
	if (!nsim_ok)
		fprintf(stderr, "quic_bench: the device mode sent %llu packets, %llu bytes: %s\n",
			(unsigned long long)nsim.packets,
			(unsigned long long)nsim.bytes, nsim_show(nsim_d));
	return errors || dev_tx_packets() - dev0 != sends || !nsim_ok ? 1 : 0;
}
