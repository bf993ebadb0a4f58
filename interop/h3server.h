/* SPDX-License-Identifier: GPL-2.0 */
/*
 * h3server: an HTTP/3 server (ngtcp2 + nghttp3 + GnuTLS) whose 1-RTT
 * packets are encrypted by the kernel's quic-crypto UDP ULP.
 */
#ifndef H3SERVER_H
#define H3SERVER_H

#include <stdbool.h>
#include <stdint.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <nghttp3/nghttp3.h>

#define MAX_SCIDS	32	/* CIDs that route incoming packets to a conn */
#define MAX_KCIDS	4	/* DCIDs of a conn installed in the kernel */
#define BATCH_MAX	64	/* packets per GSO batch */
#define BATCH_BYTES	65000	/* ciphertext bytes per GSO batch */

struct listener {
	int fd;
	struct sockaddr_storage addr;	/* local address of every path */
	socklen_t addrlen;
	bool ulp;			/* quic-crypto attached */
};

/* One key phase of the 1-RTT send keys, as the kernel holds it. */
struct key_phase {
	bool have;
	void *aead;		/* GnuTLS AEAD handle ngtcp2 encrypts with */
	uint8_t key[32];
	uint8_t iv[12];
};

struct kernel_cid {
	ngtcp2_cid cid;
	bool phased;		/* got a QUIC_KEY_PHASE_INSTALL */
};

struct stream;
struct hq_stream;

struct conn {
	struct conn *next;
	unsigned int id;
	struct listener *ls;
	ngtcp2_conn *q;
	nghttp3_conn *h3;
	gnutls_session_t tls;
	ngtcp2_crypto_conn_ref ref;
	struct sockaddr_storage peer;
	socklen_t peerlen;
	ngtcp2_cid scids[MAX_SCIDS];
	int nscids;
	bool dead;

	/* offload state */
	bool offload;		/* 1-RTT send keys are in the kernel */
	uint16_t cipher;	/* TLS_CIPHER_* */
	const char *cipher_name;
	size_t key_len;
	uint8_t hp[32];
	void *hp_ctx;		/* GnuTLS handle of the 1-RTT Tx HP cipher */
	struct key_phase ph[2];
	struct kernel_cid kcids[MAX_KCIDS];
	int nkcids;
	ngtcp2_cid retired[MAX_KCIDS];	/* DEL after the next flush */
	int nretired;

	/* set around each packet written by ngtcp2 (see the callbacks) */
	uint8_t *wstart;	/* start of the datagram being written */
	bool pkt_offloaded;	/* its 1-RTT packet is left to the kernel */
	bool hp_pending;	/* the next hp_mask call is for that packet */
	ngtcp2_cid pkt_dcid;
	uint64_t pkt_pn;
	int pkt_phase;		/* its Key Phase bit */
	uint64_t next_pn;	/* 1-RTT packet number expected next */

	/* GSO batch of plaintext 1-RTT packets */
	uint8_t batch[BATCH_BYTES + 2048];
	size_t blen, bseg;
	int bcount;
	bool bclosed;		/* last packet was shorter: batch is full */
	uint64_t bpn;
	ngtcp2_cid bdcid;
	int bphase1;		/* packets of the batch in key phase 1 */

	/* counters */
	uint64_t kernel_pkts, user_pkts, key_installs, key_retires;
	uint64_t kernel_coalesced;	/* of kernel_pkts, behind long headers */
	int tx_phase;			/* Key Phase of the last offloaded packet */
	uint64_t phase_flips, phase1_pkts;	/* of kernel_pkts */
	bool h3_early;			/* 1-RTT keys: HTTP/3 may start */
	uint64_t kernel_sends;	/* encrypting sendmsg() calls */
	uint64_t sent_bytes;
	uint64_t key_update_pkts;	/* initiate a key update every ... */
	uint64_t since_update;	/* offloaded packets since our last update */
	unsigned int requests;
	struct stream *streams;

	/* HTTP/0.9 (ALPN hq-interop) instead of HTTP/3 */
	bool hq;
	bool retried;		/* the client came back with a Retry token */
	struct hq_stream *hq_streams;
	struct hq_stream *hq_last;	/* written last: round robin from it */
};

struct options {
	bool offload;
	bool retry;		/* -r: validate addresses with a Retry */
	bool verbose;
	int max_conns;		/* exit after this many connections ended */
	uint64_t key_update_pkts;	/* server-initiated key update period */
};

extern struct options opt;
extern struct conn *cur_conn;	/* conn whose ngtcp2 call is running */

void logmsg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
uint64_t now_ns(void);

/* h3.c */
int h3_init_content(void);
const uint8_t *body_at(uint64_t off, uint64_t *len);
bool bytes_request(struct conn *c, const char *path, uint64_t *len);
int h3_setup(struct conn *c);
void h3_free(struct conn *c);
int h3_recv_stream_data(struct conn *c, uint32_t flags, int64_t stream_id,
			const uint8_t *data, size_t datalen);
int h3_acked(struct conn *c, int64_t stream_id, uint64_t datalen);
int h3_stream_close(struct conn *c, uint32_t flags, int64_t stream_id,
		    uint64_t app_error_code);
int h3_stream_reset(struct conn *c, int64_t stream_id);
int h3_unblock(struct conn *c, int64_t stream_id);
int h3_max_bidi(struct conn *c, uint64_t max_streams);

/* hq.c */
int hq_recv_stream_data(struct conn *c, uint32_t flags, int64_t stream_id,
			const uint8_t *data, size_t datalen);
int hq_writev_stream(struct conn *c, int64_t *stream_id, int *fin,
		     ngtcp2_vec *vec, size_t veccnt);
void hq_written(struct conn *c, int64_t stream_id, size_t datalen, int fin);
void hq_block(struct conn *c, int64_t stream_id, bool blocked);
void hq_shutdown_write(struct conn *c, int64_t stream_id);
void hq_acked(struct conn *c, int64_t stream_id, uint64_t datalen);
void hq_stream_close(struct conn *c, int64_t stream_id);
void hq_free(struct conn *c);

void log_served(unsigned int conn, int64_t id, const char *path,
		gnutls_hash_hd_t sha, uint64_t off, uint64_t acked,
		uint64_t len);

#endif
