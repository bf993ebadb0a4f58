// SPDX-License-Identifier: GPL-2.0
/*
 * QUIC 1-RTT Tx crypto offload, simulated.
 *
 * The port takes the keys of QUIC connections (quicdev_ops) and, in its
 * transmit path, really seals the short-header packets of the skbs the
 * stack marked for it, one UDP segment at a time as a NIC would: a
 * private copy of each segment (the stack's pages are never written),
 * AEAD with a synchronous transform of its own, header protection with
 * the AES or ChaCha20 library, then the UDP checksum. The peer gets
 * ciphertext that any QUIC receiver can open.
 *
 * debugfs ports/<port>/quic/: "stats", "conns", and the knobs
 * "refuse_ciphers", "add_errno", "update_errno", "max_conns", "encrypt"
 * and "stop".
 */

#include <crypto/aead.h>
#include <crypto/aes.h>
#include <crypto/chacha.h>
#include <linux/debugfs.h>
#include <linux/err.h>
#include <linux/ip.h>
#include <linux/ipv6.h>
#include <linux/netdevice.h>
#include <linux/rtnetlink.h>
#include <linux/scatterlist.h>
#include <linux/sched/signal.h>
#include <linux/seq_file.h>
#include <linux/skbuff.h>
#include <linux/slab.h>
#include <linux/udp.h>
#include <linux/unaligned.h>
#include <net/gso.h>
#include <net/ip6_checksum.h>
#include <net/quic_dev.h>

#include "netdevsim.h"

#define NSIM_QUIC_HDR_FORM_LONG	0x80
#define NSIM_QUIC_PN_OFF_SAMPLE	4	/* sample: 4 bytes into the PN */
#define NSIM_QUIC_SAMPLE_LEN	16

/**
 * struct nsim_quic_conn - a connection the port holds
 * @dead: on the port's list of deleted connections, until no transmit
 *	can see it
 * @gone: cookie of the grace period after which no transmit sees it
 * @gen: upper half of its handle, so that a stale handle is not found
 * @index: lower half, its place in the table
 * @cipher: enum quic_dev_cipher
 * @cid_len: DCID length
 * @dcid: DCID, for "conns"
 * @aead: AEAD of each key slot
 * @retired: AEAD an update replaced in each slot, which a transmit may
 *	still use until @retired_gp
 * @retired_gp: cookie of the grace period after which no transmit uses
 *	@retired
 * @iv: IV of each key slot
 * @hp_aes: AES header protection key
 * @hp_chacha: ChaCha20 header protection key, as words
 * @lock: orders the transmits of the connection for the oracle
 * @last_pn: highest packet number sealed in each slot
 * @pn_window: bit i set if @last_pn - i was sealed in that slot
 * @pn_seen: whether @last_pn is set
 * @packets: packets sealed
 */
struct nsim_quic_conn {
	struct list_head dead;
	unsigned long gone;
	u32 gen;
	u32 index;
	enum quic_dev_cipher cipher;
	u8 cid_len;
	u8 dcid[QUIC_DEV_CID_MAX_LEN];
	struct crypto_aead __rcu *aead[QUIC_DEV_KEY_PHASES];
	struct crypto_aead *retired[QUIC_DEV_KEY_PHASES];
	unsigned long retired_gp[QUIC_DEV_KEY_PHASES];
	u8 iv[QUIC_DEV_KEY_PHASES][QUIC_DEV_IV_LEN];
	struct crypto_aes_ctx hp_aes;
	u32 hp_chacha[CHACHA_KEY_SIZE / sizeof(u32)];
	spinlock_t lock;	/* the oracle */
	u64 last_pn[QUIC_DEV_KEY_PHASES];
	u64 pn_window[QUIC_DEV_KEY_PHASES];
	bool pn_seen[QUIC_DEV_KEY_PHASES];
	u64 packets;
};

static const char *const nsim_quic_aead_names[] = {
	[QUIC_DEV_CIPHER_AES_128_GCM]		= "gcm(aes)",
	[QUIC_DEV_CIPHER_AES_256_GCM]		= "gcm(aes)",
	[QUIC_DEV_CIPHER_AES_128_CCM]		= "ccm(aes)",
	[QUIC_DEV_CIPHER_CHACHA20_POLY1305]	= "rfc7539(chacha20,poly1305)",
};

static struct nsim_quic *nsim_quic_of(struct net_device *dev)
{
	return &((struct netdevsim *)netdev_priv(dev))->quic;
}

static struct crypto_aead *nsim_quic_aead(enum quic_dev_cipher cipher,
					  const u8 *key, unsigned int key_len)
{
	struct crypto_aead *tfm;
	int err;

	/* Synchronous: it runs in the transmit path */
	tfm = crypto_alloc_aead(nsim_quic_aead_names[cipher], 0,
				CRYPTO_ALG_ASYNC);
	if (IS_ERR(tfm))
		return tfm;
	err = crypto_aead_setkey(tfm, key, key_len);
	if (!err)
		err = crypto_aead_setauthsize(tfm, QUIC_DEV_TAG_LEN);
	if (err) {
		crypto_free_aead(tfm);
		return ERR_PTR(err);
	}
	return tfm;
}

static void nsim_quic_conn_free(struct nsim_quic_conn *c)
{
	unsigned int i;

	for (i = 0; i < QUIC_DEV_KEY_PHASES; i++) {
		crypto_free_aead(rcu_dereference_protected(c->aead[i], true));
		crypto_free_aead(c->retired[i]);
	}
	kfree_sensitive(c);
}

/*
 * Free the deleted connections no transmit can see any more, and come
 * back a grace period later for the others. The ops may not wait for
 * one: the QUIC core calls them under its mutex.
 */
static void nsim_quic_reap(struct work_struct *work)
{
	struct nsim_quic *q = container_of(to_rcu_work(work), struct nsim_quic,
					   reap);
	struct nsim_quic_conn *c, *tmp;
	LIST_HEAD(list);
	bool more;

	spin_lock_bh(&q->dead_lock);
	list_for_each_entry_safe(c, tmp, &q->dead, dead) {
		if (!poll_state_synchronize_rcu(c->gone))
			break;
		list_move_tail(&c->dead, &list);
	}
	more = !list_empty(&q->dead);
	spin_unlock_bh(&q->dead_lock);
	if (more)
		queue_rcu_work(system_wq, &q->reap);
	list_for_each_entry_safe(c, tmp, &list, dead)
		nsim_quic_conn_free(c);
}

static int nsim_quic_conn_add(struct net_device *dev,
			      const struct quic_dev_conn_info *info,
			      u64 *handle)
{
	struct nsim_quic *q = nsim_quic_of(dev);
	struct crypto_aead *tfm;
	struct nsim_quic_conn *c;
	unsigned int i;
	u32 max, idx;
	int err;

	if (info->cipher >= ARRAY_SIZE(nsim_quic_aead_names) ||
	    q->refuse_ciphers & BIT(info->cipher)) {
		atomic64_inc(&q->stats.add_refused);
		return -EOPNOTSUPP;
	}
	if (q->add_errno) {
		atomic64_inc(&q->stats.add_refused);
		return q->add_errno <= MAX_ERRNO ? -(int)q->add_errno : -EINVAL;
	}
	max = q->max_conns ?: U32_MAX;
	if (q->count >= max) {
		atomic64_inc(&q->stats.add_refused);
		return -ENOSPC;
	}

	c = kzalloc(sizeof(*c), GFP_KERNEL);
	if (!c)
		return -ENOMEM;
	spin_lock_init(&c->lock);
	c->cipher = info->cipher;
	c->cid_len = info->cid_len;
	memcpy(c->dcid, info->dcid, info->cid_len);
	for (i = 0; i < QUIC_DEV_KEY_PHASES; i++) {
		tfm = nsim_quic_aead(info->cipher, info->key[i].key,
				     info->key_len);
		if (IS_ERR(tfm)) {
			err = PTR_ERR(tfm);
			goto err_free;
		}
		RCU_INIT_POINTER(c->aead[i], tfm);
		memcpy(c->iv[i], info->key[i].iv, QUIC_DEV_IV_LEN);
	}
	if (info->cipher == QUIC_DEV_CIPHER_CHACHA20_POLY1305) {
		for (i = 0; i < ARRAY_SIZE(c->hp_chacha); i++)
			c->hp_chacha[i] = get_unaligned_le32(info->hp_key +
							     4 * i);
	} else {
		err = aes_expandkey(&c->hp_aes, info->hp_key, info->key_len);
		if (err)
			goto err_free;
	}

	c->gen = ++q->gen;
	err = xa_alloc(&q->conns, &idx, c, XA_LIMIT(1, U32_MAX), GFP_KERNEL);
	if (err)
		goto err_free;
	c->index = idx;
	q->count++;
	atomic64_inc(&q->stats.add);
	*handle = (u64)c->gen << 32 | idx;
	return 0;

err_free:
	nsim_quic_conn_free(c);
	return err;
}

static struct nsim_quic_conn *nsim_quic_find(struct nsim_quic *q, u64 handle)
{
	struct nsim_quic_conn *c = xa_load(&q->conns, lower_32_bits(handle));

	return c && c->gen == upper_32_bits(handle) ? c : NULL;
}

static int nsim_quic_conn_update(struct net_device *dev, u64 handle,
				 unsigned int phase,
				 const struct quic_dev_key *key)
{
	struct nsim_quic *q = nsim_quic_of(dev);
	struct crypto_aead *tfm, *old;
	struct nsim_quic_conn *c;
	unsigned int key_len;

	c = nsim_quic_find(q, handle);
	if (!c || phase >= QUIC_DEV_KEY_PHASES)
		return -ENOENT;
	if (q->update_errno)
		return q->update_errno <= MAX_ERRNO ? -(int)q->update_errno :
						      -EINVAL;
	key_len = c->cipher == QUIC_DEV_CIPHER_AES_128_GCM ||
		  c->cipher == QUIC_DEV_CIPHER_AES_128_CCM ? 16 : 32;
	tfm = nsim_quic_aead(c->cipher, key->key, key_len);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	/* A transmit may use the key it replaces until a grace period. */
	if (c->retired[phase]) {
		cond_synchronize_rcu(c->retired_gp[phase]);
		crypto_free_aead(c->retired[phase]);
	}
	old = rcu_replace_pointer(c->aead[phase], tfm, true);
	memcpy(c->iv[phase], key->iv, QUIC_DEV_IV_LEN);
	c->retired[phase] = old;
	c->retired_gp[phase] = get_state_synchronize_rcu();
	atomic64_inc(&q->stats.update);
	return 0;
}

static void nsim_quic_conn_del(struct net_device *dev, u64 handle)
{
	struct nsim_quic *q = nsim_quic_of(dev);
	struct nsim_quic_conn *c;

	c = nsim_quic_find(q, handle);
	if (!c)
		return;
	xa_erase(&q->conns, c->index);
	q->count--;
	atomic64_inc(&q->stats.del);
	/* A transmit may still hold it: one requeued after a busy ring. */
	c->gone = get_state_synchronize_rcu();
	spin_lock_bh(&q->dead_lock);
	list_add_tail(&c->dead, &q->dead);
	spin_unlock_bh(&q->dead_lock);
	queue_rcu_work(system_wq, &q->reap);
}

static const struct quicdev_ops nsim_quicdev_ops = {
	.caps = {
		.ciphers	= BIT(QUIC_DEV_CIPHER_AES_128_GCM) |
				  BIT(QUIC_DEV_CIPHER_AES_256_GCM) |
				  BIT(QUIC_DEV_CIPHER_AES_128_CCM) |
				  BIT(QUIC_DEV_CIPHER_CHACHA20_POLY1305),
		.cid_lens	= GENMASK(QUIC_DEV_CID_MAX_LEN, 0),
		.flags		= QUIC_DEV_CAP_KEY_UPDATE,
	},
	.quic_conn_add		= nsim_quic_conn_add,
	.quic_conn_update	= nsim_quic_conn_update,
	.quic_conn_del		= nsim_quic_conn_del,
};

/* Header protection mask of a packet (RFC 9001, 5.4.3 and 5.4.4) */
static void nsim_quic_hp_mask(const struct nsim_quic_conn *c,
			      const u8 *sample, u8 *mask)
{
	u32 state[CHACHA_STATE_WORDS];
	static const u8 zero[5];
	u8 block[AES_BLOCK_SIZE];

	if (c->cipher == QUIC_DEV_CIPHER_CHACHA20_POLY1305) {
		/* Counter and nonce are the sample, as chacha_init() takes */
		chacha_init(state, c->hp_chacha, sample);
		chacha_crypt(state, mask, zero, sizeof(zero), 20);
		memzero_explicit(state, sizeof(state));
		return;
	}
	aes_encrypt(&c->hp_aes, block, sample);
	memcpy(mask, block, 5);
	memzero_explicit(block, sizeof(block));
}

/*
 * Whether the packet number was never sealed in its slot, as no nonce may
 * repeat. Two senders of one connection may reach the port in the other
 * order than they numbered their packets: a number below the highest is
 * new if the window of the last 64 does not have it. One older than the
 * window cannot be told apart from a repeat, and counts as one.
 */
static bool nsim_quic_pn_fresh(struct nsim_quic_conn *c, unsigned int slot,
			       u64 pn)
{
	u64 *window = &c->pn_window[slot];
	bool fresh = true;
	u64 ahead;

	spin_lock(&c->lock);
	if (!c->pn_seen[slot]) {
		*window = 1;
		c->last_pn[slot] = pn;
		c->pn_seen[slot] = true;
	} else if (pn > c->last_pn[slot]) {
		ahead = pn - c->last_pn[slot];
		*window = ahead < 64 ? *window << ahead | 1 : 1;
		c->last_pn[slot] = pn;
	} else if (c->last_pn[slot] - pn >= 64 ||
		   *window & BIT_ULL(c->last_pn[slot] - pn)) {
		fresh = false;
	} else {
		*window |= BIT_ULL(c->last_pn[slot] - pn);
	}
	if (fresh)
		c->packets++;
	spin_unlock(&c->lock);
	return fresh;
}

/* Seal the packet of @len bytes at @p, whose first packet is @base_pn. */
static int nsim_quic_seal(struct nsim_quic *q, struct nsim_quic_conn *c,
			  u8 *p, unsigned int len, u64 base_pn)
{
	unsigned int pn_len, hdr_len, slot, i;
	u8 nonce[16] = {}, mask[5];
	struct aead_request *req;
	struct crypto_aead *tfm;
	struct scatterlist sg;
	u8 *iv = nonce;
	u64 pn;
	int err;

	if (p[0] & NSIM_QUIC_HDR_FORM_LONG)
		return -EINVAL;
	pn_len = (p[0] & 0x03) + 1;
	hdr_len = 1 + c->cid_len + pn_len;
	if (len < 1 + c->cid_len + NSIM_QUIC_PN_OFF_SAMPLE +
		  NSIM_QUIC_SAMPLE_LEN || len < hdr_len + QUIC_DEV_TAG_LEN)
		return -EINVAL;
	pn = quic_dev_pn_decode(base_pn,
				quic_dev_pn_read(p + 1 + c->cid_len, pn_len),
				pn_len);
	slot = !!(p[0] & QUIC_DEV_KEY_PHASE_BIT);
	if (!nsim_quic_pn_fresh(c, slot, pn)) {
		atomic64_inc(&q->stats.pn_reuse);
		return -EEXIST;
	}

	/* The nonce is the IV with the packet number XORed into its end. */
	if (c->cipher == QUIC_DEV_CIPHER_AES_128_CCM) {
		/* ccm(aes) takes the counter block: L' = 2 for 12 bytes */
		nonce[0] = 2;
		iv = nonce + 1;
	}
	memcpy(iv, c->iv[slot], QUIC_DEV_IV_LEN);
	for (i = 0; i < 8; i++)
		iv[QUIC_DEV_IV_LEN - 1 - i] ^= pn >> (8 * i);

	tfm = rcu_dereference(c->aead[slot]);
	req = aead_request_alloc(tfm, GFP_ATOMIC);
	if (!req)
		return -ENOMEM;
	sg_init_one(&sg, p, len);
	aead_request_set_callback(req, 0, NULL, NULL);
	aead_request_set_ad(req, hdr_len);
	aead_request_set_crypt(req, &sg, &sg, len - hdr_len - QUIC_DEV_TAG_LEN,
			       nonce);
	err = crypto_aead_encrypt(req);
	aead_request_free(req);
	memzero_explicit(nonce, sizeof(nonce));
	if (err)
		return err;

	nsim_quic_hp_mask(c, p + 1 + c->cid_len + NSIM_QUIC_PN_OFF_SAMPLE,
			  mask);
	p[0] ^= mask[0] & 0x1f;
	for (i = 0; i < pn_len; i++)
		p[1 + c->cid_len + i] ^= mask[1 + i];
	return 0;
}

/* The UDP checksum, over the ciphertext */
static void nsim_quic_udp_csum(struct sk_buff *skb)
{
	unsigned int off = skb_transport_offset(skb);
	unsigned int len = skb->len - off;
	struct udphdr *uh = udp_hdr(skb);
	__wsum csum;

	uh->check = 0;
	csum = skb_checksum(skb, off, len, 0);
	if (skb->protocol == htons(ETH_P_IP))
		uh->check = csum_tcpudp_magic(ip_hdr(skb)->saddr,
					      ip_hdr(skb)->daddr, len,
					      IPPROTO_UDP, csum);
	else
		uh->check = csum_ipv6_magic(&ipv6_hdr(skb)->saddr,
					    &ipv6_hdr(skb)->daddr, len,
					    IPPROTO_UDP, csum);
	if (!uh->check)
		uh->check = CSUM_MANGLED_0;
	skb->ip_summed = CHECKSUM_NONE;
}

/* A sealed copy of the one-packet segment @seg, or NULL */
static struct sk_buff *nsim_quic_segment(struct nsim_quic *q,
					 struct nsim_quic_conn *c,
					 struct sk_buff *seg, u64 base_pn)
{
	unsigned int off = skb_transport_offset(seg) + sizeof(struct udphdr);
	struct sk_buff *nskb;

	/* Linear and private: the stack's pages stay as they are. */
	nskb = skb_copy(seg, GFP_ATOMIC);
	if (!nskb)
		return NULL;
	if (nskb->len <= off ||
	    nsim_quic_seal(q, c, nskb->data + off, nskb->len - off,
			   base_pn)) {
		kfree_skb(nskb);
		return NULL;
	}
	nskb->decrypted = 0;
	skb_ext_del(nskb, SKB_EXT_QUIC);
	nsim_quic_udp_csum(nskb);
	atomic64_inc(&q->stats.tx_packets);
	atomic64_add(nskb->len - off, &q->stats.tx_bytes);
	return nskb;
}

/**
 * nsim_quic_xmit() - seal what the stack marked for the port
 * @ns: the port
 * @skb: an skb to transmit; consumed
 *
 * Context: transmit path, RCU read side.
 *
 * Return: @skb as it is if it is not marked, else a list of sealed
 * segments (skb->next), or NULL if nothing is left to send.
 */
struct sk_buff *nsim_quic_xmit(struct netdevsim *ns, struct sk_buff *skb)
{
	const struct quic_dev_skb_info *info = quic_dev_skb_info(skb);
	struct sk_buff *segs, *seg, *next, *out = NULL, **tail = &out;
	struct nsim_quic *q = &ns->quic;
	struct nsim_quic_conn *c;
	u64 base_pn;

	if (!info)
		return skb;
	c = nsim_quic_find(q, info->handle);
	if (!c) {
		atomic64_inc(&q->stats.bad_handle);
		kfree_skb(skb);
		return NULL;
	}
	if (!READ_ONCE(q->encrypt)) {
		/* A sink, for the benchmark: nothing leaves the port. */
		atomic64_add(skb_is_gso(skb) ? skb_shinfo(skb)->gso_segs : 1,
			     &q->stats.tx_packets);
		atomic64_add(skb->len - skb_transport_offset(skb) -
			     sizeof(struct udphdr), &q->stats.tx_bytes);
		consume_skb(skb);
		return NULL;
	}
	base_pn = info->base_pn;

	segs = skb;
	if (skb_is_gso(skb)) {
		segs = skb_gso_segment(skb, NETIF_F_SG | NETIF_F_HW_CSUM);
		if (IS_ERR_OR_NULL(segs)) {
			atomic64_inc(&q->stats.drops);
			kfree_skb(skb);
			return NULL;
		}
		consume_skb(skb);
	}
	skb_list_walk_safe(segs, seg, next) {
		struct sk_buff *nskb = nsim_quic_segment(q, c, seg, base_pn);

		if (nskb) {
			*tail = nskb;
			tail = &nskb->next;
		} else {
			atomic64_inc(&q->stats.drops);
		}
		skb_mark_not_on_list(seg);
		consume_skb(seg);
	}
	return out;
}

static int nsim_quic_stats_show(struct seq_file *m, void *v)
{
	struct nsim_quic *q = m->private;

	seq_printf(m, "add %lld\n", atomic64_read(&q->stats.add));
	seq_printf(m, "add_refused %lld\n", atomic64_read(&q->stats.add_refused));
	seq_printf(m, "update %lld\n", atomic64_read(&q->stats.update));
	seq_printf(m, "del %lld\n", atomic64_read(&q->stats.del));
	seq_printf(m, "tx_packets %lld\n", atomic64_read(&q->stats.tx_packets));
	seq_printf(m, "tx_bytes %lld\n", atomic64_read(&q->stats.tx_bytes));
	seq_printf(m, "bad_handle %lld\n", atomic64_read(&q->stats.bad_handle));
	seq_printf(m, "pn_reuse %lld\n", atomic64_read(&q->stats.pn_reuse));
	seq_printf(m, "drops %lld\n", atomic64_read(&q->stats.drops));
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(nsim_quic_stats);

static int nsim_quic_conns_show(struct seq_file *m, void *v)
{
	struct nsim_quic *q = m->private;
	struct nsim_quic_conn *c;
	unsigned long idx;

	/* A deleted connection is freed a grace period after it is erased. */
	rcu_read_lock();
	xa_for_each(&q->conns, idx, c) {
		seq_printf(m, "%#llx %u ", (u64)c->gen << 32 | c->index,
			   c->cipher);
		if (c->cid_len)
			seq_printf(m, "%*phN", c->cid_len, c->dcid);
		else
			seq_puts(m, "-");
		seq_printf(m, " %llu\n", READ_ONCE(c->packets));
	}
	rcu_read_unlock();
	return 0;
}
DEFINE_SHOW_ATTRIBUTE(nsim_quic_conns);

static ssize_t nsim_quic_encrypt_write(struct file *file,
				       const char __user *data,
				       size_t count, loff_t *ppos)
{
	struct netdevsim *ns = file->private_data;
	bool val;
	int err;

	err = kstrtobool_from_user(data, count, &val);
	if (err)
		return err;
	/* Plaintext never reaches a peer. */
	if (!val && rcu_access_pointer(ns->peer))
		return -EBUSY;
	WRITE_ONCE(ns->quic.encrypt, val);
	return count;
}

static ssize_t nsim_quic_encrypt_read(struct file *file, char __user *data,
				      size_t count, loff_t *ppos)
{
	struct netdevsim *ns = file->private_data;
	char buf[4];
	int len;

	len = scnprintf(buf, sizeof(buf), "%u\n", READ_ONCE(ns->quic.encrypt));
	return simple_read_from_buffer(data, count, ppos, buf, len);
}

static const struct file_operations nsim_quic_encrypt_fops = {
	.open	= simple_open,
	.read	= nsim_quic_encrypt_read,
	.write	= nsim_quic_encrypt_write,
	.llseek	= generic_file_llseek,
	.owner	= THIS_MODULE,
};

/* As a firmware reset would: the port stops encrypting on its own. */
static ssize_t nsim_quic_stop_write(struct file *file, const char __user *data,
				    size_t count, loff_t *ppos)
{
	struct netdevsim *ns = file->private_data;
	bool val;
	int err;

	err = kstrtobool_from_user(data, count, &val);
	if (err)
		return err;
	if (!val)
		return count;
	/*
	 * The port's teardown removes this file under rtnl and waits for
	 * its writers: waiting for rtnl here would deadlock with it.
	 */
	if (!rtnl_trylock())
		return restart_syscall();
	ns->netdev->wanted_features &= ~NETIF_F_HW_QUIC_TX;
	netdev_update_features(ns->netdev);
	rtnl_unlock();
	return count;
}

static const struct file_operations nsim_quic_stop_fops = {
	.open	= simple_open,
	.write	= nsim_quic_stop_write,
	.llseek	= generic_file_llseek,
	.owner	= THIS_MODULE,
};

/**
 * nsim_quic_init() - the port encrypts QUIC
 * @ns: a port being created, not yet registered
 */
void nsim_quic_init(struct netdevsim *ns)
{
	struct nsim_quic *q = &ns->quic;
	struct net_device *dev = ns->netdev;

	xa_init_flags(&q->conns, XA_FLAGS_ALLOC1);
	INIT_LIST_HEAD(&q->dead);
	spin_lock_init(&q->dead_lock);
	INIT_RCU_WORK(&q->reap, nsim_quic_reap);
	q->encrypt = 1;
	dev->quicdev_ops = &nsim_quicdev_ops;
	dev->features |= NETIF_F_HW_QUIC_TX | NETIF_F_GSO_UDP_L4;
	dev->hw_features |= NETIF_F_HW_QUIC_TX | NETIF_F_GSO_UDP_L4;

	q->ddir = debugfs_create_dir("quic", ns->nsim_dev_port->ddir);
	debugfs_create_file("stats", 0400, q->ddir, q, &nsim_quic_stats_fops);
	debugfs_create_file("conns", 0400, q->ddir, q, &nsim_quic_conns_fops);
	debugfs_create_u32("refuse_ciphers", 0600, q->ddir,
			   &q->refuse_ciphers);
	debugfs_create_u32("add_errno", 0600, q->ddir, &q->add_errno);
	debugfs_create_u32("update_errno", 0600, q->ddir, &q->update_errno);
	debugfs_create_u32("max_conns", 0600, q->ddir, &q->max_conns);
	debugfs_create_file("encrypt", 0600, q->ddir, ns,
			    &nsim_quic_encrypt_fops);
	debugfs_create_file("stop", 0200, q->ddir, ns, &nsim_quic_stop_fops);
}

/**
 * nsim_quic_teardown() - the port is unregistered
 * @ns: the port
 *
 * The QUIC core deleted its connections when the port unregistered.
 * Those it deleted are freed here if the reaper did not free them yet.
 */
void nsim_quic_teardown(struct netdevsim *ns)
{
	struct nsim_quic *q = &ns->quic;
	struct nsim_quic_conn *c, *tmp;
	unsigned long idx;
	LIST_HEAD(list);

	debugfs_remove_recursive(q->ddir);
	xa_for_each(&q->conns, idx, c) {
		WARN_ON_ONCE(1);
		xa_erase(&q->conns, idx);
		nsim_quic_conn_free(c);
	}
	xa_destroy(&q->conns);

	synchronize_rcu();
	spin_lock_bh(&q->dead_lock);
	list_splice_init(&q->dead, &list);
	spin_unlock_bh(&q->dead_lock);
	list_for_each_entry_safe(c, tmp, &list, dead)
		nsim_quic_conn_free(c);
	/* A reaper queued before finds the list empty and stops. */
	rcu_barrier();
	cancel_work_sync(&q->reap.work);
}
