/*
 * Test guest networking: the virtio-net driver (virtio_net.c) and the
 * minimal IPv4 stack on top of it (ip.c). See docs/guest-shell.md
 * "Network" for the shell protocol.
 */
#ifndef GUEST_NET_H
#define GUEST_NET_H
#include "virtio.h"

#define NET_MAX_DEVS    2               /* microvm's two net slots */
#define NET_PAIRS       2               /* queue pairs used when the device offers MQ */
#define NET_HDR_LEN     12              /* virtio_net_hdr_v1 (with num_buffers) */
#define NET_BUF_SIZE    2048            /* one rx/tx buffer: header + a 1518-byte frame */
#define NET_FRAME_MAX   (NET_BUF_SIZE - NET_HDR_LEN)
#define NET_RXQ_SIZE    128
#define NET_TXQ_SIZE    128
#define NET_ARP_ENTRIES 8
#define NET_ECHO_PORT   7               /* UDP echo (RFC 862) */

struct arp_entry {
	u32 ip;                         /* host order; 0 = free */
	u8 mac[6];
};

struct vnet {
	struct virtio_dev vd;
	/* Pair p: rxq[p] is virtqueue 2p, txq[p] 2p+1; the control queue is 2 * max_virtqueue_pairs. */
	struct virtq rxq[NET_PAIRS], txq[NET_PAIRS], ctrlq;
	unsigned pairs;                 /* pairs in use: 1, or NET_PAIRS after VQ_PAIRS_SET */
	unsigned txp;                   /* the pair vnet_tx_buf()/vnet_tx_commit() use */
	unsigned index;
	u32 slot;                       /* index in bi.virtio */
	int state;                      /* NET_OFF / NET_OK / NET_FAILED */
	int err;                        /* -VIO_* when NET_FAILED */
	u8 mac[6];
	u32 ip, prefix;                 /* host order; ip 0 = unconfigured */
	u16 ip_id;
	u16 tx_free[NET_PAIRS][NET_TXQ_SIZE];   /* per pair: stack of free tx buffer indices */
	u16 tx_nfree[NET_PAIRS];
	u16 tx_unkicked[NET_PAIRS];
	u16 tx_cur;                     /* the buffer vnet_tx_buf() handed out (pair txp) */
	struct arp_entry arp[NET_ARP_ENTRIES];
	unsigned arp_next;
	/* counters (`net stat`) */
	u64 rx_frames, rx_bytes, tx_frames, tx_bytes;
	u64 rx_dropped, rx_merged, tx_full, tx_dropped;
	u64 arp_rx, arp_tx, icmp_echo, udp_rx, udp_echoed, udp_tx;
	u64 rx_pair[NET_PAIRS], tx_pair[NET_PAIRS];     /* frames per queue pair */
	/* `net bench rx`: UDP frames to bench_port are counted, not echoed */
	u16 bench_port;
	u64 bench_frames, bench_bytes, bench_first, bench_last;
};

enum { NET_OFF, NET_OK, NET_FAILED };

/* virtio_net.c */
extern struct vnet vnets[NET_MAX_DEVS];
extern unsigned nr_vnets;
int vnet_link_up(struct vnet *n);
/* A free tx buffer's frame area (NET_FRAME_MAX bytes), or NULL: queue full for 1 s. */
u8 *vnet_tx_buf(struct vnet *n);
/* Sends the frame written to the last vnet_tx_buf(); kick now or batch (`kick` = 0). */
void vnet_tx_commit(struct vnet *n, u32 len, int kick);
void vnet_tx_flush(struct vnet *n);
/* Handles up to `budget` received frames; returns how many. */
unsigned vnet_poll(struct vnet *n, unsigned budget);

/* ip.c */
void ip_input(struct vnet *n, const u8 *frame, u32 len);
int ip_parse(const char *s, u32 *ip);
void ip_format(u32 ip, char out[16]);
int ip_on_subnet(struct vnet *n, u32 ip);
/* Resolves a neighbour's MAC (ARP, up to 2 s); 0 or -1. */
int arp_resolve(struct vnet *n, u32 ip, u8 mac[6]);
/* Builds an Ethernet/IPv4/UDP frame into buf with `size` payload bytes; returns its length. */
u32 udp_build(struct vnet *n, u8 *buf, const u8 dmac[6], u32 dip, u16 sport, u16 dport,
	      u32 size, u64 seq);
#endif
