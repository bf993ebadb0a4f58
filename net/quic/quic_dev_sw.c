// SPDX-License-Identifier: GPL-2.0
/*
 * Software encryption of an skb marked for a device that encrypts QUIC.
 *
 * An skb of plaintext packets may have to leave through something other
 * than the device that holds its connection's keys: the route changed, the
 * device stopped offloading, a bond failed over. It is then encrypted here,
 * at transmit, before the stack segments it: exactly what the device would
 * have sent, so that the peer cannot tell. Nothing here sleeps: this runs
 * from the qdisc, in softirq context as often as not.
 */

#include <crypto/aead.h>
#include <kunit/static_stub.h>
#include <kunit/visibility.h>
#include <linux/err.h>
#include <linux/overflow.h>
#include <linux/scatterlist.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/udp.h>
#include <net/quic_dev.h>
#include <net/sock.h>

#include "quic_crypto.h"
#include "quic_dev_sw.h"

/* Where header protection samples a short header: 4 bytes into the PN */
#define QUIC_DEV_SW_MIN_LEN(cid_len) \
	(1 + (cid_len) + QUIC_PN_MAX_LEN + QUIC_HP_SAMPLE_SIZE)

/**
 * struct quic_dev_sw - what encrypting one skb needs besides the skb
 * @crypto: the AEAD request, whose memory follows @blocks
 * @sg: one packet of the skb; without a frag_list a packet is at most in
 *	the linear part and every fragment
 * @blocks: a header protection sample per packet, then its mask
 */
struct quic_dev_sw {
	struct quic_crypto_req crypto;
	struct scatterlist sg[MAX_SKB_FRAGS + 1];
	u8 blocks[];
};

/*
 * The allocation and the copy are where a sender under memory pressure
 * fails; KUnit makes them fail on purpose.
 */
VISIBLE_IF_KUNIT void *quic_dev_sw_scratch(size_t size)
{
	KUNIT_STATIC_STUB_REDIRECT(quic_dev_sw_scratch, size);
	return kmalloc(size, GFP_ATOMIC | __GFP_NOWARN);
}
EXPORT_SYMBOL_IF_KUNIT(quic_dev_sw_scratch);

VISIBLE_IF_KUNIT struct sk_buff *quic_dev_sw_copy(struct sk_buff *skb)
{
	KUNIT_STATIC_STUB_REDIRECT(quic_dev_sw_copy, skb);
	return skb_copy(skb, GFP_ATOMIC | __GFP_NOWARN);
}
EXPORT_SYMBOL_IF_KUNIT(quic_dev_sw_copy);

static struct quic_dev_sw *
quic_dev_sw_alloc(const struct quic_crypto_keys *keys, unsigned int packets)
{
	size_t head = ALIGN(struct_size_t(struct quic_dev_sw, blocks,
					  packets * QUIC_HP_SAMPLE_SIZE),
			    CRYPTO_MINALIGN);
	struct quic_dev_sw *w;

	w = quic_dev_sw_scratch(head + quic_crypto_req_size(keys));
	if (w)
		quic_crypto_req_init(&w->crypto, (u8 *)w + head);
	return w;
}

/*
 * Seal the packet at @off and take its header protection sample, which
 * only exists once the payload is ciphertext.
 */
static int quic_dev_sw_seal(struct sk_buff *skb,
			    const struct quic_crypto_keys *keys,
			    struct quic_dev_sw *w, unsigned int off,
			    unsigned int len, u64 base_pn,
			    unsigned int cid_len, u8 *block)
{
	u8 buf[1 + QUIC_DEV_CID_MAX_LEN + QUIC_PN_MAX_LEN];
	unsigned int pn_len, hdr_len;
	const u8 *hdr;
	int nents, err;
	u64 pn;

	if (len < QUIC_DEV_SW_MIN_LEN(cid_len))
		return -EINVAL;
	hdr = skb_header_pointer(skb, off, 1 + cid_len + QUIC_PN_MAX_LEN, buf);
	/* A device knows only short headers: neither can a fallback. */
	if (!hdr || hdr[0] & QUIC_HDR_FORM_LONG)
		return -EINVAL;
	pn_len = quic_pn_len(hdr[0]);
	hdr_len = 1 + cid_len + pn_len;
	pn = quic_dev_pn_decode(base_pn,
				quic_dev_pn_read(hdr + 1 + cid_len, pn_len),
				pn_len);
	if (pn > QUIC_PN_MAX)
		return -EINVAL;

	sg_init_table(w->sg, ARRAY_SIZE(w->sg));
	nents = skb_to_sgvec(skb, w->sg, off, len);
	if (nents < 0)
		return nents;
	err = quic_packet_seal_atomic(keys, &w->crypto, w->sg, hdr, hdr_len,
				      len - hdr_len - QUIC_TAG_SIZE, pn);
	if (err)
		return err;
	return skb_copy_bits(skb, off + 1 + cid_len + QUIC_PN_MAX_LEN, block,
			     QUIC_HP_SAMPLE_SIZE);
}

/* Mask the first byte and the packet number of the packet at @off. */
static int quic_dev_sw_protect_hdr(struct sk_buff *skb, unsigned int off,
				   unsigned int cid_len, const u8 *mask)
{
	u8 bytes[QUIC_HP_MASK_SIZE];
	unsigned int pn_len;
	int err;

	err = skb_copy_bits(skb, off, bytes, 1);
	if (err)
		return err;
	pn_len = quic_pn_len(bytes[0]);
	err = skb_copy_bits(skb, off + 1 + cid_len, bytes + 1, pn_len);
	if (err)
		return err;
	quic_hp_apply(bytes, mask);
	err = skb_store_bits(skb, off, bytes, 1);
	if (!err)
		err = skb_store_bits(skb, off + 1 + cid_len, bytes + 1, pn_len);
	return err;
}

/* Every packet of @skb, as the device would have done it */
static int quic_dev_sw_packets(struct sk_buff *skb,
			       const struct quic_crypto_keys *keys,
			       struct quic_dev_sw *w, unsigned int packets,
			       unsigned int stride, u64 base_pn,
			       unsigned int cid_len)
{
	unsigned int first = skb_transport_offset(skb) + sizeof(struct udphdr);
	unsigned int i, off, len;
	int err = 0;

	for (i = 0; !err && i < packets; i++) {
		off = first + i * stride;
		len = min(stride, skb->len - off);
		err = quic_dev_sw_seal(skb, keys, w, off, len, base_pn, cid_len,
				       w->blocks + i * QUIC_HP_SAMPLE_SIZE);
	}
	/* One call for every mask, as on the send path */
	if (!err)
		err = quic_hp_masks(keys, w->blocks, packets);
	for (i = 0; !err && i < packets; i++)
		err = quic_dev_sw_protect_hdr(skb, first + i * stride, cid_len,
					      w->blocks + i * QUIC_HP_SAMPLE_SIZE);
	return err;
}

/*
 * The copy goes out in place of @skb: it takes over the socket's charge
 * for it, so that the send buffer and anything keyed on skb->sk (fq's
 * flows) see no difference.
 */
static void quic_dev_sw_take_owner(struct sk_buff *nskb, struct sk_buff *skb)
{
	struct sock *sk = skb->sk;
	int delta;

	if (!sk || skb->destructor != sock_wfree)
		return;
	delta = nskb->truesize - skb->truesize;
	if (delta > 0)
		refcount_add(delta, &sk->sk_wmem_alloc);
	else if (delta < 0)
		WARN_ON_ONCE(refcount_sub_and_test(-delta, &sk->sk_wmem_alloc));
	nskb->sk = sk;
	nskb->destructor = sock_wfree;
	skb->sk = NULL;
	skb->destructor = NULL;
}

/**
 * quic_dev_sw_encrypt() - encrypt a marked skb in software
 * @skb: a UDP datagram or GSO batch of short-header packets in plaintext,
 *	one per UDP payload segment (every gso_size bytes, or the whole
 *	payload), each ending in QUIC_TAG_SIZE bytes of room for its tag
 * @keys: its connection's keys, from quic_crypto_keys_init_sync() or a key
 *	update of such keys: the slot of each packet is its Key Phase bit
 * @base_pn: full packet number of the first packet
 * @cid_len: length of the packets' Destination Connection ID
 *
 * Each packet gets the packet number quic_dev_pn_decode() finds against
 * @base_pn, as a device would give it, is sealed with its header as
 * associated data and gets header protection. This happens in place when
 * nobody else can see the bytes; a clone or shared fragments (a tap saw
 * the skb) get a private copy instead, which takes over the socket's
 * charge. The result is no longer marked: its decrypted bit is clear and
 * its SKB_EXT_QUIC gone. The checksum state is left as it is, so that a
 * CHECKSUM_PARTIAL skb has its UDP checksum done over the ciphertext.
 *
 * Context: process or softirq; nothing sleeps.
 *
 * Return: the skb to send, @skb or its copy (@skb is then consumed). On
 * error, @skb is still the caller's, to drop and count, and is untouched
 * unless it was being encrypted in place: -ENOMEM if memory ran out;
 * -EINVAL for a packet that is no short header, too short for header
 * protection or numbered beyond 2^62 - 1, or for keys that may complete
 * asynchronously; -ENOKEY if a packet's key phase has no key; or an
 * error of the AEAD.
 */
struct sk_buff *quic_dev_sw_encrypt(struct sk_buff *skb,
				    const struct quic_crypto_keys *keys,
				    u64 base_pn, unsigned int cid_len)
{
	unsigned int first = skb_transport_offset(skb) + sizeof(struct udphdr);
	unsigned int stride, packets;
	struct sk_buff *nskb = skb;
	struct quic_dev_sw *w;
	int err;

	if (!keys->sync || cid_len > QUIC_DEV_CID_MAX_LEN ||
	    skb->len <= first)
		return ERR_PTR(-EINVAL);
	stride = skb_is_gso(skb) ? skb_shinfo(skb)->gso_size :
				   skb->len - first;
	packets = DIV_ROUND_UP(skb->len - first, stride);

	w = quic_dev_sw_alloc(keys, packets);
	if (!w)
		return ERR_PTR(-ENOMEM);
	if (skb_cloned(skb) || skb_has_shared_frag(skb) ||
	    skb_has_frag_list(skb)) {
		nskb = quic_dev_sw_copy(skb);
		if (!nskb) {
			kfree(w);
			return ERR_PTR(-ENOMEM);
		}
	}

	err = quic_dev_sw_packets(nskb, keys, w, packets, stride, base_pn,
				  cid_len);
	kfree_sensitive(w);
	if (err) {
		if (nskb != skb)
			kfree_skb(nskb);
		return ERR_PTR(err);
	}

	nskb->decrypted = 0;
	skb_ext_del(nskb, SKB_EXT_QUIC);
	if (nskb != skb) {
		quic_dev_sw_take_owner(nskb, skb);
		consume_skb(skb);
	}
	return nskb;
}
EXPORT_SYMBOL_IF_KUNIT(quic_dev_sw_encrypt);
