// SPDX-License-Identifier: GPL-2.0
/*
 * KUnit tests of the software encryption of skbs marked for a device:
 * whatever the cipher and the shape of the skb, quic_dev_sw_encrypt()
 * must leave the bytes that the send path's seal gives the same packets,
 * for the peer cannot know which of the two encrypted them.
 */

#include <kunit/static_stub.h>
#include <kunit/test.h>
#include <linux/net.h>
#include <linux/scatterlist.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/udp.h>
#include <net/net_namespace.h>
#include <net/quic_dev.h>
#include <net/sock.h>

#include "quic_crypto.h"
#include "quic_dev_sw.h"

MODULE_IMPORT_NS(EXPORTED_FOR_KUNIT_TESTING);

#define QUIC_DEV_TEST_CID_LEN	8
/* Low bytes near a carry, so that short packet numbers wrap */
#define QUIC_DEV_TEST_BASE_PN	0x100fffffeULL
/* What a device's driver may push in front of the UDP header */
#define QUIC_DEV_TEST_HEADROOM	128

/**
 * struct quic_dev_test_case - an skb to encrypt
 * @name: case name
 * @cipher: TLS_CIPHER_* of the connection
 * @stride: gso_size; 0 for a single packet without GSO
 * @packets: number of packets
 * @last: length of the last packet, tag room included
 * @pn_step: distance between packet numbers above 1, which leaves gaps
 * @phases: keys for both key phases, and packets of both
 * @frags: the payload in page fragments that packets straddle, as the
 *	send path splices it, instead of the linear part
 */
struct quic_dev_test_case {
	const char *name;
	u16 cipher;
	unsigned int stride;
	unsigned int packets;
	unsigned int last;
	unsigned int pn_step;
	bool phases;
	bool frags;
};

static const struct quic_dev_test_case quic_dev_test_cases[] = {
	{
		.name = "aes-128-gcm gso, short last",
		.cipher = TLS_CIPHER_AES_GCM_128,
		.stride = 300, .packets = 5, .last = 77,
	}, {
		.name = "aes-128-gcm single packet",
		.cipher = TLS_CIPHER_AES_GCM_128,
		.packets = 1, .last = 500,
	}, {
		.name = "aes-128-gcm gso in fragments, gaps",
		.cipher = TLS_CIPHER_AES_GCM_128,
		.stride = 1200, .packets = 6, .last = 250,
		.pn_step = 3, .frags = true,
	}, {
		.name = "aes-128-gcm both key phases",
		.cipher = TLS_CIPHER_AES_GCM_128,
		.stride = 200, .packets = 4, .last = 200,
		.phases = true,
	}, {
		.name = "aes-256-gcm gso, short last",
		.cipher = TLS_CIPHER_AES_GCM_256,
		.stride = 300, .packets = 5, .last = 77,
	}, {
		.name = "aes-256-gcm single packet",
		.cipher = TLS_CIPHER_AES_GCM_256,
		.packets = 1, .last = 500,
	}, {
		.name = "aes-256-gcm gso in fragments, gaps",
		.cipher = TLS_CIPHER_AES_GCM_256,
		.stride = 1200, .packets = 6, .last = 250,
		.pn_step = 3, .frags = true,
	}, {
		.name = "aes-256-gcm both key phases",
		.cipher = TLS_CIPHER_AES_GCM_256,
		.stride = 200, .packets = 4, .last = 200,
		.phases = true,
	}, {
		.name = "aes-128-ccm gso, short last",
		.cipher = TLS_CIPHER_AES_CCM_128,
		.stride = 300, .packets = 5, .last = 77,
	}, {
		.name = "aes-128-ccm single packet",
		.cipher = TLS_CIPHER_AES_CCM_128,
		.packets = 1, .last = 500,
	}, {
		.name = "aes-128-ccm gso in fragments, gaps",
		.cipher = TLS_CIPHER_AES_CCM_128,
		.stride = 1200, .packets = 6, .last = 250,
		.pn_step = 3, .frags = true,
	}, {
		.name = "aes-128-ccm both key phases",
		.cipher = TLS_CIPHER_AES_CCM_128,
		.stride = 200, .packets = 4, .last = 200,
		.phases = true,
	}, {
		.name = "chacha20-poly1305 gso, short last",
		.cipher = TLS_CIPHER_CHACHA20_POLY1305,
		.stride = 300, .packets = 5, .last = 77,
	}, {
		.name = "chacha20-poly1305 single packet",
		.cipher = TLS_CIPHER_CHACHA20_POLY1305,
		.packets = 1, .last = 500,
	}, {
		.name = "chacha20-poly1305 gso in fragments, gaps",
		.cipher = TLS_CIPHER_CHACHA20_POLY1305,
		.stride = 1200, .packets = 6, .last = 250,
		.pn_step = 3, .frags = true,
	}, {
		.name = "chacha20-poly1305 both key phases",
		.cipher = TLS_CIPHER_CHACHA20_POLY1305,
		.stride = 200, .packets = 4, .last = 200,
		.phases = true,
	},
};

static void quic_dev_test_case_desc(const struct quic_dev_test_case *c,
				    char *desc)
{
	strscpy(desc, c->name, KUNIT_PARAM_DESC_SIZE);
}

KUNIT_ARRAY_PARAM(quic_dev_sw, quic_dev_test_cases, quic_dev_test_case_desc);

/* The connection's keys, for the send path or for the fallback */
static struct quic_crypto_keys *quic_dev_test_keys(struct kunit *test,
						   u16 tls_type, bool phases,
						   bool sync)
{
	const struct quic_cipher *cipher = quic_cipher_find(tls_type);
	u8 key[2][32], iv[2][QUIC_IV_SIZE], hp[32];
	struct quic_crypto_keys *keys, *next;
	unsigned int i;
	int err;

	KUNIT_ASSERT_NOT_NULL(test, cipher);
	for (i = 0; i < sizeof(hp); i++) {
		key[0][i] = i;
		key[1][i] = 0x80 + i;
		hp[i] = 0x40 + i;
	}
	for (i = 0; i < QUIC_IV_SIZE; i++) {
		iv[0][i] = 0x20 + i;
		iv[1][i] = 0xa0 + i;
	}

	keys = kunit_kzalloc(test, sizeof(*keys), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, keys);
	if (sync)
		err = quic_crypto_keys_init_sync(keys, cipher, key[0], iv[0], hp);
	else
		err = quic_crypto_keys_init(keys, cipher, key[0], iv[0], hp);
	KUNIT_ASSERT_EQ(test, err, 0);
	if (!phases)
		return keys;

	/* The first key stays in phase 0, the update fills phase 1. */
	next = kunit_kzalloc(test, sizeof(*next), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, next);
	KUNIT_ASSERT_EQ(test, quic_crypto_keys_update(next, keys, 1, key[1],
						      iv[1]), 0);
	quic_crypto_keys_destroy(keys);
	return next;
}

/* Offset and length of packet @i of @c in the UDP payload */
static unsigned int quic_dev_test_pkt(const struct quic_dev_test_case *c,
				      unsigned int i, unsigned int *len)
{
	*len = i == c->packets - 1 ? c->last : c->stride;
	return i * c->stride;
}

static u64 quic_dev_test_pn(const struct quic_dev_test_case *c,
			    unsigned int i)
{
	return QUIC_DEV_TEST_BASE_PN + i * max(c->pn_step, 1U);
}

static unsigned int quic_dev_test_len(const struct quic_dev_test_case *c)
{
	return (c->packets - 1) * c->stride + c->last;
}

/* Plaintext packets, each with every packet number length in turn */
static u8 *quic_dev_test_plain(struct kunit *test,
			       const struct quic_dev_test_case *c)
{
	u8 *buf = kunit_kzalloc(test, quic_dev_test_len(c), GFP_KERNEL);
	unsigned int i, j, off, len, pn_len;
	u64 pn;
	u8 *p;

	KUNIT_ASSERT_NOT_NULL(test, buf);
	for (i = 0; i < c->packets; i++) {
		off = quic_dev_test_pkt(c, i, &len);
		p = buf + off;
		pn = quic_dev_test_pn(c, i);
		pn_len = i % QUIC_PN_MAX_LEN + 1;
		p[0] = 0x40 | (pn_len - 1);
		if (c->phases && i % 2)
			p[0] |= QUIC_DEV_KEY_PHASE_BIT;
		for (j = 0; j < QUIC_DEV_TEST_CID_LEN; j++)
			p[1 + j] = 0xc0 + j;
		for (j = 0; j < pn_len; j++)
			p[1 + QUIC_DEV_TEST_CID_LEN + j] =
				pn >> (8 * (pn_len - 1 - j));
		/* Payload; the tag room stays zero. */
		for (j = 1 + QUIC_DEV_TEST_CID_LEN + pn_len;
		     j < len - QUIC_TAG_SIZE; j++)
			p[j] = i * 31 + j;
	}
	return buf;
}

/* One packet protected by the send path's seal, in a buffer of its own */
static void quic_dev_test_protect(struct kunit *test,
				  const struct quic_crypto_keys *keys,
				  u8 *pkt, unsigned int len, u64 pn)
{
	unsigned int pn_len = quic_pn_len(pkt[0]);
	unsigned int pn_off = 1 + QUIC_DEV_TEST_CID_LEN;
	unsigned int hdr_len = pn_off + pn_len;
	u8 hdr[1 + QUIC_DEV_TEST_CID_LEN + QUIC_PN_MAX_LEN];
	u8 bytes[QUIC_HP_MASK_SIZE] = { pkt[0] };
	struct quic_crypto_batch batch;
	struct quic_crypto_req req;
	struct scatterlist sg;
	u8 *buf, *block;
	int err, done;

	buf = kunit_kmalloc(test, len, GFP_KERNEL);
	block = kunit_kmalloc(test, QUIC_HP_SAMPLE_SIZE, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, buf);
	KUNIT_ASSERT_NOT_NULL(test, block);
	quic_crypto_req_init(&req, kunit_kzalloc(test,
						 quic_crypto_req_size(keys),
						 GFP_KERNEL));
	KUNIT_ASSERT_NOT_NULL(test, req.aead);
	memcpy(buf, pkt, len);
	memcpy(hdr, pkt, hdr_len);

	sg_init_one(&sg, buf, len);
	quic_crypto_batch_init(&batch);
	err = quic_packet_seal(keys, &req, &sg, hdr, hdr_len,
			       len - hdr_len - QUIC_TAG_SIZE, pn, &batch);
	done = quic_crypto_batch_wait(&batch);
	KUNIT_ASSERT_EQ(test, err == -EINPROGRESS ? done : err, 0);

	memcpy(block, buf + pn_off + QUIC_PN_MAX_LEN, QUIC_HP_SAMPLE_SIZE);
	KUNIT_ASSERT_EQ(test, quic_hp_masks(keys, block, 1), 0);
	memcpy(bytes + 1, buf + pn_off, pn_len);
	quic_hp_apply(bytes, block);
	buf[0] = bytes[0];
	memcpy(buf + pn_off, bytes + 1, pn_len);
	memcpy(pkt, buf, len);
}

static u8 *quic_dev_test_expected(struct kunit *test,
				  const struct quic_dev_test_case *c,
				  const u8 *plain)
{
	struct quic_crypto_keys *keys;
	unsigned int i, off, len;
	u8 *want;

	keys = quic_dev_test_keys(test, c->cipher, c->phases, false);
	want = kunit_kmalloc(test, quic_dev_test_len(c), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, want);
	memcpy(want, plain, quic_dev_test_len(c));
	for (i = 0; i < c->packets; i++) {
		off = quic_dev_test_pkt(c, i, &len);
		quic_dev_test_protect(test, keys, want + off, len,
				      quic_dev_test_pn(c, i));
	}
	quic_crypto_keys_destroy(keys);
	return want;
}

/*
 * Cut the payload so that packets straddle fragments, and so do a header,
 * a header protection sample and a tag.
 */
static void quic_dev_test_add_frags(struct kunit *test, struct sk_buff *skb,
				    const u8 *payload, unsigned int len)
{
	static const unsigned int cuts[] = { 5, 1000, 1203, 2500, 3618, 5990 };
	unsigned int i, off = 0, size;
	struct page *page;

	for (i = 0; off < len; i++) {
		KUNIT_ASSERT_LT(test, i, MAX_SKB_FRAGS);
		size = i < ARRAY_SIZE(cuts) ? cuts[i] - off : len - off;
		size = min(size, len - off);
		page = alloc_page(GFP_KERNEL);
		KUNIT_ASSERT_NOT_NULL(test, page);
		memcpy(page_address(page) + 7, payload + off, size);
		skb_fill_page_desc(skb, i, page, 7, size);
		skb->len += size;
		skb->data_len += size;
		skb->truesize += PAGE_SIZE;
		off += size;
	}
}

/* The skb UDP would hand a device, marked as the QUIC hook marks it */
static struct sk_buff *quic_dev_test_skb(struct kunit *test,
					 const struct quic_dev_test_case *c,
					 const u8 *payload)
{
	unsigned int len = quic_dev_test_len(c);
	struct quic_skb_ext *ext;
	struct sk_buff *skb;
	struct udphdr *uh;

	skb = alloc_skb(QUIC_DEV_TEST_HEADROOM + sizeof(*uh) +
			(c->frags ? 0 : len), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, skb);
	skb_reserve(skb, QUIC_DEV_TEST_HEADROOM);
	skb_reset_network_header(skb);
	skb_set_transport_header(skb, 0);
	uh = skb_put_zero(skb, sizeof(*uh));
	uh->len = htons(sizeof(*uh) + len);
	if (c->frags)
		quic_dev_test_add_frags(test, skb, payload, len);
	else
		skb_put_data(skb, payload, len);

	if (c->stride) {
		skb_shinfo(skb)->gso_size = c->stride;
		skb_shinfo(skb)->gso_type = SKB_GSO_UDP_L4;
		skb_shinfo(skb)->gso_segs = c->packets;
	}
	skb->ip_summed = CHECKSUM_PARTIAL;
	skb->csum_start = skb_transport_header(skb) - skb->head;
	skb->csum_offset = offsetof(struct udphdr, check);
	skb->decrypted = 1;
	ext = skb_ext_add(skb, SKB_EXT_QUIC);
	KUNIT_ASSERT_NOT_NULL(test, ext);
	ext->dev.handle = 1;
	ext->dev.base_pn = QUIC_DEV_TEST_BASE_PN;
	return skb;
}

static void quic_dev_test_expect_payload(struct kunit *test,
					 const struct sk_buff *skb,
					 const u8 *want, unsigned int len)
{
	u8 *got = kunit_kmalloc(test, len, GFP_KERNEL);

	KUNIT_ASSERT_NOT_NULL(test, got);
	KUNIT_ASSERT_EQ(test, skb->len, sizeof(struct udphdr) + len);
	KUNIT_ASSERT_EQ(test, skb_copy_bits(skb, sizeof(struct udphdr), got,
					    len), 0);
	KUNIT_EXPECT_MEMEQ(test, got, want, len);
}

static void quic_dev_test_expect_marked(struct kunit *test,
					const struct sk_buff *skb, bool marked)
{
	KUNIT_EXPECT_EQ(test, skb_is_decrypted(skb), marked);
	KUNIT_EXPECT_EQ(test, skb_ext_exist(skb, SKB_EXT_QUIC), marked);
	KUNIT_EXPECT_TRUE(test, skb->ip_summed == CHECKSUM_PARTIAL);
}

static void quic_dev_sw_matches_send_path_test(struct kunit *test)
{
	const struct quic_dev_test_case *c = test->param_value;
	unsigned int len = quic_dev_test_len(c);
	struct quic_crypto_keys *keys;
	struct sk_buff *skb, *out;
	const u8 *plain, *want;

	plain = quic_dev_test_plain(test, c);
	want = quic_dev_test_expected(test, c, plain);
	keys = quic_dev_test_keys(test, c->cipher, c->phases, true);
	skb = quic_dev_test_skb(test, c, plain);

	out = quic_dev_sw_encrypt(skb, keys, QUIC_DEV_TEST_BASE_PN,
				  QUIC_DEV_TEST_CID_LEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, out);
	/* Nobody else sees these bytes: no copy */
	KUNIT_EXPECT_PTR_EQ(test, out, skb);
	quic_dev_test_expect_payload(test, out, want, len);
	quic_dev_test_expect_marked(test, out, false);
	KUNIT_EXPECT_EQ(test, skb_shinfo(out)->gso_size, c->stride);
	kfree_skb(out);
	quic_crypto_keys_destroy(keys);
}

static const struct quic_dev_test_case quic_dev_test_gso = {
	.name = "aes-128-gcm gso", .cipher = TLS_CIPHER_AES_GCM_128,
	.stride = 300, .packets = 5, .last = 77,
};

static void quic_dev_sw_clone_test(struct kunit *test)
{
	const struct quic_dev_test_case *c = &quic_dev_test_gso;
	unsigned int len = quic_dev_test_len(c);
	struct sk_buff *skb, *clone, *out;
	struct quic_crypto_keys *keys;
	const u8 *plain, *want;

	plain = quic_dev_test_plain(test, c);
	want = quic_dev_test_expected(test, c, plain);
	keys = quic_dev_test_keys(test, c->cipher, false, true);
	skb = quic_dev_test_skb(test, c, plain);
	/* A tap's clone shares the data the fallback would write */
	clone = skb_clone(skb, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, clone);

	out = quic_dev_sw_encrypt(clone, keys, QUIC_DEV_TEST_BASE_PN,
				  QUIC_DEV_TEST_CID_LEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, out);
	KUNIT_EXPECT_PTR_NE(test, out, skb);
	quic_dev_test_expect_payload(test, out, want, len);
	quic_dev_test_expect_marked(test, out, false);
	KUNIT_EXPECT_EQ(test, skb_shinfo(out)->gso_size, c->stride);
	/* The clone went with the copy; the tap's view is as it was. */
	KUNIT_EXPECT_FALSE(test, skb_cloned(skb));
	quic_dev_test_expect_payload(test, skb, plain, len);
	quic_dev_test_expect_marked(test, skb, true);
	kfree_skb(out);
	kfree_skb(skb);
	quic_crypto_keys_destroy(keys);
}

KUNIT_DEFINE_ACTION_WRAPPER(quic_dev_test_sock_release, sock_release,
			    struct socket *);

/*
 * A copy goes out in place of the socket's skb: it must carry the socket's
 * charge, which comes back to what it was once the copy is freed.
 */
static void quic_dev_sw_copy_owner_test(struct kunit *test)
{
	const struct quic_dev_test_case *c = &quic_dev_test_gso;
	struct sk_buff *skb, *tap, *out;
	struct quic_crypto_keys *keys;
	struct socket *sock;
	unsigned int idle;
	struct sock *sk;
	int err;

	err = sock_create_kern(&init_net, AF_INET, SOCK_DGRAM, IPPROTO_UDP,
			       &sock);
	KUNIT_ASSERT_EQ(test, err, 0);
	err = kunit_add_action_or_reset(test, quic_dev_test_sock_release, sock);
	KUNIT_ASSERT_EQ(test, err, 0);
	sk = sock->sk;
	idle = refcount_read(&sk->sk_wmem_alloc);
	keys = quic_dev_test_keys(test, c->cipher, false, true);
	skb = quic_dev_test_skb(test, c, quic_dev_test_plain(test, c));
	skb_set_owner_w(skb, sk);
	tap = skb_clone(skb, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, tap);

	out = quic_dev_sw_encrypt(skb, keys, QUIC_DEV_TEST_BASE_PN,
				  QUIC_DEV_TEST_CID_LEN);
	KUNIT_ASSERT_NOT_ERR_OR_NULL(test, out);
	KUNIT_EXPECT_PTR_NE(test, out, tap);
	KUNIT_EXPECT_PTR_EQ(test, out->sk, sk);
	KUNIT_EXPECT_TRUE(test, out->destructor == sock_wfree);
	KUNIT_EXPECT_EQ(test, refcount_read(&sk->sk_wmem_alloc),
			idle + out->truesize);
	KUNIT_EXPECT_NULL(test, tap->sk);
	kfree_skb(out);
	KUNIT_EXPECT_EQ(test, refcount_read(&sk->sk_wmem_alloc), idle);
	kfree_skb(tap);
	quic_crypto_keys_destroy(keys);
}

static void *quic_dev_test_no_scratch(size_t size)
{
	return NULL;
}

static struct sk_buff *quic_dev_test_no_copy(struct sk_buff *skb)
{
	return NULL;
}

/* Out of memory: an error, and the skb left to the caller as it was */
static void quic_dev_sw_nomem_test(struct kunit *test)
{
	const struct quic_dev_test_case *c = &quic_dev_test_gso;
	unsigned int len = quic_dev_test_len(c);
	struct quic_crypto_keys *keys;
	struct sk_buff *skb, *clone;
	const u8 *plain;

	plain = quic_dev_test_plain(test, c);
	keys = quic_dev_test_keys(test, c->cipher, false, true);
	skb = quic_dev_test_skb(test, c, plain);

	kunit_activate_static_stub(test, quic_dev_sw_scratch,
				   quic_dev_test_no_scratch);
	KUNIT_EXPECT_PTR_EQ(test, quic_dev_sw_encrypt(skb, keys,
						      QUIC_DEV_TEST_BASE_PN,
						      QUIC_DEV_TEST_CID_LEN),
			    ERR_PTR(-ENOMEM));
	kunit_deactivate_static_stub(test, quic_dev_sw_scratch);
	quic_dev_test_expect_payload(test, skb, plain, len);
	quic_dev_test_expect_marked(test, skb, true);

	clone = skb_clone(skb, GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, clone);
	kunit_activate_static_stub(test, quic_dev_sw_copy,
				   quic_dev_test_no_copy);
	KUNIT_EXPECT_PTR_EQ(test, quic_dev_sw_encrypt(clone, keys,
						      QUIC_DEV_TEST_BASE_PN,
						      QUIC_DEV_TEST_CID_LEN),
			    ERR_PTR(-ENOMEM));
	kunit_deactivate_static_stub(test, quic_dev_sw_copy);
	quic_dev_test_expect_payload(test, clone, plain, len);
	quic_dev_test_expect_marked(test, clone, true);
	kfree_skb(clone);
	kfree_skb(skb);
	quic_crypto_keys_destroy(keys);
}

/* What a device could not encrypt either, and keys it cannot use */
static void quic_dev_sw_invalid_test(struct kunit *test)
{
	const struct quic_dev_test_case *c = &quic_dev_test_gso;
	struct quic_crypto_keys *keys, *async, *retired;
	struct quic_dev_test_case short_last = *c;
	struct sk_buff *skb;
	u8 *plain;

	keys = quic_dev_test_keys(test, c->cipher, true, true);
	async = quic_dev_test_keys(test, c->cipher, false, false);

	/* A long header in the middle of the batch */
	plain = quic_dev_test_plain(test, c);
	plain[2 * c->stride] |= QUIC_HDR_FORM_LONG;
	skb = quic_dev_test_skb(test, c, plain);
	KUNIT_EXPECT_PTR_EQ(test, quic_dev_sw_encrypt(skb, keys,
						      QUIC_DEV_TEST_BASE_PN,
						      QUIC_DEV_TEST_CID_LEN),
			    ERR_PTR(-EINVAL));
	kfree_skb(skb);

	/* A last packet too short to hold a header protection sample */
	short_last.last = 1 + QUIC_DEV_TEST_CID_LEN + QUIC_PN_MAX_LEN +
			  QUIC_HP_SAMPLE_SIZE - 1;
	plain = quic_dev_test_plain(test, &short_last);
	skb = quic_dev_test_skb(test, &short_last, plain);
	KUNIT_EXPECT_PTR_EQ(test, quic_dev_sw_encrypt(skb, keys,
						      QUIC_DEV_TEST_BASE_PN,
						      QUIC_DEV_TEST_CID_LEN),
			    ERR_PTR(-EINVAL));
	kfree_skb(skb);

	/* Keys whose AEAD may complete later, in nobody's context */
	plain = quic_dev_test_plain(test, c);
	skb = quic_dev_test_skb(test, c, plain);
	KUNIT_EXPECT_PTR_EQ(test, quic_dev_sw_encrypt(skb, async,
						      QUIC_DEV_TEST_BASE_PN,
						      QUIC_DEV_TEST_CID_LEN),
			    ERR_PTR(-EINVAL));
	quic_dev_test_expect_payload(test, skb, plain, quic_dev_test_len(c));

	/* Phase 1 retired: its packets have no key */
	retired = kunit_kzalloc(test, sizeof(*retired), GFP_KERNEL);
	KUNIT_ASSERT_NOT_NULL(test, retired);
	KUNIT_ASSERT_EQ(test, quic_crypto_keys_retire(retired, keys, 1), 0);
	plain[c->stride] |= QUIC_DEV_KEY_PHASE_BIT;
	kfree_skb(skb);
	skb = quic_dev_test_skb(test, c, plain);
	KUNIT_EXPECT_PTR_EQ(test, quic_dev_sw_encrypt(skb, retired,
						      QUIC_DEV_TEST_BASE_PN,
						      QUIC_DEV_TEST_CID_LEN),
			    ERR_PTR(-ENOKEY));
	kfree_skb(skb);

	quic_crypto_keys_destroy(retired);
	quic_crypto_keys_destroy(async);
	quic_crypto_keys_destroy(keys);
}

static struct kunit_case quic_dev_sw_test_cases[] = {
	KUNIT_CASE_PARAM(quic_dev_sw_matches_send_path_test,
			 quic_dev_sw_gen_params),
	KUNIT_CASE(quic_dev_sw_clone_test),
	KUNIT_CASE(quic_dev_sw_copy_owner_test),
	KUNIT_CASE(quic_dev_sw_nomem_test),
	KUNIT_CASE(quic_dev_sw_invalid_test),
	{}
};

static struct kunit_suite quic_dev_sw_test_suite = {
	.name = "quic_dev_sw",
	.test_cases = quic_dev_sw_test_cases,
};

kunit_test_suites(&quic_dev_sw_test_suite);

MODULE_DESCRIPTION("KUnit tests for the QUIC device offload's fallback");
MODULE_LICENSE("GPL");
