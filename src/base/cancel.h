/*
 * Cancelling a wait from another thread: a FUSE request whose caller was
 * killed (INTERRUPT) must stop waiting for a download at once, without
 * the layers in between knowing about FUSE.
 *
 * The thread that serves a request makes a token current; code deep below
 * that waits for something slow asks for the current token, arms it with a
 * wake function (which makes its wait loop look again) and checks
 * cas_cancel_fired() in that loop; a third thread fires the token.
 *
 * Lock order: the token's lock, then whatever the wake function takes.
 * So a waiter must arm and disarm without holding the lock its wake
 * function takes, and check cas_cancel_fired() under that lock.
 */
#ifndef CAS_BASE_CANCEL_H
#define CAS_BASE_CANCEL_H

#include <pthread.h>
#include <stdbool.h>

struct cas_cancel {
	pthread_mutex_t lock;
	bool fired; /* atomic */
	void (*wake)(void *ud);
	void *wake_ud;
};

#define CAS_CANCEL_INIT { .lock = PTHREAD_MUTEX_INITIALIZER }

/* Make c this thread's current token (NULL: none) until replaced. */
void cas_cancel_set_current(struct cas_cancel *c);
/* This thread's current token, or NULL. */
struct cas_cancel *cas_cancel_current(void);

/* Fire c (once is enough; again is harmless): calls the armed wake. */
void cas_cancel_fire(struct cas_cancel *c);
/* Whether c (may be NULL: never) has fired. */
bool cas_cancel_fired(const struct cas_cancel *c);
/* Arm c (may be NULL: a no-op) with wake(ud), called when it fires, or at
 * once if it already has; disarm it again.  After disarm returns, wake is
 * not running and will not be called. */
void cas_cancel_arm(struct cas_cancel *c, void (*wake)(void *ud), void *ud);
void cas_cancel_disarm(struct cas_cancel *c);

#endif
