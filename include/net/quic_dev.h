/* SPDX-License-Identifier: GPL-2.0 */
/*
 * QUIC 1-RTT Tx crypto offload to network devices: the driver's side.
 *
 * A device that encrypts QUIC short-header packets on transmit advertises
 * NETIF_F_HW_QUIC_TX and sets dev->quicdev_ops. The QUIC core programs the
 * keys of a connection into it, then hands it skbs of plaintext packets
 * that carry the connection's handle (quic_dev_skb_info()). Everything
 * here is types and inlines: a driver does not depend on the QUIC module.
 */

#ifndef _NET_QUIC_DEV_H
#define _NET_QUIC_DEV_H

#include <linux/bits.h>
#include <linux/skbuff.h>
#include <linux/types.h>

struct net_device;

/**
 * define QUIC_DEV_CID_MAX_LEN - longest connection ID (RFC 9000, 17.2)
 */
#define QUIC_DEV_CID_MAX_LEN	20

/**
 * define QUIC_DEV_KEY_MAX_LEN - longest key of the ciphers below
 */
#define QUIC_DEV_KEY_MAX_LEN	32

/**
 * define QUIC_DEV_IV_LEN - nonce length of every QUIC AEAD (96 bits)
 */
#define QUIC_DEV_IV_LEN		12

/**
 * define QUIC_DEV_TAG_LEN - AEAD tag; each packet ends in room for it
 */
#define QUIC_DEV_TAG_LEN	16

/**
 * define QUIC_DEV_KEY_PHASE_BIT - Key Phase bit of a short header's
 * first byte, which names the key slot of a packet
 */
#define QUIC_DEV_KEY_PHASE_BIT	0x04

/**
 * define QUIC_DEV_KEY_PHASES - key slots of a connection, so that a key
 * update installs the next key beside the current one (RFC 9001, 6)
 */
#define QUIC_DEV_KEY_PHASES	2

/**
 * enum quic_dev_cipher - packet protection of a connection (RFC 9001, 5)
 * @QUIC_DEV_CIPHER_AES_128_GCM: AEAD_AES_128_GCM, AES-128 header protection
 * @QUIC_DEV_CIPHER_AES_256_GCM: AEAD_AES_256_GCM, AES-256 header protection
 * @QUIC_DEV_CIPHER_AES_128_CCM: AEAD_AES_128_CCM, AES-128 header protection
 * @QUIC_DEV_CIPHER_CHACHA20_POLY1305: AEAD_CHACHA20_POLY1305, ChaCha20
 *	header protection
 */
enum quic_dev_cipher {
	QUIC_DEV_CIPHER_AES_128_GCM,
	QUIC_DEV_CIPHER_AES_256_GCM,
	QUIC_DEV_CIPHER_AES_128_CCM,
	QUIC_DEV_CIPHER_CHACHA20_POLY1305,
};

/**
 * define QUIC_DEV_CAP_KEY_UPDATE - the device takes a new key for one
 * phase of a connection it holds (quicdev_ops.quic_conn_update); without
 * it, a key update moves the connection back to software encryption
 */
#define QUIC_DEV_CAP_KEY_UPDATE	BIT(0)

/**
 * struct quic_dev_caps - what a device can encrypt
 * @ciphers: BIT(c) for each enum quic_dev_cipher c it implements
 * @cid_lens: BIT(n) for each Destination Connection ID length n, 0 to
 *	QUIC_DEV_CID_MAX_LEN, it can find the packet number behind
 * @flags: QUIC_DEV_CAP_* flags
 *
 * GSO is not a capability: a device with NETIF_F_GSO_UDP_L4 gets whole
 * UDP GSO batches, any other device the stack's segments of them, and
 * each segment carries the same metadata, so a driver handles both.
 */
struct quic_dev_caps {
	u32 ciphers;
	u32 cid_lens;
	u32 flags;
};

/**
 * struct quic_dev_key - payload protection key of one key phase
 * @key: AEAD key, struct quic_dev_conn_info.key_len bytes
 * @iv: IV that each packet's nonce is derived from (RFC 9001, 5.3)
 */
struct quic_dev_key {
	u8 key[QUIC_DEV_KEY_MAX_LEN];
	u8 iv[QUIC_DEV_IV_LEN];
};

/**
 * struct quic_dev_conn_info - a connection to program into a device
 * @cipher: its enum quic_dev_cipher
 * @key_len: length of its AEAD and header protection keys, 16 or 32
 * @cid_len: length of the Destination Connection ID of its packets
 * @dcid: that connection ID, @cid_len bytes
 * @hp_key: header protection key, @key_len bytes; it does not change
 *	on key update (RFC 9001, section 6)
 * @key: payload protection keys, indexed by the Key Phase bit of each
 *	packet
 */
struct quic_dev_conn_info {
	enum quic_dev_cipher cipher;
	u8 key_len;
	u8 cid_len;
	u8 dcid[QUIC_DEV_CID_MAX_LEN];
	u8 hp_key[QUIC_DEV_KEY_MAX_LEN];
	struct quic_dev_key key[QUIC_DEV_KEY_PHASES];
};

/**
 * struct quicdev_ops - QUIC Tx crypto offload operations of a device
 * @caps: what the device can encrypt, constant while it is registered
 * @quic_conn_add: program the connection @info into @dev and store in
 *	@handle the value its skbs will carry. The socket of the connection
 *	is locked; rtnl is not held. Return: 0 once @dev encrypts skbs that
 *	carry @handle; -EOPNOTSUPP if it never can encrypt this connection
 *	(not asked again until its features change); -ENOSPC if it holds
 *	as many connections as it can (asked again after one of its
 *	connections is deleted, or a second later); -ENOMEM, -EBUSY,
 *	-EAGAIN or -EIO for a transient failure (asked again with a backoff
 *	of 1 to 64 seconds). Any other errno counts as -EOPNOTSUPP and
 *	warns once. Whatever the error, the connection goes on in software.
 * @quic_conn_update: replace the key of slot @phase, 0 or 1, of the
 *	connection @handle with @key, leaving the other slot as it is. The
 *	socket is locked. Called only with QUIC_DEV_CAP_KEY_UPDATE, and
 *	only once no skb that @dev still has to send uses that slot: the
 *	driver orders the new key after descriptors already posted.
 *	Return: 0, or any negative errno, after which the connection
 *	leaves @dev (quic_conn_del()) and goes on in software.
 * @quic_conn_del: forget the connection @handle and wipe its keys. It
 *	cannot fail and may be called under rtnl. Called after every skb
 *	that was handed to @dev with @handle is out of its transmit path;
 *	an skb still carrying @handle later (one requeued after
 *	NETDEV_TX_BUSY) must be dropped and counted, never sent in clear.
 *	So @handle is not given to another connection while such an skb
 *	may remain: its keys would seal it, under a nonce that connection
 *	may use too. A driver that reuses its slots puts a generation of
 *	the slot in the handle's upper bits.
 *
 * All three run in process context, may sleep, and are serialised with
 * each other for all devices by the QUIC core. They must not wait for an
 * RCU grace period: the core waited for one before @quic_conn_update and
 * @quic_conn_del, and calls them under a mutex that device events take
 * under rtnl. State a requeued skb may still reach is freed a grace
 * period later (call_rcu(), queue_rcu_work()).
 */
struct quicdev_ops {
	struct quic_dev_caps caps;
	int (*quic_conn_add)(struct net_device *dev,
			     const struct quic_dev_conn_info *info,
			     u64 *handle);
	int (*quic_conn_update)(struct net_device *dev, u64 handle,
				unsigned int phase,
				const struct quic_dev_key *key);
	void (*quic_conn_del)(struct net_device *dev, u64 handle);
};

/**
 * struct quic_dev_skb_info - what a device needs to encrypt an skb
 * @handle: the connection, as quic_conn_add() stored it
 * @base_pn: full packet number of the first packet of the skb
 *
 * Each UDP payload segment (every gso_size bytes of a GSO skb, or the
 * whole payload) is one short-header packet in plaintext that ends in
 * QUIC_DEV_TAG_LEN zeroed bytes of room for its tag. For each, the device
 * reads the packet number length from the first byte, decodes the packet
 * number with quic_dev_pn_decode(@base_pn, ...), takes the key of the
 * slot the Key Phase bit names, seals the payload with the header as
 * associated data, writes the tag, applies header protection with the
 * sample 4 bytes after the start of the packet number (RFC 9001, 5.4.2)
 * and completes the UDP checksum: the skb is CHECKSUM_PARTIAL. An
 * unknown or stale @handle means drop and count.
 */
struct quic_dev_skb_info {
	u64 handle;
	u64 base_pn;
};

/**
 * struct quic_skb_core - the QUIC core's part of SKB_EXT_QUIC
 * @id: the connection, as the core numbers those it offloads
 * @attach_gen: which of the connection's attachments to a device the
 *	skb was marked for
 * @key_id: identity of the key of each key slot the packets were checked
 *	against, so that a key installed since is never used for them
 * @phases: BIT(slot) for each key slot a packet of the skb names
 *
 * Drivers do not look at it.
 */
struct quic_skb_core {
	u32 id;
	u32 attach_gen;
	u32 key_id[QUIC_DEV_KEY_PHASES];
	u8 phases;
};

/**
 * struct quic_skb_ext - SKB_EXT_QUIC, metadata of an skb of plaintext
 * @dev: the device's part
 * @core: the QUIC core's part, to check the skb at transmit
 *
 * It holds no references: an skb that is freed anywhere frees nothing
 * else, and clones and segments share or copy it as they are.
 */
struct quic_skb_ext {
	struct quic_dev_skb_info dev;
	struct quic_skb_core core;
};

/**
 * quic_dev_skb_info() - QUIC metadata of an skb the device is to encrypt
 * @skb: an skb handed to the driver for transmit
 *
 * Return: NULL if @skb is to be sent as it is, else how to encrypt it.
 */
static inline const struct quic_dev_skb_info *
quic_dev_skb_info(const struct sk_buff *skb)
{
#if IS_ENABLED(CONFIG_QUIC_DEVICE)
	const struct quic_skb_ext *ext;

	if (!skb_is_decrypted(skb))
		return NULL;
	ext = skb_ext_find(skb, SKB_EXT_QUIC);
	return ext ? &ext->dev : NULL;
#else
	return NULL;
#endif
}

/**
 * quic_dev_pn_read() - the truncated packet number of a packet
 * @pn: where it starts, 1 + DCID length bytes into the packet
 * @pn_len: its length, 1 + the low two bits of the first byte
 *
 * Return: the value to hand to quic_dev_pn_decode().
 */
static inline u32 quic_dev_pn_read(const u8 *pn, unsigned int pn_len)
{
	u32 val = 0;
	unsigned int i;

	for (i = 0; i < pn_len; i++)
		val = val << 8 | pn[i];
	return val;
}

/**
 * quic_dev_pn_decode() - recover a full packet number (RFC 9000, A.3)
 * @expected: the packet number the packet is expected to carry; for a
 *	device, struct quic_dev_skb_info.base_pn
 * @truncated: the encoded packet number bits, in host order
 * @pn_len: number of bytes they were encoded in, 1 to 4
 *
 * Return: the packet number closest to @expected whose low bits are
 * @truncated. It exceeds 2^62 - 1 only if @expected does.
 */
static inline u64 quic_dev_pn_decode(u64 expected, u32 truncated,
				     unsigned int pn_len)
{
	u64 win = 1ULL << (pn_len * 8);
	u64 hwin = win / 2;
	u64 candidate = (expected & ~(win - 1)) | truncated;

	/* Compare with additions: @expected may be smaller than @hwin. */
	if (candidate + hwin <= expected && candidate < (1ULL << 62) - win)
		return candidate + win;
	if (candidate > expected + hwin && candidate >= win)
		return candidate - win;
	return candidate;
}

#endif /* _NET_QUIC_DEV_H */
