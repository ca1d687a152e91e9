/*
 * Virtio core for the test guest: the virtio-mmio (version 2) transport and
 * split virtqueues.  Everything runs at CPL3 with IF=0: completions are found
 * by polling the used ring, interrupts are observed in InterruptStatus and in
 * the LAPIC IRR (see virtio.h).
 */
#include "virtio.h"

#define MMIO_MAGIC              0x000
#define MMIO_VERSION            0x004
#define MMIO_DEVICE_ID          0x008
#define MMIO_DEVICE_FEATURES    0x010
#define MMIO_DEVICE_FEATURES_SEL 0x014
#define MMIO_DRIVER_FEATURES    0x020
#define MMIO_DRIVER_FEATURES_SEL 0x024
#define MMIO_QUEUE_SEL          0x030
#define MMIO_QUEUE_NUM_MAX      0x034
#define MMIO_QUEUE_NUM          0x038
#define MMIO_QUEUE_READY        0x044
#define MMIO_QUEUE_NOTIFY       0x050
#define MMIO_INTERRUPT_STATUS   0x060
#define MMIO_INTERRUPT_ACK      0x064
#define MMIO_STATUS             0x070
#define MMIO_QUEUE_DESC_LOW     0x080
#define MMIO_QUEUE_DESC_HIGH    0x084
#define MMIO_QUEUE_DRIVER_LOW   0x090
#define MMIO_QUEUE_DRIVER_HIGH  0x094
#define MMIO_QUEUE_DEVICE_LOW   0x0a0
#define MMIO_QUEUE_DEVICE_HIGH  0x0a4
#define MMIO_CONFIG_GENERATION  0x0fc
#define MMIO_CONFIG             0x100
#define MMIO_MAGIC_VALUE        0x74726976      /* "virt" */

#define INT_USED                1
#define INT_CONFIG              2

/*
 * virtio-pci's common configuration (virtio 1.2 §4.1.4.3) by the
 * virtio-mmio register it stands for: offset and width, 0 width = none.
 */
static const struct { u16 mmio, pci, width; } pci_regs[] = {
	{ MMIO_DEVICE_FEATURES_SEL, 0x00, 4 }, { MMIO_DEVICE_FEATURES, 0x04, 4 },
	{ MMIO_DRIVER_FEATURES_SEL, 0x08, 4 }, { MMIO_DRIVER_FEATURES, 0x0c, 4 },
	{ MMIO_STATUS, 0x14, 1 }, { MMIO_CONFIG_GENERATION, 0x15, 1 },
	{ MMIO_QUEUE_SEL, 0x16, 2 }, { MMIO_QUEUE_NUM_MAX, 0x18, 2 }, { MMIO_QUEUE_NUM, 0x18, 2 },
	{ MMIO_QUEUE_READY, 0x1c, 2 },
	{ MMIO_QUEUE_DESC_LOW, 0x20, 4 }, { MMIO_QUEUE_DESC_HIGH, 0x24, 4 },
	{ MMIO_QUEUE_DRIVER_LOW, 0x28, 4 }, { MMIO_QUEUE_DRIVER_HIGH, 0x2c, 4 },
	{ MMIO_QUEUE_DEVICE_LOW, 0x30, 4 }, { MMIO_QUEUE_DEVICE_HIGH, 0x34, 4 },
};

static int pci_reg(u32 off, u64 *at, u32 *width, const struct virtio_dev *d)
{
	for (unsigned i = 0; i < sizeof(pci_regs) / sizeof(pci_regs[0]); i++) {
		if (pci_regs[i].mmio == off) {
			*at = d->common + pci_regs[i].pci;
			*width = pci_regs[i].width;
			return 1;
		}
	}
	return 0;
}

static u32 rd(struct virtio_dev *d, u32 off)
{
	u64 at;
	u32 w;

	if (!d->pci)
		return mmio_read32(d->base + off);
	if (off == MMIO_MAGIC)
		return MMIO_MAGIC_VALUE;
	if (off == MMIO_VERSION)
		return 2;
	if (off == MMIO_DEVICE_ID)
		return d->device_id;
	if (off == MMIO_INTERRUPT_STATUS)
		return *(volatile u8 *)phys(d->isr);      /* reading acknowledges */
	if (!pci_reg(off, &at, &w, d))
		return 0;
	return w == 4 ? mmio_read32(at) : w == 2 ? *(volatile u16 *)phys(at) : *(volatile u8 *)phys(at);
}

static void wr(struct virtio_dev *d, u32 off, u32 v)
{
	u64 at;
	u32 w;

	if (!d->pci) {
		mmio_write32(d->base + off, v);
		return;
	}
	if (!pci_reg(off, &at, &w, d))
		return;                 /* InterruptACK: the ISR read acknowledged already */
	if (w == 4)
		mmio_write32(at, v);
	else if (w == 2)
		*(volatile u16 *)phys(at) = (u16)v;
	else
		*(volatile u8 *)phys(at) = (u8)v;
}

static inline void mb(void) { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

const char *virtio_strerror(int err)
{
	static const char *const names[] = {
		[VIO_OK] = "ok", [VIO_ENODEV] = "nodev", [VIO_EFEATURES] = "features-refused",
		[VIO_EQUEUE] = "queue-setup", [VIO_ETIMEOUT] = "timeout",
		[VIO_ENEEDS_RESET] = "needs-reset", [VIO_EFULL] = "queue-full", [VIO_ELEGACY] = "legacy",
	};

	if (err < 0)
		err = -err;
	return (unsigned)err < ARRAY_SIZE(names) ? names[err] : "error";
}

int virtio_mmio_probe(struct virtio_dev *d, u64 base, u32 irq)
{
	memset(d, 0, sizeof(*d));
	d->base = base;
	d->irq = irq;
	if (base < mmio_map_base || base + 0x200 > 4 * GIB)
		return -VIO_ENODEV;
	if (rd(d, MMIO_MAGIC) != MMIO_MAGIC_VALUE)
		return -VIO_ENODEV;
	d->device_id = rd(d, MMIO_DEVICE_ID);
	if (!d->device_id)
		return -VIO_ENODEV;
	return rd(d, MMIO_VERSION) == 2 ? 0 : -VIO_ELEGACY;
}

int virtio_probe(struct virtio_dev *d, const struct virtio_mmio_dev *e)
{
	if (!e->pci_bdf)
		return virtio_mmio_probe(d, e->base, e->irq);
	memset(d, 0, sizeof(*d));
	d->pci = 1;
	d->base = e->devcfg - MMIO_CONFIG;
	d->irq = e->irq;
	d->device_id = e->pci_device_id;
	d->common = e->common;
	d->isr = e->isr;
	d->notify = e->notify;
	d->notify_mult = e->notify_mult;
	return 0;
}

u32 virtio_entry_device_id(const struct virtio_mmio_dev *e)
{
	if (e->pci_bdf)
		return e->pci_device_id;
	if (e->base < mmio_map_base || e->base + 0x200 > 4 * GIB)
		return 0;
	return mmio_read32(e->base + MMIO_DEVICE_ID);
}

int virtio_watch_next(struct virtio_watch *w, u32 *pos)
{
	for (u32 i = *pos; i < bi.nr_virtio; i++) {
		if (i < w->scanned && w->plugs[i] == bi.virtio[i].plugs)
			continue;
		w->plugs[i] = bi.virtio[i].plugs;
		if (i >= w->scanned)
			w->scanned = i + 1;
		*pos = i + 1;
		return (int)i;
	}
	*pos = bi.nr_virtio;
	return -1;
}

u32 virtio_get_status(struct virtio_dev *d)
{
	return rd(d, MMIO_STATUS);
}

void virtio_reset(struct virtio_dev *d)
{
	wr(d, MMIO_STATUS, 0);
	/* The device may take time to reset: wait until it reads back 0 (1 s max). */
	for (u64 end = tsc_deadline(1000000); rd(d, MMIO_STATUS) && !tsc_passed(end);)
		cpu_relax();
}

static void set_status(struct virtio_dev *d, u32 bits)
{
	wr(d, MMIO_STATUS, rd(d, MMIO_STATUS) | bits);
}

int virtio_negotiate(struct virtio_dev *d, u64 wanted, u64 required)
{
	required |= VBIT(VIRTIO_F_VERSION_1);
	virtio_reset(d);
	set_status(d, VIRTIO_S_ACKNOWLEDGE);
	set_status(d, VIRTIO_S_DRIVER);
	wr(d, MMIO_DEVICE_FEATURES_SEL, 0);
	d->offered = rd(d, MMIO_DEVICE_FEATURES);
	wr(d, MMIO_DEVICE_FEATURES_SEL, 1);
	d->offered |= (u64)rd(d, MMIO_DEVICE_FEATURES) << 32;
	d->features = d->offered & (wanted | required);
	if ((d->offered & required) != required) {
		set_status(d, VIRTIO_S_FAILED);
		return -VIO_EFEATURES;
	}
	wr(d, MMIO_DRIVER_FEATURES_SEL, 0);
	wr(d, MMIO_DRIVER_FEATURES, (u32)d->features);
	wr(d, MMIO_DRIVER_FEATURES_SEL, 1);
	wr(d, MMIO_DRIVER_FEATURES, (u32)(d->features >> 32));
	set_status(d, VIRTIO_S_FEATURES_OK);
	if (!(rd(d, MMIO_STATUS) & VIRTIO_S_FEATURES_OK)) {
		set_status(d, VIRTIO_S_FAILED);
		return -VIO_EFEATURES;
	}
	return 0;
}

int virtio_queue_setup(struct virtio_dev *d, struct virtq *vq, u16 index, void *mem, u16 max)
{
	u32 num_max, num;
	u64 desc, avail, used;

	wr(d, MMIO_QUEUE_SEL, index);
	if (rd(d, MMIO_QUEUE_READY))
		return -VIO_EQUEUE;
	num_max = rd(d, MMIO_QUEUE_NUM_MAX);
	if (!num_max)
		return -VIO_EQUEUE;
	if (max > VQ_MAX_SIZE)
		max = VQ_MAX_SIZE;
	for (num = 1; num * 2 <= num_max && num * 2 <= max; num *= 2)
		;
	/* A fresh queue, but statistics survive re-initialisation. */
	u64 st[4] = { vq->added, vq->completed, vq->notifies, vq->notifies_suppressed };
	memset(vq, 0, sizeof(*vq));
	vq->added = st[0];
	vq->completed = st[1];
	vq->notifies = st[2];
	vq->notifies_suppressed = st[3];
	memset(mem, 0, VQ_MEM_SIZE);
	vq->dev = d;
	vq->index = index;
	vq->num = num;
	vq->event_idx = !!(d->features & VBIT(VIRTIO_F_EVENT_IDX));
	vq->desc = mem;
	vq->avail = (struct vring_avail *)((u8 *)mem + 4096);
	vq->used = (struct vring_used *)((u8 *)mem + 8192);
	for (u32 i = 0; i < num; i++)
		vq->desc[i].next = i + 1;
	vq->num_free = num;
	desc = (u64)vq->desc;
	avail = (u64)vq->avail;
	used = (u64)vq->used;
	wr(d, MMIO_QUEUE_NUM, num);
	wr(d, MMIO_QUEUE_DESC_LOW, (u32)desc);
	wr(d, MMIO_QUEUE_DESC_HIGH, (u32)(desc >> 32));
	wr(d, MMIO_QUEUE_DRIVER_LOW, (u32)avail);
	wr(d, MMIO_QUEUE_DRIVER_HIGH, (u32)(avail >> 32));
	wr(d, MMIO_QUEUE_DEVICE_LOW, (u32)used);
	wr(d, MMIO_QUEUE_DEVICE_HIGH, (u32)(used >> 32));
	wr(d, MMIO_QUEUE_READY, 1);
	/* virtio-pci: the queue's notify_off (read with the queue selected) times the multiplier. */
	vq->notify_addr = d->pci ? d->notify + (u64)*(volatile u16 *)phys(d->common + 0x1e) *
					       d->notify_mult
				 : d->base + MMIO_QUEUE_NOTIFY;
	return rd(d, MMIO_QUEUE_READY) ? 0 : -VIO_EQUEUE;
}

void virtio_driver_ok(struct virtio_dev *d)
{
	set_status(d, VIRTIO_S_DRIVER_OK);
}

u32 virtio_config_generation(struct virtio_dev *d)
{
	return rd(d, MMIO_CONFIG_GENERATION);
}

/* Natural-width accesses (4, 2, 1 bytes), as the virtio-mmio spec asks. */
void virtio_config_read(struct virtio_dev *d, u32 off, void *buf, u32 len)
{
	u8 *p = buf;
	u32 gen;

	do {
		gen = rd(d, MMIO_CONFIG_GENERATION);
		for (u32 i = 0; i < len;) {
			u64 a = d->base + MMIO_CONFIG + off + i;

			if (!(a & 3) && len - i >= 4) {
				u32 v = mmio_read32(a);
				memcpy(p + i, &v, 4);
				i += 4;
			} else if (!(a & 1) && len - i >= 2) {
				u16 v = *(volatile u16 *)phys(a);
				memcpy(p + i, &v, 2);
				i += 2;
			} else {
				p[i++] = *(volatile u8 *)phys(a);
			}
		}
	} while (gen != rd(d, MMIO_CONFIG_GENERATION));
	d->config_gen = gen;
}

u32 virtio_ack_interrupt(struct virtio_dev *d)
{
	u32 isr = rd(d, MMIO_INTERRUPT_STATUS);

	d->isr_reads++;
	if (isr)
		wr(d, MMIO_INTERRUPT_ACK, isr);
	if (isr & INT_USED)
		d->isr_used++;
	if (isr & INT_CONFIG)
		d->isr_config++;
	return isr;
}

int virtio_observe_irq(struct virtio_dev *d, u64 us)
{
	u32 vec = 0x20 + d->irq;
	int seen;
	u64 end = tsc_deadline(us);

	d->irr_checks++;
	while (!(seen = lapic_irr_test(vec)) && !tsc_passed(end))
		cpu_relax();
	if (!seen) {
		d->irr_missing++;
		return 0;
	}
	d->irr_seen++;
	lapic_eoi();
	d->eois++;
	if (lapic_irr_test(vec))
		d->irr_stuck++;
	return 1;
}

/* ---- split virtqueue ---- */

static u16 *used_event(struct virtq *vq) { return &vq->avail->ring[vq->num]; }
static volatile u16 *avail_event(struct virtq *vq) { return (volatile u16 *)&vq->used->ring[vq->num]; }

int vq_add(struct virtq *vq, const struct vbuf *b, unsigned n, void *cookie)
{
	u16 head, i, last = 0;

	if (!n || n > vq->num_free)
		return -VIO_EFULL;
	head = i = vq->free_head;
	for (unsigned k = 0; k < n; k++) {
		struct vring_desc *dsc = &vq->desc[i];

		dsc->addr = b[k].addr;
		dsc->len = b[k].len;
		dsc->flags = (b[k].write ? VRING_DESC_F_WRITE : 0) | (k + 1 < n ? VRING_DESC_F_NEXT : 0);
		last = i;
		i = dsc->next;
	}
	/* `next` of the last descriptor still links the free list. */
	vq->free_head = vq->desc[last].next;
	vq->num_free -= n;
	vq->cookie[head] = cookie;
	vq->chain_len[head] = n;
	vq->avail->ring[vq->avail_shadow % vq->num] = head;
	vq->avail_shadow++;
	vq->added++;
	return 0;
}

void vq_kick(struct virtq *vq)
{
	u16 old = vq->kicked, new_idx = vq->avail_shadow;
	int notify;

	barrier();                       /* ring entries before the index (x86: TSO) */
	*(volatile u16 *)&vq->avail->idx = new_idx;
	mb();                            /* the index before reading the device's wishes */
	vq->kicked = new_idx;
	if (old == new_idx)
		return;
	if (vq->event_idx) {
		u16 ev = *avail_event(vq);

		/* vring_need_event(): did new_idx pass the device's avail_event? */
		notify = (u16)(new_idx - ev - 1) < (u16)(new_idx - old);
	} else {
		notify = !(*(volatile u16 *)&vq->used->flags & VRING_USED_F_NO_NOTIFY);
	}
	if (notify) {
		vq->notifies++;
		if (vq->dev->pci)
			*(volatile u16 *)phys(vq->notify_addr) = vq->index;
		else
			mmio_write32(vq->notify_addr, vq->index);
	} else {
		vq->notifies_suppressed++;
	}
}

int vq_has_used(struct virtq *vq)
{
	return *(volatile u16 *)&vq->used->idx != vq->last_used;
}

void *vq_get_used(struct virtq *vq, u32 *len)
{
	struct vring_used_elem e;
	u16 head, i;
	void *cookie;

	if (!vq_has_used(vq))
		return 0;
	barrier();                       /* the element after the index */
	e = *(volatile struct vring_used_elem *)&vq->used->ring[vq->last_used % vq->num];
	vq->last_used++;
	if (vq->event_idx && !vq->irq_off) {
		/* Interrupt us on the next completion. */
		*(volatile u16 *)used_event(vq) = vq->last_used;
	}
	head = (u16)e.id;
	if (head >= vq->num || !vq->chain_len[head])
		return 0;                /* device bug: ignore the element */
	cookie = vq->cookie[head];
	/* Return the chain to the free list. */
	i = head;
	for (u16 k = 1; k < vq->chain_len[head]; k++)
		i = vq->desc[i].next;
	vq->desc[i].next = vq->free_head;
	vq->free_head = head;
	vq->num_free += vq->chain_len[head];
	vq->chain_len[head] = 0;
	vq->cookie[head] = 0;
	vq->completed++;
	if (len)
		*len = e.len;
	return cookie;
}

void vq_set_interrupts(struct virtq *vq, int on)
{
	vq->irq_off = !on;
	*(volatile u16 *)&vq->avail->flags = on ? 0 : VRING_AVAIL_F_NO_INTERRUPT;
	/* With EVENT_IDX the flag is ignored: move used_event out of reach. */
	*(volatile u16 *)used_event(vq) = on ? vq->last_used : (u16)(vq->last_used + 0x8000);
	mb();
}
