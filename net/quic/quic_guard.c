// SPDX-License-Identifier: GPL-2.0
/*
 * The plaintext guard.
 *
 * A datagram sent without UDP_QUIC_ENCRYPT must hold no short-header
 * packet: such a packet is most likely a 1-RTT packet the application
 * forgot to have encrypted.  Only the form bit tells a short header, as
 * RFC 9287 lets the fixed bit be greased, so every first byte below 0x80
 * is refused (STUN and DTLS multiplexed as in RFC 9443 among them: those
 * are sent with QUIC_BYPASS_ENCRYPTION).
 *
 * A datagram may coalesce packets (RFC 9000 12.2): the Length field of a
 * version 1 or 2 Initial, 0-RTT or Handshake packet says where the next
 * one starts.  A packet the guard cannot follow (Retry, Version
 * Negotiation, another version, a connection ID too long for version 1)
 * runs to the end of its datagram, as for a receiver, which could not
 * find a packet behind it either.  The guard is a safety net for a
 * mistake, not a filter: it never looks inside a packet.
 */

#include <linux/errno.h>
#include <linux/kernel.h>
#include <linux/minmax.h>
#include <kunit/visibility.h>
#include <uapi/linux/quic.h>

#include "quic_crypto.h"
#include "quic_guard.h"

#define QUIC_VERSION_1		0x00000001
#define QUIC_VERSION_2		0x6b3343cf	/* RFC 9369 */

/* Long packet types as version 1 numbers them (RFC 9000 17.2). */
enum {
	QUIC_LONG_INITIAL,
	QUIC_LONG_0RTT,
	QUIC_LONG_HANDSHAKE,
	QUIC_LONG_RETRY,
	QUIC_LONG_UNKNOWN,
};

enum {
	QUIC_GUARD_PACKET,		/* a packet's first byte */
	QUIC_GUARD_VERSION,
	QUIC_GUARD_DCID_LEN,
	QUIC_GUARD_SCID_LEN,
	QUIC_GUARD_TOKEN_LEN,
	QUIC_GUARD_LENGTH,
	QUIC_GUARD_ZEROS,		/* padding up to the datagram's end */
};

static void quic_guard_packet(struct quic_guard *g)
{
	g->state = QUIC_GUARD_PACKET;
	g->skip = 0;
	g->need = 0;
}

/**
 * quic_guard_start() - start the scan of a new datagram
 * @g: guard
 * @seg_size: UDP GSO segment size of the send, or 0
 */
void quic_guard_start(struct quic_guard *g, u16 seg_size)
{
	g->seg_size = seg_size;
	g->seg_off = 0;
	quic_guard_packet(g);
}
EXPORT_SYMBOL_IF_KUNIT(quic_guard_start);

/* Version 2 (RFC 9369 3.2) numbers the long packet types one higher. */
static u8 quic_guard_type(u32 version, u8 first)
{
	u8 type = (first >> 4) & 0x3;

	if (version == QUIC_VERSION_1)
		return type;
	if (version == QUIC_VERSION_2)
		return (type + 3) & 0x3;
	return QUIC_LONG_UNKNOWN;
}

/* Read a byte of a variable-length integer; true once it is whole. */
static bool quic_guard_varint(struct quic_guard *g, u8 byte)
{
	if (!g->need) {
		g->need = (1 << (byte >> 6)) - 1;
		g->val = byte & 0x3f;
	} else {
		g->val = g->val << 8 | byte;
		g->need--;
	}
	return !g->need;
}

static int quic_guard_byte(struct quic_guard *g, u8 byte)
{
	switch (g->state) {
	case QUIC_GUARD_PACKET:
		if (!(byte & QUIC_HDR_FORM_LONG))
			return -EINVAL;
		g->first = byte;
		g->val = 0;
		g->need = 4;
		g->state = QUIC_GUARD_VERSION;
		break;
	case QUIC_GUARD_VERSION:
		g->val = g->val << 8 | byte;
		if (--g->need)
			break;
		g->type = quic_guard_type(g->val, g->first);
		if (g->type == QUIC_LONG_RETRY || g->type == QUIC_LONG_UNKNOWN)
			g->skip = U64_MAX;
		g->state = QUIC_GUARD_DCID_LEN;
		break;
	case QUIC_GUARD_DCID_LEN:
	case QUIC_GUARD_SCID_LEN:
		if (byte > QUIC_MAX_CONNECTION_ID_SIZE) {
			g->skip = U64_MAX;
			break;
		}
		g->skip = byte;
		if (g->state == QUIC_GUARD_DCID_LEN)
			g->state = QUIC_GUARD_SCID_LEN;
		else if (g->type == QUIC_LONG_INITIAL)
			g->state = QUIC_GUARD_TOKEN_LEN;
		else
			g->state = QUIC_GUARD_LENGTH;
		break;
	case QUIC_GUARD_TOKEN_LEN:
		if (quic_guard_varint(g, byte)) {
			g->skip = g->val;
			g->state = QUIC_GUARD_LENGTH;
		}
		break;
	case QUIC_GUARD_LENGTH:
		if (quic_guard_varint(g, byte)) {
			g->skip = g->val;
			g->state = QUIC_GUARD_PACKET;
		}
		break;
	}
	return 0;
}

/**
 * quic_guard_find() - find the next short-header packet of the datagrams
 * @g: guard, started at the first datagram's first byte
 * @data: the kernel's copy of the next bytes, in the order UDP sends them
 * @len: their length
 *
 * With GSO, every @g->seg_size bytes start a new datagram.
 *
 * Return: the offset in @data of the first short-header packet starting
 * there, @g left on it; or @len if none does.
 */
size_t quic_guard_find(struct quic_guard *g, const u8 *data, size_t len)
{
	size_t off = 0;

	while (off < len) {
		size_t room = g->seg_size ? g->seg_size - g->seg_off : len;
		size_t n = min(len - off, room);

		if (!room) {
			quic_guard_start(g, g->seg_size);
			continue;
		}
		if (!g->skip) {
			if (quic_guard_byte(g, data[off]))
				return off;
			n = 1;
		} else {
			n = min_t(u64, n, g->skip);
			g->skip -= g->skip == U64_MAX ? 0 : n;
		}
		g->seg_off += g->seg_size ? n : 0;
		off += n;
	}
	return len;
}
EXPORT_SYMBOL_IF_KUNIT(quic_guard_find);

/* Zero bytes up to the datagram's end are padding, not a packet. */
static size_t quic_guard_zeros(struct quic_guard *g, const u8 *data,
			       size_t len)
{
	size_t n = g->seg_size ? min_t(size_t, len,
				       g->seg_size - g->seg_off) : len;

	if (memchr_inv(data, 0, n))
		return 0;
	if (g->seg_size) {
		g->seg_off += n;
		if (g->seg_off == g->seg_size)
			quic_guard_start(g, g->seg_size);
	}
	return n;
}

/**
 * quic_guard_scan() - check the next bytes of the datagrams being sent
 * @g: guard, started at the first datagram's first byte
 * @data: the kernel's copy of the bytes, in the order UDP sends them
 * @len: their length
 *
 * Some senders pad a datagram with zero bytes after its last packet.  A
 * short header that would start them is let through if every byte up to
 * the datagram's end is zero: that carries nothing to keep secret.
 *
 * Return: 0, or -EINVAL if a packet starting in @data is a short header.
 */
int quic_guard_scan(struct quic_guard *g, const u8 *data, size_t len)
{
	size_t off = 0, n;

	while (off < len) {
		if (g->state == QUIC_GUARD_ZEROS) {
			n = quic_guard_zeros(g, data + off, len - off);
			if (!n)
				return -EINVAL;
			off += n;
			continue;
		}
		off += quic_guard_find(g, data + off, len - off);
		if (off == len)
			break;
		if (data[off])
			return -EINVAL;
		g->state = QUIC_GUARD_ZEROS;
	}
	return 0;
}
EXPORT_SYMBOL_IF_KUNIT(quic_guard_scan);
