// SPDX-License-Identifier: GPL-2.0
/*
 * quic_bench_aead: the kernel's AEAD alone, measured in the kernel, for
 * make bench's overhead split.  AF_ALG adds two syscalls and two copies
 * per packet; this seals packets the way the offload's AEAD sees them,
 * with nothing around it.
 *
 * Writing "CIPHER SIZE COUNT" to /sys/kernel/debug/quic_bench_aead seals
 * COUNT packets of SIZE wire bytes in place (13 bytes of short header as
 * associated data, then the payload, then the 16-byte tag), one request
 * each with its own nonce, on a transform allocated as net/quic allocates
 * its own.  It runs in the writing thread: that thread's CPU time around
 * write() is the cost.  CIPHER is a TLS_CIPHER_* number.  Reading the file
 * gives the driver that served the last write.
 */
#include <crypto/aead.h>
#include <linux/debugfs.h>
#include <linux/module.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/tls.h>
#include <linux/unaligned.h>

#define BENCH_AD_LEN	13
#define BENCH_TAG_LEN	16
#define BENCH_IV_LEN	12
#define BENCH_MAX_SIZE	2048

static struct dentry *bench_file;
static DEFINE_MUTEX(bench_lock);
static char bench_driver[CRYPTO_MAX_ALG_NAME];

static int bench_cipher(unsigned int cipher, const char **name,
			unsigned int *key_len)
{
	switch (cipher) {
	case TLS_CIPHER_AES_GCM_128:
		*name = "gcm(aes)";
		*key_len = 16;
		return 0;
	case TLS_CIPHER_AES_GCM_256:
		*name = "gcm(aes)";
		*key_len = 32;
		return 0;
	case TLS_CIPHER_CHACHA20_POLY1305:
		*name = "rfc7539(chacha20,poly1305)";
		*key_len = 32;
		return 0;
	}
	return -EINVAL;
}

static int bench_seal(struct crypto_aead *tfm, unsigned int size,
		      unsigned int count)
{
	u8 iv[BENCH_IV_LEN] = {};
	struct aead_request *req;
	struct scatterlist sg;
	DECLARE_CRYPTO_WAIT(wait);
	unsigned int i;
	u8 *data;
	int err;

	data = kmalloc(size, GFP_KERNEL);
	req = aead_request_alloc(tfm, GFP_KERNEL);
	err = -ENOMEM;
	if (!data || !req)
		goto out;
	memset(data, 0x5a, size);
	sg_init_one(&sg, data, size);
	aead_request_set_callback(req, CRYPTO_TFM_REQ_MAY_BACKLOG,
				  crypto_req_done, &wait);
	aead_request_set_ad(req, BENCH_AD_LEN);
	for (i = 0, err = 0; i < count && !err; i++) {
		put_unaligned_be32(i, iv + BENCH_IV_LEN - 4);
		aead_request_set_crypt(req, &sg, &sg,
				       size - BENCH_AD_LEN - BENCH_TAG_LEN, iv);
		err = crypto_wait_req(crypto_aead_encrypt(req), &wait);
		cond_resched();
	}
out:
	aead_request_free(req);
	kfree(data);
	return err;
}

static ssize_t bench_write(struct file *file, const char __user *ubuf,
			   size_t len, loff_t *ppos)
{
	unsigned int cipher, size, count, key_len;
	u8 key[32] = {};
	struct crypto_aead *tfm;
	const char *name;
	char buf[64];
	int err;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (sscanf(buf, "%u %u %u", &cipher, &size, &count) != 3 ||
	    size <= BENCH_AD_LEN + BENCH_TAG_LEN || size > BENCH_MAX_SIZE ||
	    !count || bench_cipher(cipher, &name, &key_len))
		return -EINVAL;

	tfm = crypto_alloc_aead(name, 0, 0);
	if (IS_ERR(tfm))
		return PTR_ERR(tfm);
	err = crypto_aead_setkey(tfm, key, key_len) ?:
	      crypto_aead_setauthsize(tfm, BENCH_TAG_LEN) ?:
	      bench_seal(tfm, size, count);
	mutex_lock(&bench_lock);
	strscpy(bench_driver, crypto_aead_driver_name(tfm));
	mutex_unlock(&bench_lock);
	crypto_free_aead(tfm);
	return err ?: len;
}

static ssize_t bench_read(struct file *file, char __user *ubuf, size_t len,
			  loff_t *ppos)
{
	char buf[CRYPTO_MAX_ALG_NAME + 1];
	int n;

	mutex_lock(&bench_lock);
	n = scnprintf(buf, sizeof(buf), "%s\n", bench_driver);
	mutex_unlock(&bench_lock);
	return simple_read_from_buffer(ubuf, len, ppos, buf, n);
}

static const struct file_operations bench_fops = {
	.owner = THIS_MODULE,
	.write = bench_write,
	.read = bench_read,
	.llseek = default_llseek,
};

static int __init bench_init(void)
{
	bench_file = debugfs_create_file("quic_bench_aead", 0600, NULL, NULL,
					 &bench_fops);
	return PTR_ERR_OR_ZERO(bench_file);
}

static void __exit bench_exit(void)
{
	debugfs_remove(bench_file);
}

module_init(bench_init);
module_exit(bench_exit);
MODULE_DESCRIPTION("QUIC benchmark: the kernel's AEAD alone, in the kernel");
MODULE_LICENSE("GPL");
