/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * QUIC 1-RTT Tx crypto offload for UDP sockets ("quic-crypto" UDP ULP).
 *
 * The cipher_type values are the TLS_CIPHER_* constants of <linux/tls.h>.
 * Documentation/networking/quic.rst describes the whole interface.
 */

#ifndef _UAPI_LINUX_QUIC_H
#define _UAPI_LINUX_QUIC_H

#include <linux/types.h>
#include <linux/tls.h>

/*
 * Socket options (level SOL_UDP) and control message type (level
 * IPPROTO_UDP), also in <linux/udp.h>: C programs using the C library's
 * <netinet/udp.h> for SOL_UDP cannot include that one as well.
 */
#define UDP_ULP		105	/* Attach an upper layer protocol by name */
#define UDP_QUIC_ADD_TX_CONNECTION 106 /* Add a QUIC Tx offload connection */
#define UDP_QUIC_DEL_TX_CONNECTION 107 /* Remove a QUIC Tx offload connection */
#define UDP_QUIC_ENCRYPT 108	/* cmsg: encrypt QUIC packets of this sendmsg */
#define UDP_QUIC_SET_TX_KEY_PHASE 109 /* Install/retire a key update's key */

/* Longest connection ID of QUIC version 1 (RFC 9000, section 17.2) */
#define QUIC_MAX_CONNECTION_ID_SIZE	20

/* Every supported AEAD appends a tag of this size to each packet. */
#define QUIC_CRYPTO_TAG_SIZE		16

/**
 * struct quic_connection_info_key - identifies one offloaded connection
 * @conn_id: destination connection ID, right-aligned: its bytes are the
 *	last @conn_id_length bytes of the array.  Leading bytes are ignored.
 * @conn_id_length: length of the connection ID, 0 to
 *	QUIC_MAX_CONNECTION_ID_SIZE.
 */
struct quic_connection_info_key {
	__u8	conn_id[QUIC_MAX_CONNECTION_ID_SIZE];
	__u8	conn_id_length;
};

/**
 * struct quic_connection_info - UDP_QUIC_ADD_TX_CONNECTION argument
 * @cipher_type: TLS_CIPHER_AES_GCM_128, TLS_CIPHER_AES_GCM_256,
 *	TLS_CIPHER_AES_CCM_128 or TLS_CIPHER_CHACHA20_POLY1305.
 * @key: connection ID the packets of this connection carry.
 * @payload_key: AEAD key; only its first 16 or 32 bytes are used, as the
 *	cipher requires.
 * @payload_iv: the 12-byte AEAD IV of RFC 9001, section 5.3.
 * @header_key: header protection key, 16 or 32 bytes used likewise.
 * @reserved: explicit tail padding, ignored by the kernel.
 *
 * UDP_QUIC_DEL_TX_CONNECTION takes the same structure and reads only @key.
 */
struct quic_connection_info {
	__u16	cipher_type;
	struct quic_connection_info_key key;
	__u8	payload_key[32];
	__u8	payload_iv[12];
	__u8	header_key[32];
	__u8	reserved;
};

/* struct quic_tx_key_phase_info.op */
#define QUIC_KEY_PHASE_INSTALL		1
#define QUIC_KEY_PHASE_RETIRE		2

/**
 * struct quic_tx_key_phase_info - UDP_QUIC_SET_TX_KEY_PHASE argument
 * @key: connection ID of a connection added with UDP_QUIC_ADD_TX_CONNECTION.
 * @op: QUIC_KEY_PHASE_INSTALL or QUIC_KEY_PHASE_RETIRE.
 * @phase: key phase, 0 or 1: the value of the Key Phase bit (0x04 of the
 *	unprotected first byte) of the packets the key protects.
 * @reserved: must be zero.
 * @payload_key: with QUIC_KEY_PHASE_INSTALL, the AEAD key of @phase (first
 *	16 or 32 bytes used, as for struct quic_connection_info); ignored
 *	with QUIC_KEY_PHASE_RETIRE.
 * @payload_iv: with QUIC_KEY_PHASE_INSTALL, the 12-byte IV of @phase.
 *
 * The cipher and the header protection key stay those given at
 * UDP_QUIC_ADD_TX_CONNECTION (RFC 9001, section 6).  The first install
 * turns on key selection by the Key Phase bit: the key given at
 * UDP_QUIC_ADD_TX_CONNECTION becomes the key of the other phase.  Until
 * then every packet uses that key whatever its Key Phase bit says.
 */
struct quic_tx_key_phase_info {
	struct quic_connection_info_key key;
	__u8	op;
	__u8	phase;
	__u8	reserved;
	__u8	payload_key[32];
	__u8	payload_iv[12];
};

/* Send the datagrams of this sendmsg() unencrypted, exactly as given. */
#define QUIC_BYPASS_ENCRYPTION		0x01

/**
 * struct quic_tx_ancillary_data - payload of the UDP_QUIC_ENCRYPT cmsg
 * @next_pkt_num: the packet number the sender expects the first packet of
 *	this call to carry.  It is the reference for expanding each
 *	truncated packet number to its full value (RFC 9000, appendix A.3).
 * @flags: zero or QUIC_BYPASS_ENCRYPTION; other bits are refused.
 * @conn_id_length: length of the destination connection ID that follows
 *	the first byte of every short-header packet of this call.
 * @reserved: explicit tail padding, ignored by the kernel.
 */
struct quic_tx_ancillary_data {
	__aligned_u64	next_pkt_num;
	__u8	flags;
	__u8	conn_id_length;
	__u8	reserved[6];
};

#endif /* _UAPI_LINUX_QUIC_H */
