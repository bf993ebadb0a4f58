// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the QUIC offload: packet number recovery, nonces, header
 * protection masks and whole protected packets against published vectors,
 * the connection table, the plaintext guard and the transmit buffer.
 *
 * Vectors are hex strings so they read the same as in their sources:
 * RFC 9000 appendix A.3, RFC 9001 appendix A, and the header protection
 * tests of ring, MsQuic and neqo.  No AES-256-GCM or AES-128-CCM short
 * header packet has been published; those were produced with OpenSSL
 * (python3-cryptography) by a script that first reproduces RFC 9001 A.3
 * and A.5 byte for byte.
 */

#include <crypto/aes.h>
#include <crypto/scatterwalk.h>
#include <kunit/test.h>
#include <linux/completion.h>
#include <linux/delay.h>
#include <linux/jiffies.h>
#include <linux/kernel.h>
#include <linux/kthread.h>
#include <linux/net.h>
#include <linux/prandom.h>
#include <linux/rcupdate.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/skbuff.h>
#include <linux/string.h>
#include <linux/udp.h>
#include <linux/uio.h>
#include <net/net_namespace.h>
#include <net/quic_dev.h>
#include <net/sock.h>

#include "quic_conn.h"
#include "quic_crypto.h"
#include "quic_guard.h"
#include "quic_txbuf.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

/* Decode a hex string into a test-managed buffer of *len bytes. */
static u8 *quic_test_unhex(struct kunit *test, const char *hex, size_t *len)
{
	size_t n = strlen(hex) / 2;
	u8 *buf;

	KUNIT_ASSERT_EQ(test, strlen(hex) % 2, 0);
	buf = kunit_kzalloc(test, n ? n : 1, GFP_KERNEL);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, buf);
	KUNIT_ASSERT_EQ(test, hex2bin(buf, hex, n), 0);
	if (len)
		*len = n;
	return buf;
}

static struct quic_crypto_keys *quic_test_keys(struct kunit *test,
					       u16 tls_type, const char *key,
					       const char *iv, const char *hp)
{
	const struct quic_cipher *cipher = quic_cipher_find(tls_type);
	struct quic_crypto_keys *keys;
	size_t key_len, hp_len, iv_len;
	u8 *k, *i, *h;

	KUNIT_ASSERT_NOT_NULL(test, cipher);
	k = quic_test_unhex(test, key, &key_len);
	i = quic_test_unhex(test, iv, &iv_len);
	h = quic_test_unhex(test, hp, &hp_len);
	KUNIT_ASSERT_EQ(test, key_len, cipher->key_size);
	KUNIT_ASSERT_EQ(test, hp_len, cipher->key_size);
	KUNIT_ASSERT_EQ(test, iv_len, QUIC_IV_SIZE);

	keys = kunit_kzalloc(test, sizeof(*keys), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, keys);
	KUNIT_ASSERT_EQ(test, quic_crypto_keys_init(keys, cipher, k, i, h), 0);
	return keys;
}

/* ---- Packet numbers (RFC 9000, appendix A.3) ---- */

struct quic_pn_case {
	const char *name;
	u64 expected;
	u32 truncated;
	unsigned int pn_len;
	u64 want;
};

static const struct quic_pn_case quic_pn_cases[] = {
	/* The RFC's example, with the largest PN and with largest + 1 */
	{ "rfc9000 a.3", 0xa82f30ea, 0x9b32, 2, 0xa82f9b32 },
	{ "rfc9000 a.3, next", 0xa82f30eb, 0x9b32, 2, 0xa82f9b32 },
	{ "exact", 0x1234, 0x34, 1, 0x1234 },
	{ "start, no negative", 0, 0xff, 1, 0xff },
	{ "forward over wrap", 0xff, 0x00, 1, 0x100 },
	{ "backward over wrap", 0x100, 0xff, 1, 0xff },
	{ "just inside half window", 0x17f, 0x00, 1, 0x100 },
	{ "half window goes up", 0x180, 0x00, 1, 0x200 },
	{ "3 bytes", 0x2700bff4, 0x00bff4, 3, 0x2700bff4 },
	{ "4 bytes forward", 0xfffffff0, 0x00000005, 4, 0x100000005ULL },
	{ "4 bytes backward", 0x100000000ULL, 0xffffffff, 4, 0xffffffff },
	{ "largest pn", QUIC_PN_MAX, 0xff, 1, QUIC_PN_MAX },
	{ "no step past 2^62", QUIC_PN_MAX - 9, 0x00, 1, QUIC_PN_MAX - 0xff },
};

static void quic_pn_case_desc(const struct quic_pn_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(quic_pn, quic_pn_cases, quic_pn_case_desc);

static void quic_pn_decode_test(struct kunit *test)
{
	const struct quic_pn_case *c = test->param_value;

	KUNIT_EXPECT_EQ(test, quic_dev_pn_decode(c->expected, c->truncated,
						 c->pn_len), c->want);
}

/* ---- Nonces and AEAD IVs (RFC 9001, section 5.3) ---- */

struct quic_nonce_case {
	const char *name;
	const char *iv;
	u64 pn;
	const char *nonce;
};

static const struct quic_nonce_case quic_nonce_cases[] = {
	{ "rfc9001 a.2", "fa044b2f42a3fd3b46fb255c", 2,
	  "fa044b2f42a3fd3b46fb255e" },
	{ "rfc9001 a.3", "0ac1493ca1905853b0bba03e", 1,
	  "0ac1493ca1905853b0bba03f" },
	{ "rfc9001 a.5", "e0459b3474bdd0e44a41c144", 654360564,
	  "e0459b3474bdd0e46d417eb0" },
	{ "largest pn", "000000000000000000000000", QUIC_PN_MAX,
	  "000000003fffffffffffffff" },
};

static void quic_nonce_case_desc(const struct quic_nonce_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(quic_nonce, quic_nonce_cases, quic_nonce_case_desc);

static void quic_nonce_test(struct kunit *test)
{
	const struct quic_nonce_case *c = test->param_value;
	u8 *iv = quic_test_unhex(test, c->iv, NULL);
	u8 *want = quic_test_unhex(test, c->nonce, NULL);
	u8 nonce[QUIC_IV_SIZE];

	quic_nonce_build(nonce, iv, c->pn);
	KUNIT_EXPECT_MEMEQ(test, nonce, want, QUIC_IV_SIZE);
}

static void quic_aead_iv_test(struct kunit *test)
{
	u8 *iv = quic_test_unhex(test, "e0459b3474bdd0e44a41c144", NULL);
	u8 *nonce = quic_test_unhex(test, "e0459b3474bdd0e46d417eb0", NULL);
	u8 aead_iv[QUIC_AEAD_IV_MAX];
	static const u8 zero[3];

	/* GCM and ChaCha20-Poly1305 take the nonce as is. */
	quic_aead_iv_build(quic_cipher_find(TLS_CIPHER_AES_GCM_128), aead_iv,
			   iv, 654360564);
	KUNIT_EXPECT_MEMEQ(test, aead_iv, nonce, QUIC_IV_SIZE);

	/* CCM: flags octet L' = 2, the nonce, then a zero 3-byte counter. */
	memset(aead_iv, 0xff, sizeof(aead_iv));
	quic_aead_iv_build(quic_cipher_find(TLS_CIPHER_AES_CCM_128), aead_iv,
			   iv, 654360564);
	KUNIT_EXPECT_EQ(test, aead_iv[0], 2);
	KUNIT_EXPECT_MEMEQ(test, aead_iv + 1, nonce, QUIC_IV_SIZE);
	KUNIT_EXPECT_MEMEQ(test, aead_iv + 1 + QUIC_IV_SIZE, zero,
			   sizeof(zero));
}

/* ---- Header protection masks (RFC 9001, section 5.4) ---- */

struct quic_hp_case {
	const char *name;
	u16 cipher;
	const char *key;
	const char *sample;
	const char *mask;	/* the first 5 bytes are compared */
};

static const struct quic_hp_case quic_hp_cases[] = {
	{ "rfc9001 a.2", TLS_CIPHER_AES_GCM_128,
	  "9f50449e04a0e810283a1e9933adedd2",
	  "d1b1c98dd7689fb8ec11d242b123dc9b", "437b9aec36" },
	{ "rfc9001 a.3", TLS_CIPHER_AES_GCM_128,
	  "c206b8d9b9f0f37644430b490eeaa314",
	  "2cd0991cd25b0aac406a5816b6394100", "2ec0d8356a" },
	{ "rfc9001 a.5", TLS_CIPHER_CHACHA20_POLY1305,
	  "25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4",
	  "5e5cd55c41f69080575d7999c25a5bfb", "aefefe7d03" },
	{ "rfc9369 a.5", TLS_CIPHER_CHACHA20_POLY1305,
	  "d659760d2ba434a226fd37b35c69e2da8211d10c4f12538787d65645d5d1b8e2",
	  "e7b6b932bc27d786f4bc2bb20f2162ba", "97580e32bf" },
	{ "ring aes128 1", TLS_CIPHER_AES_GCM_128,
	  "e8904ecc2e37a6e4cc02271e319c804b",
	  "13484ec85dc4d36349697c7d4ea1a159", "67387ebf3a" },
	{ "ring aes128 2", TLS_CIPHER_AES_GCM_128,
	  "e8904ecc2e37a6e4cc02271e319c804b",
	  "00000000000000000000000fffffffff", "feb191f8af" },
	{ "ring aes128 3", TLS_CIPHER_AES_GCM_128,
	  "e8904ecc2e37a6e4cc02271e319c804b",
	  "000000000000000fffffffffffffffff", "6f23441ee8" },
	{ "ring aes256 1", TLS_CIPHER_AES_GCM_256,
	  "85af7213814aec7b92ace6284a906643912ec8853d00d158a927b8697c7ff585",
	  "82a0db90f4cee12fa4afeddb74396cf6", "670897adf5" },
	{ "ring aes256 2", TLS_CIPHER_AES_GCM_256,
	  "85af7213814aec7b92ace6284a906643912ec8853d00d158a927b8697c7ff585",
	  "000000000000000000000000ffffffff", "b77a18bb3f" },
	{ "ring aes256 3", TLS_CIPHER_AES_GCM_256,
	  "85af7213814aec7b92ace6284a906643912ec8853d00d158a927b8697c7ff585",
	  "000000000000000fffffffffffffffff", "4aadd3cbef" },
	{ "ring chacha20", TLS_CIPHER_CHACHA20_POLY1305,
	  "59bdff7a5bcdaacf319d99646c6273ad96687d2c74ace678f15a1c710675bb23",
	  "215a7c1688b4ab7d830dcd052aef9f3c", "6409a6196d" },
	{ "msquic aes128", TLS_CIPHER_AES_GCM_128,
	  "000102030405060708090a0b0c0d0e0f",
	  "00000000000000000000000000000000", "c6a13b3787" },
	{ "msquic aes256", TLS_CIPHER_AES_GCM_256,
	  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	  "00000000000000000000000000000000", "f29000b62a" },
	{ "msquic chacha20", TLS_CIPHER_CHACHA20_POLY1305,
	  "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f",
	  "00000000000000000000000000000000", "39fd2b7dd9" },
	{ "neqo aes128", TLS_CIPHER_AES_CCM_128,
	  "84bd9599542717f0b02da110d22bda07",
	  "00000000000000000000000000000000", "047bda65c3" },
	{ "neqo aes256", TLS_CIPHER_AES_GCM_256,
	  "35202787a8e3f5c337f1f844a8f979d5a0c022ba35430b593c5f9c17e3cb113e",
	  "00000000000000000000000000000000", "b5eaa21c25" },
	{ "neqo chacha20", TLS_CIPHER_CHACHA20_POLY1305,
	  "490eccdc5c3611ba31796cc8b505d7731534d5437658415baa1c5a8d89e5ceb1",
	  "00000000000000000000000000000000", "3411b35302" },
	{ "neqo aes_ecb", TLS_CIPHER_AES_GCM_128,
	  "94b9452d2b3c7c7f6da7fdd8593537fd",
	  "c4c2a2303d297e3c519bf6b22386e3d0", "75f7ec8b62" },
};

static void quic_hp_case_desc(const struct quic_hp_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(quic_hp, quic_hp_cases, quic_hp_case_desc);

/* Header protection alone: no AEAD transform is needed. */
static void quic_hp_mask_test(struct kunit *test)
{
	const struct quic_hp_case *c = test->param_value;
	u8 *sample = quic_test_unhex(test, c->sample, NULL);
	u8 *want = quic_test_unhex(test, c->mask, NULL);
	struct quic_crypto_keys *keys;
	size_t key_len;
	u8 *key;

	keys = kunit_kzalloc(test, sizeof(*keys), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, keys);
	keys->cipher = quic_cipher_find(c->cipher);
	KUNIT_ASSERT_NOT_NULL(test, keys->cipher);
	key = quic_test_unhex(test, c->key, &key_len);
	KUNIT_ASSERT_EQ(test, key_len, keys->cipher->key_size);

	KUNIT_ASSERT_EQ(test, quic_hp_key_init(keys, key, false), 0);
	/* quic_test_unhex() memory is kmalloc()ed: a scatterlist takes it. */
	KUNIT_EXPECT_EQ(test, quic_hp_masks(keys, sample, 1), 0);
	KUNIT_EXPECT_MEMEQ(test, sample, want, QUIC_HP_MASK_SIZE);
	quic_crypto_keys_destroy(keys);
}

/* Masks of @n samples, from a copy of them in @out. */
static void quic_test_masks(struct kunit *test, struct quic_crypto_keys *keys,
			    const u8 *samples, u8 *out, unsigned int n)
{
	memcpy(out, samples, n * QUIC_HP_SAMPLE_SIZE);
	KUNIT_ASSERT_EQ(test, quic_hp_masks(keys, out, n), 0);
}

/*
 * The masks of a batch, computed together, are those of each sample
 * alone, and for AES, through the crypto API's transform and through the
 * AES library fallback, those of aes_encrypt(): every batch length up to
 * what a call can send, on pseudo-random keys and samples (fixed seed).
 */
static void quic_hp_masks_batch_test(struct kunit *test)
{
	static const u16 ciphers[] = {
		TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_256,
		TLS_CIPHER_CHACHA20_POLY1305,
	};
	const unsigned int max = UDP_MAX_SEGMENTS;
	const size_t len = max * QUIC_HP_SAMPLE_SIZE;
	struct quic_crypto_keys *keys;
	u8 *samples, *batch, *one, *key;
	struct crypto_aes_ctx *aes;
	struct rnd_state rnd;
	unsigned int c, n, i, lib;

	keys = kunit_kzalloc(test, sizeof(*keys), GFP_KERNEL);
	aes = kunit_kzalloc(test, sizeof(*aes), GFP_KERNEL);
	key = kunit_kmalloc(test, 32, GFP_KERNEL);
	samples = kunit_kmalloc(test, len, GFP_KERNEL);
	batch = kunit_kmalloc(test, len, GFP_KERNEL);
	one = kunit_kmalloc(test, QUIC_HP_SAMPLE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, keys && aes && key && samples && batch && one);
	prandom_seed_state(&rnd, 9001);

	for (c = 0; c < ARRAY_SIZE(ciphers) * 2; c++) {
		keys->cipher = quic_cipher_find(ciphers[c / 2]);
		lib = c % 2;
		if (lib && keys->cipher->hp != QUIC_HP_AES)
			continue;
		prandom_bytes_state(&rnd, key, 32);
		prandom_bytes_state(&rnd, samples, len);
		KUNIT_ASSERT_EQ(test, quic_hp_key_init(keys, key, lib), 0);
		KUNIT_EXPECT_EQ(test, !keys->hp->aes,
				keys->cipher->hp != QUIC_HP_AES || lib);
		KUNIT_ASSERT_EQ(test, aes_expandkey(aes, key,
						    keys->cipher->key_size), 0);

		for (n = 1; n <= max; n++) {
			quic_test_masks(test, keys, samples, batch, n);
			i = n - 1;
			quic_test_masks(test, keys, samples + i *
					QUIC_HP_SAMPLE_SIZE, one, 1);
			KUNIT_EXPECT_MEMEQ_MSG(test, batch +
					       i * QUIC_HP_SAMPLE_SIZE, one,
					       QUIC_HP_MASK_SIZE,
					       "cipher %u, %u samples",
					       ciphers[c / 2], n);
			for (i = 0; keys->cipher->hp == QUIC_HP_AES && i < n;
			     i++) {
				aes_encrypt(aes, one, samples +
					    i * QUIC_HP_SAMPLE_SIZE);
				KUNIT_EXPECT_MEMEQ_MSG(test, batch +
						       i * QUIC_HP_SAMPLE_SIZE,
						       one, QUIC_HP_MASK_SIZE,
						       "cipher %u, library %u, block %u of %u",
						       ciphers[c / 2], lib, i,
						       n);
			}
		}
		quic_crypto_keys_destroy(keys);
	}
	memzero_explicit(aes, sizeof(*aes));
}

/* ---- Whole packets ---- */

struct quic_pkt_case {
	const char *name;
	u16 cipher;
	const char *key;
	const char *iv;
	const char *hp;
	u64 pn;
	const char *hdr;	/* unprotected */
	const u8 *payload;	/* plaintext, then zeroes up to payload_len */
	unsigned int given;
	unsigned int payload_len;
	const u8 *packet;	/* protected; only its ends when tail is set */
	unsigned int packet_len;
	const u8 *tail;
	unsigned int tail_len;
};

#define QUIC_BYTES(field, array)	.field = array, .field##_len = sizeof(array)
#define QUIC_PAYLOAD(array)	.payload = array, .given = sizeof(array), \
				.payload_len = sizeof(array)

/* RFC 9001 A.5: a PING frame */
static const u8 rfc9001_a5_payload[] = {
	0x01,
};

static const u8 rfc9001_a5_packet[] = {
	0x4c, 0xfe, 0x41, 0x89, 0x65, 0x5e, 0x5c, 0xd5, 0x5c, 0x41, 0xf6, 0x90,
	0x80, 0x57, 0x5d, 0x79, 0x99, 0xc2, 0x5a, 0x5b, 0xfb,
};

/* quinn-boring short_packet_header_protection: "hello" */
static const u8 quinn_hello_payload[] = {
	0x68, 0x65, 0x6c, 0x6c, 0x6f,
};

static const u8 quinn_hello_packet[] = {
	0x59, 0x3b, 0x46, 0x22, 0x0c, 0x4d, 0x50, 0x4a, 0x9f, 0x18, 0x57, 0x79,
	0x33, 0x56, 0x40, 0x0f, 0xc4, 0xa7, 0x84, 0xee, 0x30, 0x9d, 0xff, 0x98,
	0xb2,
};

/* RFC 9001 A.3: server Initial */
static const u8 rfc9001_a3_payload[] = {
	0x02, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x40, 0x5a, 0x02, 0x00, 0x00,
	0x56, 0x03, 0x03, 0xee, 0xfc, 0xe7, 0xf7, 0xb3, 0x7b, 0xa1, 0xd1, 0x63,
	0x2e, 0x96, 0x67, 0x78, 0x25, 0xdd, 0xf7, 0x39, 0x88, 0xcf, 0xc7, 0x98,
	0x25, 0xdf, 0x56, 0x6d, 0xc5, 0x43, 0x0b, 0x9a, 0x04, 0x5a, 0x12, 0x00,
	0x13, 0x01, 0x00, 0x00, 0x2e, 0x00, 0x33, 0x00, 0x24, 0x00, 0x1d, 0x00,
	0x20, 0x9d, 0x3c, 0x94, 0x0d, 0x89, 0x69, 0x0b, 0x84, 0xd0, 0x8a, 0x60,
	0x99, 0x3c, 0x14, 0x4e, 0xca, 0x68, 0x4d, 0x10, 0x81, 0x28, 0x7c, 0x83,
	0x4d, 0x53, 0x11, 0xbc, 0xf3, 0x2b, 0xb9, 0xda, 0x1a, 0x00, 0x2b, 0x00,
	0x02, 0x03, 0x04,
};

static const u8 rfc9001_a3_packet[] = {
	0xcf, 0x00, 0x00, 0x00, 0x01, 0x00, 0x08, 0xf0, 0x67, 0xa5, 0x50, 0x2a,
	0x42, 0x62, 0xb5, 0x00, 0x40, 0x75, 0xc0, 0xd9, 0x5a, 0x48, 0x2c, 0xd0,
	0x99, 0x1c, 0xd2, 0x5b, 0x0a, 0xac, 0x40, 0x6a, 0x58, 0x16, 0xb6, 0x39,
	0x41, 0x00, 0xf3, 0x7a, 0x1c, 0x69, 0x79, 0x75, 0x54, 0x78, 0x0b, 0xb3,
	0x8c, 0xc5, 0xa9, 0x9f, 0x5e, 0xde, 0x4c, 0xf7, 0x3c, 0x3e, 0xc2, 0x49,
	0x3a, 0x18, 0x39, 0xb3, 0xdb, 0xcb, 0xa3, 0xf6, 0xea, 0x46, 0xc5, 0xb7,
	0x68, 0x4d, 0xf3, 0x54, 0x8e, 0x7d, 0xde, 0xb9, 0xc3, 0xbf, 0x9c, 0x73,
	0xcc, 0x3f, 0x3b, 0xde, 0xd7, 0x4b, 0x56, 0x2b, 0xfb, 0x19, 0xfb, 0x84,
	0x02, 0x2f, 0x8e, 0xf4, 0xcd, 0xd9, 0x37, 0x95, 0xd7, 0x7d, 0x06, 0xed,
	0xbb, 0x7a, 0xaf, 0x2f, 0x58, 0x89, 0x18, 0x50, 0xab, 0xbd, 0xca, 0x3d,
	0x20, 0x39, 0x8c, 0x27, 0x64, 0x56, 0xcb, 0xc4, 0x21, 0x58, 0x40, 0x7d,
	0xd0, 0x74, 0xee,
};

/* RFC 9001 A.2: client Initial, CRYPTO frame then PADDING to 1162 bytes */
static const u8 rfc9001_a2_crypto_frame[] = {
	0x06, 0x00, 0x40, 0xf1, 0x01, 0x00, 0x00, 0xed, 0x03, 0x03, 0xeb, 0xf8,
	0xfa, 0x56, 0xf1, 0x29, 0x39, 0xb9, 0x58, 0x4a, 0x38, 0x96, 0x47, 0x2e,
	0xc4, 0x0b, 0xb8, 0x63, 0xcf, 0xd3, 0xe8, 0x68, 0x04, 0xfe, 0x3a, 0x47,
	0xf0, 0x6a, 0x2b, 0x69, 0x48, 0x4c, 0x00, 0x00, 0x04, 0x13, 0x01, 0x13,
	0x02, 0x01, 0x00, 0x00, 0xc0, 0x00, 0x00, 0x00, 0x10, 0x00, 0x0e, 0x00,
	0x00, 0x0b, 0x65, 0x78, 0x61, 0x6d, 0x70, 0x6c, 0x65, 0x2e, 0x63, 0x6f,
	0x6d, 0xff, 0x01, 0x00, 0x01, 0x00, 0x00, 0x0a, 0x00, 0x08, 0x00, 0x06,
	0x00, 0x1d, 0x00, 0x17, 0x00, 0x18, 0x00, 0x10, 0x00, 0x07, 0x00, 0x05,
	0x04, 0x61, 0x6c, 0x70, 0x6e, 0x00, 0x05, 0x00, 0x05, 0x01, 0x00, 0x00,
	0x00, 0x00, 0x00, 0x33, 0x00, 0x26, 0x00, 0x24, 0x00, 0x1d, 0x00, 0x20,
	0x93, 0x70, 0xb2, 0xc9, 0xca, 0xa4, 0x7f, 0xba, 0xba, 0xf4, 0x55, 0x9f,
	0xed, 0xba, 0x75, 0x3d, 0xe1, 0x71, 0xfa, 0x71, 0xf5, 0x0f, 0x1c, 0xe1,
	0x5d, 0x43, 0xe9, 0x94, 0xec, 0x74, 0xd7, 0x48, 0x00, 0x2b, 0x00, 0x03,
	0x02, 0x03, 0x04, 0x00, 0x0d, 0x00, 0x10, 0x00, 0x0e, 0x04, 0x03, 0x05,
	0x03, 0x06, 0x03, 0x02, 0x03, 0x08, 0x04, 0x08, 0x05, 0x08, 0x06, 0x00,
	0x2d, 0x00, 0x02, 0x01, 0x01, 0x00, 0x1c, 0x00, 0x02, 0x40, 0x01, 0x00,
	0x39, 0x00, 0x32, 0x04, 0x08, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
	0xff, 0x05, 0x04, 0x80, 0x00, 0xff, 0xff, 0x07, 0x04, 0x80, 0x00, 0xff,
	0xff, 0x08, 0x01, 0x10, 0x01, 0x04, 0x80, 0x00, 0x75, 0x30, 0x09, 0x01,
	0x10, 0x0f, 0x08, 0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08, 0x06,
	0x04, 0x80, 0x00, 0xff, 0xff,
};

static const u8 rfc9001_a2_packet_head[] = {
	0xc0, 0x00, 0x00, 0x00, 0x01, 0x08, 0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51,
	0x57, 0x08, 0x00, 0x00, 0x44, 0x9e, 0x7b, 0x9a, 0xec, 0x34, 0xd1, 0xb1,
	0xc9, 0x8d, 0xd7, 0x68, 0x9f, 0xb8, 0xec, 0x11, 0xd2, 0x42, 0xb1, 0x23,
	0xdc, 0x9b, 0xd8, 0xba, 0xb9, 0x36, 0xb4, 0x7d, 0x92, 0xec, 0x35, 0x6c,
	0x0b, 0xab, 0x7d, 0xf5, 0x97, 0x6d, 0x27, 0xcd, 0x44, 0x9f, 0x63, 0x30,
	0x00, 0x99, 0xf3, 0x99,
};

static const u8 rfc9001_a2_packet_tag[] = {
	0xe2, 0x21, 0xaf, 0x44, 0x86, 0x00, 0x18, 0xab, 0x08, 0x56, 0x97, 0x2e,
	0x19, 0x4c, 0xd9, 0x34,
};

/* Short headers with an 8-byte DCID, checked against OpenSSL */
static const u8 quic_test_payload[] = {
	0x03, 0x0a, 0x11, 0x18, 0x1f, 0x26, 0x2d, 0x34, 0x3b, 0x42, 0x49, 0x50,
	0x57, 0x5e, 0x65, 0x6c, 0x73, 0x7a, 0x81, 0x88, 0x8f, 0x96, 0x9d, 0xa4,
	0xab, 0xb2, 0xb9, 0xc0, 0xc7, 0xce, 0xd5, 0xdc, 0xe3, 0xea, 0xf1, 0xf8,
	0xff,
};

static const u8 openssl_aes128gcm_packet[] = {
	0x4a, 0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08, 0x03, 0x0d, 0x51,
	0xa1, 0xc0, 0x96, 0x35, 0x12, 0x1d, 0xd1, 0x2c, 0xcf, 0x16, 0xf4, 0xa8,
	0x7f, 0xc3, 0x7f, 0x41, 0xb9, 0xb5, 0x93, 0x1b, 0x22, 0x17, 0x16, 0x41,
	0x5e, 0x81, 0x09, 0xdc, 0x9d, 0x60, 0xe2, 0x92, 0xf0, 0xc4, 0x69, 0xf8,
	0x40, 0x3f, 0x2e, 0x4f, 0xc6, 0xd9, 0x5f, 0x5c, 0xce, 0x83, 0x9c, 0x7b,
	0x58, 0x20, 0xb1, 0x5c,
};

static const u8 openssl_aes256gcm_packet[] = {
	0x50, 0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08, 0xe4, 0x38, 0xab,
	0x40, 0x68, 0xa0, 0x65, 0x12, 0x29, 0x52, 0x33, 0xbb, 0xa2, 0xd1, 0xb2,
	0x4b, 0xf9, 0xfc, 0x03, 0xb1, 0x75, 0x60, 0x48, 0xf7, 0x9c, 0x80, 0xcb,
	0x16, 0xa8, 0x88, 0x84, 0xe4, 0xcf, 0xc4, 0xb7, 0x00, 0x83, 0x66, 0x62,
	0xfe, 0x14, 0x63, 0xbc, 0x4a, 0xc6, 0xd2, 0xb7, 0x73, 0x89, 0x79, 0xc8,
	0xf5, 0x95, 0xb5, 0x22, 0x63, 0xf7,
};

static const u8 openssl_aes128ccm_packet[] = {
	0x46, 0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08, 0x6d, 0xa2, 0x1e,
	0x97, 0x8f, 0x17, 0xab, 0x1e, 0x7f, 0x97, 0xaa, 0x53, 0x03, 0x38, 0x12,
	0xc4, 0xca, 0xbf, 0x3e, 0x2e, 0x26, 0x15, 0x2a, 0x77, 0xf8, 0x8c, 0xd6,
	0xc5, 0x06, 0xc6, 0xb7, 0x57, 0xc9, 0x2a, 0x2a, 0x17, 0x04, 0x7d, 0x77,
	0xf6, 0xad, 0xb7, 0xef, 0x38, 0xdc, 0x8b, 0x94, 0x92, 0xc6, 0xaf, 0x54,
	0x32, 0xca, 0x65, 0x87, 0x14,
};

static const u8 openssl_chacha20_packet[] = {
	0x50, 0x83, 0x94, 0xc8, 0xf0, 0x3e, 0x51, 0x57, 0x08, 0x6f, 0x60, 0xf4,
	0x41, 0x9e, 0xc7, 0xb6, 0x99, 0x88, 0xe8, 0x5e, 0xee, 0xf0, 0xda, 0x23,
	0x66, 0x32, 0x47, 0xf1, 0x0a, 0x84, 0x57, 0x71, 0x4f, 0xdd, 0x84, 0xf0,
	0xb7, 0xf7, 0xcd, 0x92, 0x7a, 0xdf, 0x4b, 0x15, 0x73, 0x73, 0x4d, 0x90,
	0x22, 0x34, 0xf4, 0xb0, 0x50, 0x15, 0x43, 0xc3, 0x04, 0x82, 0xec, 0xe5,
	0x73, 0x0a, 0xb9,
};

#define RFC9001_A5_KEY \
	"c6d98ff3441c3fe1b2182094f69caa2ed4b716b65488960a7a984979fb23e1c8"
#define RFC9001_A5_IV	"e0459b3474bdd0e44a41c144"
#define RFC9001_A5_HP \
	"25a282b9e82f06f21f488917a4fc8f1b73573685608597d0efcb076b0ab7a7a4"
#define QUIC_TEST_CID	"8394c8f03e515708"
#define QUIC_TEST_KEY128	"000102030405060708090a0b0c0d0e0f"
#define QUIC_TEST_KEY256 \
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define QUIC_TEST_IV		"202122232425262728292a2b"
#define QUIC_TEST_HP128		"404142434445464748494a4b4c4d4e4f"
#define QUIC_TEST_HP256 \
	"404142434445464748494a4b4c4d4e4f505152535455565758595a5b5c5d5e5f"

static const struct quic_pkt_case quic_pkt_cases[] = {
	{
		.name = "rfc9001 a.5 chacha20 short header",
		.cipher = TLS_CIPHER_CHACHA20_POLY1305,
		.key = RFC9001_A5_KEY, .iv = RFC9001_A5_IV,
		.hp = RFC9001_A5_HP, .pn = 654360564, .hdr = "4200bff4",
		QUIC_PAYLOAD(rfc9001_a5_payload),
		QUIC_BYTES(packet, rfc9001_a5_packet),
	}, {
		.name = "quinn-boring chacha20 short header, hello",
		.cipher = TLS_CIPHER_CHACHA20_POLY1305,
		.key = RFC9001_A5_KEY, .iv = RFC9001_A5_IV,
		.hp = RFC9001_A5_HP, .pn = 654360564, .hdr = "4200bff4",
		QUIC_PAYLOAD(quinn_hello_payload),
		QUIC_BYTES(packet, quinn_hello_packet),
	}, {
		.name = "rfc9001 a.3 aes-128-gcm server initial",
		.cipher = TLS_CIPHER_AES_GCM_128,
		.key = "cf3a5331653c364c88f0f379b6067e37",
		.iv = "0ac1493ca1905853b0bba03e",
		.hp = "c206b8d9b9f0f37644430b490eeaa314", .pn = 1,
		.hdr = "c1000000010008f067a5502a4262b50040750001",
		QUIC_PAYLOAD(rfc9001_a3_payload),
		QUIC_BYTES(packet, rfc9001_a3_packet),
	}, {
		.name = "rfc9001 a.2 aes-128-gcm client initial",
		.cipher = TLS_CIPHER_AES_GCM_128,
		.key = "1f369613dd76d5467730efcbe3b1a22d",
		.iv = "fa044b2f42a3fd3b46fb255c",
		.hp = "9f50449e04a0e810283a1e9933adedd2", .pn = 2,
		.hdr = "c300000001088394c8f03e5157080000449e00000002",
		.payload = rfc9001_a2_crypto_frame,
		.given = sizeof(rfc9001_a2_crypto_frame), .payload_len = 1162,
		QUIC_BYTES(packet, rfc9001_a2_packet_head),
		QUIC_BYTES(tail, rfc9001_a2_packet_tag),
	}, {
		.name = "openssl aes-128-gcm short header",
		.cipher = TLS_CIPHER_AES_GCM_128,
		.key = QUIC_TEST_KEY128, .iv = QUIC_TEST_IV,
		.hp = QUIC_TEST_HP128, .pn = 0x21234,
		.hdr = "41" QUIC_TEST_CID "1234",
		QUIC_PAYLOAD(quic_test_payload),
		QUIC_BYTES(packet, openssl_aes128gcm_packet),
	}, {
		.name = "openssl aes-256-gcm short header",
		.cipher = TLS_CIPHER_AES_GCM_256,
		.key = QUIC_TEST_KEY256, .iv = QUIC_TEST_IV,
		.hp = QUIC_TEST_HP256, .pn = 0x89abcdef,
		.hdr = "43" QUIC_TEST_CID "89abcdef",
		QUIC_PAYLOAD(quic_test_payload),
		QUIC_BYTES(packet, openssl_aes256gcm_packet),
	}, {
		.name = "openssl aes-128-ccm short header",
		.cipher = TLS_CIPHER_AES_CCM_128,
		.key = QUIC_TEST_KEY128, .iv = QUIC_TEST_IV,
		.hp = QUIC_TEST_HP128, .pn = 0x30bcdef,
		.hdr = "42" QUIC_TEST_CID "0bcdef",
		QUIC_PAYLOAD(quic_test_payload),
		QUIC_BYTES(packet, openssl_aes128ccm_packet),
	}, {
		.name = "openssl chacha20 short header, key phase 1",
		.cipher = TLS_CIPHER_CHACHA20_POLY1305,
		.key = QUIC_TEST_KEY256, .iv = QUIC_TEST_IV,
		.hp = QUIC_TEST_HP256, .pn = 0x17f,
		.hdr = "44" QUIC_TEST_CID "7f",
		QUIC_PAYLOAD(quic_test_payload),
		QUIC_BYTES(packet, openssl_chacha20_packet),
	},
};

static void quic_pkt_case_desc(const struct quic_pkt_case *c, char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(quic_pkt, quic_pkt_cases, quic_pkt_case_desc);

struct quic_test_pkt {
	u8 *buf;		/* header, payload, room for the tag */
	u8 *hdr;		/* copy of the unprotected header */
	size_t hdr_len;
	size_t payload_len;
	size_t len;		/* protected length */
};

static void quic_test_pkt_build(struct kunit *test,
				const struct quic_pkt_case *c,
				struct quic_test_pkt *p)
{
	p->hdr = quic_test_unhex(test, c->hdr, &p->hdr_len);
	p->payload_len = c->payload_len;
	p->len = p->hdr_len + p->payload_len + QUIC_TAG_SIZE;
	p->buf = kunit_kzalloc(test, p->len, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, p->buf);
	memcpy(p->buf, p->hdr, p->hdr_len);
	memcpy(p->buf + p->hdr_len, c->payload, c->given);
}

static void quic_test_pkt_check(struct kunit *test,
				const struct quic_pkt_case *c,
				const struct quic_test_pkt *p)
{
	if (c->tail)
		KUNIT_EXPECT_MEMEQ(test, p->buf + p->len - c->tail_len,
				   c->tail, c->tail_len);
	else
		KUNIT_EXPECT_EQ(test, c->packet_len, p->len);
	KUNIT_EXPECT_MEMEQ(test, p->buf, c->packet,
			   min_t(size_t, c->packet_len, p->len));
	/* The caller's header copy is protected as well. */
	KUNIT_EXPECT_MEMEQ(test, p->hdr, c->packet, p->hdr_len);
}

static struct quic_crypto_req *quic_test_req(struct kunit *test,
					     const struct quic_crypto_keys *keys)
{
	struct quic_crypto_req *req;
	void *mem;

	req = kunit_kzalloc(test, sizeof(*req), GFP_KERNEL);
	mem = kunit_kzalloc(test, quic_crypto_req_size(keys), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, req);
	KUNIT_ASSERT_NOT_NULL(test, mem);
	quic_crypto_req_init(req, mem);
	return req;
}

/* Protect one packet as the send path does, waiting for the AEAD. */
static int quic_test_protect(const struct quic_crypto_keys *keys,
			     struct quic_crypto_req *req,
			     struct scatterlist *sg, struct quic_test_pkt *p,
			     u64 pn)
{
	struct quic_crypto_batch batch;
	int err, done;

	unsigned int pn_len = quic_pn_len(p->hdr[0]);
	unsigned int pn_off = p->hdr_len - pn_len;
	u8 bytes[QUIC_HP_MASK_SIZE] = { p->hdr[0] };
	u8 *block;

	quic_crypto_batch_init(&batch);
	err = quic_packet_seal(keys, req, sg, p->hdr, p->hdr_len,
			       p->payload_len, pn, &batch);
	done = quic_crypto_batch_wait(&batch);
	if (err == -EINPROGRESS)
		err = done;
	if (err)
		return err;

	block = kmalloc(QUIC_HP_SAMPLE_SIZE, GFP_KERNEL);
	if (!block)
		return -ENOMEM;
	scatterwalk_map_and_copy(block, sg, pn_off + QUIC_PN_MAX_LEN,
				 QUIC_HP_SAMPLE_SIZE, 0);
	err = quic_hp_masks(keys, block, 1);
	if (!err) {
		memcpy(bytes + 1, p->hdr + pn_off, pn_len);
		quic_hp_apply(bytes, block);
		p->hdr[0] = bytes[0];
		memcpy(p->hdr + pn_off, bytes + 1, pn_len);
		scatterwalk_map_and_copy(p->hdr, sg, 0, p->hdr_len, 1);
	}
	kfree(block);
	return err;
}

static void quic_packet_protect_test(struct kunit *test)
{
	const struct quic_pkt_case *c = test->param_value;
	struct quic_crypto_keys *keys;
	struct quic_crypto_req *req;
	struct quic_test_pkt p;
	struct scatterlist sg;

	keys = quic_test_keys(test, c->cipher, c->key, c->iv, c->hp);
	req = quic_test_req(test, keys);
	quic_test_pkt_build(test, c, &p);

	sg_init_one(&sg, p.buf, p.len);
	KUNIT_ASSERT_EQ(test, quic_test_protect(keys, req, &sg, &p, c->pn), 0);
	quic_test_pkt_check(test, c, &p);
	quic_crypto_keys_destroy(keys);
}

/*
 * Packets may straddle page fragments on the send path: cut the packet
 * inside the header, inside the header protection sample and inside the
 * tag, and expect the same bytes.
 */
static void quic_packet_protect_sg_test(struct kunit *test)
{
	const struct quic_pkt_case *c = test->param_value;
	struct quic_crypto_keys *keys;
	struct quic_crypto_req *req;
	struct scatterlist sg[4];
	struct quic_test_pkt p;
	size_t cut[3];

	keys = quic_test_keys(test, c->cipher, c->key, c->iv, c->hp);
	req = quic_test_req(test, keys);
	quic_test_pkt_build(test, c, &p);

	cut[0] = 1;
	cut[1] = p.hdr_len - quic_pn_len(p.hdr[0]) + QUIC_PN_MAX_LEN + 5;
	cut[2] = p.len - 3;
	sg_init_table(sg, ARRAY_SIZE(sg));
	sg_set_buf(&sg[0], p.buf, cut[0]);
	sg_set_buf(&sg[1], p.buf + cut[0], cut[1] - cut[0]);
	sg_set_buf(&sg[2], p.buf + cut[1], cut[2] - cut[1]);
	sg_set_buf(&sg[3], p.buf + cut[2], p.len - cut[2]);

	KUNIT_ASSERT_EQ(test, quic_test_protect(keys, req, sg, &p, c->pn), 0);
	quic_test_pkt_check(test, c, &p);
	quic_crypto_keys_destroy(keys);
}

static void quic_cipher_find_test(struct kunit *test)
{
	KUNIT_EXPECT_NOT_NULL(test, quic_cipher_find(TLS_CIPHER_AES_GCM_128));
	KUNIT_EXPECT_NOT_NULL(test, quic_cipher_find(TLS_CIPHER_AES_GCM_256));
	KUNIT_EXPECT_NOT_NULL(test, quic_cipher_find(TLS_CIPHER_AES_CCM_128));
	KUNIT_EXPECT_NOT_NULL(test,
			      quic_cipher_find(TLS_CIPHER_CHACHA20_POLY1305));
	KUNIT_EXPECT_NULL(test, quic_cipher_find(0));
	KUNIT_EXPECT_NULL(test, quic_cipher_find(TLS_CIPHER_AES_CCM_128 + 10));
}

/*
 * Destroying a key set leaves none of its key material behind: the set is
 * wiped in place, and its keys are freed with kfree_sensitive() and
 * crypto_free_aead() or crypto_free_lskcipher(), which wipe the
 * transforms' key schedules.
 */
static void quic_keys_destroy_wipes_test(struct kunit *test)
{
	static const u16 ciphers[] = {
		TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_256,
		TLS_CIPHER_AES_CCM_128, TLS_CIPHER_CHACHA20_POLY1305,
	};
	struct quic_crypto_keys *keys;
	u8 key[32], iv[QUIC_IV_SIZE], hp[32];
	unsigned int i;

	memset(key, 0xa5, sizeof(key));
	memset(iv, 0x5a, sizeof(iv));
	memset(hp, 0xc3, sizeof(hp));
	keys = kunit_kzalloc(test, sizeof(*keys), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, keys);
	for (i = 0; i < ARRAY_SIZE(ciphers); i++) {
		KUNIT_ASSERT_EQ(test,
				quic_crypto_keys_init(keys,
						      quic_cipher_find(ciphers[i]),
						      key, iv, hp), 0);
		KUNIT_EXPECT_NOT_NULL(test, keys->hp);
		quic_crypto_keys_destroy(keys);
		KUNIT_EXPECT_NULL_MSG(test, memchr_inv(keys, 0, sizeof(*keys)),
				      "cipher %u", ciphers[i]);
	}
}

static struct kunit_case quic_crypto_test_cases[] = {
	KUNIT_CASE_PARAM(quic_pn_decode_test, quic_pn_gen_params),
	KUNIT_CASE_PARAM(quic_nonce_test, quic_nonce_gen_params),
	KUNIT_CASE(quic_aead_iv_test),
	KUNIT_CASE(quic_cipher_find_test),
	KUNIT_CASE_PARAM(quic_hp_mask_test, quic_hp_gen_params),
	KUNIT_CASE(quic_hp_masks_batch_test),
	KUNIT_CASE_PARAM(quic_packet_protect_test, quic_pkt_gen_params),
	KUNIT_CASE_PARAM(quic_packet_protect_sg_test, quic_pkt_gen_params),
	KUNIT_CASE(quic_keys_destroy_wipes_test),
	{}
};

static struct kunit_suite quic_crypto_test_suite = {
	.name = "quic_crypto",
	.test_cases = quic_crypto_test_cases,
};

/* ---- Connection table ---- */

static void quic_test_conn_info(struct quic_connection_info *info,
				u16 cipher, u8 cid_len, u8 seed)
{
	unsigned int i;

	memset(info, 0, sizeof(*info));
	info->cipher_type = cipher;
	info->key.conn_id_length = cid_len;
	for (i = 0; i < cid_len; i++)
		info->key.conn_id[QUIC_MAX_CONNECTION_ID_SIZE - cid_len + i] =
			seed + i;
	memset(info->payload_key, seed, sizeof(info->payload_key));
	memset(info->payload_iv, seed, sizeof(info->payload_iv));
	memset(info->header_key, seed, sizeof(info->header_key));
}

static void quic_cid_from_user_test(struct kunit *test)
{
	static const u8 want[] = { 1, 2, 3, 4, 5 };
	static const u8 zero[QUIC_MAX_CONNECTION_ID_SIZE];
	struct quic_connection_info_key key;
	struct quic_cid cid;

	/* The seed's example: 5 bytes at the end of conn_id[] */
	memset(&key, 0xee, sizeof(key));
	memcpy(key.conn_id + QUIC_MAX_CONNECTION_ID_SIZE - sizeof(want), want,
	       sizeof(want));
	key.conn_id_length = sizeof(want);
	KUNIT_ASSERT_EQ(test, quic_cid_from_user(&cid, &key), 0);
	KUNIT_EXPECT_EQ(test, cid.len, sizeof(want));
	KUNIT_EXPECT_MEMEQ(test, cid.id, want, sizeof(want));
	KUNIT_EXPECT_MEMEQ(test, cid.id + sizeof(want), zero,
			   sizeof(zero) - sizeof(want));

	key.conn_id_length = 0;
	KUNIT_ASSERT_EQ(test, quic_cid_from_user(&cid, &key), 0);
	KUNIT_EXPECT_EQ(test, cid.len, 0);
	KUNIT_EXPECT_MEMEQ(test, cid.id, zero, sizeof(zero));

	key.conn_id_length = QUIC_MAX_CONNECTION_ID_SIZE;
	KUNIT_EXPECT_EQ(test, quic_cid_from_user(&cid, &key), 0);
	key.conn_id_length = QUIC_MAX_CONNECTION_ID_SIZE + 1;
	KUNIT_EXPECT_EQ(test, quic_cid_from_user(&cid, &key), -EINVAL);
}

static int quic_conn_test_init(struct kunit *test)
{
	struct quic_conn_table *table;

	table = kunit_kzalloc(test, sizeof(*table), GFP_KERNEL);
	if (!table)
		return -ENOMEM;
	test->priv = table;
	return quic_conn_table_init(table, NULL);
}

static void quic_conn_test_exit(struct kunit *test)
{
	quic_conn_table_destroy(test->priv);
	/* Let the deferred frees run before the next case. */
	rcu_barrier();
}

/* What UDP_QUIC_ADD_TX_CONNECTION does, without the socket. */
static int quic_test_add(struct quic_conn_table *table,
			 const struct quic_connection_info *info)
{
	struct quic_conn *conn = quic_conn_create(info);
	int err;

	if (IS_ERR(conn))
		return PTR_ERR(conn);
	err = quic_conn_insert(table, conn);
	if (err)
		quic_conn_destroy(conn);
	return err;
}

/* Add a connection of @cipher and take it as a sender would. */
static struct quic_conn *quic_test_add_get(struct kunit *test, u16 cipher,
					   u8 cid_len, u8 fill,
					   struct quic_connection_info *info,
					   struct quic_cid *cid)
{
	struct quic_conn_table *table = test->priv;
	struct quic_conn *conn;

	quic_test_conn_info(info, cipher, cid_len, fill);
	KUNIT_ASSERT_EQ(test, quic_cid_from_user(cid, &info->key), 0);
	KUNIT_ASSERT_EQ(test, quic_test_add(table, info), 0);
	conn = quic_conn_get(table, cid);
	KUNIT_ASSERT_NOT_NULL(test, conn);
	return conn;
}

static void quic_conn_add_del_test(struct kunit *test)
{
	struct quic_conn_table *table = test->priv;
	struct quic_connection_info info;

	quic_test_conn_info(&info, TLS_CIPHER_AES_GCM_128, 8, 0x10);
	KUNIT_EXPECT_EQ(test, quic_test_add(table, &info), 0);
	KUNIT_EXPECT_EQ(test, quic_test_add(table, &info), -EEXIST);

	/* Other keys do not make the same ID another connection. */
	quic_test_conn_info(&info, TLS_CIPHER_CHACHA20_POLY1305, 8, 0x10);
	KUNIT_EXPECT_EQ(test, quic_test_add(table, &info), -EEXIST);

	/* Same leading bytes, other length: another connection. */
	quic_test_conn_info(&info, TLS_CIPHER_AES_GCM_128, 7, 0x10);
	KUNIT_EXPECT_EQ(test, quic_test_add(table, &info), 0);
	quic_test_conn_info(&info, TLS_CIPHER_AES_GCM_128, 0, 0x10);
	KUNIT_EXPECT_EQ(test, quic_test_add(table, &info), 0);

	quic_test_conn_info(&info, TLS_CIPHER_AES_GCM_128, 7, 0x10);
	KUNIT_EXPECT_EQ(test, quic_conn_del(table, &info.key), 0);
	KUNIT_EXPECT_EQ(test, quic_conn_del(table, &info.key), -ENOENT);
	info.key.conn_id_length = QUIC_MAX_CONNECTION_ID_SIZE + 1;
	KUNIT_EXPECT_EQ(test, quic_conn_del(table, &info.key), -EINVAL);

	/* Two left for quic_conn_table_destroy() to free. */
	KUNIT_EXPECT_EQ(test, quic_conn_table_destroy(table), 2);
	KUNIT_EXPECT_EQ(test, quic_conn_table_init(table, NULL), 0);
}

static void quic_conn_add_invalid_test(struct kunit *test)
{
	struct quic_conn_table *table = test->priv;
	struct quic_connection_info info;

	quic_test_conn_info(&info, 0, 8, 0x20);
	KUNIT_EXPECT_EQ(test, quic_test_add(table, &info), -EINVAL);

	quic_test_conn_info(&info, TLS_CIPHER_AES_GCM_128, 8, 0x20);
	info.key.conn_id_length = QUIC_MAX_CONNECTION_ID_SIZE + 1;
	KUNIT_EXPECT_EQ(test, quic_test_add(table, &info), -EINVAL);

	quic_test_conn_info(&info, TLS_CIPHER_AES_GCM_128,
			    QUIC_MAX_CONNECTION_ID_SIZE, 0x20);
	KUNIT_EXPECT_EQ(test, quic_test_add(table, &info), 0);
	KUNIT_EXPECT_EQ(test, quic_conn_table_destroy(table), 1);
	KUNIT_EXPECT_EQ(test, quic_conn_table_init(table, NULL), 0);
}

struct quic_test_del {
	struct quic_conn_table *table;
	struct quic_connection_info_key key;
	struct completion done;
	int err;
};

static int quic_test_del_fn(void *arg)
{
	struct quic_test_del *del = arg;

	del->err = quic_conn_del(del->table, &del->key);
	complete(&del->done);
	return 0;
}

static struct task_struct *
quic_test_del_start(struct kunit *test, struct quic_test_del *del)
{
	struct task_struct *task;

	init_completion(&del->done);
	task = kthread_run(quic_test_del_fn, del, "quic_kunit_del");
	if (IS_ERR(task))
		KUNIT_FAIL(test, "kthread_run: %ld", PTR_ERR(task));
	return task;
}

/*
 * Wait, at most ten seconds, for a DEL started in another thread to unlink
 * @cid: thread creation may be slow on a loaded machine.
 */
static void quic_test_wait_unlinked(struct kunit *test,
				    struct quic_conn_table *table,
				    const struct quic_cid *cid)
{
	unsigned long end = jiffies + 10 * HZ;

	while (quic_conn_exists(table, cid) && time_before(jiffies, end))
		msleep(20);
	KUNIT_EXPECT_FALSE(test, quic_conn_exists(table, cid));
}

/*
 * The DEL returns once the sender is idle: a DEL still waiting after 30
 * seconds fails the case, and is then waited for, since it uses @del.
 */
static void quic_test_del_wait(struct kunit *test, struct quic_test_del *del)
{
	if (!wait_for_completion_timeout(&del->done, 30 * HZ)) {
		KUNIT_FAIL(test, "DEL still waiting 30 s after the sender");
		wait_for_completion(&del->done);
	}
}

/* No lookup finds the entry; one that does must not leak it. */
static void quic_test_expect_gone(struct kunit *test,
				  struct quic_conn_table *table,
				  const struct quic_cid *cid)
{
	struct quic_conn *conn = quic_conn_get(table, cid);

	KUNIT_EXPECT_NULL(test, conn);
	if (conn) {
		quic_conn_idle(conn);
		quic_conn_put(conn);
	}
}

/*
 * Start a DEL of @cid while the caller holds @conn and @keys as a sender:
 * the entry goes, no lookup finds it, and the DEL waits.  Return: false
 * if no DEL could be started; the caller's references are then dropped.
 */
static bool quic_test_del_held(struct kunit *test, struct quic_test_del *del,
			       const struct quic_cid *cid,
			       struct quic_conn *conn,
			       struct quic_conn_keys *keys)
{
	if (IS_ERR(quic_test_del_start(test, del))) {
		quic_conn_keys_put(keys);
		quic_conn_idle(conn);
		return false;
	}
	quic_test_wait_unlinked(test, del->table, cid);
	KUNIT_EXPECT_EQ(test, wait_for_completion_timeout(&del->done, HZ / 5),
			0);
	quic_test_expect_gone(test, del->table, cid);
	return true;
}

/* The sender is done with @keys and goes idle: the DEL then returns 0. */
static void quic_test_del_release(struct kunit *test, struct quic_test_del *del,
				  struct quic_conn *conn,
				  struct quic_conn_keys *keys)
{
	quic_conn_keys_put(keys);
	quic_conn_idle(conn);
	quic_test_del_wait(test, del);
	KUNIT_EXPECT_EQ(test, del->err, 0);
}

/*
 * A sender holding a connection keeps it usable, and DEL returns only once
 * that sender is idle, so no packet uses the keys after DEL.  The sender
 * still holds the memory, e.g. to give packet numbers back.
 */
static void quic_conn_get_after_del_test(struct kunit *test)
{
	struct quic_conn_table *table = test->priv;
	struct quic_test_del del = { .table = table };
	struct quic_connection_info info;
	struct quic_conn_keys *keys;
	struct quic_conn *conn;
	struct quic_cid cid;

	conn = quic_test_add_get(test, TLS_CIPHER_AES_CCM_128, 4, 0x30, &info,
				 &cid);
	KUNIT_EXPECT_MEMEQ(test, &conn->dcid, &cid, sizeof(cid));
	keys = quic_conn_keys_get(conn);

	del.key = info.key;
	if (quic_test_del_held(test, &del, &cid, conn, keys)) {
		KUNIT_EXPECT_PTR_EQ(test, keys->tx.cipher,
				    quic_cipher_find(TLS_CIPHER_AES_CCM_128));
		KUNIT_EXPECT_NOT_NULL(test, keys->tx.aead[0]->tfm);
		quic_test_del_release(test, &del, conn, keys);
		KUNIT_EXPECT_MEMEQ(test, &conn->dcid, &cid, sizeof(cid));
	}
	quic_conn_put(conn);
}

static int quic_test_key_phase(struct quic_conn_table *table,
			       const struct quic_connection_info *ci,
			       u8 op, u8 phase, u8 fill)
{
	struct quic_tx_key_phase_info info = {
		.key	= ci->key,
		.op	= op,
		.phase	= phase,
	};

	memset(info.payload_key, fill, sizeof(info.payload_key));
	memset(info.payload_iv, fill, sizeof(info.payload_iv));
	return quic_conn_set_key_phase(table, &info);
}

/*
 * A DEL after a key update also waits for a sender that still protects
 * packets with the keys from before the update: the promise covers every
 * generation of the connection's keys.
 */
static void quic_conn_del_after_key_update_test(struct kunit *test)
{
	struct quic_conn_table *table = test->priv;
	struct quic_test_del del = { .table = table };
	struct quic_connection_info info;
	struct quic_conn_keys *old;
	struct quic_conn *conn;
	struct quic_cid cid;

	conn = quic_test_add_get(test, TLS_CIPHER_AES_GCM_128, 8, 0x50, &info,
				 &cid);
	old = quic_conn_keys_get(conn);

	KUNIT_EXPECT_EQ(test, quic_test_key_phase(table, &info,
						  QUIC_KEY_PHASE_INSTALL, 1, 1),
			0);
	KUNIT_EXPECT_PTR_NE(test, rcu_access_pointer(conn->keys), old);
	/* The update did not replace the connection. */
	KUNIT_EXPECT_PTR_EQ(test, quic_conn_get(table, &cid), conn);
	quic_conn_idle(conn);
	quic_conn_put(conn);

	del.key = info.key;
	if (quic_test_del_held(test, &del, &cid, conn, old))
		quic_test_del_release(test, &del, conn, old);
	quic_conn_put(conn);
}

/* The size of a connection's AEAD request, as its keys are now. */
static unsigned int quic_test_req_size(struct quic_conn *conn)
{
	struct quic_conn_keys *keys = quic_conn_keys_get(conn);
	unsigned int size = quic_crypto_req_size(&keys->tx);

	quic_conn_keys_put(keys);
	return size;
}

/*
 * The send path sizes its request by the table, before any lookup: the
 * largest any connection needed, kept after a DEL, and grown by a key
 * update that needs more.
 */
static void quic_conn_req_size_test(struct kunit *test)
{
	struct quic_conn_table *table = test->priv;
	struct quic_connection_info aes, chacha;
	struct quic_conn *a, *c;
	struct quic_cid acid, ccid;
	unsigned int max;

	KUNIT_EXPECT_EQ(test, quic_conn_table_req_size(table), 0);
	a = quic_test_add_get(test, TLS_CIPHER_AES_GCM_128, 8, 0x60, &aes,
			      &acid);
	KUNIT_EXPECT_EQ(test, quic_conn_table_req_size(table),
			quic_test_req_size(a));
	c = quic_test_add_get(test, TLS_CIPHER_CHACHA20_POLY1305, 8, 0x61,
			      &chacha, &ccid);
	max = max(quic_test_req_size(a), quic_test_req_size(c));
	KUNIT_EXPECT_EQ(test, quic_conn_table_req_size(table), max);

	KUNIT_EXPECT_EQ(test, quic_test_key_phase(table, &aes,
						  QUIC_KEY_PHASE_INSTALL, 1, 1),
			0);
	KUNIT_EXPECT_GE(test, quic_conn_table_req_size(table),
			quic_test_req_size(a));
	max = quic_conn_table_req_size(table);
	quic_conn_idle(a);
	quic_conn_put(a);
	quic_conn_idle(c);
	quic_conn_put(c);
	KUNIT_EXPECT_EQ(test, quic_conn_del(table, &aes.key), 0);
	KUNIT_EXPECT_EQ(test, quic_conn_del(table, &chacha.key), 0);
	KUNIT_EXPECT_EQ(test, quic_conn_table_req_size(table), max);
}

/*
 * The table counts what the connections' own allocations did not charge,
 * a key update included, and gives all of it back on DEL and destroy.
 */
static void quic_conn_charge_test(struct kunit *test)
{
	struct quic_conn_table *table = test->priv;
	struct quic_connection_info info, other;
	size_t one, two;

	quic_test_conn_info(&info, TLS_CIPHER_AES_GCM_128, 8, 0x70);
	KUNIT_ASSERT_EQ(test, quic_test_add(table, &info), 0);
	one = table->charged;
	/* A bucket share and a transform at least as big as its key */
	KUNIT_EXPECT_GT(test, one, sizeof(void *) + 16);
	KUNIT_EXPECT_EQ(test, table->charged_pages,
			DIV_ROUND_UP(one, PAGE_SIZE));

	quic_test_conn_info(&other, TLS_CIPHER_AES_GCM_128, 8, 0x71);
	KUNIT_ASSERT_EQ(test, quic_test_add(table, &other), 0);
	KUNIT_EXPECT_EQ(test, table->charged, 2 * one);
	/* A refused duplicate gives its charge back. */
	KUNIT_EXPECT_EQ(test, quic_test_add(table, &other), -EEXIST);
	KUNIT_EXPECT_EQ(test, table->charged, 2 * one);

	/* The next phase's key adds a transform, retiring one removes it. */
	KUNIT_ASSERT_EQ(test, quic_test_key_phase(table, &info,
						  QUIC_KEY_PHASE_INSTALL, 1, 1),
			0);
	two = table->charged;
	KUNIT_EXPECT_GT(test, two, 2 * one);
	KUNIT_ASSERT_EQ(test, quic_test_key_phase(table, &info,
						  QUIC_KEY_PHASE_RETIRE, 0, 0),
			0);
	KUNIT_EXPECT_EQ(test, table->charged, 2 * one);
	KUNIT_ASSERT_EQ(test, quic_test_key_phase(table, &info,
						  QUIC_KEY_PHASE_INSTALL, 0, 2),
			0);
	KUNIT_EXPECT_EQ(test, table->charged, two);

	KUNIT_EXPECT_EQ(test, quic_conn_del(table, &other.key), 0);
	KUNIT_EXPECT_EQ(test, table->charged, two - one);
	KUNIT_EXPECT_EQ(test, quic_conn_table_destroy(table), 1);
	KUNIT_EXPECT_EQ(test, table->charged, 0);
	KUNIT_EXPECT_EQ(test, table->charged_pages, 0);
	KUNIT_EXPECT_EQ(test, quic_conn_table_init(table, NULL), 0);
}

/*
 * Packet numbers only grow, and of two calls that protected the same
 * numbers only one sends them; numbers of a call UDP refused come back.
 */
static void quic_conn_pn_claim_test(struct kunit *test)
{
	struct quic_conn_table *table = test->priv;
	struct quic_connection_info info;
	struct quic_conn *conn;
	struct quic_cid cid;
	u64 prev, prev2;

	conn = quic_test_add_get(test, TLS_CIPHER_CHACHA20_POLY1305, 3, 0x60,
				 &info, &cid);

	KUNIT_EXPECT_EQ(test, quic_conn_pn_claim(conn, 0, 0, &prev), 0);
	KUNIT_EXPECT_EQ(test, prev, 0);
	KUNIT_EXPECT_EQ(test, quic_conn_pn_claim(conn, 0, 0, &prev), -ERANGE);
	KUNIT_EXPECT_EQ(test, quic_conn_pn_claim(conn, 5, 7, &prev), 0);
	KUNIT_EXPECT_EQ(test, prev, 1);
	KUNIT_EXPECT_EQ(test, quic_conn_pn_claim(conn, 7, 9, &prev), -ERANGE);
	KUNIT_EXPECT_EQ(test, quic_conn_pn_claim(conn, 6, 6, &prev), -ERANGE);

	/* Given back: the same numbers can be sent by a retry. */
	KUNIT_EXPECT_EQ(test, quic_conn_pn_claim(conn, 8, 8, &prev), 0);
	quic_conn_pn_unclaim(conn, 8, prev);
	KUNIT_EXPECT_EQ(test, quic_conn_pn_claim(conn, 8, 10, &prev), 0);

	/* Not after a later claim: those may be on the wire. */
	KUNIT_EXPECT_EQ(test, quic_conn_pn_claim(conn, 11, 11, &prev2), 0);
	quic_conn_pn_unclaim(conn, 10, prev);
	KUNIT_EXPECT_EQ(test, quic_conn_pn_claim(conn, 11, 11, &prev), -ERANGE);
	KUNIT_EXPECT_EQ(test, quic_conn_pn_claim(conn, QUIC_PN_MAX,
						 QUIC_PN_MAX, &prev), 0);
	KUNIT_EXPECT_EQ(test, quic_conn_pn_claim(conn, QUIC_PN_MAX,
						 QUIC_PN_MAX, &prev), -ERANGE);

	/* The numbers stay with the connection across a key update. */
	KUNIT_EXPECT_EQ(test, quic_test_key_phase(table, &info,
						  QUIC_KEY_PHASE_INSTALL, 1, 1),
			0);
	KUNIT_EXPECT_PTR_EQ(test, quic_conn_get(table, &cid), conn);
	quic_conn_idle(conn);
	quic_conn_put(conn);
	KUNIT_EXPECT_EQ(test, quic_conn_pn_claim(conn, 12, 12, &prev), -ERANGE);
	quic_conn_idle(conn);
	quic_conn_put(conn);
}

/*
 * A key update builds a new generation of keys that shares the kept
 * payload key and the header protection key; holders of the old
 * generation keep theirs, and the connection itself stays the same.
 */
static void quic_conn_key_phase_test(struct kunit *test)
{
	struct quic_conn_table *table = test->priv;
	struct quic_conn_keys *k0, *k1, *k2;
	struct quic_connection_info info;
	struct quic_conn *conn;
	struct quic_cid cid;

	conn = quic_test_add_get(test, TLS_CIPHER_AES_GCM_128, 8, 0x40, &info,
				 &cid);
	k0 = quic_conn_keys_get(conn);
	KUNIT_EXPECT_FALSE(test, k0->tx.phased);

	/* Retire needs a key update; bad arguments change nothing. */
	KUNIT_EXPECT_EQ(test, quic_test_key_phase(table, &info,
						  QUIC_KEY_PHASE_RETIRE, 0, 0),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, quic_test_key_phase(table, &info, 0, 1, 1),
			-EINVAL);
	KUNIT_EXPECT_EQ(test, quic_test_key_phase(table, &info,
						  QUIC_KEY_PHASE_INSTALL, 2, 1),
			-EINVAL);
	KUNIT_EXPECT_PTR_EQ(test, rcu_access_pointer(conn->keys), k0);

	KUNIT_ASSERT_EQ(test, quic_test_key_phase(table, &info,
						  QUIC_KEY_PHASE_INSTALL, 1, 1),
			0);
	KUNIT_EXPECT_PTR_EQ(test, quic_conn_get(table, &cid), conn);
	quic_conn_idle(conn);
	quic_conn_put(conn);
	k1 = quic_conn_keys_get(conn);
	KUNIT_EXPECT_PTR_NE(test, k1, k0);
	KUNIT_EXPECT_TRUE(test, k1->tx.phased);
	KUNIT_EXPECT_PTR_EQ(test, k1->tx.aead[0], k0->tx.aead[0]);
	KUNIT_EXPECT_NOT_NULL(test, k1->tx.aead[1]);
	KUNIT_EXPECT_NULL(test, k0->tx.aead[1]);
	KUNIT_EXPECT_EQ(test, refcount_read(&k1->tx.aead[0]->refcnt), 2);
	KUNIT_EXPECT_PTR_EQ(test, k1->tx.hp, k0->tx.hp);
	KUNIT_EXPECT_EQ(test, refcount_read(&k1->tx.hp->refcnt), 2);
	KUNIT_EXPECT_EQ(test, quic_test_key_phase(table, &info,
						  QUIC_KEY_PHASE_INSTALL, 1, 2),
			-EEXIST);

	KUNIT_ASSERT_EQ(test, quic_test_key_phase(table, &info,
						  QUIC_KEY_PHASE_RETIRE, 0, 0),
			0);
	k2 = quic_conn_keys_get(conn);
	KUNIT_EXPECT_NULL(test, k2->tx.aead[0]);
	KUNIT_EXPECT_PTR_EQ(test, k2->tx.aead[1], k1->tx.aead[1]);
	KUNIT_EXPECT_EQ(test, quic_test_key_phase(table, &info,
						  QUIC_KEY_PHASE_RETIRE, 0, 0),
			-ENOENT);

	/* The first holder still has its key, now its only user. */
	quic_conn_keys_put(k1);
	rcu_barrier();
	KUNIT_EXPECT_EQ(test, refcount_read(&k0->tx.aead[0]->refcnt), 1);
	quic_conn_keys_put(k0);
	quic_conn_keys_put(k2);
	quic_conn_idle(conn);
	quic_conn_put(conn);

	info.key.conn_id[QUIC_MAX_CONNECTION_ID_SIZE - 1] ^= 1;
	KUNIT_EXPECT_EQ(test, quic_test_key_phase(table, &info,
						  QUIC_KEY_PHASE_INSTALL, 0, 3),
			-ENOENT);
}

static struct kunit_case quic_conn_test_cases[] = {
	KUNIT_CASE(quic_cid_from_user_test),
	KUNIT_CASE(quic_conn_add_del_test),
	KUNIT_CASE(quic_conn_add_invalid_test),
	KUNIT_CASE(quic_conn_get_after_del_test),
	KUNIT_CASE(quic_conn_del_after_key_update_test),
	KUNIT_CASE(quic_conn_charge_test),
	KUNIT_CASE(quic_conn_req_size_test),
	KUNIT_CASE(quic_conn_pn_claim_test),
	KUNIT_CASE(quic_conn_key_phase_test),
	{}
};

static struct kunit_suite quic_conn_test_suite = {
	.name = "quic_conn",
	.init = quic_conn_test_init,
	.exit = quic_conn_test_exit,
	.test_cases = quic_conn_test_cases,
};

/*
 * The plaintext guard.  "e0 00000001 08 0001020304050607 00 4005 ..." is
 * a version 1 Handshake with an 8-byte DCID, no SCID and a Length of 5.
 */
struct quic_guard_vec {
	const char *name;
	const char *hex;
	u16 seg_size;
	int err;
};

static const struct quic_guard_vec quic_guard_vecs[] = {
	{ "short header", "40000102030405060700", 0, -EINVAL },
	{ "greased short header", "00000102030405060700", 0, -EINVAL },
	{ "handshake", "e0000000010800010203040506070040050102030405", 0, 0 },
	{ "handshake, then short", "e0000000010800010203040506070002010243", 0, -EINVAL },
	{ "handshake, then handshake", "e000000001000001ffe000000001000000", 0, 0 },
	{ "initial with token, then short", "c00000000100004003aabbcc0201027f", 0, -EINVAL },
	{ "0-RTT, 8-byte length, then short", "d0000000010000c000000000000001ff40", 0, -EINVAL },
	{ "length past the end", "e00000000100004fff0102", 0, 0 },
	{ "retry, whatever follows", "f0000000010000404040", 0, 0 },
	{ "version negotiation", "80000000000000404040", 0, 0 },
	{ "unknown version", "c0ff00001d000000404040", 0, 0 },
	{ "dcid of 21 bytes", "e000000001150000404040", 0, 0 },
	{ "v2 initial has type 1", "d06b3343cf00000001ff40", 0, -EINVAL },
	{ "v2 retry has type 0", "c06b3343cf0000404040", 0, 0 },
	{ "zero padding after a handshake", "e000000001000001ff000000", 0, 0 },
	{ "zero padding, then a byte", "e000000001000001ff000001", 0, -EINVAL },
	{ "a datagram of zeros", "0000000000", 0, 0 },
	{ "gso: zeros to a segment's end", "e000000001000001ff0000e0", 11, 0 },
	{ "gso: zeros, then a short segment", "e000000001000001ff000040", 11,
	  -EINVAL },
	{ "gso: long segments", "e000000001c000000001e0", 5, 0 },
	{ "gso: a short segment after a cut header", "e000000001000040", 7, -EINVAL },
	{ "gso: a length past its segment", "e00000000100004fff40", 9, -EINVAL },
	{ "gso: a packet ends at a boundary", "e000000001000001ffe000000001", 9, 0 },
	{ "gso: coalesced short in segment 2",
	  "e000000001000002aabbe00000000100000041", 10, -EINVAL },
};

static void quic_guard_vec_desc(const struct quic_guard_vec *v, char *desc)
{
	strscpy(desc, v->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(quic_guard, quic_guard_vecs, quic_guard_vec_desc);

/* The verdict must not depend on how the bytes are split over calls. */
static void quic_guard_test(struct kunit *test)
{
	const struct quic_guard_vec *v = test->param_value;
	struct quic_guard g;
	size_t len, i, cut;
	int err;
	u8 *buf;

	buf = quic_test_unhex(test, v->hex, &len);

	quic_guard_start(&g, v->seg_size);
	KUNIT_EXPECT_EQ_MSG(test, quic_guard_scan(&g, buf, len), v->err,
			    "whole");

	quic_guard_start(&g, v->seg_size);
	for (i = 0, err = 0; i < len && !err; i++)
		err = quic_guard_scan(&g, buf + i, 1);
	KUNIT_EXPECT_EQ_MSG(test, err, v->err, "byte by byte");

	for (cut = 1; cut < len; cut++) {
		quic_guard_start(&g, v->seg_size);
		err = quic_guard_scan(&g, buf, cut);
		if (!err)
			err = quic_guard_scan(&g, buf + cut, len - cut);
		KUNIT_EXPECT_EQ_MSG(test, err, v->err, "cut at %zu", cut);
	}
}

/* A refused byte is a packet start; nothing before it is refused. */
static void quic_guard_restart_test(struct kunit *test)
{
	static const u8 hs[] = { 0xe0, 0, 0, 0, 1, 0, 0, 0x02, 0x11, 0x22 };
	static const u8 short_hdr = 0x41, long_hdr = 0xc1;
	struct quic_guard g;

	quic_guard_start(&g, 0);
	KUNIT_EXPECT_EQ(test, quic_guard_scan(&g, hs, sizeof(hs)), 0);
	/* A caller keeps its saved state when a scan is refused. */
	KUNIT_EXPECT_EQ(test, quic_guard_scan(&g, &short_hdr, 1), -EINVAL);
	quic_guard_start(&g, 0);
	KUNIT_EXPECT_EQ(test, quic_guard_scan(&g, hs, sizeof(hs)), 0);
	KUNIT_EXPECT_EQ(test, quic_guard_scan(&g, &long_hdr, 1), 0);
	/* An empty scan changes nothing. */
	KUNIT_EXPECT_EQ(test, quic_guard_scan(&g, NULL, 0), 0);

	/* Where the short header behind the long ones starts. */
	quic_guard_start(&g, 0);
	KUNIT_EXPECT_EQ(test, quic_guard_find(&g, hs, sizeof(hs)), sizeof(hs));
	KUNIT_EXPECT_EQ(test, quic_guard_find(&g, &short_hdr, 1), 0);
	quic_guard_start(&g, 0);
	KUNIT_EXPECT_EQ(test, quic_guard_find(&g, hs, 7), 7);
	KUNIT_EXPECT_EQ(test, quic_guard_find(&g, hs + 7, 3), 3);
}

static struct kunit_case quic_guard_test_cases[] = {
	KUNIT_CASE_PARAM(quic_guard_test, quic_guard_gen_params),
	KUNIT_CASE(quic_guard_restart_test),
	{}
};

static struct kunit_suite quic_guard_test_suite = {
	.name = "quic_guard",
	.test_cases = quic_guard_test_cases,
};

KUNIT_DEFINE_ACTION_WRAPPER(quic_test_sock_release, sock_release,
			    struct socket *);

/* A kernel UDP socket and an empty buffer for @len bytes, test-managed. */
static struct sock *quic_txbuf_test_sock(struct kunit *test,
					 struct quic_txbuf *buf, size_t len)
{
	unsigned int max = quic_txbuf_max_frags(len);
	struct socket *sock;
	struct bio_vec *bvec;
	int err;

	KUNIT_ASSERT_EQ(test, sock_create_kern(&init_net, PF_INET, SOCK_DGRAM,
					       IPPROTO_UDP, &sock), 0);
	err = kunit_add_action_or_reset(test, quic_test_sock_release, sock);
	KUNIT_ASSERT_EQ(test, err, 0);
	bvec = kunit_kcalloc(test, max, sizeof(*bvec), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, bvec);
	quic_txbuf_init(buf, bvec, max);
	return sock->sk;
}

/*
 * A 64 KB batch takes a few 32 KB fragments, and UDP's splice keeps each
 * one a single skb fragment: far below net.core.max_skb_frags.
 */
static void quic_txbuf_large_frags_test(struct kunit *test)
{
	const size_t len = U16_MAX;
	struct quic_txbuf buf;
	struct iov_iter iter;
	struct sk_buff *skb;
	struct sock *sk;

	sk = quic_txbuf_test_sock(test, &buf, len);
	KUNIT_ASSERT_EQ(test, quic_txbuf_reserve(&buf, sk, len, 0), 0);
	KUNIT_EXPECT_LE(test, buf.nr, 4);
	KUNIT_EXPECT_TRUE(test, quic_txbuf_spliceable(&buf));

	skb = alloc_skb(0, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, skb);
	quic_txbuf_iter(&buf, &iter, len);
	KUNIT_EXPECT_EQ(test, skb_splice_from_iter(skb, &iter, len, GFP_KERNEL),
			len);
	KUNIT_EXPECT_EQ(test, skb_shinfo(skb)->nr_frags, buf.nr);
	kfree_skb(skb);
	quic_txbuf_release(&buf);
}

/* A socket that must not use the task's fragment has its own used. */
static void quic_txbuf_socket_frag_test(struct kunit *test)
{
	struct page_frag *task = &current->task_frag;
	struct page *task_page = task->page;
	unsigned int task_offset = task->offset;
	struct quic_txbuf buf;
	struct sock *sk;

	sk = quic_txbuf_test_sock(test, &buf, 1000);
	sk->sk_use_task_frag = false;
	KUNIT_ASSERT_EQ(test, quic_txbuf_reserve(&buf, sk, 1000, 0), 0);
	KUNIT_EXPECT_EQ(test, buf.nr, 1);
	KUNIT_EXPECT_PTR_EQ(test, buf.bvec[0].bv_page, sk->sk_frag.page);
	KUNIT_EXPECT_EQ(test, sk->sk_frag.offset, buf.bvec[0].bv_offset + 1000);
	KUNIT_EXPECT_PTR_EQ(test, task->page, task_page);
	KUNIT_EXPECT_EQ(test, task->offset, task_offset);
	quic_txbuf_release(&buf);
}

/*
 * A batch whose packets have @head header bytes starts where the payload
 * of the first is on a 16-byte boundary, skipping fewer than 16 bytes of
 * the fragment, whatever offset the fragment was left at; 0 takes the
 * fragment as it is.
 */
static void quic_txbuf_head_test(struct kunit *test)
{
	unsigned int head, used, off, size;
	struct page_frag *pfrag;
	struct quic_txbuf buf;
	struct page *held;
	struct sock *sk;
	bool refill;

	sk = quic_txbuf_test_sock(test, &buf, 2400);
	pfrag = sk_page_frag(sk);
	for (head = 0; head <= 25; head++) {
		for (used = 1; used <= 17; used += 8) {
			/* In use elsewhere: the next call must not start at 0. */
			KUNIT_ASSERT_EQ(test, quic_txbuf_reserve(&buf, sk, used,
								 0), 0);
			held = buf.bvec[0].bv_page;
			get_page(held);
			quic_txbuf_release(&buf);
			off = pfrag->offset;
			size = pfrag->size;
			refill = off + 32 > size;

			KUNIT_ASSERT_EQ(test, quic_txbuf_reserve(&buf, sk, 2400,
								 head), 0);
			if (!refill) {
				KUNIT_EXPECT_PTR_EQ(test, buf.bvec[0].bv_page,
						    held);
				KUNIT_EXPECT_GE(test, buf.bvec[0].bv_offset, off);
				KUNIT_EXPECT_LT(test,
						buf.bvec[0].bv_offset - off, 16);
			}
			if (head)
				KUNIT_EXPECT_EQ(test, (buf.bvec[0].bv_offset +
						       head) % 16, 0);
			else
				KUNIT_EXPECT_EQ(test, buf.bvec[0].bv_offset,
						refill ? 0 : off);
			quic_txbuf_release(&buf);
			put_page(held);
		}
	}
}

/*
 * Bytes read and written anywhere in the stream, across the pages of a
 * large fragment and across fragments, are those the stream holds, as
 * the iterator UDP sends from sees them.
 */
static void quic_txbuf_access_test(struct kunit *test)
{
	const size_t len = U16_MAX;
	static const size_t offs[] = {
		0, 1, PAGE_SIZE - 7, PAGE_SIZE, 3 * PAGE_SIZE - 1,
		32768 - 9, 32768 - 16, 32768, U16_MAX - 21, U16_MAX - 1,
	};
	struct quic_txbuf buf;
	struct iov_iter iter;
	u8 *mirror, *wire;
	u8 bytes[21];
	unsigned int i, n;
	struct sock *sk;

	mirror = kunit_kzalloc(test, len, GFP_KERNEL);
	wire = kunit_kzalloc(test, len, GFP_KERNEL);
	KUNIT_ASSERT_TRUE(test, mirror && wire);
	sk = quic_txbuf_test_sock(test, &buf, len);
	KUNIT_ASSERT_EQ(test, quic_txbuf_reserve(&buf, sk, len, 0), 0);
	/* The fragments hold whatever was there: start from zeroes. */
	for (i = 0; i < len; i += sizeof(bytes)) {
		n = min_t(size_t, sizeof(bytes), len - i);
		memset(bytes, 0, n);
		KUNIT_ASSERT_EQ(test, quic_txbuf_write(&buf, i, bytes, n), 0);
	}

	for (i = 0; i < ARRAY_SIZE(offs); i++) {
		n = min_t(size_t, sizeof(bytes), len - offs[i]);
		memset(bytes, 0xa0 + i, n);
		KUNIT_ASSERT_EQ(test, quic_txbuf_write(&buf, offs[i], bytes, n),
				0);
		memcpy(mirror + offs[i], bytes, n);
		memset(bytes, 0, sizeof(bytes));
		KUNIT_ASSERT_EQ(test, quic_txbuf_read(&buf, offs[i], bytes, n),
				0);
		KUNIT_EXPECT_MEMEQ(test, bytes, mirror + offs[i], n);
	}
	quic_txbuf_iter(&buf, &iter, len);
	KUNIT_ASSERT_EQ(test, copy_from_iter(wire, len, &iter), len);
	KUNIT_EXPECT_MEMEQ(test, wire, mirror, len);
	quic_txbuf_release(&buf);
}

static struct kunit_case quic_txbuf_test_cases[] = {
	KUNIT_CASE(quic_txbuf_large_frags_test),
	KUNIT_CASE(quic_txbuf_socket_frag_test),
	KUNIT_CASE(quic_txbuf_head_test),
	KUNIT_CASE(quic_txbuf_access_test),
	{}
};

static struct kunit_suite quic_txbuf_test_suite = {
	.name = "quic_txbuf",
	.test_cases = quic_txbuf_test_cases,
};

kunit_test_suites(&quic_crypto_test_suite, &quic_conn_test_suite,
		  &quic_guard_test_suite, &quic_txbuf_test_suite);

MODULE_DESCRIPTION("KUnit tests for the QUIC crypto offload");
MODULE_LICENSE("GPL");
