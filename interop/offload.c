// SPDX-License-Identifier: GPL-2.0
/*
 * Thin wrappers around the quic-crypto socket API (include/uapi/linux/quic.h).
 * Every function returns what the system call returned, errno intact, so
 * the caller can report the kernel's answer exactly.
 */
#include <errno.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <netinet/in.h>
#include <netinet/udp.h>
#include <linux/quic.h>

#include "offload.h"

int offload_attach(int fd)
{
	static const char name[] = "quic-crypto";

	return setsockopt(fd, SOL_UDP, UDP_ULP, name, sizeof(name));
}

static void fill_id(struct quic_connection_info_key *k, const uint8_t *cid,
		    size_t cid_len)
{
	memset(k, 0, sizeof(*k));
	k->conn_id_length = cid_len;
	/* right-aligned: the ID is the last cid_len bytes of the array */
	memcpy(k->conn_id + QUIC_MAX_CONNECTION_ID_SIZE - cid_len, cid, cid_len);
}

int offload_add(int fd, uint16_t cipher, const uint8_t *cid, size_t cid_len,
		const uint8_t *key, size_t key_len, const uint8_t *iv,
		const uint8_t *hp)
{
	struct quic_connection_info info;

	if (cid_len > QUIC_MAX_CONNECTION_ID_SIZE || key_len > 32) {
		errno = EINVAL;
		return -1;
	}
	memset(&info, 0, sizeof(info));
	info.cipher_type = cipher;
	fill_id(&info.key, cid, cid_len);
	memcpy(info.payload_key, key, key_len);
	memcpy(info.payload_iv, iv, sizeof(info.payload_iv));
	/* the header protection key has the length of the payload key */
	memcpy(info.header_key, hp, key_len);
	return setsockopt(fd, SOL_UDP, UDP_QUIC_ADD_TX_CONNECTION, &info,
			  sizeof(info));
}

int offload_del(int fd, const uint8_t *cid, size_t cid_len)
{
	struct quic_connection_info info;

	memset(&info, 0, sizeof(info));
	fill_id(&info.key, cid, cid_len);
	return setsockopt(fd, SOL_UDP, UDP_QUIC_DEL_TX_CONNECTION, &info,
			  sizeof(info));
}

int offload_key_phase(int fd, const uint8_t *cid, size_t cid_len, int op,
		      int phase, const uint8_t *key, size_t key_len,
		      const uint8_t *iv)
{
	struct quic_tx_key_phase_info ku;

	if (key_len > sizeof(ku.payload_key)) {
		errno = EINVAL;
		return -1;
	}
	memset(&ku, 0, sizeof(ku));
	fill_id(&ku.key, cid, cid_len);
	ku.op = op;
	ku.phase = phase;
	if (op == QUIC_KEY_PHASE_INSTALL) {
		memcpy(ku.payload_key, key, key_len);
		memcpy(ku.payload_iv, iv, sizeof(ku.payload_iv));
	}
	return setsockopt(fd, SOL_UDP, UDP_QUIC_SET_TX_KEY_PHASE, &ku,
			  sizeof(ku));
}

ssize_t offload_send(int fd, const struct sockaddr *to, socklen_t tolen,
		     const uint8_t *buf, size_t len, size_t seg, bool encrypt,
		     bool bypass, uint64_t first_pn, size_t cid_len)
{
	union {
		char buf[CMSG_SPACE(sizeof(struct quic_tx_ancillary_data)) +
			 CMSG_SPACE(sizeof(uint16_t))];
		struct cmsghdr align;
	} control;
	struct iovec iov = { .iov_base = (void *)buf, .iov_len = len };
	struct msghdr msg = {
		.msg_name = (void *)to,
		.msg_namelen = tolen,
		.msg_iov = &iov,
		.msg_iovlen = 1,
	};
	size_t plain_seg = encrypt ? seg - OFFLOAD_TAG_LEN : seg;
	struct cmsghdr *cmsg;
	size_t controllen = 0;

	memset(&control, 0, sizeof(control));
	msg.msg_control = control.buf;
	msg.msg_controllen = sizeof(control.buf);
	cmsg = CMSG_FIRSTHDR(&msg);
	if (encrypt || bypass) {
		struct quic_tx_ancillary_data anc;

		memset(&anc, 0, sizeof(anc));
		anc.next_pkt_num = first_pn;
		anc.flags = bypass ? QUIC_BYPASS_ENCRYPTION : 0;
		anc.conn_id_length = cid_len;
		cmsg->cmsg_level = IPPROTO_UDP;
		cmsg->cmsg_type = UDP_QUIC_ENCRYPT;
		cmsg->cmsg_len = CMSG_LEN(sizeof(anc));
		memcpy(CMSG_DATA(cmsg), &anc, sizeof(anc));
		controllen += CMSG_SPACE(sizeof(anc));
		cmsg = CMSG_NXTHDR(&msg, cmsg);
	}
	/* one segment needs no GSO; the kernel splits on plaintext bounds */
	if (seg && len > plain_seg) {
		uint16_t gso = seg;

		cmsg->cmsg_level = SOL_UDP;
		cmsg->cmsg_type = UDP_SEGMENT;
		cmsg->cmsg_len = CMSG_LEN(sizeof(gso));
		memcpy(CMSG_DATA(cmsg), &gso, sizeof(gso));
		controllen += CMSG_SPACE(sizeof(gso));
	}
	msg.msg_controllen = controllen;
	if (!controllen)
		msg.msg_control = NULL;
	return sendmsg(fd, &msg, 0);
}
