// SPDX-License-Identifier: GPL-2.0
/*
 * UDP upper layer protocol core (SOL_UDP, UDP_ULP): attaching and its
 * errors, reading the name back, release on close, module autoload and its
 * CAP_NET_ADMIN gate, sends through the ULP's replacement proto, the hook
 * on each datagram sent (send_skb) and its errors, and the sockets a ULP
 * must stay away from.
 *
 * Uses the "test" and "test_nohook" ULPs from CONFIG_UDP_ULP_TEST (module
 * udp_ulp_test), whose parameters count attached sockets, sendmsg calls
 * and datagrams seen by send_skb, and make send_skb fail.
 */
#define _GNU_SOURCE

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <linux/bpf.h>
#include <linux/capability.h>
#include <linux/udp.h>

#include "../../kselftest_harness.h"

#ifndef SOL_UDP
#define SOL_UDP		17
#endif

#define ULP_NAME	"test"
/* the same ULP without a send_skb op */
#define ULP_NOHOOK	"test_nohook"
#define ULP_MODULE	"udp_ulp_test"
#define ULP_SYSFS	"/sys/module/" ULP_MODULE
/* UDP_ULP_NAME_MAX of the kernel: longest name with its NUL */
#define ULP_NAME_MAX	16

static long read_long(const char *path)
{
	char buf[32] = {};
	long val = -1;
	int fd;

	fd = open(path, O_RDONLY);
	if (fd < 0)
		return -1;
	if (read(fd, buf, sizeof(buf) - 1) > 0)
		val = strtol(buf, NULL, 10);
	close(fd);
	return val;
}

static long ulp_attached(void)
{
	return read_long(ULP_SYSFS "/parameters/attached");
}

static long ulp_sendmsg_calls(void)
{
	return read_long(ULP_SYSFS "/parameters/sendmsg_calls");
}

static long ulp_send_skb_calls(void)
{
	return read_long(ULP_SYSFS "/parameters/send_skb_calls");
}

static long ulp_send_skb_bytes(void)
{
	return read_long(ULP_SYSFS "/parameters/send_skb_bytes");
}

static long ulp_send_skb_gso_size(void)
{
	return read_long(ULP_SYSFS "/parameters/send_skb_gso_size");
}

/* Makes send_skb fail with @val (0: succeed); returns 0 or the errno. */
static int ulp_set_send_skb_errno(const char *val)
{
	int fd, err = 0;

	fd = open(ULP_SYSFS "/parameters/send_skb_errno", O_WRONLY);
	if (fd < 0)
		return errno;
	if (write(fd, val, strlen(val)) < 0)
		err = errno;
	close(fd);
	return err;
}

static int ulp_fail_send_skb(int err)
{
	char val[16];

	snprintf(val, sizeof(val), "%d", err);
	return ulp_set_send_skb_errno(val);
}

/* SndbufErrors of UDP (/proc/net/snmp) or UDPv6 (/proc/net/snmp6) */
static long udp_sndbuf_errors(int family)
{
	char names[1024], values[1024], *name, *value, *np, *vp;
	long val = -1;
	FILE *f;

	if (family == AF_INET6) {
		f = fopen("/proc/net/snmp6", "r");
		if (!f)
			return -1;
		while (fscanf(f, "%1023s %1023s", names, values) == 2)
			if (!strcmp(names, "Udp6SndbufErrors"))
				val = strtol(values, NULL, 10);
		fclose(f);
		return val;
	}

	f = fopen("/proc/net/snmp", "r");
	if (!f)
		return -1;
	/* a line of names, then a line of values, for each protocol */
	while (fgets(names, sizeof(names), f) &&
	       fgets(values, sizeof(values), f)) {
		if (strncmp(names, "Udp: ", 5))
			continue;
		name = strtok_r(names, "\n ", &np);
		value = strtok_r(values, "\n ", &vp);
		while (name && value) {
			if (!strcmp(name, "SndbufErrors"))
				val = strtol(value, NULL, 10);
			name = strtok_r(NULL, "\n ", &np);
			value = strtok_r(NULL, "\n ", &vp);
		}
		break;
	}
	fclose(f);
	return val;
}

static long ulp_refcnt(void)
{
	return read_long(ULP_SYSFS "/refcnt");
}

static bool ulp_loaded(void)
{
	return !access(ULP_SYSFS, F_OK);
}

/* initstate only exists for a loadable module, not a built-in one */
static bool ulp_is_module(void)
{
	return !access(ULP_SYSFS "/initstate", F_OK);
}

/* Returns 0 or the errno of delete_module(); ENOENT means not loaded. */
static int ulp_unload(void)
{
	if (syscall(__NR_delete_module, ULP_MODULE, O_NONBLOCK))
		return errno;
	return 0;
}

/* Returns 0 or the errno of setsockopt() */
static int attach_len(int fd, const void *name, int len)
{
	if (setsockopt(fd, SOL_UDP, UDP_ULP, name, len))
		return errno;
	return 0;
}

static int attach(int fd, const char *name)
{
	return attach_len(fd, name, strlen(name) + 1);
}

/* Loads the test ULP the way users do, by attaching it once. */
static bool ulp_available(int family)
{
	int fd = socket(family, SOCK_DGRAM, IPPROTO_UDP);
	int err;

	if (fd < 0)
		return false;
	err = attach(fd, ULP_NAME);
	close(fd);
	return !err;
}

/* An unloadable module is needed, and it must be gone before the test. */
static bool ulp_make_unloaded(int family)
{
	if (!ulp_available(family) || !ulp_is_module())
		return false;
	return !ulp_unload() && !ulp_loaded();
}

static void lo_up(struct __test_metadata *_metadata)
{
	struct ifreq ifr = {};
	int fd;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	ASSERT_GE(fd, 0);
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	ASSERT_EQ(ioctl(fd, SIOCGIFFLAGS, &ifr), 0);
	ifr.ifr_flags |= IFF_UP;
	ASSERT_EQ(ioctl(fd, SIOCSIFFLAGS, &ifr), 0);
	close(fd);
}

static socklen_t loopback(int family, struct sockaddr_storage *ss)
{
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)ss;

	memset(ss, 0, sizeof(*ss));
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		return sizeof(*sin);
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_addr = in6addr_loopback;
	return sizeof(*sin6);
}

/* A socket bound to a free loopback port; its address goes to @ss. */
static int bound_socket(int family, struct sockaddr_storage *ss,
			socklen_t *len)
{
	int fd = socket(family, SOCK_DGRAM, IPPROTO_UDP);

	if (fd < 0)
		return -1;
	*len = loopback(family, ss);
	if (bind(fd, (struct sockaddr *)ss, *len) ||
	    getsockname(fd, (struct sockaddr *)ss, len)) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The IPv4-mapped IPv6 form of an IPv4 socket address */
static socklen_t v4_mapped(const struct sockaddr_storage *v4,
			   struct sockaddr_storage *ss)
{
	const struct sockaddr_in *sin = (const struct sockaddr_in *)v4;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof(*ss));
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = sin->sin_port;
	sin6->sin6_addr.s6_addr[10] = 0xff;
	sin6->sin6_addr.s6_addr[11] = 0xff;
	memcpy(&sin6->sin6_addr.s6_addr[12], &sin->sin_addr, 4);
	return sizeof(*sin6);
}

/* Receives one datagram, waiting at most a second. */
static ssize_t recv_one(int fd, void *buf, size_t len)
{
	struct pollfd pfd = { .fd = fd, .events = POLLIN };

	if (poll(&pfd, 1, 1000) != 1)
		return -1;
	return recv(fd, buf, len, MSG_DONTWAIT);
}

static void fill(unsigned char *buf, size_t len, unsigned int seed)
{
	size_t i;

	for (i = 0; i < len; i++)
		buf[i] = (unsigned char)(seed * 131 + i * 7 + (i >> 8));
}

/* Drops CAP_NET_ADMIN from the effective set of the calling process. */
static int drop_net_admin(void)
{
	struct __user_cap_header_struct hdr = {
		.version = _LINUX_CAPABILITY_VERSION_3,
	};
	struct __user_cap_data_struct data[_LINUX_CAPABILITY_U32S_3] = {};

	if (syscall(SYS_capget, &hdr, data))
		return -1;
	data[CAP_TO_INDEX(CAP_NET_ADMIN)].effective &=
		~CAP_TO_MASK(CAP_NET_ADMIN);
	return syscall(SYS_capset, &hdr, data);
}

/*
 * Attaches the test ULP in a child without CAP_NET_ADMIN. Returns the
 * errno of the attach, 0 on success, or -1 if the child could not run.
 */
static int attach_without_net_admin(int family)
{
	int status, fd, err;
	pid_t pid;

	pid = fork();
	if (pid < 0)
		return -1;
	if (!pid) {
		if (drop_net_admin())
			_exit(255);
		fd = socket(family, SOCK_DGRAM, IPPROTO_UDP);
		if (fd < 0)
			_exit(255);
		err = attach(fd, ULP_NAME);
		close(fd);
		_exit(err > 254 ? 254 : err);
	}
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) == 255)
		return -1;
	return WEXITSTATUS(status);
}

static int bpf(int cmd, union bpf_attr *attr)
{
	return syscall(__NR_bpf, cmd, attr, sizeof(*attr));
}

static int sockmap_create(void)
{
	union bpf_attr attr = {
		.map_type	= BPF_MAP_TYPE_SOCKMAP,
		.key_size	= sizeof(__u32),
		.value_size	= sizeof(__u32),
		.max_entries	= 1,
	};

	return bpf(BPF_MAP_CREATE, &attr);
}

/* Puts @fd in the only slot of @map; returns 0 or the errno. */
static int sockmap_add(int map, int fd)
{
	__u32 key = 0, val = fd;
	union bpf_attr attr = {
		.map_fd	= map,
		.key	= (__u64)(unsigned long)&key,
		.value	= (__u64)(unsigned long)&val,
	};

	if (bpf(BPF_MAP_UPDATE_ELEM, &attr))
		return errno;
	return 0;
}

/* Empties the only slot of @map; returns 0 or the errno. */
static int sockmap_del(int map)
{
	__u32 key = 0;
	union bpf_attr attr = {
		.map_fd	= map,
		.key	= (__u64)(unsigned long)&key,
	};

	if (bpf(BPF_MAP_DELETE_ELEM, &attr))
		return errno;
	return 0;
}

FIXTURE(ulp) {
	int fd;
};

FIXTURE_VARIANT(ulp) {
	int family;
};

FIXTURE_VARIANT_ADD(ulp, ipv4) {
	.family = AF_INET,
};

FIXTURE_VARIANT_ADD(ulp, ipv6) {
	.family = AF_INET6,
};

FIXTURE_SETUP(ulp)
{
	/* Each test runs in its own process: give it its own loopback. */
	ASSERT_EQ(unshare(CLONE_NEWNET), 0);
	lo_up(_metadata);

	self->fd = socket(variant->family, SOCK_DGRAM, IPPROTO_UDP);
	ASSERT_GE(self->fd, 0);

	if (!ulp_available(variant->family))
		SKIP(return, "no \"%s\" ULP (CONFIG_UDP_ULP_TEST)", ULP_NAME);
}

FIXTURE_TEARDOWN(ulp)
{
	close(self->fd);
	/* a failed test must not leave send_skb failing for the next one */
	ulp_fail_send_skb(0);
}

static void expect_no_ulp(struct __test_metadata *_metadata, int fd)
{
	char name[ULP_NAME_MAX];
	socklen_t len = sizeof(name);

	ASSERT_EQ(getsockopt(fd, SOL_UDP, UDP_ULP, name, &len), 0);
	EXPECT_EQ(len, 0);
}

TEST_F(ulp, unknown_name)
{
	EXPECT_EQ(attach(self->fd, "no-such-ulp"), ENOENT);
	expect_no_ulp(_metadata, self->fd);
	/* a failed attach leaves the socket free for a real one */
	EXPECT_EQ(attach(self->fd, ULP_NAME), 0);
}

TEST_F(ulp, bad_optlen)
{
	EXPECT_EQ(attach_len(self->fd, ULP_NAME, 0), EINVAL);
	EXPECT_EQ(attach_len(self->fd, ULP_NAME, -1), EINVAL);
	EXPECT_EQ(attach_len(self->fd, NULL, 5), EFAULT);
	expect_no_ulp(_metadata, self->fd);
}

TEST_F(ulp, bad_name)
{
	/* 15 characters is the longest name that fits */
	static const char longest[] = "0123456789abcde";
	static const char too_long[] = "0123456789abcdefghij";

	EXPECT_EQ(attach(self->fd, ""), EINVAL);
	EXPECT_EQ(attach(self->fd, too_long), EINVAL);
	/* 16 bytes without a NUL: no room for the terminator */
	EXPECT_EQ(attach_len(self->fd, too_long, ULP_NAME_MAX), EINVAL);
	/* valid length, so the lookup is what fails */
	EXPECT_EQ(attach(self->fd, longest), ENOENT);
	EXPECT_EQ(attach_len(self->fd, too_long, ULP_NAME_MAX - 1), ENOENT);
	expect_no_ulp(_metadata, self->fd);
}

TEST_F(ulp, name_ends_at_optlen_or_nul)
{
	char buf[64] = ULP_NAME;
	int fd;

	/* no NUL within optlen: the name is the first optlen bytes */
	EXPECT_EQ(attach_len(self->fd, ULP_NAME "xyz", strlen(ULP_NAME)), 0);

	/* a buffer longer than the longest name is fine up to its NUL */
	fd = socket(variant->family, SOCK_DGRAM, IPPROTO_UDP);
	ASSERT_GE(fd, 0);
	memset(buf + sizeof(ULP_NAME), 'x', sizeof(buf) - sizeof(ULP_NAME));
	EXPECT_EQ(attach_len(fd, buf, sizeof(buf)), 0);
	close(fd);
}

TEST_F(ulp, attach_and_get)
{
	static const char want[ULP_NAME_MAX] = ULP_NAME;
	char name[64];
	socklen_t len;

	ASSERT_EQ(attach(self->fd, ULP_NAME), 0);

	memset(name, 0xaa, sizeof(name));
	len = sizeof(name);
	ASSERT_EQ(getsockopt(self->fd, SOL_UDP, UDP_ULP, name, &len), 0);
	ASSERT_EQ(len, ULP_NAME_MAX);
	EXPECT_EQ(memcmp(name, want, ULP_NAME_MAX), 0);
	/* nothing written past the returned length */
	EXPECT_EQ((unsigned char)name[ULP_NAME_MAX], 0xaa);

	/* a short buffer gets the start of the name */
	memset(name, 0xaa, sizeof(name));
	len = 2;
	ASSERT_EQ(getsockopt(self->fd, SOL_UDP, UDP_ULP, name, &len), 0);
	ASSERT_EQ(len, 2);
	EXPECT_EQ(memcmp(name, want, 2), 0);
	EXPECT_EQ((unsigned char)name[2], 0xaa);
}

TEST_F(ulp, get_without_ulp)
{
	unsigned char name[ULP_NAME_MAX], untouched[ULP_NAME_MAX];
	socklen_t len = sizeof(name);
	int bad_len = -1;

	memset(name, 0xaa, sizeof(name));
	memset(untouched, 0xaa, sizeof(untouched));
	ASSERT_EQ(getsockopt(self->fd, SOL_UDP, UDP_ULP, name, &len), 0);
	EXPECT_EQ(len, 0);
	EXPECT_EQ(memcmp(name, untouched, sizeof(name)), 0);

	EXPECT_EQ(getsockopt(self->fd, SOL_UDP, UDP_ULP, name,
			     (socklen_t *)&bad_len), -1);
	EXPECT_EQ(errno, EINVAL);
}

TEST_F(ulp, double_attach)
{
	static const char want[ULP_NAME_MAX] = ULP_NAME;
	char name[ULP_NAME_MAX];
	socklen_t len = sizeof(name);
	long before = ulp_attached();

	ASSERT_GE(before, 0);
	ASSERT_EQ(attach(self->fd, ULP_NAME), 0);
	EXPECT_EQ(attach(self->fd, ULP_NAME), EEXIST);
	/* "already attached" wins over "no such ULP" */
	EXPECT_EQ(attach(self->fd, "no-such-ulp"), EEXIST);
	EXPECT_EQ(ulp_attached(), before + 1);

	ASSERT_EQ(getsockopt(self->fd, SOL_UDP, UDP_ULP, name, &len), 0);
	ASSERT_EQ(len, ULP_NAME_MAX);
	EXPECT_EQ(memcmp(name, want, ULP_NAME_MAX), 0);
}

TEST_F(ulp, release_on_close)
{
	long attached = ulp_attached(), refs = ulp_refcnt();
	bool is_module = ulp_is_module();
	int fds[3], plain, i;

	ASSERT_GE(attached, 0);
	if (is_module)
		ASSERT_GE(refs, 0);

	for (i = 0; i < 3; i++) {
		fds[i] = socket(variant->family, SOCK_DGRAM, IPPROTO_UDP);
		ASSERT_GE(fds[i], 0);
		ASSERT_EQ(attach(fds[i], ULP_NAME), 0);
	}
	EXPECT_EQ(ulp_attached(), attached + 3);
	if (is_module)
		EXPECT_EQ(ulp_refcnt(), refs + 3);

	/* closing a socket without a ULP changes nothing */
	plain = socket(variant->family, SOCK_DGRAM, IPPROTO_UDP);
	ASSERT_GE(plain, 0);
	close(plain);
	EXPECT_EQ(ulp_attached(), attached + 3);

	close(fds[0]);
	EXPECT_EQ(ulp_attached(), attached + 2);
	if (is_module)
		EXPECT_EQ(ulp_refcnt(), refs + 2);

	close(fds[1]);
	close(fds[2]);
	EXPECT_EQ(ulp_attached(), attached);
	if (is_module)
		EXPECT_EQ(ulp_refcnt(), refs);
}

TEST_F(ulp, unload_waits_for_sockets)
{
	if (!ulp_is_module())
		SKIP(return, "%s is built in", ULP_MODULE);

	ASSERT_EQ(attach(self->fd, ULP_NAME), 0);
	EXPECT_EQ(ulp_unload(), EWOULDBLOCK);
	EXPECT_TRUE(ulp_loaded());

	close(self->fd);
	self->fd = socket(variant->family, SOCK_DGRAM, IPPROTO_UDP);
	ASSERT_GE(self->fd, 0);
	EXPECT_EQ(ulp_unload(), 0);
	EXPECT_FALSE(ulp_loaded());
}

TEST_F(ulp, autoload)
{
	if (!ulp_make_unloaded(variant->family))
		SKIP(return, "cannot unload %s", ULP_MODULE);

	ASSERT_EQ(attach(self->fd, ULP_NAME), 0);
	ASSERT_TRUE(ulp_loaded());
	/* the module is fresh, so these are absolute */
	EXPECT_EQ(ulp_attached(), 1);
	EXPECT_EQ(ulp_refcnt(), 1);

	close(self->fd);
	self->fd = socket(variant->family, SOCK_DGRAM, IPPROTO_UDP);
	ASSERT_GE(self->fd, 0);
	EXPECT_EQ(ulp_attached(), 0);
	EXPECT_EQ(ulp_refcnt(), 0);
}

TEST_F(ulp, autoload_needs_net_admin)
{
	if (!ulp_make_unloaded(variant->family))
		SKIP(return, "cannot unload %s", ULP_MODULE);

	/* not loaded and not allowed to load it: no such ULP */
	EXPECT_EQ(attach_without_net_admin(variant->family), ENOENT);
	EXPECT_FALSE(ulp_loaded());

	/* the name was loadable all along, by someone allowed to */
	ASSERT_EQ(attach(self->fd, ULP_NAME), 0);
	ASSERT_TRUE(ulp_loaded());

	/* once loaded, using it needs no privilege */
	EXPECT_EQ(attach_without_net_admin(variant->family), 0);
}

TEST_F(ulp, send_through_ulp)
{
	unsigned char out[1200], in[1500];
	struct sockaddr_storage dst;
	socklen_t dst_len;
	long calls;
	int rx, i;

	rx = bound_socket(variant->family, &dst, &dst_len);
	ASSERT_GE(rx, 0);

	ASSERT_EQ(attach(self->fd, ULP_NAME), 0);
	calls = ulp_sendmsg_calls();
	ASSERT_GE(calls, 0);

	/* sendto, then send and write on the connected socket */
	fill(out, sizeof(out), 1);
	ASSERT_EQ(sendto(self->fd, out, sizeof(out), 0,
			 (struct sockaddr *)&dst, dst_len), sizeof(out));
	ASSERT_EQ(connect(self->fd, (struct sockaddr *)&dst, dst_len), 0);
	fill(out, 700, 2);
	ASSERT_EQ(send(self->fd, out, 700, 0), 700);
	fill(out, 1, 3);
	ASSERT_EQ(write(self->fd, out, 1), 1);
	EXPECT_EQ(ulp_sendmsg_calls(), calls + 3);

	for (i = 1; i <= 3; i++) {
		size_t len = i == 1 ? sizeof(out) : i == 2 ? 700 : 1;

		fill(out, len, i);
		ASSERT_EQ(recv_one(rx, in, sizeof(in)), len);
		EXPECT_EQ(memcmp(in, out, len), 0);
	}
	close(rx);
}

TEST_F(ulp, send_without_ulp_not_counted)
{
	struct sockaddr_storage dst;
	unsigned char buf[64];
	socklen_t dst_len;
	long calls;
	int rx;

	rx = bound_socket(variant->family, &dst, &dst_len);
	ASSERT_GE(rx, 0);
	calls = ulp_sendmsg_calls();
	ASSERT_GE(calls, 0);

	fill(buf, sizeof(buf), 4);
	ASSERT_EQ(sendto(self->fd, buf, sizeof(buf), 0,
			 (struct sockaddr *)&dst, dst_len), sizeof(buf));
	EXPECT_EQ(ulp_sendmsg_calls(), calls);
	EXPECT_EQ(recv_one(rx, buf, sizeof(buf)), sizeof(buf));
	close(rx);
}

TEST_F(ulp, send_to_v4_mapped)
{
	unsigned char out[300], in[512];
	struct sockaddr_storage dst4, dst;
	socklen_t dst_len;
	long calls;
	int rx;

	if (variant->family != AF_INET6)
		SKIP(return, "IPv6 only");

	rx = bound_socket(AF_INET, &dst4, &dst_len);
	ASSERT_GE(rx, 0);
	dst_len = v4_mapped(&dst4, &dst);

	ASSERT_EQ(attach(self->fd, ULP_NAME), 0);
	calls = ulp_sendmsg_calls();
	fill(out, sizeof(out), 5);
	ASSERT_EQ(sendto(self->fd, out, sizeof(out), 0,
			 (struct sockaddr *)&dst, dst_len), sizeof(out));
	EXPECT_EQ(ulp_sendmsg_calls(), calls + 1);
	ASSERT_EQ(recv_one(rx, in, sizeof(in)), sizeof(out));
	EXPECT_EQ(memcmp(in, out, sizeof(out)), 0);
	close(rx);
}

TEST_F(ulp, close_after_send_releases)
{
	struct sockaddr_storage dst;
	unsigned char buf[100];
	long attached, calls;
	socklen_t dst_len;
	int rx;

	rx = bound_socket(variant->family, &dst, &dst_len);
	ASSERT_GE(rx, 0);
	attached = ulp_attached();

	ASSERT_EQ(attach(self->fd, ULP_NAME), 0);
	calls = ulp_sendmsg_calls();
	fill(buf, sizeof(buf), 6);
	ASSERT_EQ(sendto(self->fd, buf, sizeof(buf), 0,
			 (struct sockaddr *)&dst, dst_len), sizeof(buf));
	ASSERT_EQ(ulp_sendmsg_calls(), calls + 1);
	EXPECT_EQ(ulp_attached(), attached + 1);

	close(self->fd);
	self->fd = socket(variant->family, SOCK_DGRAM, IPPROTO_UDP);
	ASSERT_GE(self->fd, 0);
	EXPECT_EQ(ulp_attached(), attached);

	/* UDP still works for new sockets, and no longer through the ULP */
	ASSERT_EQ(sendto(self->fd, buf, sizeof(buf), 0,
			 (struct sockaddr *)&dst, dst_len), sizeof(buf));
	EXPECT_EQ(ulp_sendmsg_calls(), calls + 1);
	EXPECT_EQ(recv_one(rx, buf, sizeof(buf)), sizeof(buf));
	EXPECT_EQ(recv_one(rx, buf, sizeof(buf)), sizeof(buf));
	close(rx);
}

TEST_F(ulp, udplite_refused)
{
	int fd = socket(variant->family, SOCK_DGRAM, IPPROTO_UDPLITE);

	if (fd < 0)
		SKIP(return, "no UDP-Lite");
	EXPECT_EQ(attach(fd, ULP_NAME), EOPNOTSUPP);
	expect_no_ulp(_metadata, fd);
	close(fd);
}

TEST_F(ulp, encap_refused)
{
	int encap = UDP_ENCAP_L2TPINUDP;

	ASSERT_EQ(setsockopt(self->fd, SOL_UDP, UDP_ENCAP, &encap,
			     sizeof(encap)), 0);
	EXPECT_EQ(attach(self->fd, ULP_NAME), EBUSY);
	expect_no_ulp(_metadata, self->fd);
}

TEST_F(ulp, sockmap_refused)
{
	struct sockaddr_storage addr;
	socklen_t addr_len;
	int map, fd;

	map = sockmap_create();
	if (map < 0)
		SKIP(return, "no sockmap: %s", strerror(errno));

	/* in a sockmap first: the ULP would be bypassed */
	fd = bound_socket(variant->family, &addr, &addr_len);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(sockmap_add(map, fd), 0);
	EXPECT_EQ(attach(fd, ULP_NAME), EBUSY);
	expect_no_ulp(_metadata, fd);
	/* out of the map, the socket is plain UDP again */
	ASSERT_EQ(sockmap_del(map), 0);
	EXPECT_EQ(attach(fd, ULP_NAME), 0);
	close(fd);

	/* ULP first: the map must not stack its proto on top */
	fd = bound_socket(variant->family, &addr, &addr_len);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(attach(fd, ULP_NAME), 0);
	EXPECT_EQ(sockmap_add(map, fd), EBUSY);
	close(fd);
	close(map);
}

TEST_F(ulp, addrform_refused)
{
	struct sockaddr_storage dst4, dst;
	int pf_inet = PF_INET, rx, fd;
	socklen_t dst_len;

	if (variant->family != AF_INET6)
		SKIP(return, "IPv6 only");

	rx = bound_socket(AF_INET, &dst4, &dst_len);
	ASSERT_GE(rx, 0);
	dst_len = v4_mapped(&dst4, &dst);

	/* turning an IPv6 socket into IPv4 would drop the ULP's proto */
	ASSERT_EQ(connect(self->fd, (struct sockaddr *)&dst, dst_len), 0);
	ASSERT_EQ(attach(self->fd, ULP_NAME), 0);
	EXPECT_EQ(setsockopt(self->fd, IPPROTO_IPV6, IPV6_ADDRFORM, &pf_inet,
			     sizeof(pf_inet)), -1);
	EXPECT_EQ(errno, EBUSY);

	/* without a ULP it works, and the result is no plain UDP socket */
	fd = socket(AF_INET6, SOCK_DGRAM, IPPROTO_UDP);
	ASSERT_GE(fd, 0);
	ASSERT_EQ(connect(fd, (struct sockaddr *)&dst, dst_len), 0);
	ASSERT_EQ(setsockopt(fd, IPPROTO_IPV6, IPV6_ADDRFORM, &pf_inet,
			     sizeof(pf_inet)), 0);
	EXPECT_EQ(attach(fd, ULP_NAME), EBUSY);
	close(fd);
	close(rx);
}

/* Receives the @len bytes of fill(@seed) as one datagram. */
static void expect_datagram(struct __test_metadata *_metadata, int rx,
			    size_t len, unsigned int seed)
{
	unsigned char out[2048], in[2048];

	ASSERT_LE(len, sizeof(out));
	fill(out, len, seed);
	ASSERT_EQ(recv_one(rx, in, sizeof(in)), len);
	EXPECT_EQ(memcmp(in, out, len), 0);
}

static void send_filled(struct __test_metadata *_metadata, int fd,
			size_t len, unsigned int seed, int flags)
{
	unsigned char out[2048];

	ASSERT_LE(len, sizeof(out));
	fill(out, len, seed);
	ASSERT_EQ(send(fd, out, len, flags), len);
}

TEST_F(ulp, send_skb_per_datagram)
{
	struct sockaddr_storage dst;
	unsigned char out[1200];
	long calls, bytes;
	socklen_t dst_len;
	int rx;

	rx = bound_socket(variant->family, &dst, &dst_len);
	ASSERT_GE(rx, 0);
	ASSERT_EQ(attach(self->fd, ULP_NAME), 0);
	calls = ulp_send_skb_calls();
	bytes = ulp_send_skb_bytes();
	ASSERT_GE(calls, 0);
	ASSERT_GE(bytes, 0);

	fill(out, sizeof(out), 1);
	ASSERT_EQ(sendto(self->fd, out, sizeof(out), 0,
			 (struct sockaddr *)&dst, dst_len), sizeof(out));
	EXPECT_EQ(ulp_send_skb_calls(), calls + 1);
	ASSERT_EQ(connect(self->fd, (struct sockaddr *)&dst, dst_len), 0);
	send_filled(_metadata, self->fd, 700, 2, 0);
	send_filled(_metadata, self->fd, 1, 3, 0);
	/* an empty datagram is a datagram too */
	send_filled(_metadata, self->fd, 0, 4, 0);
	EXPECT_EQ(ulp_send_skb_calls(), calls + 4);
	EXPECT_EQ(ulp_send_skb_bytes(), bytes + 1200 + 700 + 1);
	EXPECT_EQ(ulp_send_skb_gso_size(), 0);

	expect_datagram(_metadata, rx, 1200, 1);
	expect_datagram(_metadata, rx, 700, 2);
	expect_datagram(_metadata, rx, 1, 3);
	expect_datagram(_metadata, rx, 0, 4);
	close(rx);
}

TEST_F(ulp, send_skb_per_gso_batch)
{
	unsigned char out[1800], in[1800];
	int rx, off, len, gso_size = 500;
	struct sockaddr_storage dst;
	long calls, bytes;
	socklen_t dst_len;

	rx = bound_socket(variant->family, &dst, &dst_len);
	ASSERT_GE(rx, 0);
	ASSERT_EQ(attach(self->fd, ULP_NAME), 0);
	ASSERT_EQ(connect(self->fd, (struct sockaddr *)&dst, dst_len), 0);
	ASSERT_EQ(setsockopt(self->fd, SOL_UDP, UDP_SEGMENT, &gso_size,
			     sizeof(gso_size)), 0);
	calls = ulp_send_skb_calls();
	bytes = ulp_send_skb_bytes();

	/* four datagrams on the wire, one batch for the ULP */
	fill(out, sizeof(out), 5);
	ASSERT_EQ(send(self->fd, out, sizeof(out), 0), sizeof(out));
	EXPECT_EQ(ulp_send_skb_calls(), calls + 1);
	EXPECT_EQ(ulp_send_skb_bytes(), bytes + sizeof(out));
	EXPECT_EQ(ulp_send_skb_gso_size(), gso_size);
	for (off = 0; off < (int)sizeof(out); off += gso_size) {
		len = sizeof(out) - off < gso_size ? sizeof(out) - off :
						     gso_size;
		ASSERT_EQ(recv_one(rx, in, sizeof(in)), len);
		EXPECT_EQ(memcmp(in, out + off, len), 0);
	}

	/* no longer than one segment: a plain datagram */
	send_filled(_metadata, self->fd, 400, 6, 0);
	EXPECT_EQ(ulp_send_skb_calls(), calls + 2);
	EXPECT_EQ(ulp_send_skb_gso_size(), 0);
	expect_datagram(_metadata, rx, 400, 6);
	close(rx);
}

TEST_F(ulp, send_skb_per_corked_flush)
{
	unsigned char out[600], in[1024];
	struct sockaddr_storage dst;
	int rx, on = 1, off = 0;
	long calls, bytes;
	socklen_t dst_len;

	rx = bound_socket(variant->family, &dst, &dst_len);
	ASSERT_GE(rx, 0);
	ASSERT_EQ(attach(self->fd, ULP_NAME), 0);
	ASSERT_EQ(connect(self->fd, (struct sockaddr *)&dst, dst_len), 0);
	calls = ulp_send_skb_calls();
	bytes = ulp_send_skb_bytes();

	/* MSG_MORE: the datagram is built over three calls, sent by the last */
	fill(out, sizeof(out), 7);
	ASSERT_EQ(send(self->fd, out, 100, MSG_MORE), 100);
	ASSERT_EQ(send(self->fd, out + 100, 200, MSG_MORE), 200);
	EXPECT_EQ(ulp_send_skb_calls(), calls);
	ASSERT_EQ(send(self->fd, out + 300, 300, 0), 300);
	EXPECT_EQ(ulp_send_skb_calls(), calls + 1);
	EXPECT_EQ(ulp_send_skb_bytes(), bytes + 600);
	ASSERT_EQ(recv_one(rx, in, sizeof(in)), 600);
	EXPECT_EQ(memcmp(in, out, 600), 0);

	/* UDP_CORK: sent when the cork is pulled */
	ASSERT_EQ(setsockopt(self->fd, SOL_UDP, UDP_CORK, &on, sizeof(on)), 0);
	ASSERT_EQ(send(self->fd, out, 50, 0), 50);
	ASSERT_EQ(send(self->fd, out + 50, 60, 0), 60);
	EXPECT_EQ(ulp_send_skb_calls(), calls + 1);
	ASSERT_EQ(setsockopt(self->fd, SOL_UDP, UDP_CORK, &off, sizeof(off)),
		  0);
	EXPECT_EQ(ulp_send_skb_calls(), calls + 2);
	EXPECT_EQ(ulp_send_skb_bytes(), bytes + 600 + 110);
	ASSERT_EQ(recv_one(rx, in, sizeof(in)), 110);
	EXPECT_EQ(memcmp(in, out, 110), 0);
	close(rx);
}

TEST_F(ulp, send_skb_not_called_without_op)
{
	struct sockaddr_storage dst;
	long calls, sendmsgs;
	socklen_t dst_len;
	int rx, plain;

	rx = bound_socket(variant->family, &dst, &dst_len);
	ASSERT_GE(rx, 0);
	ASSERT_EQ(attach(self->fd, ULP_NOHOOK), 0);
	ASSERT_EQ(connect(self->fd, (struct sockaddr *)&dst, dst_len), 0);
	plain = socket(variant->family, SOCK_DGRAM, IPPROTO_UDP);
	ASSERT_GE(plain, 0);
	ASSERT_EQ(connect(plain, (struct sockaddr *)&dst, dst_len), 0);
	/* a call would fail the send, not just be missed by a counter */
	ASSERT_EQ(ulp_fail_send_skb(EPERM), 0);
	calls = ulp_send_skb_calls();
	sendmsgs = ulp_sendmsg_calls();

	send_filled(_metadata, self->fd, 100, 8, 0);
	send_filled(_metadata, plain, 200, 9, 0);
	/* the ULP is in the path, its hook is not */
	EXPECT_EQ(ulp_sendmsg_calls(), sendmsgs + 1);
	EXPECT_EQ(ulp_send_skb_calls(), calls);
	expect_datagram(_metadata, rx, 100, 8);
	expect_datagram(_metadata, rx, 200, 9);
	close(plain);
	close(rx);
}

TEST_F(ulp, send_skb_error_fails_send)
{
	struct sockaddr_storage dst;
	unsigned char out[1200];
	int rx, gso_size = 500;
	socklen_t dst_len;
	long calls;

	rx = bound_socket(variant->family, &dst, &dst_len);
	ASSERT_GE(rx, 0);
	ASSERT_EQ(attach(self->fd, ULP_NAME), 0);
	ASSERT_EQ(ulp_fail_send_skb(EKEYREJECTED), 0);
	calls = ulp_send_skb_calls();

	fill(out, sizeof(out), 10);
	EXPECT_EQ(sendto(self->fd, out, 300, 0, (struct sockaddr *)&dst,
			 dst_len), -1);
	EXPECT_EQ(errno, EKEYREJECTED);
	ASSERT_EQ(connect(self->fd, (struct sockaddr *)&dst, dst_len), 0);

	/* a corked datagram fails at the send that flushes it */
	ASSERT_EQ(send(self->fd, out, 100, MSG_MORE), 100);
	EXPECT_EQ(send(self->fd, out, 100, 0), -1);
	EXPECT_EQ(errno, EKEYREJECTED);

	/* a whole GSO batch */
	ASSERT_EQ(setsockopt(self->fd, SOL_UDP, UDP_SEGMENT, &gso_size,
			     sizeof(gso_size)), 0);
	EXPECT_EQ(send(self->fd, out, sizeof(out), 0), -1);
	EXPECT_EQ(errno, EKEYREJECTED);
	EXPECT_EQ(ulp_send_skb_calls(), calls + 3);

	/* nothing of the above left: the next datagram is the first in */
	ASSERT_EQ(ulp_fail_send_skb(0), 0);
	send_filled(_metadata, self->fd, 77, 11, 0);
	expect_datagram(_metadata, rx, 77, 11);
	EXPECT_EQ(recv(rx, out, sizeof(out), MSG_DONTWAIT), -1);
	EXPECT_EQ(errno, EAGAIN);
	close(rx);
}

TEST_F(ulp, send_skb_enobufs_counted)
{
	struct sockaddr_storage dst;
	unsigned char out[100];
	long sndbuf_errors;
	socklen_t dst_len;
	int rx;

	rx = bound_socket(variant->family, &dst, &dst_len);
	ASSERT_GE(rx, 0);
	ASSERT_EQ(attach(self->fd, ULP_NAME), 0);
	ASSERT_EQ(ulp_fail_send_skb(ENOBUFS), 0);
	sndbuf_errors = udp_sndbuf_errors(variant->family);
	ASSERT_GE(sndbuf_errors, 0);

	/* unlike an ENOBUFS of IP, reported without IP_RECVERR */
	fill(out, sizeof(out), 12);
	EXPECT_EQ(sendto(self->fd, out, sizeof(out), 0,
			 (struct sockaddr *)&dst, dst_len), -1);
	EXPECT_EQ(errno, ENOBUFS);
	EXPECT_EQ(udp_sndbuf_errors(variant->family), sndbuf_errors + 1);
	close(rx);
}

TEST_F(ulp, send_skb_errno_range)
{
	EXPECT_EQ(ulp_set_send_skb_errno("4095"), 0);
	EXPECT_EQ(read_long(ULP_SYSFS "/parameters/send_skb_errno"), 4095);
	EXPECT_EQ(ulp_set_send_skb_errno("4096"), ERANGE);
	EXPECT_EQ(ulp_set_send_skb_errno("-1"), EINVAL);
	EXPECT_EQ(ulp_set_send_skb_errno("x"), EINVAL);
	EXPECT_EQ(read_long(ULP_SYSFS "/parameters/send_skb_errno"), 4095);
	EXPECT_EQ(ulp_set_send_skb_errno("0"), 0);
	EXPECT_EQ(read_long(ULP_SYSFS "/parameters/send_skb_errno"), 0);
}

TEST_HARNESS_MAIN
