/* SPDX-License-Identifier: GPL-2.0 */
/*
 * Transmit buffer of one sendmsg(): page fragments the packets are
 * written and encrypted into, then handed to UDP, which takes its own
 * page references.
 */

#ifndef _NET_QUIC_TXBUF_H
#define _NET_QUIC_TXBUF_H

#include <linux/bvec.h>
#include <linux/types.h>

struct iov_iter;
struct scatterlist;
struct sock;

/**
 * struct quic_txbuf - byte stream spread over page fragments
 * @bvec: the fragments, in stream order
 * @nr: fragments in use
 * @max: room in @bvec
 * @idx: fragment of the read position
 * @off: offset of the read position in fragment @idx
 */
struct quic_txbuf {
	struct bio_vec *bvec;
	unsigned int nr;
	unsigned int max;
	unsigned int idx;
	unsigned int off;
};

unsigned int quic_txbuf_max_frags(size_t len);
void quic_txbuf_init(struct quic_txbuf *buf, struct bio_vec *bvec,
		     unsigned int max);
int quic_txbuf_reserve(struct quic_txbuf *buf, struct sock *sk, size_t len,
		       unsigned int head);
void quic_txbuf_release(struct quic_txbuf *buf);
bool quic_txbuf_spliceable(const struct quic_txbuf *buf);
int quic_txbuf_next(struct quic_txbuf *buf, struct scatterlist *sg,
		    unsigned int len, unsigned int fill,
		    struct iov_iter *from);
int quic_txbuf_read(const struct quic_txbuf *buf, size_t off, void *to,
		    unsigned int len);
int quic_txbuf_write(const struct quic_txbuf *buf, size_t off,
		     const void *from, unsigned int len);
void quic_txbuf_rewind(struct quic_txbuf *buf);
void quic_txbuf_iter(const struct quic_txbuf *buf, struct iov_iter *iter,
		     size_t len);

#endif /* _NET_QUIC_TXBUF_H */
