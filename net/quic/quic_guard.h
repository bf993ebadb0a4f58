/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The plaintext guard: where packets start in data sent without
 * UDP_QUIC_ENCRYPT, so that none of them is a short header.
 */

#ifndef _NET_QUIC_GUARD_H
#define _NET_QUIC_GUARD_H

#include <linux/types.h>

/**
 * struct quic_guard - position in the datagrams of a plain send
 * @seg_size: datagram length with UDP GSO, 0 for a single datagram
 * @seg_off: bytes seen of the current datagram
 * @skip: bytes to pass before the next field or packet; U64_MAX for the
 *	rest of the datagram
 * @val: value of the field being read
 * @need: bytes still to read of that field
 * @state: what the next byte read is
 * @first: first byte of the current packet
 * @type: its long packet type, in version 1 numbering
 *
 * The state carries over from one call to the next while UDP holds the
 * datagram corked, so a packet may straddle calls.
 */
struct quic_guard {
	u32 seg_size;
	u32 seg_off;
	u64 skip;
	u64 val;
	u8 need;
	u8 state;
	u8 first;
	u8 type;
};

void quic_guard_start(struct quic_guard *g, u16 seg_size);
size_t quic_guard_find(struct quic_guard *g, const u8 *data, size_t len);
int quic_guard_scan(struct quic_guard *g, const u8 *data, size_t len);

#endif /* _NET_QUIC_GUARD_H */
