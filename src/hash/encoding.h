/*
 * Text encodings of binary digests: lowercase hex, Nix's base32 and
 * standard padded base64.
 *
 * Encoders write a NUL-terminated string into a caller buffer of at least
 * the matching *_LEN(n) + 1 bytes.  Decoders are strict: they reject a wrong
 * length, a character outside the alphabet and non-canonical forms
 * (nixbase32 with non-zero leftover bits, base64 with non-zero pad bits),
 * returning -EINVAL and leaving the output untouched.
 *
 * nixbase32 (Nix's own base32): alphabet "0123456789abcdfghijklmnpqrsvwxyz",
 * no padding, length ceil(8n/5); character k (from the start) encodes the
 * 5-bit group at bit offset 5*(len-1-k) of the little-endian bit string, so
 * the last character holds the lowest 5 bits of byte 0.
 */
#ifndef CAS_HASH_ENCODING_H
#define CAS_HASH_ENCODING_H

#include <stddef.h>
#include <stdint.h>

#define CAS_HEX_LEN(n) ((n) * 2)
#define CAS_NIXBASE32_LEN(n) (((n) * 8 + 4) / 5)
#define CAS_BASE64_LEN(n) ((((n) + 2) / 3) * 4)

void cas_hex_encode(const uint8_t *in, size_t n, char *out);
/* Decode exactly 2n hex characters (either case) from a string of length
 * len into n bytes.  0 or -EINVAL. */
int cas_hex_decode(const char *in, size_t len, uint8_t *out, size_t n);

void cas_nixbase32_encode(const uint8_t *in, size_t n, char *out);
/* Decode len characters into n bytes; len must equal CAS_NIXBASE32_LEN(n). */
int cas_nixbase32_decode(const char *in, size_t len, uint8_t *out, size_t n);

void cas_base64_encode(const uint8_t *in, size_t n, char *out);
/* Decode padded base64 of exactly n bytes.  0 or -EINVAL. */
int cas_base64_decode(const char *in, size_t len, uint8_t *out, size_t n);

#endif
