/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The socket side of the QUIC 1-RTT Tx offload ("quic-crypto" UDP ULP) as
 * h3server uses it: attach, connection keys, key phases, and sendmsg() of
 * plaintext short-header packets (optionally a UDP GSO batch of them).
 */
#ifndef H3SERVER_OFFLOAD_H
#define H3SERVER_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

/* The kernel appends a tag of this size to every packet it encrypts. */
#define OFFLOAD_TAG_LEN		16

int offload_attach(int fd);
int offload_add(int fd, uint16_t cipher, const uint8_t *cid, size_t cid_len,
		const uint8_t *key, size_t key_len, const uint8_t *iv,
		const uint8_t *hp);
int offload_del(int fd, const uint8_t *cid, size_t cid_len);
/* op is QUIC_KEY_PHASE_INSTALL (key/iv used) or QUIC_KEY_PHASE_RETIRE */
int offload_key_phase(int fd, const uint8_t *cid, size_t cid_len, int op,
		      int phase, const uint8_t *key, size_t key_len,
		      const uint8_t *iv);

/*
 * Send @len bytes to @to. @seg is the UDP GSO segment size as it appears
 * on the wire (0: a single datagram). With @encrypt, @buf holds plaintext
 * short-header packets every @seg - OFFLOAD_TAG_LEN bytes, the first
 * numbered @first_pn, all carrying a DCID of @cid_len bytes. With
 * @bypass, a UDP_QUIC_ENCRYPT cmsg asks the kernel to send the data as
 * is (needed for a short header the application protected itself on a
 * socket with the offload attached). Returns sendmsg()'s result.
 */
ssize_t offload_send(int fd, const struct sockaddr *to, socklen_t tolen,
		     const uint8_t *buf, size_t len, size_t seg, bool encrypt,
		     bool bypass, uint64_t first_pn, size_t cid_len);

#endif
