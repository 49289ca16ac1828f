/*
 * Open handles: what the fh a kernel or a guest sends back stands for.
 *
 * An fh is never a pointer or an fd: it is an index into this table, which
 * the daemon owns, and a generation (fh = generation << 32 | index + 1, so
 * 0 is never a handle).  Every use names the handle's kind and inode and
 * is checked against the entry: a forged, stale or foreign fh is -EBADF.
 * A virtio-fs guest sends any fh it likes (issue 22: READ with the number
 * of meta.lmdb's fd read the store's metadata into the guest; RELEASE
 * closed the daemon's own fds; RELEASEDIR freed any address).
 *
 * A handle in use by a request (fs_handle_get) stays whole until the
 * request puts it back, even if a RELEASE comes meanwhile: its fd is
 * closed and its listing freed only when the last user is gone, so a read
 * never reads a closed (or reused) fd.
 */
#ifndef CAS_FS_HANDLES_H
#define CAS_FS_HANDLES_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

/* More open handles than this at once is ENFILE: a guest that opens
 * without releasing is bounded (an fd each, less under passthrough). */
#define FS_HANDLES_MAX (1u << 20)

enum fs_handle_kind {
	FS_HANDLE_FILE = 1,   /* an open file: fd, or -1 when passed through */
	FS_HANDLE_ROOT_LISTING, /* an open root directory: its snapshot */
};

/* What a handle holds; fs_handle_get hands out a copy (its fd and
 * listing stay valid until the matching fs_handle_put). */
struct fs_handle_data {
	enum fs_handle_kind kind;
	uint64_t ino;     /* the inode it was opened on */
	uint32_t slot;    /* FILE: the store path's slot (fs/paths.h) */
	int fd;           /* FILE: reads come from it; -1: passthrough */
	void *listing;    /* ROOT_LISTING: freed by the table's free_listing */
};

struct fs_handle_entry;

struct fs_handles {
	pthread_mutex_t lock;
	struct fs_handle_entry *v;
	uint32_t cap, used;
	uint32_t free_head; /* index + 1 of a free entry; 0: none */
	/* frees a ROOT_LISTING's listing when its handle goes */
	void (*free_listing)(void *listing);
};

/* An empty table. */
void fs_handles_init(struct fs_handles *h, void (*free_listing)(void *));

/* Every handle goes (a new session, the end): fds closed, listings
 * freed, each FILE's slot passed to forget_slot (may be NULL) so its
 * open count drops.  Handles in use by a request go when it puts them. */
void fs_handles_clear(struct fs_handles *h,
		      void (*forget_slot)(void *ud, uint32_t slot), void *ud);

/* fs_handles_clear, then free the table itself (no request may run). */
void fs_handles_release(struct fs_handles *h);

/* A new handle holding *d (the table owns its fd and listing from now
 * on, also on failure, when it closes and frees them).  0 with *ret_fh,
 * or -ENFILE (FS_HANDLES_MAX), -ENOMEM. */
int fs_handle_new(struct fs_handles *h, const struct fs_handle_data *d,
		  uint64_t *ret_fh);

/* The handle fh, of kind and opened on ino, for one request: 0 with a
 * copy in *ret (its fd and listing valid until fs_handle_put(h, fh)), or
 * -EBADF when fh is no such live handle. */
int fs_handle_get(struct fs_handles *h, uint64_t fh, enum fs_handle_kind kind,
		  uint64_t ino, struct fs_handle_data *ret);

/* The request is done with fh (after a successful fs_handle_get). */
void fs_handle_put(struct fs_handles *h, uint64_t fh);

/* RELEASE of fh, of kind and opened on ino: the handle is gone for every
 * later request (its fd closed once no request uses it).  0 with its data
 * in *ret (ret->fd and ret->listing are no longer the caller's to use),
 * or -EBADF. */
int fs_handle_close(struct fs_handles *h, uint64_t fh,
		    enum fs_handle_kind kind, uint64_t ino,
		    struct fs_handle_data *ret);

/* Handles open now (for tests and counters). */
uint32_t fs_handles_open(struct fs_handles *h);

#endif
