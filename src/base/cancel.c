#include "base/cancel.h"

#include <stddef.h>

static __thread struct cas_cancel *current;

void cas_cancel_set_current(struct cas_cancel *c)
{
	current = c;
}

struct cas_cancel *cas_cancel_current(void)
{
	return current;
}

void cas_cancel_fire(struct cas_cancel *c)
{
	pthread_mutex_lock(&c->lock);
	__atomic_store_n(&c->fired, true, __ATOMIC_RELEASE);
	if (c->wake)
		c->wake(c->wake_ud);
	pthread_mutex_unlock(&c->lock);
}

bool cas_cancel_fired(const struct cas_cancel *c)
{
	return c && __atomic_load_n(&c->fired, __ATOMIC_ACQUIRE);
}

void cas_cancel_arm(struct cas_cancel *c, void (*wake)(void *ud), void *ud)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->wake = wake;
	c->wake_ud = ud;
	if (c->fired)
		wake(ud);
	pthread_mutex_unlock(&c->lock);
}

void cas_cancel_disarm(struct cas_cancel *c)
{
	if (!c)
		return;
	pthread_mutex_lock(&c->lock);
	c->wake = NULL;
	c->wake_ud = NULL;
	pthread_mutex_unlock(&c->lock);
}
