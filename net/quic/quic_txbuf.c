// SPDX-License-Identifier: GPL-2.0
/*
 * Transmit buffer of one sendmsg().
 *
 * The whole batch is reserved up front from the task's page fragment, as
 * one stream: a packet may straddle two fragments, but every fragment after
 * the first starts a fresh page and is used to its end.  UDP splits each
 * fragment into order-0 pages when it splices them, so packing the stream
 * keeps the largest datagram within MAX_SKB_FRAGS pages.  The buffer holds
 * a reference on each fragment until UDP has taken its own, so no byte is
 * reused while an skb may still point at it.
 */

#include <linux/mm.h>
#include <linux/scatterlist.h>
#include <linux/uio.h>
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

/**
 * quic_txbuf_reserve() - take @len bytes of page fragments
 * @buf: empty buffer
 * @sk: socket to allocate for
 * @len: stream length
 *
 * Uses the task's page fragment, as UDP's own lockless send path does, so
 * concurrent senders on one socket never share a fragment being filled.
 *
 * Return: 0 or -ENOMEM; on error quic_txbuf_release() still applies.
 */
int quic_txbuf_reserve(struct quic_txbuf *buf, struct sock *sk, size_t len)
{
	struct page_frag *pfrag = &current->task_frag;

	while (len) {
		unsigned int take;

		if (WARN_ON_ONCE(buf->nr == buf->max))
			return -ENOMEM;
		if (!sk_page_frag_refill(sk, pfrag))
			return -ENOMEM;

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
 * @sg: table of at least @buf->max entries, set to describe the packet
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

	sg_init_table(sg, nents);
	for (i = 0; i < nents; i++) {
		const struct bio_vec *bv = &buf->bvec[buf->idx];
		unsigned int piece = min(len, bv->bv_len - buf->off);
		unsigned int offset = bv->bv_offset + buf->off;
		unsigned int copy = min(fill, piece);

		if (copy &&
		    copy_page_from_iter(bv->bv_page, offset, copy, from) != copy)
			return -EFAULT;
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
