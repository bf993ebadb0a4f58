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
 * its own and kept by the open file.  It runs in the writing thread: that
 * thread's CPU time around write() is the cost.  CIPHER is a TLS_CIPHER_*
 * number.  Reading the file gives the driver of its transform.
 *
 * Reading /sys/kernel/debug/quic_bench_busy waits for every pending RCU
 * callback, kfree_rcu() batch and work item queued on the system
 * workqueue, then gives the nanoseconds the CPUs have spent not idle
 * since boot.  The setup
 * mode times ADD and DEL with it: a DEL frees its keys in an RCU
 * callback, which runs wherever the grace period ends (in softirq over
 * any task, in a kthread, over the idle task), and the connection table
 * grows and shrinks in a work item, so no one thread's CPU time holds
 * them, while the busy time of every CPU does.  Waiting for both at each
 * reading charges them to the window of the calls that caused them.
 */
#include <crypto/aead.h>
#include <linux/debugfs.h>
#include <linux/module.h>
#include <linux/rcupdate.h>
#include <linux/scatterlist.h>
#include <linux/slab.h>
#include <linux/tick.h>
#include <linux/tls.h>
#include <linux/unaligned.h>
#include <linux/workqueue.h>

#define BENCH_AD_LEN	13
#define BENCH_TAG_LEN	16
#define BENCH_IV_LEN	12
#define BENCH_MAX_SIZE	2048

static struct dentry *bench_file, *busy_file;

/*
 * One per open file: the transform and request stay across writes, so a
 * write measures the sealing alone, not an allocation.
 */
struct bench_ctx {
	unsigned int cipher;
	struct crypto_aead *tfm;
	struct aead_request *req;
	u8 data[BENCH_MAX_SIZE];
};

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

static void bench_ctx_drop(struct bench_ctx *ctx)
{
	aead_request_free(ctx->req);
	crypto_free_aead(ctx->tfm);
	ctx->req = NULL;
	ctx->tfm = NULL;
}

/* The transform for @cipher, allocated as net/quic allocates its own */
static int bench_ctx_set(struct bench_ctx *ctx, unsigned int cipher)
{
	unsigned int key_len;
	u8 key[32] = {};
	const char *name;
	int err;

	if (ctx->tfm && ctx->cipher == cipher)
		return 0;
	err = bench_cipher(cipher, &name, &key_len);
	if (err)
		return err;
	bench_ctx_drop(ctx);
	ctx->tfm = crypto_alloc_aead(name, 0, 0);
	if (IS_ERR(ctx->tfm)) {
		err = PTR_ERR(ctx->tfm);
		ctx->tfm = NULL;
		return err;
	}
	ctx->req = aead_request_alloc(ctx->tfm, GFP_KERNEL);
	err = ctx->req ? 0 : -ENOMEM;
	err = err ?: crypto_aead_setkey(ctx->tfm, key, key_len);
	err = err ?: crypto_aead_setauthsize(ctx->tfm, BENCH_TAG_LEN);
	if (err) {
		bench_ctx_drop(ctx);
		return err;
	}
	ctx->cipher = cipher;
	return 0;
}

static int bench_seal(struct bench_ctx *ctx, unsigned int size,
		      unsigned int count)
{
	u8 iv[BENCH_IV_LEN] = {};
	struct scatterlist sg;
	DECLARE_CRYPTO_WAIT(wait);
	unsigned int i;
	int err = 0;

	sg_init_one(&sg, ctx->data, size);
	aead_request_set_callback(ctx->req, CRYPTO_TFM_REQ_MAY_BACKLOG,
				  crypto_req_done, &wait);
	aead_request_set_ad(ctx->req, BENCH_AD_LEN);
	for (i = 0; i < count && !err; i++) {
		put_unaligned_be32(i, iv + BENCH_IV_LEN - 4);
		aead_request_set_crypt(ctx->req, &sg, &sg,
				       size - BENCH_AD_LEN - BENCH_TAG_LEN, iv);
		err = crypto_wait_req(crypto_aead_encrypt(ctx->req), &wait);
		cond_resched();
	}
	return err;
}

static ssize_t bench_write(struct file *file, const char __user *ubuf,
			   size_t len, loff_t *ppos)
{
	struct bench_ctx *ctx = file->private_data;
	unsigned int cipher, size, count;
	char buf[64];
	int err;

	if (len >= sizeof(buf))
		return -EINVAL;
	if (copy_from_user(buf, ubuf, len))
		return -EFAULT;
	buf[len] = '\0';
	if (sscanf(buf, "%u %u %u", &cipher, &size, &count) != 3 ||
	    size <= BENCH_AD_LEN + BENCH_TAG_LEN || size > BENCH_MAX_SIZE ||
	    !count)
		return -EINVAL;
	err = bench_ctx_set(ctx, cipher);
	err = err ?: bench_seal(ctx, size, count);
	return err ?: len;
}

static ssize_t bench_read(struct file *file, char __user *ubuf, size_t len,
			  loff_t *ppos)
{
	struct bench_ctx *ctx = file->private_data;
	char buf[CRYPTO_MAX_ALG_NAME + 1];
	int n;

	n = scnprintf(buf, sizeof(buf), "%s\n",
		      ctx->tfm ? crypto_aead_driver_name(ctx->tfm) : "");
	return simple_read_from_buffer(ubuf, len, ppos, buf, n);
}

static int bench_open(struct inode *inode, struct file *file)
{
	struct bench_ctx *ctx = kzalloc(sizeof(*ctx), GFP_KERNEL);

	if (!ctx)
		return -ENOMEM;
	memset(ctx->data, 0x5a, sizeof(ctx->data));
	file->private_data = ctx;
	return nonseekable_open(inode, file);
}

static int bench_release(struct inode *inode, struct file *file)
{
	struct bench_ctx *ctx = file->private_data;

	bench_ctx_drop(ctx);
	kfree(ctx);
	return 0;
}

static const struct file_operations bench_fops = {
	.owner = THIS_MODULE,
	.open = bench_open,
	.release = bench_release,
	.write = bench_write,
	.read = bench_read,
};

static ssize_t busy_read(struct file *file, char __user *ubuf, size_t len,
			 loff_t *ppos)
{
	u64 now, idle, iowait, busy = 0;
	char buf[24];
	int cpu, n;

	/*
	 * A resize queues itself again while another table is ahead, and
	 * frees the old table in an RCU callback: twice covers both. What
	 * kfree_rcu() batches (a closed socket's state) is freed by a
	 * timer-driven work that neither waits for: it went off inside
	 * whichever window came next.
	 */
	for (n = 0; n < 2; n++) {
		__flush_workqueue(system_percpu_wq);
		rcu_barrier();
		kvfree_rcu_barrier();
	}
	now = ktime_get_ns();
	for_each_online_cpu(cpu) {
		/* Both are -1 if the kernel does not track idle time. */
		idle = get_cpu_idle_time_us(cpu, NULL);
		iowait = get_cpu_iowait_time_us(cpu, NULL);
		if (idle == (u64)-1 || iowait == (u64)-1)
			return -EOPNOTSUPP;
		busy += now - (idle + iowait) * NSEC_PER_USEC;
	}
	n = scnprintf(buf, sizeof(buf), "%llu\n", busy);
	return simple_read_from_buffer(ubuf, len, ppos, buf, n);
}

static const struct file_operations busy_fops = {
	.owner = THIS_MODULE,
	.read = busy_read,
};

static int __init bench_init(void)
{
	bench_file = debugfs_create_file("quic_bench_aead", 0600, NULL, NULL,
					 &bench_fops);
	if (IS_ERR(bench_file))
		return PTR_ERR(bench_file);
	busy_file = debugfs_create_file("quic_bench_busy", 0400, NULL, NULL,
					&busy_fops);
	if (IS_ERR(busy_file)) {
		debugfs_remove(bench_file);
		return PTR_ERR(busy_file);
	}
	return 0;
}

static void __exit bench_exit(void)
{
	debugfs_remove(busy_file);
	debugfs_remove(bench_file);
}

module_init(bench_init);
module_exit(bench_exit);
MODULE_DESCRIPTION("QUIC benchmark: the kernel's AEAD alone, and busy CPU time");
MODULE_LICENSE("GPL");
