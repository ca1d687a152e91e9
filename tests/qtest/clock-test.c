/*
 * The machine clock (src/util/clock.c), in-process: virtual-time timers fire
 * only when advanced, in deadline order; real-time timers fire from the
 * machine's main context; callbacks may re-arm and free timers.
 */
#include <glib.h>
#include "util/clock.h"

/* What a machine gives the clock: its context and the slot for the clock. */
typedef struct {
    GMainContext *ctx;
    MachineClock *clock;
    GString *trace;
} Env;

typedef struct {
    Env *env;
    const char *name;
    MachineTimer *t;
    int64_t rearm_ns;        /* > 0: periodic */
    int count;
    int64_t seen_ns;
    bool free_self;
} Tick;

static void tick(void *opaque)
{
    Tick *k = opaque;

    k->count++;
    k->seen_ns = machine_clock_ns(k->env->clock);
    g_string_append_printf(k->env->trace, "%s@%" G_GINT64_FORMAT " ", k->name, k->seen_ns);
    if (k->free_self) {
        machine_timer_free(k->t);
        k->t = NULL;
    } else if (k->rearm_ns > 0) {
        machine_timer_mod(k->t, k->seen_ns + k->rearm_ns);
    }
}

static void env_init(Env *env)
{
    env->ctx = g_main_context_new();
    env->clock = NULL;
    env->trace = g_string_new(NULL);
}

static MachineClock *env_clock(Env *env)
{
    return machine_clock_get(&env->clock, env->ctx);
}

static void env_free(Env *env)
{
    g_main_context_unref(env->ctx);   /* also frees the clock state */
    g_assert_null(env->clock);
}

static void test_virtual_order(void)
{
    Env env;
    Tick a = { &env, "a" }, b = { &env, "b" }, c = { &env, "c" }, d = { &env, "d" };

    env_init(&env);

    machine_clock_use_virtual(env_clock(&env));
    g_assert_true(machine_clock_is_virtual(env.clock));
    g_assert_cmpint(machine_clock_ns(env.clock), ==, 0);
    g_assert_cmpint(machine_clock_next_deadline(env.clock), ==, -1);

    a.t = machine_timer_new(env_clock(&env), tick, &a);
    b.t = machine_timer_new(env_clock(&env), tick, &b);
    c.t = machine_timer_new(env_clock(&env), tick, &c);
    d.t = machine_timer_new(env_clock(&env), tick, &d);
    machine_timer_mod(a.t, 300);
    machine_timer_mod(b.t, 100);
    machine_timer_mod_in(c.t, 200);
    machine_timer_mod(d.t, 200);            /* same deadline as c, armed later */
    c.rearm_ns = 1000;
    g_assert_cmpint(machine_clock_next_deadline(env.clock), ==, 100);
    g_assert_true(machine_timer_pending(b.t));
    g_assert_cmpint(machine_timer_expire(a.t), ==, 300);

    /* Nothing fires by itself, even if the main context runs. */
    g_usleep(2000);
    while (g_main_context_iteration(env.ctx, FALSE)) {
    }
    g_assert_cmpstr(env.trace->str, ==, "");

    g_assert_cmpint(machine_clock_advance_to(env.clock, 250), ==, 250);
    g_assert_cmpstr(env.trace->str, ==, "b@100 c@200 d@200 ");
    g_assert_false(machine_timer_pending(b.t));
    g_assert_cmpint(machine_timer_expire(b.t), ==, -1);
    g_assert_cmpint(machine_clock_next_deadline(env.clock), ==, 300);

    g_string_truncate(env.trace, 0);
    machine_timer_del(a.t);
    g_assert_cmpint(machine_clock_advance_to(env.clock, 3000), ==, 3000);
    g_assert_cmpstr(env.trace->str, ==, "c@1200 c@2200 ");
    /* Never backwards. */
    g_assert_cmpint(machine_clock_advance_to(env.clock, 10), ==, 3000);

    /* A past deadline fires on the next advance, at the current time. */
    g_string_truncate(env.trace, 0);
    machine_timer_del(c.t);
    machine_timer_mod(b.t, 5);
    g_assert_cmpint(machine_clock_advance_to(env.clock, 3000), ==, 3000);
    g_assert_cmpstr(env.trace->str, ==, "b@3000 ");

    /* A callback may free its own timer. */
    d.free_self = true;
    machine_timer_mod(d.t, 4000);
    machine_clock_advance_to(env.clock, 5000);
    g_assert_null(d.t);

    machine_timer_free(a.t);
    machine_timer_free(b.t);
    /* c is left allocated on purpose: freed after the clock goes away. */
    env_free(&env);
    machine_timer_free(c.t);       /* detached: still safe */
    g_string_free(env.trace, TRUE);
}

static void test_realtime(void)
{
    Env env;
    Tick a = { &env, "a" }, b = { &env, "b" };
    int64_t t0;
    gint64 deadline;

    env_init(&env);
    t0 = machine_clock_ns(env.clock);

    g_assert_false(machine_clock_is_virtual(env.clock));
    g_assert_cmpint(t0, >, 0);
    a.t = machine_timer_new(env_clock(&env), tick, &a);
    b.t = machine_timer_new(env_clock(&env), tick, &b);
    machine_timer_mod_in(a.t, 20 * CLOCK_NS_PER_MS);
    machine_timer_mod_in(b.t, 5 * CLOCK_NS_PER_MS);
    b.rearm_ns = 5 * CLOCK_NS_PER_MS;

    deadline = g_get_monotonic_time() + 5 * G_USEC_PER_SEC;
    while (a.count == 0 && g_get_monotonic_time() < deadline) {
        g_main_context_iteration(env.ctx, TRUE);
    }
    g_assert_cmpint(a.count, ==, 1);
    g_assert_cmpint(a.seen_ns - t0, >=, 20 * CLOCK_NS_PER_MS);
    /*
     * b (every 5 ms) fires first; how often before a depends on scheduling
     * (a busy host can deliver both late, together), so only once is sure.
     */
    g_assert_cmpint(b.count, >=, 1);
    g_assert_true(g_str_has_prefix(env.trace->str, "b@"));
    machine_timer_del(b.t);
    g_assert_cmpint(machine_clock_next_deadline(env.clock), ==, -1);

    machine_timer_free(a.t);
    machine_timer_free(b.t);
    env_free(&env);
    g_string_free(env.trace, TRUE);
}

int main(int argc, char **argv)
{
    g_test_init(&argc, &argv, NULL);
    g_test_add_func("/clock/virtual-order", test_virtual_order);
    g_test_add_func("/clock/realtime", test_realtime);
    return g_test_run();
}
