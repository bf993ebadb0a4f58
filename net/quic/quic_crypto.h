/* SPDX-License-Identifier: GPL-2.0 */
/*
 * QUIC packet protection (RFC 9001, section 5): AEAD payload protection and
 * header protection for one direction of one connection.
 */

#ifndef _NET_QUIC_CRYPTO_H
#define _NET_QUIC_CRYPTO_H

#include <crypto/aes.h>
#include <crypto/chacha.h>
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/crypto.h>
#include <linux/gfp_types.h>
#include <linux/refcount.h>
#include <linux/types.h>
#include <uapi/linux/quic.h>

struct aead_request;
struct crypto_aead;
struct crypto_lskcipher;
struct scatterlist;

#define QUIC_IV_SIZE		12	/* every QUIC AEAD takes a 96-bit nonce */
#define QUIC_TAG_SIZE		QUIC_CRYPTO_TAG_SIZE
#define QUIC_AEAD_IV_MAX	16	/* CCM wants a whole counter block */
#define QUIC_HP_SAMPLE_SIZE	16
#define QUIC_HP_MASK_SIZE	5	/* first byte, then up to 4 PN bytes */
#define QUIC_PN_MAX_LEN		4
#define QUIC_PN_MAX		((1ULL << 62) - 1)

/*
 * State a user makes the kernel hold is charged to the user's memory
 * cgroup, which refuses it at its limit rather than OOM-kill the caller.
 */
#define QUIC_GFP_STATE		(GFP_KERNEL_ACCOUNT | __GFP_RETRY_MAYFAIL)

/* First byte of a packet (RFC 9000, section 17) */
#define QUIC_HDR_FORM_LONG	0x80
#define QUIC_HDR_PN_LEN_MASK	0x03

/*
 * Both key phases of RFC 9001, section 6 have a slot so that a key update
 * can install the next key beside the current one.
 */
#define QUIC_KEY_PHASES		2
#define QUIC_HDR_KEY_PHASE	0x04	/* Key Phase bit of a short header */

enum quic_hp_algo {
	QUIC_HP_AES,
	QUIC_HP_CHACHA20,
};

/**
 * struct quic_cipher - a QUIC cipher suite
 * @tls_type: TLS_CIPHER_* value userspace names it by
 * @aead_name: crypto API name of the payload AEAD
 * @key_size: size of the AEAD key and of the header protection key
 * @aead_charge: bytes charged for each AEAD transform.  The crypto API
 *	allocates a transform, the children of a template (gcm_base,
 *	ccm_base, rfc7539) and what their setkey expands without
 *	__GFP_ACCOUNT and does not say how much that is: this is more than
 *	any implementation of this kernel holds with KASAN on, which the
 *	quic_memcg selftest checks against the growth of the slab
 * @ccm_iv: the AEAD wants the 16-byte CCM counter block instead of the
 *	12-byte nonce
 * @hp: header protection algorithm
 * @hp_charge: bytes charged for the header protection transform, the
 *	same way as @aead_charge; 0 if there is none
 */
struct quic_cipher {
	u16 tls_type;
	const char *aead_name;
	u8 key_size;
	unsigned int aead_charge;
	bool ccm_iv;
	enum quic_hp_algo hp;
	unsigned int hp_charge;
};

/**
 * struct quic_aead_key - payload protection key of one key phase
 * @refcnt: one for each struct quic_crypto_keys holding the key; a key
 *	update builds a new set that shares the key it keeps
 * @tfm: AEAD transform keyed with the packet protection key
 * @iv: the 12-byte IV the per-packet nonce is derived from
 */
struct quic_aead_key {
	refcount_t refcnt;
	struct crypto_aead *tfm;
	u8 iv[QUIC_IV_SIZE];
};

/**
 * struct quic_hp_key - header protection key of a connection
 * @refcnt: one for each struct quic_crypto_keys holding the key
 * @aes: for an AES suite, the ecb(aes) transform the crypto API ranks
 *	first, keyed with it, on linear memory (an lskcipher: samples are
 *	not worth a walk of a scatterlist): the AES instructions where the CPU
 *	has them, whose timing does not depend on the data; NULL if that
 *	would be the generic C code, whose tables leak more through the
 *	cache than those of the AES library, which is then used instead
 * @aes_lib: the expanded key for the AES library, when @aes is NULL
 * @chacha: the ChaCha20 key as little-endian words, for ChaCha20
 */
struct quic_hp_key {
	refcount_t refcnt;
	struct crypto_lskcipher *aes;
	union {
		struct crypto_aes_ctx aes_lib;
		u32 chacha[CHACHA_KEY_SIZE / sizeof(u32)];
	};
};

/**
 * struct quic_crypto_keys - packet protection state of one direction
 * @cipher: cipher suite of the connection
 * @hp: header protection key
 * @aead: payload keys, indexed by key phase; NULL for a phase without one
 * @phased: select the key by the Key Phase bit of each packet; when false
 *	every packet uses @aead[0] whatever its Key Phase bit says
 * @sync: the AEAD transforms complete in the caller, so that packets can
 *	be sealed in atomic context (quic_packet_seal_atomic()); a key update
 *	keeps it
 *
 * The header protection key does not change on key update (RFC 9001,
 * section 6), hence a single one beside the per-phase AEAD keys.  A set is
 * never changed once senders can see it: a key update builds a new one.
 */
struct quic_crypto_keys {
	const struct quic_cipher *cipher;
	struct quic_hp_key *hp;
	struct quic_aead_key *aead[QUIC_KEY_PHASES];
	bool phased;
	bool sync;
};

/**
 * struct quic_crypto_req - scratch state to protect a packet with
 * @aead: AEAD request, sized by quic_crypto_req_size() for the keys in use
 * @iv: nonce (or CCM counter block) of the packet being protected
 */
struct quic_crypto_req {
	struct aead_request *aead;
	u8 iv[QUIC_AEAD_IV_MAX];
};

/**
 * struct quic_crypto_batch - AEAD requests submitted together
 * @done: completed by the last asynchronous completion, once the
 *	submitter has let go of its own count
 * @pending: requests in flight, plus one held by the submitter
 * @err: first error an asynchronous completion reported
 *
 * An asynchronous implementation owns a request from its submission
 * until its completion runs, whatever the submission returned on the way
 * (-EINPROGRESS, or -EBUSY when it went to the backlog), so the requests,
 * their memory and the keys stay until quic_crypto_batch_wait() returns.
 */
struct quic_crypto_batch {
	struct completion done;
	atomic_t pending;
	int err;
};

/* Length of the packet number, from the unprotected first byte */
static inline unsigned int quic_pn_len(u8 first_byte)
{
	return (first_byte & QUIC_HDR_PN_LEN_MASK) + 1;
}

const struct quic_cipher *quic_cipher_find(u16 tls_type);
int quic_crypto_keys_init(struct quic_crypto_keys *keys,
			  const struct quic_cipher *cipher,
			  const u8 *aead_key, const u8 *iv, const u8 *hp_key);
int quic_crypto_keys_init_sync(struct quic_crypto_keys *keys,
			       const struct quic_cipher *cipher,
			       const u8 *aead_key, const u8 *iv,
			       const u8 *hp_key);
void quic_crypto_keys_destroy(struct quic_crypto_keys *keys);
size_t quic_crypto_keys_uncharged(const struct quic_crypto_keys *keys);
int quic_crypto_keys_update(struct quic_crypto_keys *dst,
			    const struct quic_crypto_keys *src,
			    unsigned int phase, const u8 *aead_key,
			    const u8 *iv);
int quic_crypto_keys_retire(struct quic_crypto_keys *dst,
			    const struct quic_crypto_keys *src,
			    unsigned int phase);

unsigned int quic_crypto_req_size(const struct quic_crypto_keys *keys);
void quic_crypto_req_init(struct quic_crypto_req *req, void *aead_mem);
void quic_crypto_batch_init(struct quic_crypto_batch *batch);
int quic_crypto_batch_wait(struct quic_crypto_batch *batch);

void quic_nonce_build(u8 nonce[QUIC_IV_SIZE], const u8 iv[QUIC_IV_SIZE],
		      u64 pn);
int quic_hp_masks(const struct quic_crypto_keys *keys, u8 *blocks,
		  unsigned int n);
void quic_hp_apply(u8 hdr_bytes[QUIC_HP_MASK_SIZE],
		   const u8 mask[QUIC_HP_MASK_SIZE]);
int quic_packet_seal(const struct quic_crypto_keys *keys,
		     struct quic_crypto_req *req, struct scatterlist *sg,
		     const u8 *hdr, unsigned int hdr_len,
		     unsigned int payload_len, u64 pn,
		     struct quic_crypto_batch *batch);
int quic_packet_seal_atomic(const struct quic_crypto_keys *keys,
			    struct quic_crypto_req *req,
			    struct scatterlist *sg, const u8 *hdr,
			    unsigned int hdr_len, unsigned int payload_len,
			    u64 pn);

#if IS_ENABLED(CONFIG_KUNIT)
int quic_hp_key_init(struct quic_crypto_keys *keys, const u8 *hp_key,
		     bool aes_library);
void quic_aead_iv_build(const struct quic_cipher *cipher,
			u8 aead_iv[QUIC_AEAD_IV_MAX],
			const u8 iv[QUIC_IV_SIZE], u64 pn);
#endif

#endif /* _NET_QUIC_CRYPTO_H */
