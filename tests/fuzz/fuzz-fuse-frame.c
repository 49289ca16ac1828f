/*
 * The FUSE request framing check, as a guest's requests meet it: what
 * it lets through to libfuse has the length it claims, and each name
 * the operation reads ends inside the request.
 */
#include <errno.h>
#include <string.h>

#include "fs/fuse-abi.h"
#include "fs/fuse-frame.h"
#include "fuzz.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuse_abi_in_header in;
	int r = fuse_frame_check(data, size);

	FUZZ_CHECK(r == 0 || r == -EINVAL || r == -ENOSYS || r == -EPROTO);
	if (r == -EPROTO)
		FUZZ_CHECK(size < sizeof(in));
	if (r != 0)
		return 0;
	memcpy(&in, data, sizeof(in));
	FUZZ_CHECK(size >= sizeof(in) && in.len == size);
	switch (in.opcode) {
	case FUSE_ABI_LOOKUP:
	case FUSE_ABI_UNLINK:
	case FUSE_ABI_RMDIR:
		FUZZ_CHECK(memchr(data + sizeof(in), 0, size - sizeof(in)));
		break;
	case FUSE_ABI_READ:
	case FUSE_ABI_READDIRPLUS:
		FUZZ_CHECK(size >= sizeof(in) + FUSE_ABI_READ_IN);
		break;
	case FUSE_ABI_BATCH_FORGET: {
		uint32_t count;

		memcpy(&count, data + sizeof(in), sizeof(count));
		FUZZ_CHECK(size - sizeof(in) - 8 >=
			   (size_t)count * sizeof(struct fuse_abi_forget_one));
		break;
	}
	default:
		break;
	}
	return 0;
}
