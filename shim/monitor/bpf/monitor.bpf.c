// SPDX-License-Identifier: GPL-2.0
/* vigil monitor: cgroup sock_addr programs that refuse connect/sendmsg/bind by address and
 * port (per-cgroup policy map entries), and an exec observer. One set of programs serves every
 * container: the policy is looked up by the cgroup id of the current task (or of its nearest
 * ancestor that has a policy), so the cost does not grow with the number of containers. */
#include "vmlinux.h"
#include "bpf_defs.h"
#include "vigil_monitor.h"

#define AF_INET 2
#define AF_INET6 10
#define MAX_CGROUP_DEPTH 16

char LICENSE[] SEC("license") = "GPL";

struct {
	__uint(type, BPF_MAP_TYPE_HASH);
	__uint(max_entries, 4096);
	__type(key, __u64);
	__type(value, struct vigil_policy);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vigil_policy SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 256 * 1024);
	__uint(pinning, LIBBPF_PIN_BY_NAME);
} vigil_events SEC(".maps");

static __always_inline struct vigil_policy *lookup_policy(__u64 *cgid)
{
	__u64 id = bpf_get_current_cgroup_id();
	struct vigil_policy *p = bpf_map_lookup_elem(&vigil_policy, &id);
	if (p) {
		*cgid = id;
		return p;
	}
	/* A sub-cgroup of a container: the outermost ancestor with a policy decides. */
	for (int level = 1; level < MAX_CGROUP_DEPTH; level++) {
		id = bpf_get_current_ancestor_cgroup_id(level);
		if (!id)
			break;
		p = bpf_map_lookup_elem(&vigil_policy, &id);
		if (p) {
			*cgid = id;
			return p;
		}
	}
	return 0;
}

static __always_inline int rule_match(const struct vigil_net_rule *r, __u8 family, __u8 proto,
				      __u16 port, const __u8 *addr)
{
	if (r->family && r->family != family)
		return 0;
	if (r->proto && r->proto != proto)
		return 0;
	if (r->has_port && r->port != port)
		return 0;
	__u32 bits = r->prefix_len;
	for (int i = 0; i < 16; i++) {
		if (bits == 0)
			break;
		__u8 mask = bits >= 8 ? 0xff : (__u8)(0xff << (8 - bits));
		if ((addr[i] ^ r->addr[i]) & mask)
			return 0;
		bits = bits >= 8 ? bits - 8 : 0;
	}
	return 1;
}

/* Index of the first matching rule of a list, or -1. */
static __always_inline int find_rule(const struct vigil_policy *p, int list, __u8 family,
				     __u8 proto, __u16 port, const __u8 *addr)
{
	__u32 n = p->count[list & 3];
	for (int i = 0; i < VIGIL_MAX_RULES; i++) {
		if (i >= n)
			break;
		if (rule_match(&p->rules[list & 3][i], family, proto, port, addr))
			return i;
	}
	return -1;
}

static __always_inline void report(__u64 cgid, __u8 kind, __u8 verdict, __u8 family, __u8 proto,
				   __u16 port, const __u8 *addr, __u8 list, __u8 rule)
{
	struct vigil_event *e = bpf_ringbuf_reserve(&vigil_events, sizeof(*e), 0);
	if (!e)
		return;
	e->cgroup_id = cgid;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->kind = kind;
	e->verdict = verdict;
	e->family = family;
	e->proto = proto;
	e->port = port;
	e->list = list;
	e->rule = rule;
	__builtin_memcpy(e->addr, addr, 16);
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	e->filename[0] = 0;
	bpf_ringbuf_submit(e, 0);
}

/* Returns 1 to allow, 0 to refuse (EPERM). */
static __always_inline int decide(struct bpf_sock_addr *ctx, __u8 kind, int v6)
{
	__u64 cgid = 0;
	struct vigil_policy *p = lookup_policy(&cgid);
	if (!p)
		return 1;

	__u8 addr[16] = {};
	__u8 family = AF_INET;
	if (v6) {
		__u32 w[4];
		w[0] = ctx->user_ip6[0];
		w[1] = ctx->user_ip6[1];
		w[2] = ctx->user_ip6[2];
		w[3] = ctx->user_ip6[3];
		/* ::ffff:a.b.c.d is decided as the IPv4 address a.b.c.d */
		if (w[0] == 0 && w[1] == 0 && w[2] == __builtin_bswap32(0xffff)) {
			__builtin_memcpy(addr, &w[3], 4);
		} else {
			__builtin_memcpy(addr, w, 16);
			family = AF_INET6;
		}
	} else {
		__u32 a = ctx->user_ip4;
		__builtin_memcpy(addr, &a, 4);
	}
	__u16 port = __builtin_bswap16((__u16)ctx->user_port);
	__u8 proto = ctx->protocol;

	int bind = kind == VIGIL_EV_BIND;
	int deny_list = bind ? VIGIL_LIST_BIND_DENY : VIGIL_LIST_CONNECT_DENY;
	int allow_list = bind ? VIGIL_LIST_BIND_ALLOW : VIGIL_LIST_CONNECT_ALLOW;
	__u32 allow_flag = bind ? VIGIL_F_BIND_ALLOW : VIGIL_F_CONNECT_ALLOW;

	int violation = 0;
	__u8 list = VIGIL_NO_RULE, rule = VIGIL_NO_RULE;
	int i = find_rule(p, deny_list, family, proto, port, addr);
	if (i >= 0) {
		violation = 1;
		list = deny_list;
		rule = i;
	} else if (p->flags & allow_flag) {
		if (find_rule(p, allow_list, family, proto, port, addr) < 0) {
			violation = 1;
			list = allow_list;
		}
	}

	if (violation) {
		int enforce = p->flags & VIGIL_F_ENFORCE;
		report(cgid, kind, enforce ? VIGIL_V_DENY : VIGIL_V_AUDIT, family, proto, port, addr, list,
		       rule);
		return enforce ? 0 : 1;
	}
	if (p->flags & VIGIL_F_LEARN)
		report(cgid, kind, VIGIL_V_AUDIT, family, proto, port, addr, list, rule);
	return 1;
}

SEC("cgroup/connect4")
int vigil_connect4(struct bpf_sock_addr *ctx)
{
	return decide(ctx, VIGIL_EV_CONNECT, 0);
}

SEC("cgroup/connect6")
int vigil_connect6(struct bpf_sock_addr *ctx)
{
	return decide(ctx, VIGIL_EV_CONNECT, 1);
}

SEC("cgroup/sendmsg4")
int vigil_sendmsg4(struct bpf_sock_addr *ctx)
{
	return decide(ctx, VIGIL_EV_SEND, 0);
}

SEC("cgroup/sendmsg6")
int vigil_sendmsg6(struct bpf_sock_addr *ctx)
{
	return decide(ctx, VIGIL_EV_SEND, 1);
}

SEC("cgroup/bind4")
int vigil_bind4(struct bpf_sock_addr *ctx)
{
	return decide(ctx, VIGIL_EV_BIND, 0);
}

SEC("cgroup/bind6")
int vigil_bind6(struct bpf_sock_addr *ctx)
{
	return decide(ctx, VIGIL_EV_BIND, 1);
}

/* Observes every exec of a monitored container (for the journal; cannot refuse). A raw
 * tracepoint: it needs no tracefs. Arguments: (struct task_struct *, pid_t old_pid,
 * struct linux_binprm *). */
SEC("raw_tracepoint/sched_process_exec")
int vigil_exec(struct bpf_raw_tracepoint_args *ctx)
{
	__u64 cgid = 0;
	if (!lookup_policy(&cgid))
		return 0;
	struct vigil_event *e = bpf_ringbuf_reserve(&vigil_events, sizeof(*e), 0);
	if (!e)
		return 0;
	__builtin_memset(e, 0, 36);
	e->cgroup_id = cgid;
	e->pid = bpf_get_current_pid_tgid() >> 32;
	e->kind = VIGIL_EV_EXEC;
	e->list = VIGIL_NO_RULE;
	e->rule = VIGIL_NO_RULE;
	bpf_get_current_comm(e->comm, sizeof(e->comm));
	/* ctx->args[2], read without a CO-RE relocation (args is a flexible array) */
	struct linux_binprm *bprm = (struct linux_binprm *)((__u64 *)ctx)[2];
	const char *filename = 0;
	bpf_probe_read_kernel(&filename, sizeof(filename), &bprm->filename);
	e->filename[0] = 0;
	if (filename)
		bpf_probe_read_kernel_str(e->filename, sizeof(e->filename), filename);
	bpf_ringbuf_submit(e, 0);
	return 0;
}
