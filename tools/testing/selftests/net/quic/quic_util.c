// SPDX-License-Identifier: GPL-2.0
/*
 * Userspace QUIC helpers for the quic-crypto selftests. The receiver here
 * shares no code with the kernel: it uses OpenSSL libcrypto for the AEAD
 * and for the header protection ciphers.
 */

#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <net/if.h>
#include <sched.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <linux/quic.h>
#include <linux/tls.h>
#include <linux/udp.h>

#include <openssl/core_names.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>

#include "quic_util.h"

#define QUIC_STAT_PATH	"/proc/net/quic_stat"

static char quic_errbuf[256];

const char *quic_error(void)
{
	return quic_errbuf;
}

static int quic_fail(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(quic_errbuf, sizeof(quic_errbuf), fmt, ap);
	va_end(ap);
	return -1;
}

size_t quic_key_len(uint16_t cipher)
{
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_128:
	case TLS_CIPHER_AES_CCM_128:
		return 16;
	case TLS_CIPHER_AES_GCM_256:
	case TLS_CIPHER_CHACHA20_POLY1305:
		return 32;
	}
	return 0;
}

const char *quic_cipher_name(uint16_t cipher)
{
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_128:
		return "AES-128-GCM";
	case TLS_CIPHER_AES_GCM_256:
		return "AES-256-GCM";
	case TLS_CIPHER_AES_CCM_128:
		return "AES-128-CCM";
	case TLS_CIPHER_CHACHA20_POLY1305:
		return "ChaCha20-Poly1305";
	}
	return "unknown";
}

static const EVP_CIPHER *quic_aead_cipher(uint16_t cipher)
{
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_128:
		return EVP_aes_128_gcm();
	case TLS_CIPHER_AES_GCM_256:
		return EVP_aes_256_gcm();
	case TLS_CIPHER_AES_CCM_128:
		return EVP_aes_128_ccm();
	case TLS_CIPHER_CHACHA20_POLY1305:
		return EVP_chacha20_poly1305();
	}
	return NULL;
}

static const EVP_CIPHER *quic_hp_cipher(uint16_t cipher)
{
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_128:
	case TLS_CIPHER_AES_CCM_128:
		return EVP_aes_128_ecb();
	case TLS_CIPHER_AES_GCM_256:
		return EVP_aes_256_ecb();
	case TLS_CIPHER_CHACHA20_POLY1305:
		return EVP_chacha20();
	}
	return NULL;
}

void quic_keys_pattern(struct quic_keys *k, uint16_t cipher, uint8_t base)
{
	size_t i;

	memset(k, 0, sizeof(*k));
	k->cipher = cipher;
	for (i = 0; i < quic_key_len(cipher); i++) {
		k->key[i] = base + i;
		k->hp[i] = base + 0x10 + i;
	}
	for (i = 0; i < QUIC_IV_LEN; i++)
		k->iv[i] = base + i;
}

void quic_keys_random(struct quic_keys *k, uint16_t cipher, uint64_t *rng)
{
	memset(k, 0, sizeof(*k));
	k->cipher = cipher;
	quic_rand_bytes(rng, k->key, quic_key_len(cipher));
	quic_rand_bytes(rng, k->iv, sizeof(k->iv));
	quic_rand_bytes(rng, k->hp, quic_key_len(cipher));
}

uint64_t quic_rand(uint64_t *state)
{
	uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* Uniform enough for tests, in [lo, hi]. */
uint64_t quic_rand_range(uint64_t *state, uint64_t lo, uint64_t hi)
{
	uint64_t span = hi - lo + 1;

	if (!span)
		return quic_rand(state);
	return lo + quic_rand(state) % span;
}

void quic_rand_bytes(uint64_t *state, void *buf, size_t len)
{
	uint8_t *p = buf;
	uint64_t r = 0;
	size_t i;

	for (i = 0; i < len; i++) {
		if (!(i & 7))
			r = quic_rand(state);
		p[i] = r;
		r >>= 8;
	}
}

uint64_t quic_pn_decode(uint64_t expected, uint64_t truncated,
			unsigned int pn_len)
{
	uint64_t win = 1ULL << (8 * pn_len);
	uint64_t hwin = win / 2;
	uint64_t cand = (expected & ~(win - 1)) | truncated;

	/* The RFC compares signed values; keep both sides non-negative. */
	if (cand + hwin <= expected && cand < (1ULL << 62) - win)
		return cand + win;
	if (cand > expected + hwin && cand >= win)
		return cand - win;
	return cand;
}

size_t quic_short_hdr(uint8_t *buf, const uint8_t *cid, size_t cid_len,
		      uint64_t pn, unsigned int pn_len, bool key_phase)
{
	size_t off = 0;
	unsigned int i;

	buf[off++] = QUIC_HDR_FIXED | (key_phase ? QUIC_HDR_KEY_PHASE : 0) |
		     (pn_len - 1);
	if (cid_len)
		memcpy(buf + off, cid, cid_len);
	off += cid_len;
	for (i = 0; i < pn_len; i++)
		buf[off++] = pn >> (8 * (pn_len - 1 - i));
	return off;
}

int quic_hp_mask(const struct quic_keys *k, const uint8_t *sample,
		 uint8_t *mask)
{
	const EVP_CIPHER *c = quic_hp_cipher(k->cipher);
	static const uint8_t zero[5];
	uint8_t out[32];
	EVP_CIPHER_CTX *ctx;
	int len, ok;

	if (!c)
		return quic_fail("no header protection cipher for %u", k->cipher);
	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return quic_fail("EVP_CIPHER_CTX_new");

	if (k->cipher == TLS_CIPHER_CHACHA20_POLY1305) {
		/* OpenSSL's 16-byte IV is le32 counter || 96-bit nonce. */
		ok = EVP_EncryptInit_ex(ctx, c, NULL, k->hp, sample) &&
		     EVP_EncryptUpdate(ctx, out, &len, zero, sizeof(zero));
	} else {
		ok = EVP_EncryptInit_ex(ctx, c, NULL, k->hp, NULL) &&
		     EVP_CIPHER_CTX_set_padding(ctx, 0) &&
		     EVP_EncryptUpdate(ctx, out, &len, sample, QUIC_SAMPLE_LEN);
	}
	EVP_CIPHER_CTX_free(ctx);
	if (!ok || len < 5)
		return quic_fail("header protection cipher failed");
	memcpy(mask, out, 5);
	return 0;
}

static void quic_nonce(const struct quic_keys *k, uint64_t pn, uint8_t *nonce)
{
	int i;

	memcpy(nonce, k->iv, QUIC_IV_LEN);
	for (i = 0; i < 8; i++)
		nonce[QUIC_IV_LEN - 1 - i] ^= pn >> (8 * i);
}

/*
 * One AEAD operation. Encrypt: @in/@len plaintext, @out gets ciphertext
 * followed by the tag. Decrypt: @in/@len ciphertext followed by the tag,
 * @out gets @len - 16 bytes of plaintext.
 */
static int quic_aead(const struct quic_keys *k, bool enc, uint64_t pn,
		     const uint8_t *aad, size_t aad_len,
		     const uint8_t *in, size_t len, uint8_t *out)
{
	const EVP_CIPHER *c = quic_aead_cipher(k->cipher);
	bool ccm = k->cipher == TLS_CIPHER_AES_CCM_128;
	uint8_t nonce[QUIC_IV_LEN], tag[QUIC_TAG_LEN];
	size_t data_len = enc ? len : len - QUIC_TAG_LEN;
	EVP_CIPHER_CTX *ctx;
	int outl, ok;

	if (!c)
		return quic_fail("no AEAD for cipher %u", k->cipher);
	if (!enc && len < QUIC_TAG_LEN)
		return quic_fail("ciphertext shorter than the tag");
	quic_nonce(k, pn, nonce);
	if (!enc)
		memcpy(tag, in + data_len, QUIC_TAG_LEN);

	ctx = EVP_CIPHER_CTX_new();
	if (!ctx)
		return quic_fail("EVP_CIPHER_CTX_new");

	ok = EVP_CipherInit_ex(ctx, c, NULL, NULL, NULL, enc) &&
	     EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_IVLEN, QUIC_IV_LEN,
				 NULL);
	/* CCM wants the tag (length) before the key; the others after. */
	if (ok && (ccm || !enc))
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_SET_TAG,
					 QUIC_TAG_LEN, enc ? NULL : tag);
	ok = ok && EVP_CipherInit_ex(ctx, NULL, NULL, k->key, nonce, enc);
	if (ok && ccm)
		ok = EVP_CipherUpdate(ctx, NULL, &outl, NULL, data_len);
	ok = ok && EVP_CipherUpdate(ctx, NULL, &outl, aad, aad_len);
	if (!ok) {
		EVP_CIPHER_CTX_free(ctx);
		return quic_fail("AEAD setup failed");
	}

	ok = EVP_CipherUpdate(ctx, out, &outl, in, data_len);
	if (ok && !ccm)
		ok = EVP_CipherFinal_ex(ctx, out + outl, &outl);
	if (ok && enc)
		ok = EVP_CIPHER_CTX_ctrl(ctx, EVP_CTRL_AEAD_GET_TAG,
					 QUIC_TAG_LEN, out + data_len);
	EVP_CIPHER_CTX_free(ctx);
	if (!ok)
		return quic_fail(enc ? "AEAD seal failed" :
			"AEAD open failed: tag mismatch (pn %llu)",
			(unsigned long long)pn);
	return 0;
}

ssize_t quic_unprotect(const struct quic_keys *k, const uint8_t *pkt,
		       size_t len, size_t cid_len, uint64_t expected,
		       uint8_t *out, uint64_t *pn)
{
	size_t pn_off = 1 + cid_len, hdr_len;
	uint64_t truncated = 0;
	unsigned int pn_len, i;
	uint8_t mask[5];

	if (len < pn_off + 4 + QUIC_SAMPLE_LEN)
		return quic_fail("datagram of %zu bytes has no room for the sample",
				 len);
	if (pkt[0] & QUIC_HDR_LONG)
		return quic_fail("received a long header (0x%02x)", pkt[0]);
	if (quic_hp_mask(k, pkt + pn_off + 4, mask))
		return -1;

	memcpy(out, pkt, pn_off);
	out[0] ^= mask[0] & 0x1f;
	pn_len = (out[0] & QUIC_HDR_PN_LEN_MASK) + 1;
	for (i = 0; i < pn_len; i++) {
		out[pn_off + i] = pkt[pn_off + i] ^ mask[1 + i];
		truncated = (truncated << 8) | out[pn_off + i];
	}
	hdr_len = pn_off + pn_len;
	*pn = quic_pn_decode(expected, truncated, pn_len);

	if (quic_aead(k, false, *pn, out, hdr_len, pkt + hdr_len,
		      len - hdr_len, out + hdr_len))
		return -1;
	return len - QUIC_TAG_LEN;
}

ssize_t quic_protect(const struct quic_keys *k, const uint8_t *in,
		     size_t len, size_t cid_len, uint64_t expected,
		     uint8_t *out)
{
	size_t pn_off = 1 + cid_len, hdr_len;
	uint64_t truncated = 0, pn;
	unsigned int pn_len, i;
	uint8_t mask[5];

	if (len < pn_off + 4)
		return quic_fail("packet of %zu bytes has no room for the sample",
				 len);
	pn_len = (in[0] & QUIC_HDR_PN_LEN_MASK) + 1;
	hdr_len = pn_off + pn_len;
	for (i = 0; i < pn_len; i++)
		truncated = (truncated << 8) | in[pn_off + i];
	pn = quic_pn_decode(expected, truncated, pn_len);

	memcpy(out, in, hdr_len);
	if (quic_aead(k, true, pn, in, hdr_len, in + hdr_len, len - hdr_len,
		      out + hdr_len))
		return -1;
	if (quic_hp_mask(k, out + pn_off + 4, mask))
		return -1;
	out[0] ^= mask[0] & (in[0] & QUIC_HDR_LONG ? 0x0f : 0x1f);
	for (i = 0; i < pn_len; i++)
		out[pn_off + i] ^= mask[1 + i];
	return len + QUIC_TAG_LEN;
}

int quic_ulp_attach(int fd)
{
	return setsockopt(fd, SOL_UDP, UDP_ULP, "quic-crypto",
			  sizeof("quic-crypto"));
}

static void quic_info_key(struct quic_connection_info *ci, const uint8_t *cid,
			  size_t cid_len)
{
	memset(&ci->key, 0, sizeof(ci->key));
	ci->key.conn_id_length = cid_len;
	if (cid_len && cid_len <= QUIC_MAX_CONNECTION_ID_SIZE)
		memcpy(ci->key.conn_id + QUIC_MAX_CONNECTION_ID_SIZE - cid_len,
		       cid, cid_len);
}

void quic_conn_info(struct quic_connection_info *ci, const struct quic_keys *k,
		    const uint8_t *cid, size_t cid_len)
{
	memset(ci, 0, sizeof(*ci));
	ci->cipher_type = k->cipher;
	quic_info_key(ci, cid, cid_len);
	memcpy(ci->payload_key, k->key, sizeof(ci->payload_key));
	memcpy(ci->payload_iv, k->iv, sizeof(ci->payload_iv));
	memcpy(ci->header_key, k->hp, sizeof(ci->header_key));
}

int quic_conn_add(int fd, const struct quic_keys *k, const uint8_t *cid,
		  size_t cid_len)
{
	struct quic_connection_info ci;

	quic_conn_info(&ci, k, cid, cid_len);
	return setsockopt(fd, SOL_UDP, UDP_QUIC_ADD_TX_CONNECTION, &ci,
			  sizeof(ci));
}

int quic_conn_del(int fd, const uint8_t *cid, size_t cid_len)
{
	struct quic_connection_info ci;

	memset(&ci, 0, sizeof(ci));
	quic_info_key(&ci, cid, cid_len);
	return setsockopt(fd, SOL_UDP, UDP_QUIC_DEL_TX_CONNECTION, &ci,
			  sizeof(ci));
}

#define QUIC_ALIGN(len)	(((len) + sizeof(size_t) - 1) & ~(sizeof(size_t) - 1))

size_t quic_cmsg_build(void *buf, size_t size, const struct quic_send_args *a)
{
	int i, pass, n = a->quic_cmsg_count ? a->quic_cmsg_count : 1;
	struct quic_tx_ancillary_data anc;
	size_t off = 0, qlen, qspace;
	uint8_t *base = buf;
	struct cmsghdr *cm;

	memset(buf, 0, size);
	memset(&anc, 0, sizeof(anc));
	anc.next_pkt_num = a->next_pkt_num;
	anc.flags = a->flags;
	anc.conn_id_length = a->cid_len;
	qlen = CMSG_LEN(sizeof(anc)) + a->quic_cmsg_len_delta;
	qspace = QUIC_ALIGN(qlen > CMSG_LEN(sizeof(anc)) ?
			    qlen : CMSG_LEN(sizeof(anc)));

	for (pass = 0; pass < 2; pass++) {
		bool gso_pass = (pass == 0) == a->gso_first;

		if (gso_pass && a->gso_size) {
			if (off + CMSG_SPACE(sizeof(uint16_t)) > size)
				return 0;
			cm = (struct cmsghdr *)(base + off);
			cm->cmsg_level = SOL_UDP;
			cm->cmsg_type = UDP_SEGMENT;
			cm->cmsg_len = CMSG_LEN(sizeof(uint16_t));
			memcpy(CMSG_DATA(cm), &a->gso_size, sizeof(uint16_t));
			off += CMSG_SPACE(sizeof(uint16_t));
		}
		if (gso_pass && a->extra) {
			if (off + CMSG_SPACE(sizeof(int)) > size)
				return 0;
			cm = (struct cmsghdr *)(base + off);
			cm->cmsg_level = a->extra_level;
			cm->cmsg_type = a->extra_type;
			cm->cmsg_len = CMSG_LEN(sizeof(int));
			memcpy(CMSG_DATA(cm), &a->extra_val, sizeof(int));
			off += CMSG_SPACE(sizeof(int));
		}
		if (gso_pass || a->no_quic_cmsg)
			continue;
		for (i = 0; i < n; i++) {
			if (off + qspace > size)
				return 0;
			cm = (struct cmsghdr *)(base + off);
			cm->cmsg_level = IPPROTO_UDP;
			cm->cmsg_type = UDP_QUIC_ENCRYPT;
			cm->cmsg_len = qlen;
			memcpy(CMSG_DATA(cm), &anc, sizeof(anc));
			if (a->quic_cmsg_tail && qlen > CMSG_LEN(sizeof(anc)))
				*((uint8_t *)cm + qlen - 1) = a->quic_cmsg_tail;
			off += qspace;
		}
	}
	return off;
}

ssize_t quic_sendmsg(int fd, const struct iovec *iov, size_t iovcnt,
		     const struct quic_send_args *a)
{
	union {
		struct cmsghdr align;
		uint8_t buf[QUIC_CMSG_BUF];
	} cbuf;
	struct msghdr msg = {};
	size_t clen;

	clen = quic_cmsg_build(cbuf.buf, sizeof(cbuf.buf), a);
	msg.msg_name = (void *)a->addr;
	msg.msg_namelen = a->addr ? a->addrlen : 0;
	msg.msg_iov = (struct iovec *)iov;
	msg.msg_iovlen = iovcnt;
	msg.msg_control = clen ? cbuf.buf : NULL;
	msg.msg_controllen = clen;
	return sendmsg(fd, &msg, a->msg_flags);
}

ssize_t quic_recv(int fd, void *buf, size_t len, int timeout_ms)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };
	ssize_t ret;

	ret = recv(fd, buf, len, MSG_DONTWAIT);
	if (ret >= 0 || errno != EAGAIN)
		return ret;
	ret = poll(&pfd, 1, timeout_ms);
	if (ret < 0)
		return ret;
	return recv(fd, buf, len, MSG_DONTWAIT);
}

long long quic_stat(int fd, const char *name)
{
	size_t name_len = strlen(name), used = 0;
	bool own = fd < 0;
	char buf[8192], *line, *end;
	long long val = -1;
	ssize_t n;

	if (own)
		fd = open(QUIC_STAT_PATH, O_RDONLY);
	else if (lseek(fd, 0, SEEK_SET))
		return -1;
	if (fd < 0)
		return -1;
	while (used < sizeof(buf) - 1) {
		n = read(fd, buf + used, sizeof(buf) - 1 - used);
		if (n <= 0)
			break;
		used += n;
	}
	if (own)
		close(fd);
	buf[used] = '\0';

	for (line = buf; line && *line; line = end) {
		end = strchr(line, '\n');
		if (end)
			*end++ = '\0';
		if (strncmp(line, name, name_len) ||
		    (line[name_len] != '\t' && line[name_len] != ' '))
			continue;
		val = strtoll(line + name_len + 1, NULL, 10);
		break;
	}
	return val;
}

/* HKDF-Expand-Label of TLS 1.3 (RFC 8446, section 7.1), empty context. */
int quic_expand_label(const char *md, const uint8_t *secret,
		      size_t secret_len, const char *label, uint8_t *out,
		      size_t out_len)
{
	uint8_t info[2 + 1 + 255 + 1];
	size_t label_len = strlen("tls13 ") + strlen(label);
	OSSL_PARAM params[5], *p = params;
	int mode = EVP_KDF_HKDF_MODE_EXPAND_ONLY;
	EVP_KDF_CTX *ctx;
	EVP_KDF *kdf;
	size_t n = 0;
	int ret;

	info[n++] = out_len >> 8;
	info[n++] = out_len;
	info[n++] = label_len;
	memcpy(info + n, "tls13 ", 6);
	memcpy(info + n + 6, label, strlen(label));
	n += label_len;
	info[n++] = 0;

	kdf = EVP_KDF_fetch(NULL, "HKDF", NULL);
	if (!kdf)
		return -1;
	ctx = EVP_KDF_CTX_new(kdf);
	EVP_KDF_free(kdf);
	if (!ctx)
		return -1;
	*p++ = OSSL_PARAM_construct_int(OSSL_KDF_PARAM_MODE, &mode);
	*p++ = OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST,
						(char *)md, 0);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY,
						 (void *)secret, secret_len);
	*p++ = OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, info, n);
	*p = OSSL_PARAM_construct_end();
	ret = EVP_KDF_derive(ctx, out, out_len, params) == 1 ? 0 : -1;
	EVP_KDF_CTX_free(ctx);
	return ret;
}

static const char *cipher_md(uint16_t cipher)
{
	return cipher == TLS_CIPHER_AES_GCM_256 ? "SHA384" : "SHA256";
}

static size_t cipher_hash_len(uint16_t cipher)
{
	return cipher == TLS_CIPHER_AES_GCM_256 ? 48 : 32;
}

/* Keys of a secret (RFC 9001, section 5.1); hp is that of @hp_from. */
int quic_gen_keys(struct quic_gen *g, uint16_t cipher, const uint8_t *hp_from)
{
	const char *md = cipher_md(cipher);
	size_t hl = cipher_hash_len(cipher), kl = quic_key_len(cipher);

	memset(&g->keys, 0, sizeof(g->keys));
	g->keys.cipher = cipher;
	if (quic_expand_label(md, g->secret, hl, "quic key", g->keys.key,
			      kl) ||
	    quic_expand_label(md, g->secret, hl, "quic iv", g->keys.iv,
			      QUIC_IV_LEN))
		return -1;
	if (hp_from) {
		memcpy(g->keys.hp, hp_from, kl);
		return 0;
	}
	return quic_expand_label(md, g->secret, hl, "quic hp", g->keys.hp, kl);
}

/* The generation after @g: secret via "quic ku", header key unchanged. */
int quic_gen_next(struct quic_gen *next, const struct quic_gen *g)
{
	uint16_t cipher = g->keys.cipher;
	size_t hl = cipher_hash_len(cipher);

	if (quic_expand_label(cipher_md(cipher), g->secret, hl, "quic ku",
			      next->secret, hl))
		return -1;
	return quic_gen_keys(next, cipher, g->keys.hp);
}

int quic_netns_fresh(void)
{
	if (unshare(CLONE_NEWNET))
		return -1;
	return quic_lo_up();
}

int quic_lo_up(void)
{
	struct ifreq ifr = {};
	int fd, ret;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	if (fd < 0)
		return -1;
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	ret = ioctl(fd, SIOCGIFFLAGS, &ifr);
	if (!ret) {
		ifr.ifr_flags |= IFF_UP;
		ret = ioctl(fd, SIOCSIFFLAGS, &ifr);
	}
	close(fd);
	return ret;
}

int quic_key_phase(int fd, const uint8_t *cid, size_t cid_len, uint8_t op,
		   uint8_t phase, const struct quic_keys *k)
{
	struct quic_tx_key_phase_info info;
	struct quic_connection_info ci;

	memset(&info, 0, sizeof(info));
	quic_info_key(&ci, cid, cid_len);
	info.key = ci.key;
	info.op = op;
	info.phase = phase;
	if (k) {
		memcpy(info.payload_key, k->key, sizeof(info.payload_key));
		memcpy(info.payload_iv, k->iv, sizeof(info.payload_iv));
	}
	return setsockopt(fd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE, &info,
			  sizeof(info));
}

bool quic_contains(const void *buf, size_t len, const void *pat, size_t plen)
{
	return plen <= len && memmem(buf, len, pat, plen);
}

#define QUIC_KNOBS_MAX	32

static struct {
	char path[128];
	char val[64];
} quic_knobs[QUIC_KNOBS_MAX];
static int quic_knobs_nr;

static int quic_file_rw(const char *path, char *buf, size_t len, bool wr)
{
	ssize_t n;
	int fd;

	fd = open(path, wr ? O_WRONLY : O_RDONLY);
	if (fd < 0)
		return -1;
	n = wr ? write(fd, buf, strlen(buf)) : read(fd, buf, len - 1);
	close(fd);
	if (n < 0)
		return -1;
	if (!wr)
		buf[n] = '\0';
	return 0;
}

int quic_file_write(const char *dir, const char *name, const char *val)
{
	char path[512], buf[64];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	snprintf(buf, sizeof(buf), "%s", val);
	return quic_file_rw(path, buf, 0, true);
}

long long quic_file_value(const char *dir, const char *name, const char *key)
{
	char path[512], line[256], k[64], *end;
	long long val, ret = -1;
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "r");
	if (!f)
		return -1;
	while (ret < 0 && fgets(line, sizeof(line), f)) {
		if (!key) {
			val = strtoll(line, &end, 10);
			if (end != line)
				ret = val;
		} else if (sscanf(line, "%63s %lld", k, &val) == 2 &&
			   !strcmp(k, key)) {
			ret = val;
		}
	}
	fclose(f);
	return ret;
}

long long quic_slab_bytes(void)
{
	char shrink[300], line[512], *data;
	unsigned long slabs, pages;
	struct dirent *d;
	long long slab;
	DIR *dir;
	FILE *f;

	dir = opendir("/sys/kernel/slab");
	while (dir && (d = readdir(dir))) {
		if (d->d_name[0] == '.')
			continue;
		snprintf(shrink, sizeof(shrink), "%s/shrink", d->d_name);
		quic_file_write("/sys/kernel/slab", shrink, "1");
	}
	if (dir)
		closedir(dir);

	slab = quic_file_value("/proc", "meminfo", "Slab:");
	if (slab < 0)
		return -1;
	slab *= 1024;
	f = fopen("/proc/slabinfo", "r");
	if (!f)
		return slab;
	while (fgets(line, sizeof(line), f)) {
		if (strncmp(line, "kmemleak_object ", 16))
			continue;
		/* name active num size per-slab pages ... slabdata active num */
		data = strstr(line, "slabdata");
		if (sscanf(line, "%*s %*u %*u %*u %*u %lu", &pages) == 1 && data &&
		    sscanf(data, "slabdata %*u %lu", &slabs) == 1)
			slab -= (long long)slabs * pages * getpagesize();
	}
	fclose(f);
	return slab;
}

int quic_memcg_make(char *dir, size_t size, const char *name,
		    const char *max)
{
	const char *root = "/sys/fs/cgroup";
	char path[512];
	struct stat st;

	snprintf(path, sizeof(path), "%s/cgroup.controllers", root);
	if (stat(path, &st) && mount("cgroup2", root, "cgroup2", 0, NULL))
		return -1;
	if (quic_file_write(root, "cgroup.subtree_control", "+memory"))
		return -1;
	snprintf(dir, size, "%s/%s.%d", root, name, getpid());
	if (mkdir(dir, 0755) && errno != EEXIST)
		return -1;
	return quic_file_write(dir, "memory.max", max);
}

int quic_knob_set(const char *path, const char *val)
{
	char buf[64];
	int i;

	for (i = 0; i < quic_knobs_nr; i++)
		if (!strcmp(quic_knobs[i].path, path))
			break;
	if (i == quic_knobs_nr) {
		if (i == QUIC_KNOBS_MAX || strlen(path) >= sizeof(quic_knobs[i].path))
			return -1;
		if (quic_file_rw(path, quic_knobs[i].val,
				 sizeof(quic_knobs[i].val), false))
			return -1;
		snprintf(quic_knobs[i].path, sizeof(quic_knobs[i].path), "%s",
			 path);
		quic_knobs_nr++;
	}
	snprintf(buf, sizeof(buf), "%s", val);
	return quic_file_rw(path, buf, 0, true);
}

/*
 * The debugfs knobs are global: two programs saving, changing and
 * restoring them at once would leave each other's faults on or off.
 */
static int quic_fault_lock_fd = -1;

static int quic_fault_lock(void)
{
	if (quic_fault_lock_fd >= 0)
		return 0;
	quic_fault_lock_fd = open("/sys/kernel/debug/failslab",
				  O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (quic_fault_lock_fd < 0)
		return -1;
	if (flock(quic_fault_lock_fd, LOCK_EX)) {
		close(quic_fault_lock_fd);
		quic_fault_lock_fd = -1;
		return -1;
	}
	return 0;
}

void quic_knobs_restore(void)
{
	char off[] = "0";

	/* This thread's failures first, or restoring could fail too. */
	quic_file_rw("/proc/thread-self/make-it-fail", off, 0, true);
	quic_file_rw("/proc/thread-self/fail-nth", off, 0, true);
	/* Last set first: a knob may only be valid once another one is. */
	while (quic_knobs_nr > 0) {
		quic_knobs_nr--;
		quic_file_rw(quic_knobs[quic_knobs_nr].path,
			     quic_knobs[quic_knobs_nr].val, 0, true);
	}
	if (quic_fault_lock_fd >= 0) {
		close(quic_fault_lock_fd);
		quic_fault_lock_fd = -1;
	}
}

int quic_fault_setup(void)
{
	static const char * const knobs[][2] = {
		{ "/sys/kernel/debug/failslab/ignore-gfp-wait", "N" },
		{ "/sys/kernel/debug/failslab/verbose", "0" },
		{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-wait", "N" },
		{ "/sys/kernel/debug/fail_page_alloc/ignore-gfp-highmem", "N" },
		{ "/sys/kernel/debug/fail_page_alloc/min-order", "0" },
		{ "/sys/kernel/debug/fail_page_alloc/verbose", "0" },
		{ NULL, NULL },
	};
	unsigned int i;

	if (quic_fault_lock())
		return -1;
	for (i = 0; knobs[i][0]; i++)
		if (quic_knob_set(knobs[i][0], knobs[i][1]))
			return -1;
	return open("/proc/thread-self/fail-nth", O_RDWR);
}

void quic_fail_nth_set(int fd, unsigned int nth)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%u", nth);
	if (pwrite(fd, buf, strlen(buf), 0) < 0)
		perror("fail-nth");
}

unsigned int quic_fail_nth_left(int fd)
{
	char buf[16] = {};

	/* A failed read is no injection. */
	if (pread(fd, buf, sizeof(buf) - 1, 0) <= 0)
		return UINT_MAX;
	return strtoul(buf, NULL, 10);
}

bool quic_fail_nth_arm(int fd, unsigned int nth)
{
	quic_fail_nth_set(fd, nth);
	return quic_fail_nth_left(fd) == nth;
}

void quic_cid_numbered(uint8_t *cid, size_t len, uint8_t fill, uint32_t i)
{
	memset(cid, fill, len);
	cid[len - 4] = i >> 24;
	cid[len - 3] = i >> 16;
	cid[len - 2] = i >> 8;
	cid[len - 1] = i;
}

int quic_crypto_algs(struct quic_crypto_alg *v, int max)
{
	char line[256], key[64], val[128];
	FILE *f = fopen("/proc/crypto", "r");
	const int tl = sizeof(v->type) - 1;
	int n = 0;

	if (!f)
		return -1;
	memset(v, 0, sizeof(*v) * max);
	while (n < max && fgets(line, sizeof(line), f)) {
		struct quic_crypto_alg *a = &v[n];

		if (line[0] == '\n') {
			n += a->name[0] != '\0';
			continue;
		}
		if (sscanf(line, "%63s : %127s", key, val) != 2)
			continue;
		if (!strcmp(key, "name"))
			snprintf(a->name, sizeof(a->name), "%s", val);
		else if (!strcmp(key, "driver"))
			snprintf(a->driver, sizeof(a->driver), "%s", val);
		else if (!strcmp(key, "type"))
			snprintf(a->type, sizeof(a->type), "%.*s", tl, val);
		else if (!strcmp(key, "priority"))
			a->priority = atol(val);
		else if (!strcmp(key, "refcnt"))
			a->refcnt = atol(val);
	}
	if (n < max && v[n].name[0])
		n++;
	fclose(f);
	return n;
}

bool quic_cpu_has(const char *flag)
{
	char line[4096], word[64];
	bool found = false;
	FILE *f;

	snprintf(word, sizeof(word), " %s ", flag);
	f = fopen("/proc/cpuinfo", "r");
	if (!f)
		return false;
	while (!found && fgets(line, sizeof(line) - 1, f)) {
		if (strncmp(line, "flags", 5))
			continue;
		line[strcspn(line, "\n")] = ' ';
		found = strstr(line, word);
	}
	fclose(f);
	return found;
}
