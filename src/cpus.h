/*
 * vCPU threads and the pause protocol, independent of the accelerator.
 * A vCPU thread loops: if stop is requested it parks (stopped=true, signals
 * vcpu_state_cond) until resumed; otherwise it calls accel->vcpu_run.
 */
#ifndef STRATUS_CPUS_H
#define STRATUS_CPUS_H

#include "machine.h"

/* Creates Vcpu objects and accel vCPUs; threads start parked (stop_requested). */
bool cpus_create(Machine *m, GError **err);
bool cpus_start_threads(Machine *m, GError **err);
/* Lock held. Blocks (dropping the lock while waiting) until every vCPU is parked. */
void cpus_pause_all(Machine *m);
/* Lock held. Lets every vCPU run. */
void cpus_resume_all(Machine *m);
/* Lock held. Asks every thread to end, kicks it, and joins it (drops the lock). */
void cpus_stop_and_join(Machine *m);
void cpus_destroy(Machine *m);

#endif
