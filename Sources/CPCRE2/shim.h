#ifndef PROMPTGATE_CPCRE2_SHIM_H
#define PROMPTGATE_CPCRE2_SHIM_H
/* Swift calls the 8-bit library: pcre2_*_8 names, UTF-8 subjects, byte offsets. */
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>
#endif
