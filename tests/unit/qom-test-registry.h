/* The fake device registry of qom-test-registry.c. */
#ifndef QOM_TEST_REGISTRY_H
#define QOM_TEST_REGISTRY_H

#include "hw/device.h"

/* "test-blk-device" (alias "test-blk-mmio"): one property of every type. */
typedef struct TestBlk {
    Device parent;
    char *serial;
    char *drive;
    bool ioeventfd;
    uint8_t prio;
    uint16_t port;
    uint32_t num_queues;
    uint64_t features;
    uint64_t block_size;
} TestBlk;

#endif
