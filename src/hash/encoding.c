#include "hash/encoding.h"

#include <errno.h>
#include <string.h>

static const char hexchars[] = "0123456789abcdef";
static const char nb32chars[] = "0123456789abcdfghijklmnpqrsvwxyz";
static const char b64chars[] =
	"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

void cas_hex_encode(const uint8_t *in, size_t n, char *out)
{
	for (size_t i = 0; i < n; i++) {
		out[2 * i] = hexchars[in[i] >> 4];
		out[2 * i + 1] = hexchars[in[i] & 15];
	}
	out[2 * n] = 0;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int cas_hex_decode(const char *in, size_t len, uint8_t *out, size_t n)
{
	uint8_t tmp[256];

	if (len != 2 * n || n > sizeof(tmp))
		return -EINVAL;
	for (size_t i = 0; i < n; i++) {
		int hi = hexval(in[2 * i]), lo = hexval(in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -EINVAL;
		tmp[i] = (uint8_t)(hi << 4 | lo);
	}
	memcpy(out, tmp, n);
	return 0;
}

void cas_nixbase32_encode(const uint8_t *in, size_t n, char *out)
{
	size_t len = CAS_NIXBASE32_LEN(n);

	for (size_t k = 0; k < len; k++) {
		size_t b = (len - 1 - k) * 5, i = b / 8, j = b % 8;
		unsigned v = in[i] >> j;

		if (i + 1 < n)
			v |= (unsigned)in[i + 1] << (8 - j);
		out[k] = nb32chars[v & 0x1f];
	}
	out[len] = 0;
}

int cas_nixbase32_decode(const char *in, size_t len, uint8_t *out, size_t n)
{
	uint8_t tmp[256];

	if (len != CAS_NIXBASE32_LEN(n) || n > sizeof(tmp))
		return -EINVAL;
	memset(tmp, 0, n);
	for (size_t k = 0; k < len; k++) {
		const char *p = in[k] ? memchr(nb32chars, in[k], 32) : NULL;
		size_t b = (len - 1 - k) * 5, i = b / 8, j = b % 8;
		unsigned v;

		if (!p)
			return -EINVAL;
		v = (unsigned)(p - nb32chars);
		tmp[i] |= (uint8_t)(v << j);
		if (i + 1 < n)
			tmp[i + 1] |= (uint8_t)(v >> (8 - j));
		else if (v >> (8 - j))
			return -EINVAL; /* bits beyond the last byte */
	}
	memcpy(out, tmp, n);
	return 0;
}

void cas_base64_encode(const uint8_t *in, size_t n, char *out)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16;

		if (i + 1 < n)
			v |= (uint32_t)in[i + 1] << 8;
		if (i + 2 < n)
			v |= in[i + 2];
		out[o++] = b64chars[v >> 18 & 63];
		out[o++] = b64chars[v >> 12 & 63];
		out[o++] = i + 1 < n ? b64chars[v >> 6 & 63] : '=';
		out[o++] = i + 2 < n ? b64chars[v & 63] : '=';
	}
	out[o] = 0;
}

static int b64val(char c)
{
	const char *p = c ? memchr(b64chars, c, 64) : NULL;

	return p ? (int)(p - b64chars) : -1;
}

int cas_base64_decode(const char *in, size_t len, uint8_t *out, size_t n)
{
	uint8_t tmp[256];
	size_t o = 0;

	if (len != CAS_BASE64_LEN(n) || n > sizeof(tmp))
		return -EINVAL;
	for (size_t i = 0; i < len; i += 4) {
		size_t left = n - o, take = left < 3 ? left : 3;
		uint32_t v = 0;

		for (size_t k = 0; k < 4; k++) {
			int d;

			if (k > take) {
				if (in[i + k] != '=')
					return -EINVAL;
				d = 0;
			} else if ((d = b64val(in[i + k])) < 0) {
				return -EINVAL;
			}
			v = v << 6 | (uint32_t)d;
		}
		/* canonical: the unused low bits of the last group are zero */
		if ((take == 1 && (v & 0xffff)) || (take == 2 && (v & 0xff)))
			return -EINVAL;
		tmp[o++] = (uint8_t)(v >> 16);
		if (take > 1)
			tmp[o++] = (uint8_t)(v >> 8);
		if (take > 2)
			tmp[o++] = (uint8_t)v;
	}
	memcpy(out, tmp, n);
	return 0;
}
