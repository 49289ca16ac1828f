#include "ingest/tee.h"

#define FWD(t, fn, ...)                                                        \
	do {                                                                   \
		int _r;                                                        \
		for (int _i = 0; _i < 2; _i++) {                               \
			if (!(t)->ops[_i]->fn)                                 \
				continue;                                      \
			_r = (t)->ops[_i]->fn((t)->ud[_i], __VA_ARGS__);       \
			if (_r < 0)                                            \
				return _r;                                     \
		}                                                              \
		return 0;                                                      \
	} while (0)

#define FWD0(t, fn)                                                            \
	do {                                                                   \
		int _r;                                                        \
		for (int _i = 0; _i < 2; _i++) {                               \
			if (!(t)->ops[_i]->fn)                                 \
				continue;                                      \
			_r = (t)->ops[_i]->fn((t)->ud[_i]);                    \
			if (_r < 0)                                            \
				return _r;                                     \
		}                                                              \
		return 0;                                                      \
	} while (0)

static int tee_directory_begin(void *ud, const char *name)
{
	FWD((struct cas_tee *)ud, directory_begin, name);
}

static int tee_directory_end(void *ud)
{
	FWD0((struct cas_tee *)ud, directory_end);
}

static int tee_file_begin(void *ud, const char *name, bool executable,
			  uint64_t size)
{
	FWD((struct cas_tee *)ud, file_begin, name, executable, size);
}

static int tee_file_data(void *ud, const void *p, size_t n)
{
	FWD((struct cas_tee *)ud, file_data, p, n);
}

static int tee_file_end(void *ud)
{
	FWD0((struct cas_tee *)ud, file_end);
}

static int tee_symlink(void *ud, const char *name, const char *target)
{
	FWD((struct cas_tee *)ud, symlink, name, target);
}

const struct cas_nar_sink_ops cas_tee_ops = {
	.directory_begin = tee_directory_begin,
	.directory_end = tee_directory_end,
	.file_begin = tee_file_begin,
	.file_data = tee_file_data,
	.file_end = tee_file_end,
	.symlink = tee_symlink,
};
