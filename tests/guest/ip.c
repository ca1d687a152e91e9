/*
 * A minimal IPv4 stack for the test guest: ARP (answers requests for our
 * address, learns from every ARP frame), ICMP echo replies, and UDP: port 7
 * echoes every datagram back, the `net bench rx` port counts them, other
 * ports only count. No fragments, no routing (destinations must be on the
 * configured subnet), no options sent. Byte order helpers are local: the
 * guest has no libc.
 */
#include "net.h"

#define ETH_HLEN        14
#define ETH_P_IP        0x0800
#define ETH_P_ARP       0x0806
#define IP_HLEN         20
#define UDP_HLEN        8
#define IPPROTO_ICMP    1
#define IPPROTO_UDP     17
#define ARP_LEN         28
#define ARP_RETRY_US    200000ULL
#define ARP_TIMEOUT_US  2000000ULL

static const u8 bcast[6] = { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff };

static u16 get16(const u8 *p) { return (u16)(p[0] << 8 | p[1]); }
static u32 get32(const u8 *p) { return (u32)p[0] << 24 | (u32)p[1] << 16 | (u32)p[2] << 8 | p[3]; }
static void put16(u8 *p, u16 v) { p[0] = v >> 8; p[1] = (u8)v; }
static void put32(u8 *p, u32 v) { put16(p, v >> 16); put16(p + 2, (u16)v); }

/* Ones' complement sum (RFC 1071), folded later. */
static u32 csum_add(u32 sum, const u8 *p, u32 len)
{
	for (; len > 1; len -= 2, p += 2)
		sum += get16(p);
	if (len)
		sum += (u32)p[0] << 8;
	return sum;
}

static u16 csum_fold(u32 sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (u16)~sum;
}

int ip_parse(const char *s, u32 *ip)
{
	u32 v = 0;

	for (int i = 0; i < 4; i++) {
		const char *end;
		u64 b;

		if (!parse_u64(s, &end, &b) || b > 255 || end == s || (s[0] == '0' && end - s > 1))
			return 0;
		v = v << 8 | (u32)b;
		s = end;
		if (i < 3 && *s++ != '.')
			return 0;
	}
	*ip = v;
	return !*s || *s == '/' || *s == ' ';
}

void ip_format(u32 ip, char out[16])
{
	char *p = out;

	for (int i = 3; i >= 0; i--) {
		u32 b = (ip >> (8 * i)) & 0xff;

		if (b >= 100)
			*p++ = '0' + b / 100;
		if (b >= 10)
			*p++ = '0' + b / 10 % 10;
		*p++ = '0' + b % 10;
		if (i)
			*p++ = '.';
	}
	*p = 0;
}

int ip_on_subnet(struct vnet *n, u32 ip)
{
	u32 mask = n->prefix ? ~0u << (32 - n->prefix) : 0;

	return n->ip && (ip & mask) == (n->ip & mask);
}

static void arp_learn(struct vnet *n, u32 ip, const u8 *mac)
{
	struct arp_entry *e = 0;

	for (unsigned i = 0; i < NET_ARP_ENTRIES; i++)
		if (n->arp[i].ip == ip)
			e = &n->arp[i];
	if (!e) {
		e = &n->arp[n->arp_next];
		n->arp_next = (n->arp_next + 1) % NET_ARP_ENTRIES;
	}
	e->ip = ip;
	memcpy(e->mac, mac, 6);
}

static int arp_lookup(struct vnet *n, u32 ip, u8 mac[6])
{
	for (unsigned i = 0; i < NET_ARP_ENTRIES; i++) {
		if (n->arp[i].ip == ip) {
			memcpy(mac, n->arp[i].mac, 6);
			return 1;
		}
	}
	return 0;
}

static u8 *eth_start(struct vnet *n, const u8 dmac[6], u16 type)
{
	u8 *f = vnet_tx_buf(n);

	if (!f)
		return 0;
	memcpy(f, dmac, 6);
	memcpy(f + 6, n->mac, 6);
	put16(f + 12, type);
	return f;
}

static void arp_send(struct vnet *n, u16 op, const u8 tmac[6], u32 tip)
{
	u8 *f = eth_start(n, op == 1 ? bcast : tmac, ETH_P_ARP), *a;

	if (!f)
		return;
	a = f + ETH_HLEN;
	put16(a, 1);                    /* Ethernet */
	put16(a + 2, ETH_P_IP);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, n->mac, 6);
	put32(a + 14, n->ip);
	memcpy(a + 18, op == 1 ? (const u8 *)"\0\0\0\0\0\0" : tmac, 6);
	put32(a + 24, tip);
	memset(a + ARP_LEN, 0, 60 - ETH_HLEN - ARP_LEN);        /* minimum frame */
	n->arp_tx++;
	vnet_tx_commit(n, 60, 1);
}

static void arp_input(struct vnet *n, const u8 *a, u32 len)
{
	u32 sip, tip;

	if (len < ARP_LEN || get16(a) != 1 || get16(a + 2) != ETH_P_IP || a[4] != 6 || a[5] != 4)
		return;
	n->arp_rx++;
	sip = get32(a + 14);
	tip = get32(a + 24);
	if (sip)
		arp_learn(n, sip, a + 8);
	if (get16(a + 6) == 1 && n->ip && tip == n->ip)
		arp_send(n, 2, a + 8, sip);
}

int arp_resolve(struct vnet *n, u32 ip, u8 mac[6])
{
	u64 end = tsc_deadline(ARP_TIMEOUT_US), retry = 0;

	while (!arp_lookup(n, ip, mac)) {
		if (tsc_passed(end))
			return -1;
		if (tsc_passed(retry)) {
			arp_send(n, 1, bcast, ip);
			retry = tsc_deadline(ARP_RETRY_US);
		}
		if (!vnet_poll(n, 64))
			cpu_relax();
	}
	return 0;
}

/* IPv4 header for `payload` bytes of `proto`, checksummed. */
static void ip_header(struct vnet *n, u8 *h, u32 dip, u8 proto, u32 payload)
{
	h[0] = 0x45;
	h[1] = 0;
	put16(h + 2, (u16)(IP_HLEN + payload));
	put16(h + 4, n->ip_id++);
	put16(h + 6, 0x4000);           /* DF */
	h[8] = 64;
	h[9] = proto;
	put16(h + 10, 0);
	put32(h + 12, n->ip);
	put32(h + 16, dip);
	put16(h + 10, csum_fold(csum_add(0, h, IP_HLEN)));
}

static u16 udp_csum(const u8 *ip, const u8 *udp, u32 len)
{
	u32 sum = csum_add(0, ip + 12, 8);      /* pseudo header: addresses */
	u16 c;

	sum += IPPROTO_UDP + len;
	c = csum_fold(csum_add(sum, udp, len));
	return c ? c : 0xffff;
}

u32 udp_build(struct vnet *n, u8 *f, const u8 dmac[6], u32 dip, u16 sport, u16 dport,
	      u32 size, u64 seq)
{
	u8 *ip = f + ETH_HLEN, *u = ip + IP_HLEN, *d = u + UDP_HLEN;
	u32 len = ETH_HLEN + IP_HLEN + UDP_HLEN + size;

	memcpy(f, dmac, 6);
	memcpy(f + 6, n->mac, 6);
	put16(f + 12, ETH_P_IP);
	/* The payload starts with the sequence number so the host can check order. */
	for (u32 i = 0; i < size; i++)
		d[i] = i < 8 ? (u8)(seq >> (56 - 8 * i)) : (u8)i;
	ip_header(n, ip, dip, IPPROTO_UDP, UDP_HLEN + size);
	put16(u, sport);
	put16(u + 2, dport);
	put16(u + 4, (u16)(UDP_HLEN + size));
	put16(u + 6, 0);
	put16(u + 6, udp_csum(ip, u, UDP_HLEN + size));
	return len < 60 ? 60 : len;
}

/* Sends back what came in with the addresses swapped (ICMP echo, UDP echo). */
static void ip_reply(struct vnet *n, const u8 *in, u32 iplen, u32 hl, u8 proto)
{
	u32 plen = iplen - hl, flen = ETH_HLEN + IP_HLEN + plen;
	u8 *f = eth_start(n, in + 6, ETH_P_IP), *ip, *p;

	if (!f)
		return;
	ip = f + ETH_HLEN;
	p = ip + IP_HLEN;
	memcpy(p, in + ETH_HLEN + hl, plen);
	ip_header(n, ip, get32(in + ETH_HLEN + 12), proto, plen);
	if (proto == IPPROTO_ICMP) {
		p[0] = 0;               /* echo reply */
		put16(p + 2, 0);
		put16(p + 2, csum_fold(csum_add(0, p, plen)));
	} else {
		u16 sport = get16(p);

		put16(p, get16(p + 2));
		put16(p + 2, sport);
		put16(p + 6, 0);
		put16(p + 6, udp_csum(ip, p, plen));
	}
	if (flen < 60) {
		memset(f + flen, 0, 60 - flen);
		flen = 60;
	}
	vnet_tx_commit(n, flen, 1);
}

static void udp_input(struct vnet *n, const u8 *f, u32 iplen, u32 hl)
{
	const u8 *u = f + ETH_HLEN + hl;
	u32 ulen;
	u16 dport;

	if (iplen - hl < UDP_HLEN)
		return;
	ulen = get16(u + 4);
	if (ulen < UDP_HLEN || ulen > iplen - hl)
		return;
	dport = get16(u + 2);
	n->udp_rx++;
	if (n->bench_port && dport == n->bench_port) {
		u64 now = rdtsc();

		if (!n->bench_frames++)
			n->bench_first = now;
		n->bench_last = now;
		n->bench_bytes += ETH_HLEN + iplen;
	} else if (dport == NET_ECHO_PORT) {
		n->udp_echoed++;
		ip_reply(n, f, hl + ulen, hl, IPPROTO_UDP);
	}
}

static void ipv4_input(struct vnet *n, const u8 *f, u32 len)
{
	const u8 *ip = f + ETH_HLEN;
	u32 hl, tot;

	if (len < ETH_HLEN + IP_HLEN || (ip[0] >> 4) != 4)
		return;
	hl = (ip[0] & 15) * 4u;
	tot = get16(ip + 2);
	if (hl < IP_HLEN || tot < hl || ETH_HLEN + tot > len || csum_fold(csum_add(0, ip, hl)))
		return;
	if (!n->ip || get32(ip + 16) != n->ip || (get16(ip + 6) & 0x3fff))
		return;                 /* not ours, or a fragment */
	if (ip[9] == IPPROTO_ICMP && tot - hl >= 8 && ip[hl] == 8) {
		n->icmp_echo++;
		ip_reply(n, f, tot, hl, IPPROTO_ICMP);
	} else if (ip[9] == IPPROTO_UDP) {
		udp_input(n, f, tot, hl);
	}
}

void ip_input(struct vnet *n, const u8 *f, u32 len)
{
	if (len < ETH_HLEN)
		return;
	if (get16(f + 12) == ETH_P_ARP)
		arp_input(n, f + ETH_HLEN, len - ETH_HLEN);
	else if (get16(f + 12) == ETH_P_IP)
		ipv4_input(n, f, len);
}
