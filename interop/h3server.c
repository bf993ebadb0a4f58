// SPDX-License-Identifier: GPL-2.0
/*
 * h3server: an HTTP/3 server on ngtcp2, nghttp3 and GnuTLS whose 1-RTT
 * packets are protected by the kernel (the "quic-crypto" UDP ULP).
 *
 *   h3server [-U] [-r] [-v] [-n CONNS] [-u PKTS] -c CERT -k KEY PORT ADDR...
 *
 *   -U        no offload: every packet is protected in userspace
 *   -r        answer every Initial without a token with a Retry (RFC 9000,
 *             8.1.2): connections start only on a validated address
 *   -n CONNS  exit after CONNS connections have ended
 *   -u PKTS   initiate a key update every PKTS packets the kernel protected
 *             (also per request: GET /bytes/N?keyupdate=PKTS)
 *   -v        log more (ngtcp2's own log included)
 *
 * One UDP socket per ADDR, all on PORT, each serving any number of
 * connections. The handshake, every long-header packet and all receiving
 * stay in userspace. When the TLS stack hands over the 1-RTT send secret,
 * the socket gets the ULP and the connection its keys; from then on
 * ngtcp2's encrypt and hp_mask callbacks leave 1-RTT packets unprotected,
 * and they go out in UDP GSO batches with a UDP_QUIC_ENCRYPT cmsg.
 *
 * The ALPN the client offers chooses the application: "h3" (HTTP/3 on
 * nghttp3, h3.c) or "hq-interop" (HTTP/0.9, hq.c). Session tickets are
 * issued, and 0-RTT requests accepted on a resumed session.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <netdb.h>
#include <linux/quic.h>

#include <ngtcp2/ngtcp2_crypto_gnutls.h>

#include "h3server.h"
#include "offload.h"

#define SCID_LEN	18
#define MAX_LISTENERS	4
#define RECV_BURST	64

struct options opt = { .offload = true };
struct conn *cur_conn;

static struct listener listeners[MAX_LISTENERS];
static int nlisteners;
static struct conn *conns;
static unsigned int next_conn_id;
static gnutls_certificate_credentials_t cred;
static uint8_t reset_secret[32];
static uint8_t token_secret[32];	/* of Retry tokens */
static gnutls_datum_t ticket_key;
static gnutls_anti_replay_t anti_replay;
static volatile sig_atomic_t stop;

static struct {
	unsigned int conns, ended, requests;
	uint64_t kernel_pkts, user_pkts, key_installs, key_retires;
	uint64_t kernel_coalesced;	/* of kernel_pkts, behind long headers */
	unsigned int errors, retries;
} total;

void logmsg(const char *fmt, ...)
{
	va_list ap;

	fputs("h3server: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
}

static void ngtcp2_log(void *user_data, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

uint64_t now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + ts.tv_nsec;
}

static void fail(struct conn *c, const char *what)
{
	logmsg("conn %u: ERROR: %s\n", c ? c->id : 0, what);
	total.errors++;
}

/* RFC 9000, appendix A.3 */
static uint64_t pn_decode(uint64_t expected, uint64_t truncated,
			  unsigned int len)
{
	uint64_t win = 1ull << (8 * len), hwin = win / 2, mask = win - 1;
	uint64_t cand = (expected & ~mask) | truncated;

	if (cand + hwin <= expected && cand + win < (1ull << 62))
		return cand + win;
	if (cand > expected + hwin && cand >= win)
		return cand - win;
	return cand;
}

/* ---- the kernel's copy of the 1-RTT send keys ---- */

static struct kernel_cid *kernel_cid(struct conn *c, const ngtcp2_cid *cid)
{
	int i;

	for (i = 0; i < c->nkcids; i++)
		if (ngtcp2_cid_eq(&c->kcids[i].cid, cid))
			return &c->kcids[i];
	return NULL;
}

/*
 * Make the kernel know @cid with the keys the connection has now. ADD
 * takes one key; if both phases have one, the other is INSTALLed at once,
 * which also switches the entry to per-packet key selection.
 */
static int kernel_add_cid(struct conn *c, const ngtcp2_cid *cid)
{
	int fd = c->ls->fd, base = c->ph[0].have ? 0 : 1;
	struct kernel_cid *k;

	if (kernel_cid(c, cid))
		return 0;
	if (c->nkcids == MAX_KCIDS || !c->ph[base].have) {
		fail(c, "no room or no key for a new DCID");
		return -1;
	}
	if (offload_add(fd, c->cipher, cid->data, cid->datalen,
			c->ph[base].key, c->key_len, c->ph[base].iv, c->hp)) {
		logmsg("conn %u: UDP_QUIC_ADD_TX_CONNECTION: %s\n", c->id,
		       strerror(errno));
		fail(c, "ADD refused");
		return -1;
	}
	k = &c->kcids[c->nkcids++];
	k->cid = *cid;
	k->phased = false;
	if (c->ph[!base].have) {
		if (offload_key_phase(fd, cid->data, cid->datalen,
				      QUIC_KEY_PHASE_INSTALL, !base,
				      c->ph[!base].key, c->key_len,
				      c->ph[!base].iv)) {
			logmsg("conn %u: INSTALL for new DCID: %s\n", c->id,
			       strerror(errno));
			fail(c, "INSTALL refused");
			return -1;
		}
		k->phased = true;
	}
	if (opt.verbose)
		logmsg("conn %u: DCID of %zu bytes added to the kernel\n",
		       c->id, cid->datalen);
	return 0;
}

static void kernel_del_cid(struct conn *c, const ngtcp2_cid *cid)
{
	struct kernel_cid *k = kernel_cid(c, cid);

	if (!k)
		return;
	if (offload_del(c->ls->fd, cid->data, cid->datalen)) {
		logmsg("conn %u: UDP_QUIC_DEL_TX_CONNECTION: %s\n", c->id,
		       strerror(errno));
		fail(c, "DEL refused");
	}
	*k = c->kcids[--c->nkcids];
}

static int kernel_phase(struct conn *c, int op, int phase)
{
	int i;

	for (i = 0; i < c->nkcids; i++) {
		struct kernel_cid *k = &c->kcids[i];

		/* an entry that never had an INSTALL has no phases */
		if (op == QUIC_KEY_PHASE_RETIRE && !k->phased)
			continue;
		if (offload_key_phase(c->ls->fd, k->cid.data, k->cid.datalen,
				      op, phase, c->ph[phase].key, c->key_len,
				      c->ph[phase].iv)) {
			logmsg("conn %u: %s phase %d: %s\n", c->id,
			       op == QUIC_KEY_PHASE_INSTALL ? "INSTALL" :
			       "RETIRE", phase, strerror(errno));
			fail(c, "UDP_QUIC_SET_TX_KEY_PHASE refused");
			return -1;
		}
		if (op == QUIC_KEY_PHASE_INSTALL)
			k->phased = true;
	}
	if (op == QUIC_KEY_PHASE_INSTALL) {
		c->key_installs++;
	} else {
		c->key_retires++;
		c->ph[phase].have = false;
		c->ph[phase].aead = NULL;
	}
	if (opt.verbose)
		logmsg("conn %u: key phase %d %s\n", c->id, phase,
		       op == QUIC_KEY_PHASE_INSTALL ? "installed" : "retired");
	return 0;
}

static uint16_t kernel_cipher(gnutls_cipher_algorithm_t alg,
			      const char **name)
{
	switch (alg) {
	case GNUTLS_CIPHER_AES_128_GCM:
		*name = "AES-128-GCM";
		return TLS_CIPHER_AES_GCM_128;
	case GNUTLS_CIPHER_AES_256_GCM:
		*name = "AES-256-GCM";
		return TLS_CIPHER_AES_GCM_256;
	case GNUTLS_CIPHER_CHACHA20_POLY1305:
		*name = "CHACHA20-POLY1305";
		return TLS_CIPHER_CHACHA20_POLY1305;
	case GNUTLS_CIPHER_AES_128_CCM:
		*name = "AES-128-CCM";
		return TLS_CIPHER_AES_CCM_128;
	default:
		*name = gnutls_cipher_get_name(alg);
		return 0;
	}
}

/* The 1-RTT send keys exist: hand them to the kernel. */
static void offload_start(struct conn *c, const uint8_t *key,
			  const uint8_t *iv, const uint8_t *hp)
{
	const ngtcp2_crypto_ctx *cctx = ngtcp2_conn_get_crypto_ctx(c->q);

	c->cipher = kernel_cipher(gnutls_cipher_get(c->tls), &c->cipher_name);
	if (!opt.offload)
		return;
	if (!c->cipher || cctx->aead.max_overhead != OFFLOAD_TAG_LEN) {
		logmsg("conn %u: %s cannot be offloaded\n", c->id,
		       c->cipher_name);
		return;
	}
	if (!c->ls->ulp) {
		if (offload_attach(c->ls->fd)) {
			logmsg("UDP_ULP quic-crypto: %s\n", strerror(errno));
			fail(c, "cannot attach the offload");
			return;
		}
		c->ls->ulp = true;
	}
	c->key_len = ngtcp2_crypto_aead_keylen(&cctx->aead);
	memcpy(c->hp, hp, c->key_len);
	c->ph[0].have = true;
	c->ph[0].aead = NULL;	/* learnt from the first 1-RTT packet */
	memcpy(c->ph[0].key, key, c->key_len);
	memcpy(c->ph[0].iv, iv, sizeof(c->ph[0].iv));
	c->offload = !kernel_add_cid(c, ngtcp2_conn_get_dcid(c->q));
	if (c->offload && opt.verbose)
		logmsg("conn %u: 1-RTT keys (%s) in the kernel\n", c->id,
		       c->cipher_name);
}

/* ---- GnuTLS / ngtcp2 crypto glue ---- */

static ngtcp2_conn *get_conn(ngtcp2_crypto_conn_ref *ref)
{
	struct conn *c = ref->user_data;

	return c->q;
}

/*
 * Replaces the secret function ngtcp2_crypto_gnutls installs: it does
 * the same (derive and install the keys of a level) but keeps the 1-RTT
 * send key, IV and HP key, which the library does not give out otherwise.
 */
static int secret_func(gnutls_session_t session,
		       gnutls_record_encryption_level_t glevel,
		       const void *rx_secret, const void *tx_secret,
		       size_t secretlen)
{
	ngtcp2_crypto_conn_ref *ref = gnutls_session_get_ptr(session);
	struct conn *c = ref->user_data;
	ngtcp2_crypto_level level =
		ngtcp2_crypto_gnutls_from_gnutls_record_encryption_level(glevel);
	uint8_t key[64], iv[64], hp[64];

	if (rx_secret &&
	    ngtcp2_crypto_derive_and_install_rx_key(c->q, NULL, NULL, NULL,
						    level, rx_secret,
						    secretlen))
		return -1;
	if (tx_secret) {
		if (ngtcp2_crypto_derive_and_install_tx_key(c->q, key, iv, hp,
							    level, tx_secret,
							    secretlen))
			return -1;
		if (level == NGTCP2_CRYPTO_LEVEL_APPLICATION) {
			gnutls_datum_t alpn;

			/* chosen with the ClientHello, before these keys */
			c->hq = !gnutls_alpn_get_selected_protocol(c->tls,
								   &alpn) &&
				alpn.size == 10 &&
				!memcmp(alpn.data, "hq-interop", 10);
			offload_start(c, key, iv, hp);
			c->h3_early = true;
		}
	}
	return 0;
}

/*
 * ngtcp2's encrypt callback. A 1-RTT packet is the kernel's, also one
 * coalesced behind the long-header packets of its datagram (the kernel
 * passes those as they are): it is left in plaintext, with room for the
 * tag that is dropped before sendmsg(). Any other packet is encrypted
 * here.
 */
static int cb_encrypt(uint8_t *dest, const ngtcp2_crypto_aead *aead,
		      const ngtcp2_crypto_aead_ctx *aead_ctx,
		      const uint8_t *plaintext, size_t plaintextlen,
		      const uint8_t *nonce, size_t noncelen,
		      const uint8_t *aad, size_t aadlen)
{
	struct conn *c = cur_conn;

	if (c && !(aad[0] & 0x80)) {
		unsigned int pn_len = (aad[0] & 0x03) + 1;
		uint64_t tpn = 0;
		size_t i;

		for (i = aadlen - pn_len; i < aadlen; i++)
			tpn = tpn << 8 | aad[i];
		c->pkt_pn = pn_decode(c->next_pn, tpn, pn_len);
		c->next_pn = c->pkt_pn + 1;
		if (c->offload) {
			int phase = !!(aad[0] & 0x04);
			struct key_phase *kp = &c->ph[phase];

			if (!kp->have) {
				fail(c, "1-RTT packet of a phase the kernel has no key for");
				return NGTCP2_ERR_CALLBACK_FAILURE;
			}
			if (!kp->aead)
				kp->aead = aead_ctx->native_handle;
			if (kp->aead != aead_ctx->native_handle) {
				fail(c, "1-RTT key phase does not match the kernel's key");
				return NGTCP2_ERR_CALLBACK_FAILURE;
			}
			ngtcp2_cid_init(&c->pkt_dcid, aad + 1,
					aadlen - 1 - pn_len);
			c->pkt_phase = phase;
			memmove(dest, plaintext, plaintextlen);
			memset(dest + plaintextlen, 0, OFFLOAD_TAG_LEN);
			c->pkt_offloaded = true;
			c->hp_pending = true;
			return 0;
		}
		c->user_pkts++;
	}
	return ngtcp2_crypto_encrypt_cb(dest, aead, aead_ctx, plaintext,
					plaintextlen, nonce, noncelen, aad,
					aadlen);
}

/*
 * ngtcp2 asks for the header protection mask right after encrypting a
 * packet. For a packet the kernel protects, the mask is zero: the header
 * stays in plaintext. The 1-RTT HP context is learnt from the first such
 * call and checked on every later one, so a change in that call order
 * would show as an error instead of a corrupt packet.
 */
static int cb_hp_mask(uint8_t *dest, const ngtcp2_crypto_cipher *hp,
		      const ngtcp2_crypto_cipher_ctx *hp_ctx,
		      const uint8_t *sample)
{
	struct conn *c = cur_conn;

	if (c && c->hp_pending) {
		c->hp_pending = false;
		if (!c->hp_ctx)
			c->hp_ctx = hp_ctx->native_handle;
		if (c->hp_ctx != hp_ctx->native_handle) {
			fail(c, "hp_mask is not for the packet just encrypted");
			return NGTCP2_ERR_CALLBACK_FAILURE;
		}
		memset(dest, 0, NGTCP2_HP_SAMPLELEN);
		return 0;
	}
	return ngtcp2_crypto_hp_mask_cb(dest, hp, hp_ctx, sample);
}

/*
 * Key update, whichever side started it: ngtcp2 asks for the next
 * phase's keys ahead of use; the kernel gets the send key right away,
 * in the phase slot the last retirement freed.
 */
static int cb_update_key(ngtcp2_conn *q, uint8_t *rx_secret,
			 uint8_t *tx_secret, ngtcp2_crypto_aead_ctx *rx_aead_ctx,
			 uint8_t *rx_iv, ngtcp2_crypto_aead_ctx *tx_aead_ctx,
			 uint8_t *tx_iv, const uint8_t *current_rx_secret,
			 const uint8_t *current_tx_secret, size_t secretlen,
			 void *user_data)
{
	struct conn *c = user_data;
	uint8_t rx_key[64], tx_key[64];
	int slot;

	if (ngtcp2_crypto_update_key(q, rx_secret, tx_secret, rx_aead_ctx,
				     rx_key, rx_iv, tx_aead_ctx, tx_key, tx_iv,
				     current_rx_secret, current_tx_secret,
				     secretlen))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	if (!c->offload)
		return 0;
	slot = !c->ph[0].have ? 0 : !c->ph[1].have ? 1 : -1;
	if (slot < 0) {
		fail(c, "next 1-RTT key before the old one was discarded");
		return NGTCP2_ERR_CALLBACK_FAILURE;
	}
	memcpy(c->ph[slot].key, tx_key, c->key_len);
	memcpy(c->ph[slot].iv, tx_iv, sizeof(c->ph[slot].iv));
	c->ph[slot].have = true;
	c->ph[slot].aead = tx_aead_ctx->native_handle;
	if (kernel_phase(c, QUIC_KEY_PHASE_INSTALL, slot))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

/* ngtcp2 discards a key: if it is a 1-RTT send key, so does the kernel. */
static void cb_delete_aead(ngtcp2_conn *q, ngtcp2_crypto_aead_ctx *aead_ctx,
			   void *user_data)
{
	struct conn *c = user_data;
	int p;

	if (c && c->offload && !c->dead && aead_ctx->native_handle) {
		for (p = 0; p < 2; p++)
			if (c->ph[p].have &&
			    c->ph[p].aead == aead_ctx->native_handle)
				kernel_phase(c, QUIC_KEY_PHASE_RETIRE, p);
	}
	ngtcp2_crypto_delete_crypto_aead_ctx_cb(q, aead_ctx, user_data);
}

/* ---- other ngtcp2 callbacks ---- */

static void cb_rand(uint8_t *dest, size_t destlen,
		    const ngtcp2_rand_ctx *rand_ctx)
{
	gnutls_rnd(GNUTLS_RND_NONCE, dest, destlen);
}

static int add_scid(struct conn *c, const ngtcp2_cid *cid)
{
	if (c->nscids == MAX_SCIDS) {
		fail(c, "too many connection IDs");
		return -1;
	}
	c->scids[c->nscids++] = *cid;
	return 0;
}

static int cb_get_new_connection_id(ngtcp2_conn *q, ngtcp2_cid *cid,
				    uint8_t *token, size_t cidlen,
				    void *user_data)
{
	struct conn *c = user_data;

	if (gnutls_rnd(GNUTLS_RND_NONCE, cid->data, cidlen))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	cid->datalen = cidlen;
	if (ngtcp2_crypto_generate_stateless_reset_token(token, reset_secret,
							 sizeof(reset_secret),
							 cid) ||
	    add_scid(c, cid))
		return NGTCP2_ERR_CALLBACK_FAILURE;
	return 0;
}

static int cb_remove_connection_id(ngtcp2_conn *q, const ngtcp2_cid *cid,
				   void *user_data)
{
	struct conn *c = user_data;
	int i;

	for (i = 0; i < c->nscids; i++) {
		if (ngtcp2_cid_eq(&c->scids[i], cid)) {
			c->scids[i] = c->scids[--c->nscids];
			break;
		}
	}
	return 0;
}

/* A DCID the server stops using leaves the kernel after the next flush. */
static int cb_dcid_status(ngtcp2_conn *q, int type, uint64_t seq,
			  const ngtcp2_cid *cid, const uint8_t *token,
			  void *user_data)
{
	struct conn *c = user_data;

	if (opt.verbose)
		logmsg("conn %u: DCID seq %llu %s\n", c->id,
		       (unsigned long long)seq,
		       type == NGTCP2_CONNECTION_ID_STATUS_TYPE_ACTIVATE ?
		       "activated" : "deactivated");
	if (type == NGTCP2_CONNECTION_ID_STATUS_TYPE_DEACTIVATE &&
	    c->nretired < MAX_KCIDS)
		c->retired[c->nretired++] = *cid;
	return 0;
}

static int cb_recv_stream_data(ngtcp2_conn *q, uint32_t flags,
			       int64_t stream_id, uint64_t offset,
			       const uint8_t *data, size_t datalen,
			       void *user_data, void *stream_user_data)
{
	struct conn *c = user_data;
	int rv;

	if (c->hq)
		rv = hq_recv_stream_data(c, flags, stream_id, data, datalen);
	else
		rv = h3_recv_stream_data(c, flags, stream_id, data, datalen);
	return rv ? NGTCP2_ERR_CALLBACK_FAILURE : 0;
}

static int cb_acked_stream_data_offset(ngtcp2_conn *q, int64_t stream_id,
				       uint64_t offset, uint64_t datalen,
				       void *user_data, void *stream_user_data)
{
	struct conn *c = user_data;

	if (c->hq) {
		hq_acked(c, stream_id, datalen);
		return 0;
	}
	return h3_acked(c, stream_id, datalen) ?
	       NGTCP2_ERR_CALLBACK_FAILURE : 0;
}

static int cb_stream_close(ngtcp2_conn *q, uint32_t flags, int64_t stream_id,
			   uint64_t app_error_code, void *user_data,
			   void *stream_user_data)
{
	struct conn *c = user_data;

	if (c->hq) {
		hq_stream_close(c, stream_id);
		return 0;
	}
	return h3_stream_close(c, flags, stream_id, app_error_code) ?
	       NGTCP2_ERR_CALLBACK_FAILURE : 0;
}

static int cb_stream_reset(ngtcp2_conn *q, int64_t stream_id,
			   uint64_t final_size, uint64_t app_error_code,
			   void *user_data, void *stream_user_data)
{
	return h3_stream_reset(user_data, stream_id) ?
	       NGTCP2_ERR_CALLBACK_FAILURE : 0;
}

static int cb_stream_stop_sending(ngtcp2_conn *q, int64_t stream_id,
				  uint64_t app_error_code, void *user_data,
				  void *stream_user_data)
{
	struct conn *c = user_data;

	if (c->hq) {
		hq_shutdown_write(c, stream_id);
		return ngtcp2_conn_shutdown_stream_write(q, stream_id,
							 app_error_code) ?
		       NGTCP2_ERR_CALLBACK_FAILURE : 0;
	}
	return h3_stream_reset(user_data, stream_id) ?
	       NGTCP2_ERR_CALLBACK_FAILURE : 0;
}

static int cb_extend_max_remote_streams_bidi(ngtcp2_conn *q,
					     uint64_t max_streams,
					     void *user_data)
{
	return h3_max_bidi(user_data, max_streams);
}

static int cb_extend_max_stream_data(ngtcp2_conn *q, int64_t stream_id,
				     uint64_t max_data, void *user_data,
				     void *stream_user_data)
{
	struct conn *c = user_data;

	if (c->hq) {
		hq_block(c, stream_id, false);
		return 0;
	}
	return h3_unblock(c, stream_id) ?
	       NGTCP2_ERR_CALLBACK_FAILURE : 0;
}

static int cb_handshake_completed(ngtcp2_conn *q, void *user_data)
{
	struct conn *c = user_data;
	unsigned int flags = gnutls_session_get_flags(c->tls);

	/* tests/vm/interop-quinn reads the resumption and 0-RTT here */
	logmsg("conn %u: handshake completed: cipher %s, ALPN %s, %s, early data %s, %s\n",
	       c->id, c->cipher_name ? c->cipher_name : "?",
	       c->hq ? "hq-interop" : "h3",
	       gnutls_session_is_resumed(c->tls) ? "resumed" : "full handshake",
	       flags & GNUTLS_SFLAGS_EARLY_DATA ? "accepted" : "none",
	       c->retried ? "address validated by a Retry" : "no Retry");
	return 0;
}

static const ngtcp2_callbacks callbacks = {
	.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb,
	.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb,
	.handshake_completed = cb_handshake_completed,
	.encrypt = cb_encrypt,
	.decrypt = ngtcp2_crypto_decrypt_cb,
	.hp_mask = cb_hp_mask,
	.recv_stream_data = cb_recv_stream_data,
	.acked_stream_data_offset = cb_acked_stream_data_offset,
	.stream_close = cb_stream_close,
	.rand = cb_rand,
	.get_new_connection_id = cb_get_new_connection_id,
	.remove_connection_id = cb_remove_connection_id,
	.update_key = cb_update_key,
	.stream_reset = cb_stream_reset,
	.extend_max_remote_streams_bidi = cb_extend_max_remote_streams_bidi,
	.extend_max_stream_data = cb_extend_max_stream_data,
	.dcid_status = cb_dcid_status,
	.delete_crypto_aead_ctx = cb_delete_aead,
	.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb,
	.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb,
	.stream_stop_sending = cb_stream_stop_sending,
	.version_negotiation = ngtcp2_crypto_version_negotiation_cb,
};

/* ---- sending ---- */

static void send_datagram(struct conn *c, const uint8_t *p, size_t len,
			  const ngtcp2_addr *to)
{
	/*
	 * ngtcp2 protected this datagram itself. Without the cmsg the kernel
	 * refuses a short header anywhere in it, also one coalesced behind
	 * long-header packets: say that it goes out as it is.
	 */
	bool bypass = c->ls->ulp;

	if (offload_send(c->ls->fd, to->addr, to->addrlen, p, len, 0, false,
			 bypass, 0, 0) < 0 && errno != EAGAIN) {
		logmsg("conn %u: sendmsg: %s\n", c->id, strerror(errno));
		fail(c, "sendmsg failed");
	}
}

static struct sockaddr_storage batch_to;
static socklen_t batch_tolen;

static void flush(struct conn *c)
{
	ssize_t n;

	if (!c->bcount)
		return;
	if (kernel_add_cid(c, &c->bdcid) == 0) {
		n = offload_send(c->ls->fd, (struct sockaddr *)&batch_to,
				 batch_tolen, c->batch, c->blen,
				 c->bcount > 1 ? c->bseg + OFFLOAD_TAG_LEN : 0,
				 true, false, c->bpn, c->bdcid.datalen);
		if (n < 0) {
			logmsg("conn %u: sendmsg of %d packets (%zu bytes, seg %zu): %s\n",
			       c->id, c->bcount, c->blen, c->bseg,
			       strerror(errno));
			fail(c, "encrypting sendmsg failed");
		} else {
			c->kernel_pkts += c->bcount;
			c->kernel_sends++;
			c->since_update += c->bcount;
			c->phase1_pkts += c->bphase1;
		}
	}
	c->bphase1 = 0;
	c->blen = 0;
	c->bcount = 0;
	c->bclosed = false;
}

/* Queue the datagram of @len bytes ngtcp2 just wrote at c->wstart. */
static void queue_packet(struct conn *c, size_t len, const ngtcp2_addr *to)
{
	uint8_t *p = c->wstart;
	size_t plen;

	c->sent_bytes += len;
	if (c->pkt_offloaded && p[0] & 0x80)
		c->kernel_coalesced++;
	/* the Key Phase bit of what the kernel encrypts: proof of updates */
	if (c->pkt_offloaded && c->pkt_phase != c->tx_phase) {
		c->tx_phase = c->pkt_phase;
		c->phase_flips++;
	}
	if (!c->pkt_offloaded) {
		flush(c);
		send_datagram(c, p, len, to);
		return;
	}
	plen = len - OFFLOAD_TAG_LEN;
	if (c->bcount &&
	    (c->bclosed || plen > c->bseg || c->bcount == BATCH_MAX ||
	     (c->bcount + 1) * (c->bseg + OFFLOAD_TAG_LEN) > BATCH_BYTES ||
	     !ngtcp2_cid_eq(&c->pkt_dcid, &c->bdcid) ||
	     to->addrlen != batch_tolen ||
	     memcmp(to->addr, &batch_to, batch_tolen))) {
		flush(c);
		memmove(c->batch, p, plen);
	}
	if (!c->bcount) {
		c->bseg = plen;
		c->bpn = c->pkt_pn;
		c->bdcid = c->pkt_dcid;
		memcpy(&batch_to, to->addr, to->addrlen);
		batch_tolen = to->addrlen;
	} else if (plen < c->bseg) {
		c->bclosed = true;
	}
	c->blen += plen;
	c->bcount++;
	c->bphase1 += c->pkt_phase;
}

static void conn_close(struct conn *c, int liberr, bool silent);

static void conn_write(struct conn *c)
{
	size_t maxpkt = ngtcp2_conn_get_max_tx_udp_payload_size(c->q);
	size_t quantum = ngtcp2_conn_get_send_quantum(c->q);
	int npkts = 0, maxpkts = quantum / maxpkt;
	uint64_t ts = now_ns();
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;
	int i;

	if (maxpkts < 1)
		maxpkts = 1;
	/*
	 * HTTP/3's control streams open with the 1-RTT keys, before the
	 * handshake completes (0.5-RTT data): their first packet then ends
	 * the datagram of the server's Handshake flight, coalesced behind it.
	 */
	if (c->h3_early && !c->hq && h3_setup(c)) {
		conn_close(c, NGTCP2_ERR_INTERNAL, false);
		return;
	}
	ngtcp2_path_storage_zero(&ps);
	for (;;) {
		int64_t sid = -1;
		int fin = 0;
		nghttp3_vec hv[16];
		ngtcp2_vec v[16];
		nghttp3_ssize nv = 0;
		ngtcp2_ssize nwrite, ndatalen = -1;
		uint32_t flags = NGTCP2_WRITE_STREAM_FLAG_MORE;

		if (c->hq && ngtcp2_conn_get_max_data_left(c->q)) {
			nv = hq_writev_stream(c, &sid, &fin, v, 16);
		} else if (c->h3 && ngtcp2_conn_get_max_data_left(c->q)) {
			nv = nghttp3_conn_writev_stream(c->h3, &sid, &fin, hv,
							16);
			if (nv < 0) {
				logmsg("conn %u: nghttp3_conn_writev_stream: %s\n",
				       c->id, nghttp3_strerror(nv));
				conn_close(c, NGTCP2_ERR_INTERNAL, false);
				return;
			}
		}
		for (i = 0; !c->hq && i < nv; i++) {
			v[i].base = hv[i].base;
			v[i].len = hv[i].len;
		}
		if (fin)
			flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
		if (c->blen + maxpkt > sizeof(c->batch))
			flush(c);
		c->wstart = c->batch + c->blen;
		c->pkt_offloaded = false;
		c->hp_pending = false;
		nwrite = ngtcp2_conn_writev_stream(c->q, &ps.path, &pi,
						   c->wstart, maxpkt,
						   &ndatalen, flags, sid, v,
						   nv, ts);
		if (nwrite < 0 && c->hq) {
			switch (nwrite) {
			case NGTCP2_ERR_STREAM_DATA_BLOCKED:
				hq_block(c, sid, true);
				continue;
			case NGTCP2_ERR_STREAM_SHUT_WR:
				hq_shutdown_write(c, sid);
				continue;
			case NGTCP2_ERR_WRITE_MORE:
				hq_written(c, sid, ndatalen, fin);
				continue;
			}
		}
		if (nwrite < 0) {
			switch (nwrite) {
			case NGTCP2_ERR_STREAM_DATA_BLOCKED:
				nghttp3_conn_block_stream(c->h3, sid);
				continue;
			case NGTCP2_ERR_STREAM_SHUT_WR:
				nghttp3_conn_shutdown_stream_write(c->h3, sid);
				continue;
			case NGTCP2_ERR_WRITE_MORE:
				nghttp3_conn_add_write_offset(c->h3, sid,
							      ndatalen);
				continue;
			}
			logmsg("conn %u: ngtcp2_conn_writev_stream: %s\n",
			       c->id, ngtcp2_strerror(nwrite));
			flush(c);
			conn_close(c, nwrite, false);
			return;
		}
		if (ndatalen >= 0 && sid >= 0 && c->hq)
			hq_written(c, sid, ndatalen, fin);
		else if (ndatalen >= 0 && sid >= 0)
			nghttp3_conn_add_write_offset(c->h3, sid, ndatalen);
		if (nwrite == 0)
			break;
		queue_packet(c, nwrite, &ps.path.remote);
		if (++npkts >= maxpkts)
			break;
	}
	flush(c);
	for (i = 0; i < c->nretired; i++)
		kernel_del_cid(c, &c->retired[i]);
	c->nretired = 0;
	ngtcp2_conn_update_pkt_tx_time(c->q, ts);

	/* server-initiated key update, once the previous one is done */
	if (c->key_update_pkts && c->offload &&
	    c->since_update >= c->key_update_pkts &&
	    !ngtcp2_conn_initiate_key_update(c->q, now_ns())) {
		c->since_update = 0;
		if (opt.verbose)
			logmsg("conn %u: key update initiated\n", c->id);
	}
}

/* ---- session resumption and 0-RTT ---- */

/*
 * GnuTLS accepts early data only with an anti-replay store: it asks to
 * add the ClientHello's ticket identity, and refuses the early data if it
 * was already there. The server lives as long as one test: a small table
 * of SHA-256 digests, oldest overwritten, is enough.
 */
#define REPLAY_SLOTS	256

static struct {
	uint8_t md[32];
	time_t expires;
} replay[REPLAY_SLOTS];
static unsigned int replay_next;

static int replay_add(void *ptr, time_t expires, const gnutls_datum_t *key,
		      const gnutls_datum_t *data)
{
	time_t now = time(NULL);
	uint8_t md[32];
	int i;

	if (gnutls_hash_fast(GNUTLS_DIG_SHA256, key->data, key->size, md) < 0)
		return GNUTLS_E_INTERNAL_ERROR;
	for (i = 0; i < REPLAY_SLOTS; i++)
		if (replay[i].expires >= now && !memcmp(replay[i].md, md, 32))
			return GNUTLS_E_DB_ENTRY_EXISTS;
	memcpy(replay[replay_next].md, md, 32);
	replay[replay_next].expires = expires;
	replay_next = (replay_next + 1) % REPLAY_SLOTS;
	return 0;
}

static int resumption_init(void)
{
	if (gnutls_session_ticket_key_generate(&ticket_key) < 0 ||
	    gnutls_anti_replay_init(&anti_replay) < 0)
		return -1;
	gnutls_anti_replay_set_add_function(anti_replay, replay_add);
	return 0;
}

/* ---- connections ---- */

static void conn_free(struct conn *c)
{
	struct conn **p;

	flush(c);
	while (c->nkcids)
		kernel_del_cid(c, &c->kcids[0].cid);
	c->dead = true;
	h3_free(c);
	hq_free(c);
	logmsg("conn %u: closed: cipher %s, %u requests, %llu bytes sent, 1-RTT packets: %llu encrypted by the kernel (%llu sendmsg calls, %llu behind long headers), %llu in userspace; key phase flips %llu (%llu packets in phase 1); key phases installed %llu, retired %llu\n",
	       c->id, c->cipher_name ? c->cipher_name : "none", c->requests,
	       (unsigned long long)c->sent_bytes,
	       (unsigned long long)c->kernel_pkts,
	       (unsigned long long)c->kernel_sends,
	       (unsigned long long)c->kernel_coalesced,
	       (unsigned long long)c->user_pkts,
	       (unsigned long long)c->phase_flips,
	       (unsigned long long)c->phase1_pkts,
	       (unsigned long long)c->key_installs,
	       (unsigned long long)c->key_retires);
	total.ended++;
	total.requests += c->requests;
	total.kernel_pkts += c->kernel_pkts;
	total.kernel_coalesced += c->kernel_coalesced;
	total.user_pkts += c->user_pkts;
	total.key_installs += c->key_installs;
	total.key_retires += c->key_retires;
	cur_conn = c;
	ngtcp2_conn_del(c->q);
	cur_conn = NULL;
	gnutls_deinit(c->tls);
	for (p = &conns; *p; p = &(*p)->next) {
		if (*p == c) {
			*p = c->next;
			break;
		}
	}
	free(c);
}

/* Send a CONNECTION_CLOSE (unless @silent) and forget the connection. */
static void conn_close(struct conn *c, int liberr, bool silent)
{
	ngtcp2_connection_close_error ccerr;
	ngtcp2_path_storage ps;
	ngtcp2_pkt_info pi;
	ngtcp2_ssize n;

	if (!silent && !ngtcp2_conn_is_in_closing_period(c->q) &&
	    !ngtcp2_conn_is_in_draining_period(c->q)) {
		ngtcp2_connection_close_error_default(&ccerr);
		if (liberr == NGTCP2_ERR_CRYPTO)
			ngtcp2_connection_close_error_set_transport_error_tls_alert(
				&ccerr, ngtcp2_conn_get_tls_alert(c->q), NULL, 0);
		else if (liberr)
			ngtcp2_connection_close_error_set_transport_error_liberr(
				&ccerr, liberr, NULL, 0);
		ngtcp2_path_storage_zero(&ps);
		flush(c);
		c->wstart = c->batch;
		c->pkt_offloaded = false;
		n = ngtcp2_conn_write_connection_close(c->q, &ps.path, &pi,
						       c->batch, 1500, &ccerr,
						       now_ns());
		if (n > 0)
			queue_packet(c, n, &ps.path.remote);
		flush(c);
	}
	conn_free(c);
}

static struct conn *find_conn(const uint8_t *dcid, size_t dcidlen)
{
	struct conn *c;
	int i;

	for (c = conns; c; c = c->next)
		for (i = 0; i < c->nscids; i++)
			if (c->scids[i].datalen == dcidlen &&
			    !memcmp(c->scids[i].data, dcid, dcidlen))
				return c;
	return NULL;
}

static struct conn *conn_new(struct listener *ls, const ngtcp2_pkt_hd *hd,
			     const struct sockaddr_storage *peer,
			     socklen_t peerlen, const ngtcp2_cid *odcid)
{
	static const gnutls_datum_t alpn[] = {
		{ (unsigned char *)"h3", 2 },
		{ (unsigned char *)"hq-interop", 10 },
	};
	ngtcp2_transport_params params;
	ngtcp2_settings settings;
	ngtcp2_path path;
	ngtcp2_cid scid;
	struct conn *c;

	c = calloc(1, sizeof(*c));
	if (!c)
		return NULL;
	c->id = ++next_conn_id;
	c->ls = ls;
	c->key_update_pkts = opt.key_update_pkts;
	c->retried = odcid;
	memcpy(&c->peer, peer, peerlen);
	c->peerlen = peerlen;

	ngtcp2_settings_default(&settings);
	settings.initial_ts = now_ns();
	/* a loaded emulated guest can take longer than the 10 s default */
	settings.handshake_timeout = 120 * NGTCP2_SECONDS;
	if (opt.verbose)
		settings.log_printf = ngtcp2_log;
	ngtcp2_transport_params_default(&params);
	params.initial_max_stream_data_bidi_local = 256 * 1024;
	params.initial_max_stream_data_bidi_remote = 256 * 1024;
	params.initial_max_stream_data_uni = 256 * 1024;
	params.initial_max_data = 1024 * 1024;
	params.initial_max_streams_bidi = 100;
	params.initial_max_streams_uni = 3;
	params.max_idle_timeout = 120 * NGTCP2_SECONDS;
	params.original_dcid = hd->dcid;
	if (odcid) {
		/* after a Retry, whose SCID the client now sends to */
		params.original_dcid = *odcid;
		params.retry_scid = hd->dcid;
		params.retry_scid_present = 1;
	}
	scid.datalen = SCID_LEN;
	gnutls_rnd(GNUTLS_RND_NONCE, scid.data, SCID_LEN);
	params.stateless_reset_token_present = 1;
	ngtcp2_crypto_generate_stateless_reset_token(
		params.stateless_reset_token, reset_secret,
		sizeof(reset_secret), &scid);

	path.local.addr = (struct sockaddr *)&ls->addr;
	path.local.addrlen = ls->addrlen;
	path.remote.addr = (struct sockaddr *)&c->peer;
	path.remote.addrlen = peerlen;
	path.user_data = NULL;

	if (ngtcp2_conn_server_new(&c->q, &hd->scid, &scid, &path, hd->version,
				   &callbacks, &settings, &params, NULL, c))
		goto err;
	if (gnutls_init(&c->tls, GNUTLS_SERVER | GNUTLS_ENABLE_EARLY_DATA |
				 GNUTLS_NO_END_OF_EARLY_DATA) < 0)
		goto err_q;
	/* the client's --ciphers decide; the server accepts all four */
	if (gnutls_priority_set_direct(c->tls,
				       "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-CCM",
				       NULL) < 0 ||
	    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE, cred) < 0 ||
	    ngtcp2_crypto_gnutls_configure_server_session(c->tls) ||
	    gnutls_alpn_set_protocols(c->tls, alpn, 2,
				      GNUTLS_ALPN_MANDATORY) < 0 ||
	    gnutls_session_ticket_enable_server(c->tls, &ticket_key) < 0)
		goto err_tls;
	/* QUIC allows no other early data limit (RFC 9001, 4.6.1) */
	gnutls_record_set_max_early_data_size(c->tls, 0xffffffffu);
	gnutls_anti_replay_enable(c->tls, anti_replay);
	gnutls_handshake_set_secret_function(c->tls, secret_func);
	c->ref.get_conn = get_conn;
	c->ref.user_data = c;
	gnutls_session_set_ptr(c->tls, &c->ref);
	ngtcp2_conn_set_tls_native_handle(c->q, c->tls);
	add_scid(c, &scid);
	add_scid(c, &hd->dcid);
	c->next = conns;
	conns = c;
	total.conns++;
	if (opt.verbose)
		logmsg("conn %u: new\n", c->id);
	return c;
err_tls:
	gnutls_deinit(c->tls);
err_q:
	ngtcp2_conn_del(c->q);
err:
	free(c);
	return NULL;
}

static void conn_read(struct conn *c, const uint8_t *pkt, size_t len,
		      const struct sockaddr_storage *peer, socklen_t peerlen)
{
	ngtcp2_path path = {
		.local = { (struct sockaddr *)&c->ls->addr, c->ls->addrlen },
		.remote = { (struct sockaddr *)peer, peerlen },
	};
	ngtcp2_pkt_info pi = { 0 };
	int rv;

	rv = ngtcp2_conn_read_pkt(c->q, &path, &pi, pkt, len, now_ns());
	if (!rv)
		return;
	switch (rv) {
	case NGTCP2_ERR_DRAINING:
		/* the peer closed: nothing more may be sent */
		conn_close(c, 0, true);
		return;
	case NGTCP2_ERR_DROP_CONN:
		conn_close(c, 0, true);
		return;
	default:
		logmsg("conn %u: ngtcp2_conn_read_pkt: %s\n", c->id,
		       ngtcp2_strerror(rv));
		conn_close(c, rv, false);
	}
}

/*
 * -r: the first Initial of a connection gets a Retry whose token binds the
 * client's address and its original DCID; the Initial that comes back
 * with it starts the connection. Tokens are valid for 10 s.
 */
static int retry(struct listener *ls, const ngtcp2_pkt_hd *hd,
		 const struct sockaddr_storage *peer, socklen_t peerlen,
		 ngtcp2_cid *odcid)
{
	uint8_t token[NGTCP2_CRYPTO_MAX_RETRY_TOKENLEN], pkt[1500];
	ngtcp2_ssize tlen, n;
	ngtcp2_cid scid;

	if (hd->token.len) {
		if (ngtcp2_crypto_verify_retry_token(odcid, hd->token.base,
						     hd->token.len,
						     token_secret,
						     sizeof(token_secret),
						     hd->version,
						     (const ngtcp2_sockaddr *)peer,
						     peerlen, &hd->dcid,
						     10 * NGTCP2_SECONDS,
						     now_ns())) {
			logmsg("Initial with an invalid token dropped\n");
			return -1;
		}
		return 0;
	}
	scid.datalen = SCID_LEN;
	gnutls_rnd(GNUTLS_RND_NONCE, scid.data, SCID_LEN);
	tlen = ngtcp2_crypto_generate_retry_token(token, token_secret,
						  sizeof(token_secret),
						  hd->version,
						  (const ngtcp2_sockaddr *)peer,
						  peerlen, &scid, &hd->dcid,
						  now_ns());
	if (tlen < 0)
		return -1;
	n = ngtcp2_crypto_write_retry(pkt, sizeof(pkt), hd->version,
				      &hd->scid, &scid, &hd->dcid, token,
				      tlen);
	if (n < 0)
		return -1;
	/* a long header: the offload, if attached, lets it through as it is */
	if (offload_send(ls->fd, (struct sockaddr *)peer, peerlen, pkt, n, 0,
			 false, ls->ulp, 0, 0) < 0)
		logmsg("Retry: sendmsg: %s\n", strerror(errno));
	else
		total.retries++;
	return 1;
}

static void handle_datagram(struct listener *ls, const uint8_t *buf,
			    size_t len, const struct sockaddr_storage *peer,
			    socklen_t peerlen)
{
	ngtcp2_version_cid vc;
	ngtcp2_pkt_hd hd;
	struct conn *c;

	if (ngtcp2_pkt_decode_version_cid(&vc, buf, len, SCID_LEN))
		return;
	c = find_conn(vc.dcid, vc.dcidlen);
	if (!c) {
		ngtcp2_cid odcid;
		bool retried = false;

		if (!(buf[0] & 0x80) || ngtcp2_accept(&hd, buf, len))
			return;
		if (opt.retry) {
			if (retry(ls, &hd, peer, peerlen, &odcid))
				return;
			retried = true;
		}
		c = conn_new(ls, &hd, peer, peerlen, retried ? &odcid : NULL);
		if (!c)
			return;
	}
	cur_conn = c;
	conn_read(c, buf, len, peer, peerlen);
	cur_conn = NULL;
}

/* ---- main loop ---- */

static int listen_on(const char *addr, const char *port)
{
	struct addrinfo hints = {
		.ai_family = AF_UNSPEC,
		.ai_socktype = SOCK_DGRAM,
		.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV | AI_PASSIVE,
	};
	struct listener *ls = &listeners[nlisteners];
	struct addrinfo *res;
	int one = 1, buf = 4 << 20, fd;

	if (nlisteners == MAX_LISTENERS ||
	    getaddrinfo(addr, port, &hints, &res)) {
		fprintf(stderr, "h3server: bad address %s\n", addr);
		return -1;
	}
	fd = socket(res->ai_family, SOCK_DGRAM, 0);
	if (fd < 0)
		goto err;
	if (res->ai_family == AF_INET6)
		setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &buf, sizeof(buf));
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &buf, sizeof(buf));
	if (bind(fd, res->ai_addr, res->ai_addrlen))
		goto err;
	ls->fd = fd;
	ls->addrlen = sizeof(ls->addr);
	getsockname(fd, (struct sockaddr *)&ls->addr, &ls->addrlen);
	freeaddrinfo(res);
	nlisteners++;
	return 0;
err:
	perror(addr);
	freeaddrinfo(res);
	return -1;
}

static void on_signal(int sig)
{
	stop = 1;
}

static void usage(void)
{
	fprintf(stderr, "usage: h3server [-U] [-r] [-v] [-n CONNS] [-u PKTS] -c CERT -k KEY PORT ADDR...\n");
	exit(2);
}

int main(int argc, char **argv)
{
	static uint8_t buf[65536];
	const char *certfile = NULL, *keyfile = NULL;
	struct pollfd pfd[MAX_LISTENERS];
	int ch, i;

	setvbuf(stdout, NULL, _IOLBF, 0);
	while ((ch = getopt(argc, argv, "Urvn:u:c:k:")) != -1) {
		switch (ch) {
		case 'U':
			opt.offload = false;
			break;
		case 'r':
			opt.retry = true;
			break;
		case 'v':
			opt.verbose = true;
			break;
		case 'n':
			opt.max_conns = atoi(optarg);
			break;
		case 'u':
			opt.key_update_pkts = strtoull(optarg, NULL, 0);
			break;
		case 'c':
			certfile = optarg;
			break;
		case 'k':
			keyfile = optarg;
			break;
		default:
			usage();
		}
	}
	if (!certfile || !keyfile || argc - optind < 2)
		usage();
	if (h3_init_content() || resumption_init() ||
	    gnutls_certificate_allocate_credentials(&cred) < 0 ||
	    gnutls_certificate_set_x509_key_file(cred, certfile, keyfile,
						 GNUTLS_X509_FMT_PEM) < 0) {
		fprintf(stderr, "h3server: cannot load %s / %s\n", certfile,
			keyfile);
		return 1;
	}
	gnutls_rnd(GNUTLS_RND_RANDOM, reset_secret, sizeof(reset_secret));
	gnutls_rnd(GNUTLS_RND_RANDOM, token_secret, sizeof(token_secret));
	for (i = optind + 1; i < argc; i++)
		if (listen_on(argv[i], argv[optind]))
			return 1;
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGPIPE, SIG_IGN);
	for (i = 0; i < nlisteners; i++) {
		pfd[i].fd = listeners[i].fd;
		pfd[i].events = POLLIN;
	}
	logmsg("listening on port %s (%d sockets), offload %s%s\n",
	       argv[optind], nlisteners, opt.offload ? "on" : "off",
	       opt.retry ? ", Retry first" : "");

	while (!stop && !(opt.max_conns && total.ended >= (unsigned int)opt.max_conns)) {
		uint64_t now = now_ns(), expiry = UINT64_MAX;
		struct conn *c, *next;
		int timeout = 1000, n;

		for (c = conns; c; c = c->next) {
			uint64_t e = ngtcp2_conn_get_expiry(c->q);

			if (e < expiry)
				expiry = e;
		}
		if (expiry != UINT64_MAX)
			timeout = expiry <= now ? 0 :
				  (int)((expiry - now + 999999) / 1000000);
		if (timeout > 1000)
			timeout = 1000;
		n = poll(pfd, nlisteners, timeout);
		if (n < 0 && errno != EINTR)
			break;
		for (i = 0; n > 0 && i < nlisteners; i++) {
			int k;

			if (!(pfd[i].revents & POLLIN))
				continue;
			for (k = 0; k < RECV_BURST; k++) {
				struct sockaddr_storage peer;
				socklen_t peerlen = sizeof(peer);
				ssize_t len;

				len = recvfrom(pfd[i].fd, buf, sizeof(buf),
					       MSG_DONTWAIT,
					       (struct sockaddr *)&peer,
					       &peerlen);
				if (len <= 0)
					break;
				handle_datagram(&listeners[i], buf, len, &peer,
						peerlen);
			}
		}
		now = now_ns();
		for (c = conns; c; c = next) {
			next = c->next;
			cur_conn = c;
			if (ngtcp2_conn_get_expiry(c->q) <= now) {
				int rv = ngtcp2_conn_handle_expiry(c->q, now);

				if (rv) {
					if (rv != NGTCP2_ERR_IDLE_CLOSE)
						logmsg("conn %u: %s\n", c->id,
						       ngtcp2_strerror(rv));
					conn_close(c, rv, rv == NGTCP2_ERR_IDLE_CLOSE);
					cur_conn = NULL;
					continue;
				}
			}
			conn_write(c);
			cur_conn = NULL;
		}
	}
	while (conns)
		conn_free(conns);
	if (opt.retry)
		logmsg("%u Retry packets sent\n", total.retries);
	logmsg("totals: %u connections, %u requests, 1-RTT packets: %llu encrypted by the kernel (%llu behind long headers), %llu in userspace; key phases installed %llu, retired %llu; %u errors\n",
	       total.conns, total.requests,
	       (unsigned long long)total.kernel_pkts,
	       (unsigned long long)total.kernel_coalesced,
	       (unsigned long long)total.user_pkts,
	       (unsigned long long)total.key_installs,
	       (unsigned long long)total.key_retires, total.errors);
	return total.errors ? 1 : 0;
}
