/* nghttp3's allocator, through ho_mem_*
 * (src/http/h3_mem.c). Internal to src/http. */
#ifndef HANDOFF_HTTP_H3_MEM_H
#define HANDOFF_HTTP_H3_MEM_H

#include <nghttp3/nghttp3.h>

const nghttp3_mem *http_h3_mem(void);

#endif
