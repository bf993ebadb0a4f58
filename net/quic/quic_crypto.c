// SPDX-License-Identifier: GPL-2.0
/*
 * QUIC packet protection (RFC 9001, section 5).
 *
 * Payload protection uses one AEAD transform per connection and key phase.
 * Header protection needs a single block per packet: the masks of a whole
 * batch are one ecb(aes) request (the AES library's code block by block
 * where the crypto API has only the generic C AES), or the ChaCha20
 * library's block function for each.
 */

#include <crypto/aead.h>
#include <crypto/skcipher.h>
#include <kunit/visibility.h>
#include <linux/atomic.h>
#include <linux/completion.h>
#include <linux/kernel.h>
#include <linux/scatterlist.h>
#include <linux/sizes.h>
#include <linux/slab.h>
#include <linux/string.h>
#include <linux/unaligned.h>

#include "quic_crypto.h"

/* RFC 9001, section 5.4.1: bits of the first byte under header protection */
#define QUIC_HP_LONG_BITS	0x0f
#define QUIC_HP_SHORT_BITS	0x1f
/* RFC 3610: CCM counter field size L minus one, for a 12-byte nonce */
#define QUIC_CCM_L_PRIME	(15 - QUIC_IV_SIZE - 1)

static const struct quic_cipher quic_ciphers[] = {
	{
		.tls_type	= TLS_CIPHER_AES_GCM_128,
		.aead_name	= "gcm(aes)",
		.key_size	= 16,
		.aead_charge	= SZ_4K,
		.hp		= QUIC_HP_AES,
		.hp_charge	= SZ_2K,
	}, {
		.tls_type	= TLS_CIPHER_AES_GCM_256,
		.aead_name	= "gcm(aes)",
		.key_size	= 32,
		.aead_charge	= SZ_4K,
		.hp		= QUIC_HP_AES,
		.hp_charge	= SZ_2K,
	}, {
		.tls_type	= TLS_CIPHER_AES_CCM_128,
		.aead_name	= "ccm(aes)",
		.key_size	= 16,
		.aead_charge	= SZ_8K,
		.ccm_iv		= true,
		.hp		= QUIC_HP_AES,
		.hp_charge	= SZ_2K,
	}, {
		.tls_type	= TLS_CIPHER_CHACHA20_POLY1305,
		.aead_name	= "rfc7539(chacha20,poly1305)",
		.key_size	= 32,
		.aead_charge	= SZ_4K,
		.hp		= QUIC_HP_CHACHA20,
	},
};

/**
 * quic_cipher_find() - look up a cipher suite by its TLS_CIPHER_* number
 * @tls_type: value of struct quic_connection_info.cipher_type
 *
 * Return: the suite, or NULL when QUIC offload does not support it.
 */
const struct quic_cipher *quic_cipher_find(u16 tls_type)
{
	unsigned int i;

	for (i = 0; i < ARRAY_SIZE(quic_ciphers); i++)
		if (quic_ciphers[i].tls_type == tls_type)
			return &quic_ciphers[i];
	return NULL;
}
EXPORT_SYMBOL_IF_KUNIT(quic_cipher_find);

/* @sync: only an implementation that never completes asynchronously */
static struct quic_aead_key *
quic_aead_key_alloc(const struct quic_cipher *cipher, const u8 *key,
		    const u8 *iv, bool sync)
{
	struct crypto_aead *tfm;
	struct quic_aead_key *ak;
	int err;

	ak = kzalloc(sizeof(*ak), QUIC_GFP_STATE);
	if (!ak)
		return ERR_PTR(-ENOMEM);
	tfm = crypto_alloc_aead(cipher->aead_name, 0,
				sync ? CRYPTO_ALG_ASYNC : 0);
	if (IS_ERR(tfm)) {
		kfree(ak);
		return ERR_CAST(tfm);
	}

	err = crypto_aead_setkey(tfm, key, cipher->key_size);
	if (!err)
		err = crypto_aead_setauthsize(tfm, QUIC_TAG_SIZE);
	if (err) {
		crypto_free_aead(tfm);
		kfree(ak);
		return ERR_PTR(err);
	}
	refcount_set(&ak->refcnt, 1);
	ak->tfm = tfm;
	memcpy(ak->iv, iv, QUIC_IV_SIZE);
	return ak;
}

static struct quic_aead_key *quic_aead_key_hold(struct quic_aead_key *ak)
{
	if (ak)
		refcount_inc(&ak->refcnt);
	return ak;
}

static void quic_aead_key_put(struct quic_aead_key *ak)
{
	if (ak && refcount_dec_and_test(&ak->refcnt)) {
		crypto_free_aead(ak->tfm);
		kfree_sensitive(ak);
	}
}

static struct quic_hp_key *quic_hp_key_hold(struct quic_hp_key *hk)
{
	if (hk)
		refcount_inc(&hk->refcnt);
	return hk;
}

static void quic_hp_key_put(struct quic_hp_key *hk)
{
	if (!hk || !refcount_dec_and_test(&hk->refcnt))
		return;
	if (hk->aes)
		crypto_free_lskcipher(hk->aes);
	kfree_sensitive(hk);
}

/* The template over aes-generic, the C code with 4 KiB lookup tables */
#define QUIC_HP_AES_GENERIC	"ecb(aes-generic)"

static int quic_hp_aes_init(struct quic_hp_key *hk, const u8 *hp_key,
			    unsigned int key_size, bool aes_library)
{
	struct crypto_lskcipher *tfm;
	const char *driver;
	int err;

	if (aes_library)
		return aes_expandkey(&hk->aes_lib, hp_key, key_size);
	tfm = crypto_alloc_lskcipher("ecb(aes)", 0, 0);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	driver = crypto_lskcipher_driver_name(tfm);
	if (!strcmp(driver, QUIC_HP_AES_GENERIC)) {
		crypto_free_lskcipher(tfm);
		return aes_expandkey(&hk->aes_lib, hp_key, key_size);
	}
	err = crypto_lskcipher_setkey(tfm, hp_key, key_size);
	if (err) {
		crypto_free_lskcipher(tfm);
		return err;
	}
	hk->aes = tfm;
	return 0;
}

/**
 * quic_hp_key_init() - set up the header protection key
 * @keys: state whose cipher is set and which has no header protection key
 * @hp_key: header protection key, @keys->cipher->key_size bytes
 * @aes_library: for an AES suite, use the AES library whatever the crypto
 *	API offers (for tests of that path)
 *
 * May sleep.
 *
 * Return: 0, -ENOMEM, or a negative errno from the crypto API.
 */
VISIBLE_IF_KUNIT int quic_hp_key_init(struct quic_crypto_keys *keys,
				      const u8 *hp_key, bool aes_library)
{
	struct quic_hp_key *hk;
	unsigned int i;
	int err;

	hk = kzalloc(sizeof(*hk), QUIC_GFP_STATE);
	if (!hk)
		return -ENOMEM;
	refcount_set(&hk->refcnt, 1);
	if (keys->cipher->hp == QUIC_HP_AES) {
		err = quic_hp_aes_init(hk, hp_key, keys->cipher->key_size,
				       aes_library);
		if (err) {
			kfree_sensitive(hk);
			return err;
		}
	} else {
		for (i = 0; i < ARRAY_SIZE(hk->chacha); i++)
			hk->chacha[i] = get_unaligned_le32(hp_key + 4 * i);
	}
	keys->hp = hk;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(quic_hp_key_init);

static int quic_crypto_keys_setup(struct quic_crypto_keys *keys,
				  const struct quic_cipher *cipher,
				  const u8 *aead_key, const u8 *iv,
				  const u8 *hp_key, bool sync)
{
	struct quic_aead_key *ak;
	int err;

	keys->cipher = cipher;
	err = quic_hp_key_init(keys, hp_key, false);
	if (err)
		return err;
	ak = quic_aead_key_alloc(cipher, aead_key, iv, sync);
	if (IS_ERR(ak)) {
		quic_hp_key_put(keys->hp);
		keys->hp = NULL;
		return PTR_ERR(ak);
	}
	keys->aead[0] = ak;
	keys->sync = sync;
	return 0;
}

/**
 * quic_crypto_keys_init() - set up the packet protection state of a direction
 * @keys: state to fill; zeroed by the caller
 * @cipher: cipher suite, from quic_cipher_find()
 * @aead_key: payload protection key, @cipher->key_size bytes
 * @iv: payload protection IV, QUIC_IV_SIZE bytes
 * @hp_key: header protection key, @cipher->key_size bytes
 *
 * The keys go to slot 0 and serve every packet, whatever its Key Phase
 * bit, until a key update.  May sleep.
 *
 * Return: 0, or a negative errno from the crypto API.
 */
int quic_crypto_keys_init(struct quic_crypto_keys *keys,
			  const struct quic_cipher *cipher,
			  const u8 *aead_key, const u8 *iv, const u8 *hp_key)
{
	return quic_crypto_keys_setup(keys, cipher, aead_key, iv, hp_key,
				      false);
}
EXPORT_SYMBOL_IF_KUNIT(quic_crypto_keys_init);

/**
 * quic_crypto_keys_init_sync() - the same, for sealing in atomic context
 * @keys: state to fill; zeroed by the caller
 * @cipher: cipher suite, from quic_cipher_find()
 * @aead_key: payload protection key, @cipher->key_size bytes
 * @iv: payload protection IV, QUIC_IV_SIZE bytes
 * @hp_key: header protection key, @cipher->key_size bytes
 *
 * As quic_crypto_keys_init(), with an AEAD implementation that completes
 * in its caller, which may be slower than the one the crypto API ranks
 * first: for packets that must be sealed where nothing may sleep or wait.
 * May sleep.
 *
 * Return: 0, or a negative errno from the crypto API.
 */
int quic_crypto_keys_init_sync(struct quic_crypto_keys *keys,
			       const struct quic_cipher *cipher,
			       const u8 *aead_key, const u8 *iv,
			       const u8 *hp_key)
{
	return quic_crypto_keys_setup(keys, cipher, aead_key, iv, hp_key,
				      true);
}
EXPORT_SYMBOL_IF_KUNIT(quic_crypto_keys_init_sync);

/**
 * quic_crypto_keys_destroy() - drop the payload keys and wipe every key
 * @keys: state set up by quic_crypto_keys_init() or a key update, or zeroed
 *
 * A key shared with another set lives on until that set goes too.  Safe
 * in atomic context: transforms are freed the way other users free them
 * from RCU callbacks, and the crypto API wipes their key schedule.
 */
void quic_crypto_keys_destroy(struct quic_crypto_keys *keys)
{
	unsigned int i;

	quic_hp_key_put(keys->hp);
	for (i = 0; i < QUIC_KEY_PHASES; i++)
		quic_aead_key_put(keys->aead[i]);
	memzero_explicit(keys, sizeof(*keys));
}
EXPORT_SYMBOL_IF_KUNIT(quic_crypto_keys_destroy);

/**
 * quic_crypto_keys_uncharged() - memory of @keys no memory cgroup paid for
 * @keys: initialised packet protection state
 *
 * A key shared by two sets counts in both.
 *
 * Return: bytes to charge for the transforms of @keys.
 */
size_t quic_crypto_keys_uncharged(const struct quic_crypto_keys *keys)
{
	size_t bytes = keys->hp->aes ? keys->cipher->hp_charge : 0;
	unsigned int i;

	/* A transform is one allocation, where crypto_alloc_aead() points. */
	for (i = 0; i < QUIC_KEY_PHASES; i++)
		if (keys->aead[i])
			bytes += max_t(size_t, ksize(keys->aead[i]->tfm),
				       keys->cipher->aead_charge);
	return bytes;
}
EXPORT_SYMBOL_IF_KUNIT(quic_crypto_keys_uncharged);

static void quic_crypto_keys_copy(struct quic_crypto_keys *dst,
				  const struct quic_crypto_keys *src)
{
	unsigned int i;

	dst->cipher = src->cipher;
	dst->hp = quic_hp_key_hold(src->hp);
	for (i = 0; i < QUIC_KEY_PHASES; i++)
		dst->aead[i] = quic_aead_key_hold(src->aead[i]);
	dst->phased = true;
	dst->sync = src->sync;
}

/**
 * quic_crypto_keys_update() - a new set with the payload key of a phase
 * @dst: state to fill; zeroed by the caller
 * @src: current state, left unchanged
 * @phase: key phase the new key serves, 0 or 1
 * @aead_key: payload protection key, @src->cipher->key_size bytes
 * @iv: payload protection IV, QUIC_IV_SIZE bytes
 *
 * @dst shares the header protection key and the other phase's payload key
 * with @src.  If @src selects no key by phase yet, its single key becomes
 * the key of the other phase.  May sleep.
 *
 * Return: 0; -EEXIST if @phase already has a key; or a negative errno
 * from the crypto API.
 */
int quic_crypto_keys_update(struct quic_crypto_keys *dst,
			    const struct quic_crypto_keys *src,
			    unsigned int phase, const u8 *aead_key,
			    const u8 *iv)
{
	struct quic_aead_key *ak;

	if (src->phased && src->aead[phase])
		return -EEXIST;
	ak = quic_aead_key_alloc(src->cipher, aead_key, iv, src->sync);
	if (IS_ERR(ak))
		return PTR_ERR(ak);

	quic_crypto_keys_copy(dst, src);
	if (!src->phased && phase == 0) {
		/* The single key moves to phase 1, the new one takes 0. */
		dst->aead[1] = dst->aead[0];
		dst->aead[0] = NULL;
	}
	dst->aead[phase] = ak;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(quic_crypto_keys_update);

/**
 * quic_crypto_keys_retire() - a new set without the payload key of a phase
 * @dst: state to fill; zeroed by the caller
 * @src: current state, left unchanged
 * @phase: key phase to drop, 0 or 1
 *
 * Return: 0; -EINVAL if @src selects no key by phase; -ENOENT if @phase
 * has no key.
 */
int quic_crypto_keys_retire(struct quic_crypto_keys *dst,
			    const struct quic_crypto_keys *src,
			    unsigned int phase)
{
	if (!src->phased)
		return -EINVAL;
	if (!src->aead[phase])
		return -ENOENT;

	quic_crypto_keys_copy(dst, src);
	quic_aead_key_put(dst->aead[phase]);
	dst->aead[phase] = NULL;
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(quic_crypto_keys_retire);

/**
 * quic_crypto_req_size() - memory needed for the AEAD request of @keys
 * @keys: initialised packet protection state
 *
 * Return: bytes to hand to quic_crypto_req_init(); enough for every
 * installed key phase.
 */
unsigned int quic_crypto_req_size(const struct quic_crypto_keys *keys)
{
	unsigned int i, size = 0;

	for (i = 0; i < QUIC_KEY_PHASES; i++) {
		const struct quic_aead_key *ak = keys->aead[i];

		if (ak)
			size = max(size, crypto_aead_reqsize(ak->tfm));
	}
	return sizeof(struct aead_request) + size;
}
EXPORT_SYMBOL_IF_KUNIT(quic_crypto_req_size);

/**
 * quic_crypto_req_init() - prepare scratch state to protect packets with
 * @req: state to initialise
 * @aead_mem: quic_crypto_req_size() bytes, kmalloc() aligned, that outlive
 *	@req
 */
void quic_crypto_req_init(struct quic_crypto_req *req, void *aead_mem)
{
	req->aead = aead_mem;
}
EXPORT_SYMBOL_IF_KUNIT(quic_crypto_req_init);

/**
 * quic_crypto_batch_init() - an empty batch of AEAD requests
 * @batch: batch to initialise
 */
void quic_crypto_batch_init(struct quic_crypto_batch *batch)
{
	init_completion(&batch->done);
	atomic_set(&batch->pending, 1);
	batch->err = 0;
}
EXPORT_SYMBOL_IF_KUNIT(quic_crypto_batch_init);

static void quic_crypto_batch_done(void *data, int err)
{
	struct quic_crypto_batch *batch = data;

	/* A backlogged request started; its completion is still to come. */
	if (err == -EINPROGRESS)
		return;
	if (err)
		cmpxchg(&batch->err, 0, err);
	if (atomic_dec_and_test(&batch->pending))
		complete(&batch->done);
}

/**
 * quic_crypto_batch_wait() - wait until no request of @batch is in flight
 * @batch: batch the requests were submitted to
 *
 * Sleeps.  The batch is empty again on return, ready for more requests.
 *
 * Return: 0, or the first error an asynchronous completion reported since
 * the batch was last empty.
 */
int quic_crypto_batch_wait(struct quic_crypto_batch *batch)
{
	int err;

	if (!atomic_dec_and_test(&batch->pending))
		wait_for_completion(&batch->done);
	err = batch->err;
	quic_crypto_batch_init(batch);
	return err;
}
EXPORT_SYMBOL_IF_KUNIT(quic_crypto_batch_wait);

/**
 * quic_nonce_build() - per-packet AEAD nonce (RFC 9001, section 5.3)
 * @nonce: output
 * @iv: the connection's IV
 * @pn: full packet number
 *
 * The nonce is the IV XORed with the packet number left-padded to 12 bytes.
 */
void quic_nonce_build(u8 nonce[QUIC_IV_SIZE], const u8 iv[QUIC_IV_SIZE],
		      u64 pn)
{
	unsigned int pad = QUIC_IV_SIZE - sizeof(pn);

	memcpy(nonce, iv, pad);
	put_unaligned_be64(get_unaligned_be64(iv + pad) ^ pn, nonce + pad);
}
EXPORT_SYMBOL_IF_KUNIT(quic_nonce_build);

static void quic_hp_chacha_mask(const struct quic_hp_key *hk, u8 *block)
{
	u32 state[CHACHA_STATE_WORDS];
	u8 stream[CHACHA_BLOCK_SIZE];

	/*
	 * The sample is the 32-bit little-endian block counter followed by
	 * the 96-bit nonce, which is exactly the layout chacha_init_generic()
	 * takes; the mask is the start of that block's keystream.  Five bytes
	 * are not worth the SIMD version.
	 */
	chacha_init_generic(state, hk->chacha, block);
	chacha20_block(state, stream);
	memcpy(block, stream, QUIC_HP_MASK_SIZE);
	memzero_explicit(state, sizeof(state));
	memzero_explicit(stream, sizeof(stream));
}

/* One call for the samples of a whole sendmsg(), in place */
static int quic_hp_aes_masks(const struct quic_hp_key *hk, u8 *blocks,
			     unsigned int len)
{
	return crypto_lskcipher_encrypt(hk->aes, blocks, blocks, len, NULL);
}

/**
 * quic_hp_masks() - header protection masks of packets (RFC 9001, 5.4)
 * @keys: packet protection state holding the header protection key
 * @blocks: @n samples of QUIC_HP_SAMPLE_SIZE bytes of ciphertext, one
 *	after the other in memory a scatterlist can point at (not the
 *	stack), none across a page boundary; on success the first
 *	QUIC_HP_MASK_SIZE bytes of each are its packet's mask
 * @n: number of samples, at least 1
 *
 * With an AES transform, one call to the crypto API covers every sample.
 *
 * Return: 0, or a negative errno from the crypto API.
 */
int quic_hp_masks(const struct quic_crypto_keys *keys, u8 *blocks,
		  unsigned int n)
{
	const struct quic_hp_key *hk = keys->hp;
	unsigned int i;

	if (hk->aes)
		return quic_hp_aes_masks(hk, blocks, n * QUIC_HP_SAMPLE_SIZE);
	for (i = 0; i < n; i++) {
		u8 *block = blocks + i * QUIC_HP_SAMPLE_SIZE;

		if (keys->cipher->hp == QUIC_HP_AES)
			aes_encrypt(&hk->aes_lib, block, block);
		else
			quic_hp_chacha_mask(hk, block);
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(quic_hp_masks);

/**
 * quic_hp_apply() - protect the header bytes of a packet with its mask
 * @hdr_bytes: the unprotected first byte, then the packet number, whose
 *	length the first byte gives; protected on return
 * @mask: the packet's mask, from quic_hp_masks()
 */
void quic_hp_apply(u8 hdr_bytes[QUIC_HP_MASK_SIZE],
		   const u8 mask[QUIC_HP_MASK_SIZE])
{
	unsigned int pn_len = quic_pn_len(hdr_bytes[0]);
	unsigned int i;

	hdr_bytes[0] ^= mask[0] & (hdr_bytes[0] & QUIC_HDR_FORM_LONG ?
				   QUIC_HP_LONG_BITS : QUIC_HP_SHORT_BITS);
	for (i = 0; i < pn_len; i++)
		hdr_bytes[1 + i] ^= mask[1 + i];
}
EXPORT_SYMBOL_IF_KUNIT(quic_hp_apply);

/*
 * Key phase selection: a set made by a key update picks the slot by the
 * Key Phase bit of the unprotected first byte; one installed the seed way
 * has a single key for every packet.  NULL if the phase has no key.
 */
static const struct quic_aead_key *
quic_aead_key_for(const struct quic_crypto_keys *keys, u8 first_byte)
{
	if (!keys->phased)
		return keys->aead[0];
	return keys->aead[!!(first_byte & QUIC_HDR_KEY_PHASE)];
}

/**
 * quic_aead_iv_build() - the IV the AEAD transform takes for a packet
 * @cipher: cipher suite
 * @aead_iv: output, QUIC_AEAD_IV_MAX bytes
 * @iv: the connection's IV
 * @pn: full packet number
 *
 * Most QUIC AEADs take the nonce itself.  ccm(aes) takes the first counter
 * block of RFC 3610 instead: a flags octet holding L' = 2 (a 12-byte nonce
 * leaves 3 bytes of counter), the nonce, then a counter the template fills.
 */
VISIBLE_IF_KUNIT void quic_aead_iv_build(const struct quic_cipher *cipher,
					 u8 aead_iv[QUIC_AEAD_IV_MAX],
					 const u8 iv[QUIC_IV_SIZE], u64 pn)
{
	if (!cipher->ccm_iv) {
		quic_nonce_build(aead_iv, iv, pn);
		return;
	}
	memset(aead_iv, 0, QUIC_AEAD_IV_MAX);
	aead_iv[0] = QUIC_CCM_L_PRIME;
	quic_nonce_build(aead_iv + 1, iv, pn);
}
EXPORT_SYMBOL_IF_KUNIT(quic_aead_iv_build);

/*
 * What every seal sets up: the key of the packet's phase, nonce, lengths.
 * Inline: the send path pays no call for it on each packet.
 */
static __always_inline int
quic_packet_seal_prep(const struct quic_crypto_keys *keys,
		      struct quic_crypto_req *req, struct scatterlist *sg,
		      const u8 *hdr, unsigned int hdr_len,
		      unsigned int payload_len, u64 pn)
{
	const struct quic_aead_key *ak = quic_aead_key_for(keys, hdr[0]);
	unsigned int pn_len = quic_pn_len(hdr[0]);
	unsigned int sample_off = hdr_len - pn_len + QUIC_PN_MAX_LEN;

	if (WARN_ON_ONCE(sample_off + QUIC_HP_SAMPLE_SIZE >
			 hdr_len + payload_len + QUIC_TAG_SIZE))
		return -EINVAL;
	if (!ak)
		return -ENOKEY;

	quic_aead_iv_build(keys->cipher, req->iv, ak->iv, pn);
	aead_request_set_tfm(req->aead, ak->tfm);
	aead_request_set_ad(req->aead, hdr_len);
	aead_request_set_crypt(req->aead, sg, sg, payload_len, req->iv);
	return 0;
}

/**
 * quic_packet_seal() - encrypt the payload of one packet in place
 * @keys: packet protection state of the connection
 * @req: scratch state from quic_crypto_req_init(), not in flight
 * @sg: the packet: @hdr_len header bytes, @payload_len payload bytes and
 *	QUIC_TAG_SIZE bytes of room for the tag
 * @hdr: copy of the unprotected header, the first @hdr_len bytes of @sg
 * @hdr_len: header length, up to and including the packet number
 * @payload_len: plaintext payload length; with the tag it must cover the
 *	QUIC_HP_SAMPLE_SIZE bytes sampled 4 bytes after the packet number
 * @pn: full packet number
 * @batch: batch the request joins if it completes asynchronously
 *
 * The header is the AEAD's associated data and stays as it is: header
 * protection needs the ciphertext, see quic_hp_masks().  May sleep.
 *
 * Return: 0 once the payload is encrypted; -EINPROGRESS if the AEAD works
 * on it asynchronously: @req, @sg and @keys must then stay as they are
 * until quic_crypto_batch_wait() on @batch returns; -ENOKEY if the
 * packet's key phase has no key (nothing is written then); or a negative
 * errno from the AEAD.
 */
int quic_packet_seal(const struct quic_crypto_keys *keys,
		     struct quic_crypto_req *req, struct scatterlist *sg,
		     const u8 *hdr, unsigned int hdr_len,
		     unsigned int payload_len, u64 pn,
		     struct quic_crypto_batch *batch)
{
	int err;

	err = quic_packet_seal_prep(keys, req, sg, hdr, hdr_len, payload_len,
				    pn);
	if (err)
		return err;
	aead_request_set_callback(req->aead,
				  CRYPTO_TFM_REQ_MAY_SLEEP |
				  CRYPTO_TFM_REQ_MAY_BACKLOG,
				  quic_crypto_batch_done, batch);

	atomic_inc(&batch->pending);
	err = crypto_aead_encrypt(req->aead);
	if (err == -EINPROGRESS || err == -EBUSY)
		return -EINPROGRESS;
	/* Done here: no completion will run.  The submitter's count stays. */
	atomic_dec(&batch->pending);
	return err;
}
EXPORT_SYMBOL_IF_KUNIT(quic_packet_seal);

/**
 * quic_packet_seal_atomic() - quic_packet_seal() where nothing may sleep
 * @keys: packet protection state from quic_crypto_keys_init_sync()
 * @req: scratch state from quic_crypto_req_init()
 * @sg: the packet, as for quic_packet_seal()
 * @hdr: copy of the unprotected header, the first @hdr_len bytes of @sg
 * @hdr_len: header length, up to and including the packet number
 * @payload_len: plaintext payload length, as for quic_packet_seal()
 * @pn: full packet number
 *
 * Context: process or softirq: the AEAD neither sleeps nor completes
 * later.
 *
 * Return: 0 once the payload is encrypted; -EINVAL if @keys are not
 * synchronous; -ENOKEY if the packet's key phase has no key (nothing is
 * written then); or a negative errno from the AEAD.
 */
int quic_packet_seal_atomic(const struct quic_crypto_keys *keys,
			    struct quic_crypto_req *req,
			    struct scatterlist *sg, const u8 *hdr,
			    unsigned int hdr_len, unsigned int payload_len,
			    u64 pn)
{
	int err;

	/* A completion callback would have nothing to call. */
	if (WARN_ON_ONCE(!keys->sync))
		return -EINVAL;
	err = quic_packet_seal_prep(keys, req, sg, hdr, hdr_len, payload_len,
				    pn);
	if (err)
		return err;
	aead_request_set_callback(req->aead, 0, NULL, NULL);
	return crypto_aead_encrypt(req->aead);
}
EXPORT_SYMBOL_IF_KUNIT(quic_packet_seal_atomic);
