/* Structures shared by monitor.bpf.c and src/ebpf/abi.rs (keep both in step: the sizes are
 * asserted on both sides). Needs vmlinux.h first. */
#ifndef VIGIL_MONITOR_H
#define VIGIL_MONITOR_H

#define VIGIL_MAX_RULES 32

/* Rule lists of a policy. */
#define VIGIL_LIST_CONNECT_DENY 0
#define VIGIL_LIST_CONNECT_ALLOW 1
#define VIGIL_LIST_BIND_DENY 2
#define VIGIL_LIST_BIND_ALLOW 3
#define VIGIL_LISTS 4

/* Policy flags. */
#define VIGIL_F_ENFORCE (1u << 0)       /* deny violations (else allow and report) */
#define VIGIL_F_CONNECT_ALLOW (1u << 1) /* connect allow-list active */
#define VIGIL_F_BIND_ALLOW (1u << 2)    /* bind allow-list active */
#define VIGIL_F_LEARN (1u << 3)         /* report every access */

/* Event kinds and verdicts. */
#define VIGIL_EV_CONNECT 1
#define VIGIL_EV_SEND 2
#define VIGIL_EV_BIND 3
#define VIGIL_EV_EXEC 4
#define VIGIL_V_ALLOW 0
#define VIGIL_V_DENY 1
#define VIGIL_V_AUDIT 2
#define VIGIL_NO_RULE 0xff

struct vigil_net_rule {
	__u8 family;     /* 0: any, AF_INET, AF_INET6 */
	__u8 proto;      /* 0: any, IPPROTO_TCP, IPPROTO_UDP */
	__u8 prefix_len; /* bits of addr that must match */
	__u8 has_port;
	__u16 port;      /* host byte order */
	__u16 pad;
	__u8 addr[16];   /* network byte order; IPv4 in the first 4 bytes */
};

struct vigil_policy {
	__u32 flags;
	__u32 count[VIGIL_LISTS];
	struct vigil_net_rule rules[VIGIL_LISTS][VIGIL_MAX_RULES];
};

struct vigil_event {
	__u64 cgroup_id;
	__u32 pid;
	__u8 kind;
	__u8 verdict;
	__u8 family;
	__u8 proto;
	__u16 port; /* host byte order */
	__u8 list;  /* rule list that decided, VIGIL_NO_RULE if none */
	__u8 rule;  /* index in that list, VIGIL_NO_RULE: "not in the allow-list" */
	__u8 addr[16];
	char comm[16];
	char filename[256];
};

_Static_assert(sizeof(struct vigil_net_rule) == 24, "vigil_net_rule layout");
_Static_assert(sizeof(struct vigil_policy) == 3092, "vigil_policy layout");
_Static_assert(sizeof(struct vigil_event) == 312, "vigil_event layout");

#endif
