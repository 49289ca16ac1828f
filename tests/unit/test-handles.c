/* The open-handle table (fs/handles.h): what a kernel or guest sends back
 * as fh is checked on every use, never taken for an fd or a pointer. */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include "fs/handles.h"
#include "helpers.h"

static int listings_freed;

static void free_listing(void *l)
{
	free(l);
	listings_freed++;
}

static bool fd_open(int fd)
{
	return fcntl(fd, F_GETFD) >= 0;
}

static uint64_t new_file(struct fs_handles *h, uint64_t ino, int fd)
{
	struct fs_handle_data d = { .kind = FS_HANDLE_FILE, .ino = ino,
				    .slot = 7, .fd = fd };
	uint64_t fh;

	cr_assert_eq(fs_handle_new(h, &d, &fh), 0);
	return fh;
}

Test(handles, forged_and_foreign_handles_are_ebadf)
{
	struct fs_handles h;
	struct fs_handle_data d;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	uint64_t fh;

	fs_handles_init(&h, free_listing);
	fh = new_file(&h, 42, fd);
	/* what the old daemon took for fds and pointers */
	for (uint64_t forged = 0; forged < 64; forged++)
		cr_assert_eq(fs_handle_get(&h, forged, FS_HANDLE_FILE, 42, &d),
			     -EBADF, "fh %llu", (unsigned long long)forged);
	cr_assert_eq(fs_handle_get(&h, 0x4141414141ULL, FS_HANDLE_FILE, 42, &d),
		     -EBADF);
	cr_assert_eq(fs_handle_get(&h, UINT64_MAX, FS_HANDLE_FILE, 42, &d),
		     -EBADF);
	/* another generation of the same index, another inode, another kind */
	cr_assert_eq(fs_handle_get(&h, fh + (1ULL << 32), FS_HANDLE_FILE, 42,
				   &d), -EBADF);
	cr_assert_eq(fs_handle_get(&h, fh, FS_HANDLE_FILE, 43, &d), -EBADF);
	cr_assert_eq(fs_handle_get(&h, fh, FS_HANDLE_ROOT_LISTING, 42, &d),
		     -EBADF);
	cr_assert_eq(fs_handle_close(&h, fh, FS_HANDLE_ROOT_LISTING, 42, &d),
		     -EBADF);
	/* the real one */
	cr_assert_eq(fs_handle_get(&h, fh, FS_HANDLE_FILE, 42, &d), 0);
	cr_assert_eq(d.fd, fd);
	cr_assert_eq(d.slot, 7);
	fs_handle_put(&h, fh);
	cr_assert(fd_open(fd), "a forged use closed nothing");
	fs_handles_release(&h);
	cr_assert(!fd_open(fd));
}

Test(handles, close_is_once_and_a_reused_index_is_a_new_handle)
{
	struct fs_handles h;
	struct fs_handle_data d;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	uint64_t fh, again;

	fs_handles_init(&h, free_listing);
	fh = new_file(&h, 5, fd);
	cr_assert_eq(fs_handles_open(&h), 1);
	cr_assert_eq(fs_handle_close(&h, fh, FS_HANDLE_FILE, 5, &d), 0);
	cr_assert_eq(d.slot, 7);
	cr_assert(!fd_open(fd), "closed with its handle");
	/* a second RELEASE, a READ after it */
	cr_assert_eq(fs_handle_close(&h, fh, FS_HANDLE_FILE, 5, &d), -EBADF);
	cr_assert_eq(fs_handle_get(&h, fh, FS_HANDLE_FILE, 5, &d), -EBADF);
	/* the index comes back with a new generation: the old fh is stale */
	again = new_file(&h, 5, -1);
	cr_assert_eq((uint32_t)again, (uint32_t)fh);
	cr_assert_neq(again, fh);
	cr_assert_eq(fs_handle_get(&h, fh, FS_HANDLE_FILE, 5, &d), -EBADF);
	cr_assert_eq(fs_handle_get(&h, again, FS_HANDLE_FILE, 5, &d), 0);
	fs_handle_put(&h, again);
	fs_handles_release(&h);
}

Test(handles, a_handle_in_use_outlives_its_release)
{
	struct fs_handles h;
	struct fs_handle_data d, in_use;
	int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	uint64_t fh;

	fs_handles_init(&h, free_listing);
	fh = new_file(&h, 9, fd);
	cr_assert_eq(fs_handle_get(&h, fh, FS_HANDLE_FILE, 9, &in_use), 0);
	/* a RELEASE while a READ reads: gone for others, open for the read */
	cr_assert_eq(fs_handle_close(&h, fh, FS_HANDLE_FILE, 9, &d), 0);
	cr_assert_eq(fs_handle_get(&h, fh, FS_HANDLE_FILE, 9, &d), -EBADF);
	cr_assert(fd_open(in_use.fd));
	fs_handle_put(&h, fh);
	cr_assert(!fd_open(fd));
	cr_assert_eq(fs_handles_open(&h), 0);
	fs_handles_release(&h);
}

Test(handles, clear_closes_and_frees_everything_and_forgets_slots)
{
	struct fs_handles h;
	struct fs_handle_data d = { .kind = FS_HANDLE_ROOT_LISTING,
				    .ino = 1, .fd = -1 };
	int fds[300];
	uint64_t fh;

	listings_freed = 0;
	fs_handles_init(&h, free_listing);
	for (int k = 0; k < 300; k++) {
		fds[k] = open("/dev/null", O_RDONLY | O_CLOEXEC);
		new_file(&h, (uint64_t)k + 2, fds[k]);
	}
	d.listing = malloc(16);
	cr_assert_eq(fs_handle_new(&h, &d, &fh), 0);
	cr_assert_eq(fs_handles_open(&h), 301);
	/* a new session: 300 opens never released leak no fd */
	fs_handles_clear(&h, NULL, NULL);
	cr_assert_eq(fs_handles_open(&h), 0);
	for (int k = 0; k < 300; k++)
		cr_assert(!fd_open(fds[k]));
	cr_assert_eq(listings_freed, 1);
	cr_assert_eq(fs_handle_get(&h, fh, FS_HANDLE_ROOT_LISTING, 1, &d),
		     -EBADF);
	fs_handles_release(&h);
}

static void count_slot(void *ud, uint32_t slot)
{
	cr_assert_eq(slot, 7);
	(*(int *)ud)++;
}

Test(handles, clear_passes_each_open_files_slot)
{
	struct fs_handles h;
	int forgotten = 0;

	fs_handles_init(&h, free_listing);
	new_file(&h, 2, -1);
	new_file(&h, 3, -1);
	fs_handles_clear(&h, count_slot, &forgotten);
	cr_assert_eq(forgotten, 2);
	fs_handles_release(&h);
}
