// SPDX-License-Identifier: GPL-2.0
/*
 * Transmit buffer of one sendmsg().
 *
 * The whole batch is reserved up front from the socket's page fragment,
 * as one stream: a packet may straddle two fragments, but every fragment
 * after the first starts a fresh one and is used to its end.  Fragments
 * are 32 KB when the allocator has them, so a 64 KB batch takes at most
 * three, and UDP splices each into one skb fragment.  The stream may start
 * a few bytes into the fragment, so that the first packet's payload starts
 * on a block boundary.  The buffer holds a
 * reference on each fragment until UDP has taken its own, so no byte is
 * reused while an skb may still point at it.
 */

#include <kunit/visibility.h>
#include <linux/highmem.h>
#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/uio.h>
#include <net/hotdata.h>
#include <net/sock.h>

#include "quic_txbuf.h"

/**
 * quic_txbuf_max_frags() - fragments needed for a stream of @len bytes
 * @len: stream length
 *
 * Return: an upper bound: the rest of the current page, then whole pages.
 */
unsigned int quic_txbuf_max_frags(size_t len)
{
	return DIV_ROUND_UP(len, PAGE_SIZE) + 1;
}
EXPORT_SYMBOL_IF_KUNIT(quic_txbuf_max_frags);

/**
 * quic_txbuf_init() - prepare an empty buffer
 * @buf: buffer
 * @bvec: room for @max fragments
 * @max: from quic_txbuf_max_frags()
 */
void quic_txbuf_init(struct quic_txbuf *buf, struct bio_vec *bvec,
		     unsigned int max)
{
	buf->bvec = bvec;
	buf->max = max;
	buf->nr = 0;
	buf->idx = 0;
	buf->off = 0;
}
EXPORT_SYMBOL_IF_KUNIT(quic_txbuf_init);

/*
 * The AEAD walks the payload a page at a time in 16-byte blocks (AES), and
 * one split by a page boundary is copied through a bounce buffer: with
 * the payload on a block boundary, and packets a multiple of 16 bytes
 * apart (1200 or 1472 bytes on the wire), every page boundary in the
 * batch falls between blocks.
 */
#define QUIC_TXBUF_BLOCK	16

/*
 * As sk_page_frag_refill(), without what it does for TCP when memory is
 * short: shrinking sk_sndbuf to what is queued, which for UDP is nothing,
 * would leave the socket at SOCK_MIN_SNDBUF for good.
 */
static int quic_txbuf_take(struct quic_txbuf *buf, struct sock *sk,
			   struct page_frag *pfrag, size_t len,
			   unsigned int head)
{
	while (len) {
		unsigned int take;

		if (WARN_ON_ONCE(buf->nr == buf->max))
			return -ENOMEM;
		if (!skb_page_frag_refill(32U, pfrag, sk->sk_allocation))
			return -ENOMEM;
		/* Fewer bytes skipped than the 32 the refill left room for */
		if (!buf->nr && head)
			pfrag->offset += -(pfrag->offset + head) &
					 (QUIC_TXBUF_BLOCK - 1);

		take = min_t(size_t, len, pfrag->size - pfrag->offset);
		bvec_set_page(&buf->bvec[buf->nr++], pfrag->page, take,
			      pfrag->offset);
		get_page(pfrag->page);
		pfrag->offset += take;
		len -= take;
	}
	return 0;
}

/**
 * quic_txbuf_reserve() - take @len bytes of page fragments
 * @buf: empty buffer
 * @sk: socket to allocate for
 * @len: stream length
 * @head: bytes before the first packet's payload, which is to start on a
 *	16-byte boundary of its page; 0 to start where the fragment is
 *
 * Uses sk_page_frag(): the task's fragment, as UDP's own lockless send
 * path does, so concurrent senders on one socket never share a fragment
 * being filled.  A socket that must not use it (sk_use_task_frag is
 * false for kernel users that send from memory reclaim) has its own,
 * which UDP fills under the socket lock, so it is taken under that lock.
 *
 * Return: 0 or -ENOMEM; on error quic_txbuf_release() still applies.
 */
int quic_txbuf_reserve(struct quic_txbuf *buf, struct sock *sk, size_t len,
		       unsigned int head)
{
	struct page_frag *pfrag = sk_page_frag(sk);
	int err;

	if (pfrag == &current->task_frag)
		return quic_txbuf_take(buf, sk, pfrag, len, head);
	lock_sock(sk);
	err = quic_txbuf_take(buf, sk, pfrag, len, head);
	release_sock(sk);
	return err;
}
EXPORT_SYMBOL_IF_KUNIT(quic_txbuf_reserve);

/**
 * quic_txbuf_spliceable() - whether UDP can take the fragments as they are
 * @buf: reserved buffer
 *
 * Only when the 32 KB fragments cannot be had does a batch take more
 * fragments than net.core.max_skb_frags lets an skb hold; UDP then copies
 * it into fragments of its own instead.
 *
 * Return: true if the buffer can be sent with MSG_SPLICE_PAGES.
 */
bool quic_txbuf_spliceable(const struct quic_txbuf *buf)
{
	return buf->nr <= READ_ONCE(net_hotdata.sysctl_max_skb_frags);
}
EXPORT_SYMBOL_IF_KUNIT(quic_txbuf_spliceable);

/**
 * quic_txbuf_release() - drop the buffer's page references
 * @buf: buffer, reserved or not
 */
void quic_txbuf_release(struct quic_txbuf *buf)
{
	unsigned int i;

	for (i = 0; i < buf->nr; i++)
		put_page(buf->bvec[i].bv_page);
	buf->nr = 0;
}
EXPORT_SYMBOL_IF_KUNIT(quic_txbuf_release);

/* Number of fragments the next @len bytes of the stream touch, or 0. */
static unsigned int quic_txbuf_span(const struct quic_txbuf *buf,
				    unsigned int len)
{
	unsigned int idx = buf->idx;
	unsigned int room;

	if (WARN_ON_ONCE(idx >= buf->nr))
		return 0;
	room = buf->bvec[idx].bv_len - buf->off;
	while (len > room) {
		len -= room;
		if (WARN_ON_ONCE(++idx == buf->nr))
			return 0;
		room = buf->bvec[idx].bv_len;
	}
	return idx - buf->idx + 1;
}

/**
 * quic_txbuf_next() - take the next packet of the stream
 * @buf: reserved buffer
 * @sg: table of at least @buf->max entries, set to describe the packet;
 *	NULL when the packet is only copied in, to be described later
 * @len: packet length in the stream
 * @fill: bytes to copy from @from to the start of the packet, at most @len
 * @from: source of the packet's plaintext; may be NULL if @fill is 0
 *
 * Return: entries used in @sg, -EFAULT if @from could not be read, or
 * -EINVAL if the packet does not fit in the reserved stream.
 */
int quic_txbuf_next(struct quic_txbuf *buf, struct scatterlist *sg,
		    unsigned int len, unsigned int fill,
		    struct iov_iter *from)
{
	unsigned int nents = quic_txbuf_span(buf, len);
	unsigned int i;

	if (!nents)
		return -EINVAL;

	if (sg)
		sg_init_table(sg, nents);
	for (i = 0; i < nents; i++) {
		const struct bio_vec *bv = &buf->bvec[buf->idx];
		unsigned int piece = min(len, bv->bv_len - buf->off);
		unsigned int offset = bv->bv_offset + buf->off;
		unsigned int copy = min(fill, piece);

		if (copy &&
		    copy_page_from_iter(bv->bv_page, offset, copy, from) != copy)
			return -EFAULT;
		if (sg)
			sg_set_page(&sg[i], bv->bv_page, piece, offset);

		fill -= copy;
		len -= piece;
		buf->off += piece;
		if (buf->off == bv->bv_len) {
			buf->idx++;
			buf->off = 0;
		}
	}
	return nents;
}

/*
 * Copy @len bytes at offset @off of the stream to @to, or from @from, a
 * page at a time: a fragment may be a compound page.
 */
static int quic_txbuf_copy(const struct quic_txbuf *buf, size_t off, u8 *to,
			   const u8 *from, unsigned int len)
{
	unsigned int i = 0;

	while (len && i < buf->nr) {
		const struct bio_vec *bv = &buf->bvec[i];
		size_t at, chunk;
		struct page *page;

		if (off >= bv->bv_len) {
			off -= bv->bv_len;
			i++;
			continue;
		}
		at = bv->bv_offset + off;
		page = nth_page(bv->bv_page, at / PAGE_SIZE);
		at %= PAGE_SIZE;
		chunk = min3((size_t)len, bv->bv_len - off, PAGE_SIZE - at);
		if (to) {
			memcpy_from_page(to, page, at, chunk);
			to += chunk;
		} else {
			memcpy_to_page(page, at, from, chunk);
			from += chunk;
		}
		len -= chunk;
		off += chunk;
	}
	return WARN_ON_ONCE(len) ? -EINVAL : 0;
}

/**
 * quic_txbuf_read() - read bytes anywhere in the stream
 * @buf: reserved buffer
 * @off: stream offset of the first byte
 * @to: where the bytes go
 * @len: number of bytes
 *
 * Return: 0, or -EINVAL if they are not all in the reserved stream.
 */
int quic_txbuf_read(const struct quic_txbuf *buf, size_t off, void *to,
		    unsigned int len)
{
	return quic_txbuf_copy(buf, off, to, NULL, len);
}
EXPORT_SYMBOL_IF_KUNIT(quic_txbuf_read);

/**
 * quic_txbuf_write() - overwrite bytes anywhere in the stream
 * @buf: reserved buffer, not yet handed to UDP
 * @off: stream offset of the first byte
 * @from: the new bytes
 * @len: number of bytes
 *
 * Return: 0, or -EINVAL if they are not all in the reserved stream.
 */
int quic_txbuf_write(const struct quic_txbuf *buf, size_t off,
		     const void *from, unsigned int len)
{
	return quic_txbuf_copy(buf, off, NULL, from, len);
}
EXPORT_SYMBOL_IF_KUNIT(quic_txbuf_write);

/**
 * quic_txbuf_rewind() - go back to the start of the stream
 * @buf: reserved buffer
 *
 * The packets copied in by quic_txbuf_next() can then be taken again, to
 * protect them.
 */
void quic_txbuf_rewind(struct quic_txbuf *buf)
{
	buf->idx = 0;
	buf->off = 0;
}

/**
 * quic_txbuf_iter() - describe the buffer as the source of a send
 * @buf: filled buffer
 * @iter: iterator to set up
 * @len: stream length
 */
void quic_txbuf_iter(const struct quic_txbuf *buf, struct iov_iter *iter,
		     size_t len)
{
	iov_iter_bvec(iter, ITER_SOURCE, buf->bvec, buf->nr, len);
}
EXPORT_SYMBOL_IF_KUNIT(quic_txbuf_iter);
