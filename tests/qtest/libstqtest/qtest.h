/*
 * libstqtest: a small qtest client library for Stratus device tests.
 *
 * It launches the VMM the way QEMU's libqtest does (qemu-reference.md §3.5):
 * the library listens on two unix sockets, starts
 *
 *   $QTEST_QEMU_BINARY -qtest unix:Q -qtest-log none -chardev socket,path=M,id=char0
 *       -mon chardev=char0,mode=control -display none -machine microvm <args> -accel qtest
 *
 * and accepts the VMM's connections (the VMM is the client on both). Then it
 * speaks the qtest line protocol on Q and QMP on M.
 *
 * Failures (a FAIL reply to a typed helper, a timeout, a VMM that dies) abort
 * the test with g_error(): the VMM is killed through PR_SET_PDEATHSIG.
 *
 * Environment: QTEST_QEMU_BINARY (required), QTEST_LOG (log the protocol to
 * stderr), QTEST_TIMEOUT (seconds per wait, default 30).
 */
#ifndef STQTEST_H
#define STQTEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <glib.h>
#include <json-glib/json-glib.h>

typedef struct QTestState QTestState;

/* ---- Launch and teardown ------------------------------------------------ */

/* Start the VMM with extra arguments (shell-split) and do the QMP handshake. */
QTestState *qtest_init(const char *extra_args);
QTestState *qtest_initf(const char *fmt, ...) G_GNUC_PRINTF(1, 2);
/* Same, but leave the QMP greeting unread and capabilities not negotiated. */
QTestState *qtest_init_without_qmp_handshake(const char *extra_args);
/*
 * Start with a command line of your own: "@QTEST@" and "@QMP@" in tmpl are
 * replaced by the paths of sockets the library listens on (either may be
 * absent: then that connection is not expected). Does the QMP handshake when
 * @QMP@ is present and handshake is true. For interop tests of other forms.
 */
QTestState *qtest_init_cmdline(const char *tmpl, bool handshake);
/*
 * Start with a complete command line of your own (after the binary); no
 * sockets are added: for command-line tests. Use qtest_wait_exit() next.
 */
QTestState *qtest_spawn_raw(const char *args);

/* Exit status qtest_quit() expects (default 0). */
void qtest_set_expected_status(QTestState *s, int status);
/*
 * Teardown: SIGTERM unless the VMM exited already, wait (bounded), assert
 * that it exited normally with the expected status, close and free.
 */
void qtest_quit(QTestState *s);
/*
 * Wait for the VMM to exit on its own (quit, guest shutdown). Returns its exit
 * status, or 128+signal if it was killed by a signal, or -1 on timeout.
 * qtest_quit() afterwards only checks the status and cleans up.
 */
int qtest_wait_exit(QTestState *s, int timeout_ms);
pid_t qtest_pid(QTestState *s);
/* Everything the VMM wrote on stderr so far (captured when spawned raw). */
const char *qtest_stderr(QTestState *s);

/* ---- qtest protocol ------------------------------------------------------ */

/* Send one request, return the reply line (IRQ lines are consumed). g_free. */
char *qtest_cmd(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Send raw bytes on the qtest socket (may hold several lines, or half a line). */
void qtest_send_raw(QTestState *s, const char *text);
/* Read the next reply line (after qtest_send_raw). g_free. */
char *qtest_recv_line(QTestState *s);

void qtest_outb(QTestState *s, uint16_t port, uint8_t v);
void qtest_outw(QTestState *s, uint16_t port, uint16_t v);
void qtest_outl(QTestState *s, uint16_t port, uint32_t v);
uint8_t qtest_inb(QTestState *s, uint16_t port);
uint16_t qtest_inw(QTestState *s, uint16_t port);
uint32_t qtest_inl(QTestState *s, uint16_t port);

void qtest_writeb(QTestState *s, uint64_t addr, uint8_t v);
void qtest_writew(QTestState *s, uint64_t addr, uint16_t v);
void qtest_writel(QTestState *s, uint64_t addr, uint32_t v);
void qtest_writeq(QTestState *s, uint64_t addr, uint64_t v);
uint8_t qtest_readb(QTestState *s, uint64_t addr);
uint16_t qtest_readw(QTestState *s, uint64_t addr);
uint32_t qtest_readl(QTestState *s, uint64_t addr);
uint64_t qtest_readq(QTestState *s, uint64_t addr);

/* Bulk guest memory: hex (read/write) and base64 (b64read/b64write) forms. */
void qtest_memread(QTestState *s, uint64_t addr, void *buf, size_t len);
void qtest_memwrite(QTestState *s, uint64_t addr, const void *buf, size_t len);
void qtest_bufread(QTestState *s, uint64_t addr, void *buf, size_t len);
void qtest_bufwrite(QTestState *s, uint64_t addr, const void *buf, size_t len);
void qtest_memset(QTestState *s, uint64_t addr, uint8_t v, size_t len);

/* Virtual clock. step_next: to the next timer deadline (fails if none). */
int64_t qtest_clock_step_next(QTestState *s);
int64_t qtest_clock_step(QTestState *s, int64_t ns);
int64_t qtest_clock_set(QTestState *s, int64_t ns);

/* Interrupts. NUM is the GSI. */
void qtest_irq_intercept_in(QTestState *s, const char *path);
void qtest_irq_intercept_out(QTestState *s, const char *path);
void qtest_set_irq_in(QTestState *s, const char *path, const char *name, int num,
                      int level);
/* Current level of an intercepted line (flushes pending IRQ lines first). */
bool qtest_get_irq(QTestState *s, int num);
/* How many "IRQ raise NUM" lines were seen so far (counts edges). */
unsigned qtest_irq_raise_count(QTestState *s, int num);

/* ---- QMP ------------------------------------------------------------------ */

/*
 * fmt is printf-style JSON in which ' is turned into " (in fmt only, not in
 * the arguments), as QEMU's tests write it: "{'execute': 'stop'}".
 * qtest_qmp() waits for the reply (events that arrive meanwhile are queued)
 * and returns it; json_node_unref() it.
 */
JsonNode *qtest_qmp(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* As qtest_qmp, with fds (at least one) passed by SCM_RIGHTS, as libqtest's. */
JsonNode *qtest_qmp_fds(QTestState *s, int *fds, size_t fds_num, const char *fmt, ...)
    G_GNUC_PRINTF(4, 5);
void qtest_qmp_send(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
void qtest_qmp_send_raw(QTestState *s, const char *text);
/* The next message that is not an event (events are queued). */
JsonNode *qtest_qmp_receive_reply(QTestState *s);
/* The next message of any kind, queued events first. */
JsonNode *qtest_qmp_receive(QTestState *s);
/* Asserts {"return": ...}; returns a new reference to the return value. */
JsonNode *qtest_qmp_assert_success_ref(QTestState *s, const char *fmt, ...)
    G_GNUC_PRINTF(2, 3);
void qtest_qmp_assert_success(QTestState *s, const char *fmt, ...) G_GNUC_PRINTF(2, 3);
/* Waits for an event by name (queued ones first); returns the whole event. */
JsonNode *qtest_qmp_eventwait_ref(QTestState *s, const char *event);
void qtest_qmp_eventwait(QTestState *s, const char *event);
/* An already received event by name, or NULL (does not read the socket). */
JsonNode *qtest_qmp_event_ref(QTestState *s, const char *event);
/* Has the QMP socket been closed by the VMM? (reads whatever is pending) */
bool qtest_qmp_eof(QTestState *s, int timeout_ms);

/* ---- refusals (expect.c) ------------------------------------------------- */

/*
 * Spawns the VMM with args (qtest_spawn_raw) and asserts that it exits with
 * status 1 and that stderr is one line containing needle.
 */
void qtest_expect_startup_error(const char *args, const char *needle);
/*
 * Sends the command (a printf format, not QMP-escaped: give literal JSON)
 * and asserts an error reply of class cls with exactly desc.
 */
void qtest_qmp_assert_error(QTestState *s, const char *cls, const char *desc,
                            const char *fmt, ...) G_GNUC_PRINTF(4, 5);

/* JSON helpers. */
JsonObject *qmp_obj(JsonNode *n);                      /* asserts an object */
bool qmp_has_error(JsonNode *reply);
const char *qmp_error_class(JsonNode *reply);          /* NULL if no error */
const char *qmp_error_desc(JsonNode *reply);
JsonObject *qmp_return_obj(JsonNode *reply);           /* asserts {"return":{...}} */
const char *qmp_get_str(JsonObject *o, const char *member);   /* NULL if absent */

/* ---- firmware (firmware.c) ------------------------------------------------ */

/* A fw_cfg file's select key and size, from the directory at 0x510/0x511; 0 if absent. */
uint16_t qtest_fw_cfg_find(QTestState *s, const char *name, uint32_t *size);
/* Its contents (g_free; one spare byte after them), or NULL if absent. */
uint8_t *qtest_fw_cfg_file(QTestState *s, const char *name, uint32_t *size);
/*
 * A temporary file of `size` bytes 0xFF (erased flash, no firmware code):
 * enough for -drive if=pflash to switch q35 to firmware boot under qtest,
 * where nothing executes it. The path is the caller's to unlink and g_free.
 */
char *qtest_blank_flash_image(size_t size);

/* ---- Extra sockets (e.g. -serial socket,path=P) --------------------------- */

/* A unique path in the test's private temporary directory (g_free). */
char *qtest_tmp_path(const char *name);
int qtest_socket_server(const char *path);              /* listening fd */
int qtest_socket_accept(int listen_fd);                 /* bounded wait */
/* Reads exactly len bytes (bounded wait); false on EOF/timeout. */
bool qtest_socket_read_exact(int fd, void *buf, size_t len, int timeout_ms);
void qtest_socket_write_all(int fd, const void *buf, size_t len);

/* ---- Guest memory allocator ------------------------------------------------ */

/* A bump allocator over guest RAM; nothing is ever freed (tests are short). */
typedef struct QGuestAlloc {
    uint64_t start, end, next;
} QGuestAlloc;

/* microvm: RAM at 0; the allocator uses [1 MiB, 1 MiB + size). */
#define QTEST_ALLOC_START 0x100000ULL
void guest_alloc_init(QGuestAlloc *a, uint64_t start, uint64_t end);
uint64_t guest_alloc(QGuestAlloc *a, uint64_t size, uint64_t align);
/* Zero-filled allocation (writes zeros through qtest). */
uint64_t guest_alloc0(QTestState *s, QGuestAlloc *a, uint64_t size, uint64_t align);

/* ---- 16550 UART at a port base (COM1 = 0x3f8) ----------------------------- */

#define QTEST_COM1 0x3f8
void uart_init(QTestState *s, uint16_t base);          /* 8N1, FIFO on, MCR=OUT2|DTR|RTS */
void uart_putc(QTestState *s, uint16_t base, uint8_t c);   /* waits for THRE */
bool uart_rx_ready(QTestState *s, uint16_t base);
/* Polls LSR.DR (letting the VMM's main loop run) up to timeout_ms. */
int uart_getc(QTestState *s, uint16_t base, int timeout_ms);   /* -1 on timeout */

#endif
