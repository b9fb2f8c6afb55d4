#ifndef PROMPTGATE_PGICU_H
#define PROMPTGATE_PGICU_H
/*
 * PromptGate's window on system ICU. This header deliberately includes no ICU header: a Swift module that
 * imports Foundation and also sees system ICU's types does not compile on Swift 6.3.1 (two definitions of
 * UErrorCode). Every function returns a count >= 0, or a negative ICU error code.
 */
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Matching fold of one scalar: NFKC_Casefold, then canonical decomposition, nonspacing and enclosing marks
 * removed, then recomposition. Default-ignorable code points fold to nothing (returns 0). */
int32_t pgicu_fold_scalar(uint32_t scalar, uint32_t *out, int32_t capacity);

/* The fold that keeps accents: NFKC_Casefold, composed, stray marks removed (what the tables hold). */
int32_t pgicu_fold_keep_scalar(uint32_t scalar, uint32_t *out, int32_t capacity);

/* The TR39 skeleton of one scalar, recomposed and folded keeping accents (what the tables hold). */
int32_t pgicu_skeleton_keep_scalar(uint32_t scalar, uint32_t *out, int32_t capacity);

/* Unicode TR39 confusable skeleton of one scalar (uspoof, thread-safe shared checker). */
int32_t pgicu_skeleton_scalar(uint32_t scalar, uint32_t *out, int32_t capacity);

/* The rules of ICU's Traditional-Simplified transliterator, UTF-8. Returns the byte length needed;
 * when it exceeds capacity nothing useful was written and the caller retries with a bigger buffer. */
int32_t pgicu_t2s_rules(char *out, int32_t capacity);

/* Reference Traditional-Simplified conversion through utrans (slow; used to check the fast table). */
int32_t pgicu_t2s_utf8(const char *src, int32_t length, char *out, int32_t capacity);

/* Matching class of one scalar: 0 other, 1 letter, 2 digit, 3 Han, 4 whitespace, 5 separator
 * (punctuation, symbol, control). */
int32_t pgicu_scalar_class(uint32_t scalar);

/* Per-scalar tables (class, fold, case-folded skeleton) for blocks of 256 scalars, computed with ICU when a
 * block is first used and kept for the life of the process, so start-up computes nothing and a text pays only
 * for the blocks it touches. A block is published atomically: any thread may read any block.
 *
 * Layout of a block: classes (256 bytes: the matching class, plus PGICU_MARK for nonspacing and enclosing
 * marks), then three offset lists into the pool of uint32 scalars (257 uint16 each): the fold that keeps
 * accents (NFKC_Casefold, composed, stray marks removed), the fold that strips them (marks removed after
 * canonical decomposition), and the case-folded confusable skeleton of the accent-keeping fold. */
#define PGICU_BLOCK_COUNT 4352 /* 0x110000 / 256 */
#define PGICU_MARK 0x80
typedef struct pgicu_block {
    uint8_t classes[256];
    uint16_t fold_start[257];
    uint16_t strip_start[257];
    uint16_t skeleton_start[257];
    uint32_t pool[];
} pgicu_block;

/* The canonical composition of base + mark (e + U+0301 is U+00E9), or -1 when there is none. */
int32_t pgicu_compose(uint32_t base, uint32_t mark);

extern const pgicu_block *pgicu_blocks[PGICU_BLOCK_COUNT];

/* Computes (or finds, when another thread was faster) the block; never NULL for block < PGICU_BLOCK_COUNT. */
const pgicu_block *pgicu_compute_block(uint32_t block);

/* The block holding `scalar` (which must be below 0x110000). */
static inline const pgicu_block *pgicu_block_of(uint32_t scalar) {
    const pgicu_block *found = __atomic_load_n(&pgicu_blocks[scalar >> 8], __ATOMIC_ACQUIRE);
    return found ? found : pgicu_compute_block(scalar >> 8);
}

/* Readers of a block, `index` being the scalar's low 8 bits; a list runs from start(index) to start(index + 1). */
static inline uint8_t pgicu_block_class(const pgicu_block *b, uint32_t index) { return b->classes[index]; }
static inline uint32_t pgicu_block_fold_start(const pgicu_block *b, uint32_t index) { return b->fold_start[index]; }
static inline uint32_t pgicu_block_strip_start(const pgicu_block *b, uint32_t index) { return b->strip_start[index]; }
static inline uint32_t pgicu_block_skeleton_start(const pgicu_block *b, uint32_t index) {
    return b->skeleton_start[index];
}
static inline const uint32_t *pgicu_block_pool(const pgicu_block *b) { return b->pool; }

/* ICU version string, e.g. "72.1". */
const char *pgicu_version(void);

/* Dictionary-based word segmentation. A breaker is NOT thread-safe: one per worker. */
typedef struct pgicu_breaker pgicu_breaker;
pgicu_breaker *pgicu_breaker_open(const char *locale, int32_t *error);
void pgicu_breaker_close(pgicu_breaker *breaker);
/* Writes the word-boundary UTF-8 byte offsets of `text` (including 0 and length) to `out`; returns how many
 * there are (more than capacity means the list was cut; retry with a bigger buffer). */
int32_t pgicu_breaker_boundaries(pgicu_breaker *breaker, const char *text, int32_t length,
                                 int32_t *out, int32_t capacity);

#ifdef __cplusplus
}
#endif
#endif
