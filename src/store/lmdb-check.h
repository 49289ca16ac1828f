/*
 * A structural check of an LMDB data file (meta.lmdb), read with pread(2)
 * and never through a map, so that damage gives -EBADMSG instead of the
 * SIGBUS or SIGSEGV that LMDB itself meets on it: LMDB trusts its file
 * (a page number past the end of a truncated file faults in the map; a
 * flipped node offset reads outside its page).
 *
 * Written against LMDB's on-disk format 1 (liblmdb 0.9: MDB_DATA_VERSION
 * 1, 64-bit pgno_t), the format of every file castore makes.  Only what
 * castore stores is accepted: plain B-trees (no DUPSORT, no LEAF2), named
 * databases in the main one.
 */
#ifndef CAS_STORE_LMDB_CHECK_H
#define CAS_STORE_LMDB_CHECK_H

#include <stdint.h>

/*
 * Check the two meta pages of the LMDB file fd and that the file holds
 * the roots of the newer one's trees (a file truncated before them is
 * refused before LMDB maps it; cas_lmdb_check_tree checks every other
 * page a tree uses).  0, -ENODATA for an empty file (LMDB makes a new
 * environment in it), -EBADMSG for a damaged one, -errno.
 */
int cas_lmdb_check_header(int fd);

/*
 * Walk every page reachable from the meta page of transaction txnid (the
 * newer meta page if 0): the free list, the main database and each named
 * database in it, checking page numbers, headers, node bounds, overflow
 * runs, depths, entry counts and that no page is reached twice.  Cost:
 * one pread per page.  The pages must not change during the walk: hold a
 * read transaction of txnid.  0, -EBADMSG, -ESTALE (no meta page of
 * txnid: a writer moved on; retry), -ENOMEM or -errno.
 */
int cas_lmdb_check_tree(int fd, uint64_t txnid);

#endif
