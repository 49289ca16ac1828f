/*
 * castore virtiofs: the filesystem served to one virtual machine through
 * a vhost-user-fs device.  Listens on a unix socket, takes QEMU's
 * connection, serves it until QEMU goes (the guest powered off, QEMU was
 * killed) or a signal arrives.  One connection per daemon, as QEMU's own
 * virtiofsd does: start one per VM.
 */
#include "fs/virtio/fuse-virtio.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

static struct fuse_session *make_session(struct virtiofs *v)
{
	/* the core's INIT asks for this max_read: libfuse wants both said */
	char *argv[] = { (char *)"castore", (char *)"-o",
			 (char *)FS_MAX_READ_OPT, NULL };
	struct fuse_args args = FUSE_ARGS_INIT(3, argv);
	struct fuse_session *se;
	int null;

	se = fuse_session_new(&args, &fs_ops, sizeof(fs_ops), v->fs);
	/* the session copied what it needs from the arguments */
	fuse_opt_free_args(&args);
	if (!se)
		return NULL;
	/* libfuse wants an fd it owns; requests never come from it */
	null = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (null < 0 || fuse_session_custom_io(se, &fs_virtio_io, null) != 0) {
		if (null >= 0)
			close(null);
		fuse_session_destroy(se);
		return NULL;
	}
	return se;
}

/*
 * The socket path is ours while we hold an flock on PATH.lock: a second
 * daemon is refused without connecting (a probe connection would be
 * taken for QEMU's, the only one a daemon serves).  Then a socket file
 * at PATH is a stale one, left by a daemon that was killed: replaced.
 * Any other file there is not touched.  The lock fd in *ret_fd.
 */
static int claim_path(const char *path, int *ret_fd, const char **ret_error)
{
	char lock[4096 + 8];
	struct stat st;
	int fd;

	snprintf(lock, sizeof(lock), "%s.lock", path);
	fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		*ret_error = "cannot create the socket's lock file";
		return -errno;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) < 0) {
		int r = errno == EWOULDBLOCK ? -EADDRINUSE : -errno;

		close(fd);
		*ret_error = "another daemon is using the socket path";
		return r;
	}
	if (lstat(path, &st) == 0) {
		if (!S_ISSOCK(st.st_mode) || unlink(path) < 0) {
			unlink(lock);
			close(fd);
			*ret_error = "the socket path exists and is not a stale "
				     "socket";
			return -EEXIST;
		}
	}
	*ret_fd = fd;
	return 0;
}

static void release_path(const char *path, int lock_fd)
{
	char lock[4096 + 8];

	snprintf(lock, sizeof(lock), "%s.lock", path);
	(void)unlink(lock);
	close(lock_fd);
}

static int listen_on(const char *path, const char **ret_error)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd, r;

	if (strlen(path) >= sizeof(sa.sun_path)) {
		*ret_error = "the socket path is too long";
		return -ENAMETOOLONG;
	}
	memcpy(sa.sun_path, path, strlen(path) + 1);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		*ret_error = "cannot make a socket";
		return -errno;
	}
	if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 1) < 0) {
		r = -errno;
		close(fd);
		*ret_error = "cannot listen on the socket path";
		return r;
	}
	return fd;
}

/* Wait for QEMU's connection, or a signal (-EINTR). */
static int accept_one(int lfd, int sfd)
{
	for (;;) {
		struct pollfd p[2] = { { lfd, POLLIN, 0 }, { sfd, POLLIN, 0 } };
		int fd;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (p[1].revents & POLLIN)
			return -EINTR;
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd >= 0)
			return fd;
		if (errno != EINTR && errno != ECONNABORTED)
			return -errno;
	}
}

int cas_fs_serve_virtio(struct cas_store *store, const char *socket_path,
			const struct cas_fs_opts *opts, const char **ret_error)
{
	const char *err = NULL;
	struct fs fs;
	struct virtiofs v;
	sigset_t mask, old;
	int sfd = -1, lfd = -1, lock_fd = -1, cfd, r;
	bool v_inited = false;

	r = fs_core_init(&fs, store, opts);
	if (r < 0) {
		if (ret_error)
			*ret_error = "cannot allocate the inode table";
		return r;
	}
	/* signals end the daemon through the loops below; the threads
	 * started later inherit the mask */
	sigemptyset(&mask);
	sigaddset(&mask, SIGINT);
	sigaddset(&mask, SIGTERM);
	sigaddset(&mask, SIGHUP);
	pthread_sigmask(SIG_BLOCK, &mask, &old);
	sfd = signalfd(-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK);
	if (sfd < 0) {
		r = -errno;
		err = "cannot set up signal handling";
		goto out;
	}
	r = claim_path(socket_path, &lock_fd, &err);
	if (r < 0)
		goto out;
	lfd = listen_on(socket_path, &err);
	if (lfd < 0) {
		r = lfd;
		goto out;
	}
	if (opts->ready)
		opts->ready(opts->ready_ud);
	cfd = accept_one(lfd, sfd);
	close(lfd);
	/* one connection per daemon: nothing else may connect */
	(void)unlink(socket_path);
	if (cfd < 0) {
		r = cfd == -EINTR ? 0 : cfd;
		if (r < 0)
			err = "cannot accept the connection";
		goto out;
	}
	r = fs_virtio_init(&v, &fs, opts->threads, make_session);
	v_inited = true;
	if (r < 0) {
		close(cfd);
		err = "cannot start the worker threads";
		goto out;
	}
	r = vu_serve(cfd, sfd, &v.ops, &err);
out:
	if (opts->stats) {
		opts->stats->requests = fs.dev_requests;
		opts->stats->virtio_queues = v_inited ? v.queues_started : 0;
	}
	if (v_inited)
		fs_virtio_release(&v);
	if (lock_fd >= 0)
		release_path(socket_path, lock_fd);
	fs_core_release(&fs);
	if (sfd >= 0) {
		struct signalfd_siginfo si;

		/* taken, so unblocking does not deliver it again */
		while (read(sfd, &si, sizeof(si)) == (ssize_t)sizeof(si))
			;
		close(sfd);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (ret_error)
		*ret_error = err;
	return r;
}
