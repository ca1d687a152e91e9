/*
 * Self-announcement frames (QMP announce-self): a RARP request (RFC 903)
 * from a NIC's address, what QEMU sends so switches relearn where a
 * migrated guest's MAC lives.
 */
#include <string.h>

#include "net/net.h"

#define ETH_P_RARP      0x8035
#define ARP_HRD_ETHER   1
#define ETH_P_IPV4      0x0800
#define RARP_OP_REQUEST 3
#define MIN_FRAME       60          /* Ethernet minimum without FCS */

bool net_announce_rarp(NetClient *nc, const uint8_t mac[6])
{
    static const uint8_t hdr[NET_HDR_LEN];   /* no offloads, one buffer */
    uint8_t f[MIN_FRAME] = { 0 };
    uint8_t *p = f;

    memset(p, 0xff, 6);                      /* broadcast */
    memcpy(p + 6, mac, 6);
    p[12] = ETH_P_RARP >> 8, p[13] = ETH_P_RARP & 0xff;
    p += 14;
    p[0] = 0, p[1] = ARP_HRD_ETHER;
    p[2] = ETH_P_IPV4 >> 8, p[3] = ETH_P_IPV4 & 0xff;
    p[4] = 6, p[5] = 4;
    p[6] = 0, p[7] = RARP_OP_REQUEST;
    memcpy(p + 8, mac, 6);                   /* sender hardware address; IP 0 */
    memcpy(p + 18, mac, 6);                  /* target hardware address; IP 0 */

    struct iovec iov[2] = {
        { (void *)hdr, sizeof(hdr) }, { f, sizeof(f) },
    };
    return net_client_send(nc, iov, 2) > 0;
}
