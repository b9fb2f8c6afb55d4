// System ICU behind PromptGate's own names. Only this file sees ICU headers.
#include "pgicu.h"

#include <unicode/brkiter.h>
#include <unicode/normalizer2.h>
#include <unicode/ubrk.h>
#include <unicode/uchar.h>
#include <unicode/uscript.h>
#include <unicode/unistr.h>
#include <unicode/uspoof.h>
#include <unicode/utext.h>
#include <unicode/utrans.h>
#include <unicode/uversion.h>

#include <cstring>
#include <new>
#include <vector>

namespace {

int32_t copyScalars(const icu::UnicodeString &text, uint32_t *out, int32_t capacity) {
    int32_t count = 0;
    for (int32_t i = 0; i < text.length();) {
        UChar32 c = text.char32At(i);
        if (count < capacity) out[count] = static_cast<uint32_t>(c);
        count++;
        i += U16_LENGTH(c);
    }
    return count;
}

const USpoofChecker *sharedSpoofChecker(UErrorCode &error) {
    // ICU documents const use of a spoof checker as thread-safe; the function-local static is initialised once.
    static UErrorCode openError = U_ZERO_ERROR;
    static USpoofChecker *checker = uspoof_open(&openError);
    if (U_FAILURE(openError)) error = openError;
    return checker;
}

}  // namespace

extern "C" int32_t pgicu_fold_scalar(uint32_t scalar, uint32_t *out, int32_t capacity) {
    UErrorCode error = U_ZERO_ERROR;
    const icu::Normalizer2 *casefold = icu::Normalizer2::getNFKCCasefoldInstance(error);
    const icu::Normalizer2 *nfd = icu::Normalizer2::getNFDInstance(error);
    const icu::Normalizer2 *nfc = icu::Normalizer2::getNFCInstance(error);
    if (U_FAILURE(error)) return -static_cast<int32_t>(error);
    icu::UnicodeString source(static_cast<UChar32>(scalar));
    icu::UnicodeString folded = casefold->normalize(source, error);
    icu::UnicodeString decomposed = nfd->normalize(folded, error);
    if (U_FAILURE(error)) return -static_cast<int32_t>(error);
    icu::UnicodeString stripped;
    for (int32_t i = 0; i < decomposed.length();) {
        UChar32 c = decomposed.char32At(i);
        int8_t type = u_charType(c);
        if (type != U_NON_SPACING_MARK && type != U_ENCLOSING_MARK) stripped.append(c);
        i += U16_LENGTH(c);
    }
    icu::UnicodeString composed = nfc->normalize(stripped, error);
    if (U_FAILURE(error)) return -static_cast<int32_t>(error);
    return copyScalars(composed, out, capacity);
}

extern "C" int32_t pgicu_skeleton_scalar(uint32_t scalar, uint32_t *out, int32_t capacity) {
    UErrorCode error = U_ZERO_ERROR;
    const USpoofChecker *checker = sharedSpoofChecker(error);
    if (U_FAILURE(error)) return -static_cast<int32_t>(error);
    icu::UnicodeString source(static_cast<UChar32>(scalar));
    UChar buffer[64];
    int32_t length = uspoof_getSkeleton(checker, 0, source.getBuffer(), source.length(), buffer, 64, &error);
    if (U_FAILURE(error)) return -static_cast<int32_t>(error);
    icu::UnicodeString skeleton(buffer, length);
    return copyScalars(skeleton, out, capacity);
}

extern "C" int32_t pgicu_t2s_rules(char *out, int32_t capacity) {
    UErrorCode error = U_ZERO_ERROR;
    UChar id[] = u"Traditional-Simplified";
    UTransliterator *trans = utrans_openU(id, -1, UTRANS_FORWARD, nullptr, 0, nullptr, &error);
    if (U_FAILURE(error)) return -static_cast<int32_t>(error);
    int32_t needed = utrans_toRules(trans, false, nullptr, 0, &error);
    if (error == U_BUFFER_OVERFLOW_ERROR) error = U_ZERO_ERROR;
    if (U_FAILURE(error)) { utrans_close(trans); return -static_cast<int32_t>(error); }
    icu::UnicodeString rules;
    UChar *raw = rules.getBuffer(needed + 1);
    int32_t length = utrans_toRules(trans, false, raw, needed + 1, &error);
    rules.releaseBuffer(length);
    utrans_close(trans);
    if (U_FAILURE(error)) return -static_cast<int32_t>(error);
    std::string utf8;
    rules.toUTF8String(utf8);
    if (static_cast<int32_t>(utf8.size()) <= capacity) std::memcpy(out, utf8.data(), utf8.size());
    return static_cast<int32_t>(utf8.size());
}

extern "C" int32_t pgicu_t2s_utf8(const char *src, int32_t length, char *out, int32_t capacity) {
    UErrorCode error = U_ZERO_ERROR;
    UChar id[] = u"Traditional-Simplified";
    UTransliterator *trans = utrans_openU(id, -1, UTRANS_FORWARD, nullptr, 0, nullptr, &error);
    if (U_FAILURE(error)) return -static_cast<int32_t>(error);
    icu::UnicodeString text = icu::UnicodeString::fromUTF8(icu::StringPiece(src, length));
    int32_t textLength = text.length();
    int32_t limit = textLength;
    UChar *raw = text.getBuffer(textLength * 4 + 16);
    utrans_transUChars(trans, raw, &textLength, textLength * 4 + 16, 0, &limit, &error);
    text.releaseBuffer(textLength);
    utrans_close(trans);
    if (U_FAILURE(error)) return -static_cast<int32_t>(error);
    std::string utf8;
    text.toUTF8String(utf8);
    if (static_cast<int32_t>(utf8.size()) <= capacity) std::memcpy(out, utf8.data(), utf8.size());
    return static_cast<int32_t>(utf8.size());
}

extern "C" int32_t pgicu_scalar_class(uint32_t scalar) {
    UChar32 c = static_cast<UChar32>(scalar);
    if (u_isUWhiteSpace(c)) return 4;
    UErrorCode error = U_ZERO_ERROR;
    if (uscript_getScript(c, &error) == USCRIPT_HAN && u_isalpha(c)) return 3;
    switch (u_charType(c)) {
    case U_UPPERCASE_LETTER: case U_LOWERCASE_LETTER: case U_TITLECASE_LETTER: case U_MODIFIER_LETTER:
    case U_OTHER_LETTER: case U_COMBINING_SPACING_MARK: case U_NON_SPACING_MARK: case U_ENCLOSING_MARK:
        return 1;
    case U_DECIMAL_DIGIT_NUMBER: case U_LETTER_NUMBER: case U_OTHER_NUMBER:
        return 2;
    case U_DASH_PUNCTUATION: case U_START_PUNCTUATION: case U_END_PUNCTUATION: case U_CONNECTOR_PUNCTUATION:
    case U_OTHER_PUNCTUATION: case U_INITIAL_PUNCTUATION: case U_FINAL_PUNCTUATION:
    case U_MATH_SYMBOL: case U_CURRENCY_SYMBOL: case U_MODIFIER_SYMBOL: case U_OTHER_SYMBOL:
    case U_CONTROL_CHAR: case U_FORMAT_CHAR:
        return 5;
    default:
        return 0;
    }
}

extern "C" const char *pgicu_version(void) { return U_ICU_VERSION; }

extern "C" const pgicu_block *pgicu_blocks[PGICU_BLOCK_COUNT] = {};

namespace {

bool isMark(UChar32 c) {
    int8_t type = u_charType(c);
    return type == U_NON_SPACING_MARK || type == U_ENCLOSING_MARK;
}

/* Whether NFKC_Casefold and NFD both leave `c` alone and it is no mark: then every fold of it is itself. */
bool foldsToItself(uint32_t scalar) {
    UErrorCode error = U_ZERO_ERROR;
    const icu::Normalizer2 *casefold = icu::Normalizer2::getNFKCCasefoldInstance(error);
    const icu::Normalizer2 *nfd = icu::Normalizer2::getNFDInstance(error);
    UChar32 c = static_cast<UChar32>(scalar);
    return U_SUCCESS(error) && casefold->isInert(c) && nfd->isInert(c) && !isMark(c);
}

/* The fold that strips accents (pgicu_fold_scalar), with the common case short-cut. */
int32_t stripScalar(uint32_t scalar, uint32_t *out, int32_t capacity) {
    if (foldsToItself(scalar)) {
        if (capacity > 0) out[0] = scalar;
        return 1;
    }
    return pgicu_fold_scalar(scalar, out, capacity);
}

/* The fold that keeps accents: NFKC_Casefold, composed, then marks that did not compose removed. */
int32_t keepScalar(uint32_t scalar, uint32_t *out, int32_t capacity) {
    if (foldsToItself(scalar)) {
        if (capacity > 0) out[0] = scalar;
        return 1;
    }
    UErrorCode error = U_ZERO_ERROR;
    const icu::Normalizer2 *casefold = icu::Normalizer2::getNFKCCasefoldInstance(error);
    const icu::Normalizer2 *nfc = icu::Normalizer2::getNFCInstance(error);
    if (U_FAILURE(error)) return -static_cast<int32_t>(error);
    icu::UnicodeString source(static_cast<UChar32>(scalar));
    icu::UnicodeString composed = nfc->normalize(casefold->normalize(source, error), error);
    if (U_FAILURE(error)) return -static_cast<int32_t>(error);
    icu::UnicodeString kept;
    for (int32_t i = 0; i < composed.length();) {
        UChar32 c = composed.char32At(i);
        if (!isMark(c)) kept.append(c);
        i += U16_LENGTH(c);
    }
    return copyScalars(kept, out, capacity);
}

/* Letters whose TR39 prototype is itself but which are read as an ASCII letter: small capitals and a few
 * shapes confusables.txt leaves apart (Greek κ is `ĸ` there, Cyrillic м is `ʍ`, ь is `ƅ`, т is `ᴛ`). */
uint32_t readAs(uint32_t scalar) {
    switch (scalar) {
    case 0x0138: return 'k'; /* ĸ */
    case 0x0185: return 'b'; /* ƅ */
    case 0x028D: return 'm'; /* ʍ */
    case 0x0280: return 'r'; /* ʀ */
    case 0x0299: return 'b'; /* ʙ */
    case 0x029C: return 'h'; /* ʜ */
    case 0x0262: return 'g'; /* ɢ */
    case 0x029F: return 'l'; /* ʟ */
    case 0x026A: return 'i'; /* ɪ */
    case 0x0274: return 'n'; /* ɴ */
    case 0x028F: return 'y'; /* ʏ */
    case 0x1D00: return 'a'; /* ᴀ */
    case 0x1D04: return 'c'; /* ᴄ */
    case 0x1D05: return 'd'; /* ᴅ */
    case 0x1D07: return 'e'; /* ᴇ */
    case 0x1D0A: return 'j'; /* ᴊ */
    case 0x1D0B: return 'k'; /* ᴋ */
    case 0x1D0D: return 'm'; /* ᴍ */
    case 0x1D0F: return 'o'; /* ᴏ */
    case 0x1D18: return 'p'; /* ᴘ */
    case 0x1D1B: return 't'; /* ᴛ */
    case 0x1D1C: return 'u'; /* ᴜ */
    case 0x1D20: return 'v'; /* ᴠ */
    case 0x1D21: return 'w'; /* ᴡ */
    case 0x1D22: return 'z'; /* ᴢ */
    case 0xA730: return 'f'; /* ꜰ */
    case 0xA731: return 's'; /* ꜱ */
    default: return scalar;
    }
}

/* One round: TR39 skeleton of each scalar, recomposed, folded keeping accents, read as ASCII where it looks so. */
std::vector<uint32_t> skeletonRound(const std::vector<uint32_t> &input) {
    std::vector<uint32_t> output;
    for (uint32_t scalar : input) {
        uint32_t skeleton[32];
        int32_t m = pgicu_skeleton_scalar(scalar, skeleton, 32);
        if (m < 0 || m > 32) { skeleton[0] = scalar; m = 1; }
        icu::UnicodeString text;
        for (int32_t i = 0; i < m; i++) text.append(static_cast<UChar32>(skeleton[i]));
        UErrorCode error = U_ZERO_ERROR;
        const icu::Normalizer2 *nfc = icu::Normalizer2::getNFCInstance(error);
        icu::UnicodeString composed = U_SUCCESS(error) ? nfc->normalize(text, error) : text;
        if (U_FAILURE(error)) composed = text;
        for (int32_t i = 0; i < composed.length();) {
            UChar32 c = composed.char32At(i);
            uint32_t buffer[32];
            int32_t n = keepScalar(static_cast<uint32_t>(c), buffer, 32);
            if (n < 0 || n > 32) { buffer[0] = static_cast<uint32_t>(c); n = 1; }
            for (int32_t k = 0; k < n; k++) output.push_back(readAs(buffer[k]));
            i += U16_LENGTH(c);
        }
    }
    return output;
}

/* The skeleton as the tables hold it: skeleton and fold repeated until nothing changes (at most four rounds),
 * so the result does not depend on their order: capital Greek Beta is `B` to the skeleton, then `b` to the
 * fold, as Latin `B` is; `M` is `m`, then `rn`, as `m` is. */
int32_t skeletonScalar(uint32_t scalar, uint32_t *out, int32_t capacity) {
    std::vector<uint32_t> current{scalar};
    for (int round = 0; round < 4; round++) {
        std::vector<uint32_t> next = skeletonRound(current);
        if (next == current) break;
        current = next;
    }
    int32_t count = static_cast<int32_t>(current.size());
    for (int32_t i = 0; i < count && i < capacity; i++) out[i] = current[i];
    return count;
}

}  // namespace

extern "C" int32_t pgicu_fold_keep_scalar(uint32_t scalar, uint32_t *out, int32_t capacity) {
    return keepScalar(scalar, out, capacity);
}

extern "C" int32_t pgicu_skeleton_keep_scalar(uint32_t scalar, uint32_t *out, int32_t capacity) {
    return skeletonScalar(scalar, out, capacity);
}

extern "C" int32_t pgicu_compose(uint32_t base, uint32_t mark) {
    UErrorCode error = U_ZERO_ERROR;
    const icu::Normalizer2 *nfc = icu::Normalizer2::getNFCInstance(error);
    if (U_FAILURE(error)) return -1;
    UChar32 composed = nfc->composePair(static_cast<UChar32>(base), static_cast<UChar32>(mark));
    return composed < 0 ? -1 : composed;
}

extern "C" const pgicu_block *pgicu_compute_block(uint32_t block) {
    if (block >= PGICU_BLOCK_COUNT) return nullptr;
    uint8_t classes[256];
    uint16_t starts[3][257];
    static const int32_t limits[3] = {256 * 8, 256 * 8, 256 * 16};
    std::vector<uint32_t> pools[3] = {std::vector<uint32_t>(256 * 8), std::vector<uint32_t>(256 * 8),
                                      std::vector<uint32_t>(256 * 16)};
    int32_t counts[3] = {0, 0, 0};
    for (uint32_t offset = 0; offset < 256; offset++) {
        uint32_t scalar = block << 8 | offset;
        for (int table = 0; table < 3; table++) starts[table][offset] = static_cast<uint16_t>(counts[table]);
        classes[offset] = 0;
        if (scalar >= 0xD800 && scalar < 0xE000) continue; /* surrogates are no scalars: nothing */
        classes[offset] = static_cast<uint8_t>(pgicu_scalar_class(scalar));
        if (isMark(static_cast<UChar32>(scalar))) classes[offset] |= PGICU_MARK;
        for (int table = 0; table < 3; table++) {
            uint32_t buffer[32];
            int32_t n = table == 0 ? keepScalar(scalar, buffer, 32)
                        : table == 1 ? stripScalar(scalar, buffer, 32)
                                     : skeletonScalar(scalar, buffer, 32);
            if (n < 0 || n > 32) { buffer[0] = scalar; n = 1; }
            for (int32_t i = 0; i < n && counts[table] < limits[table]; i++) pools[table][counts[table]++] = buffer[i];
        }
    }
    for (int table = 0; table < 3; table++) starts[table][256] = static_cast<uint16_t>(counts[table]);
    int32_t total = counts[0] + counts[1] + counts[2];
    size_t bytes = sizeof(pgicu_block) + sizeof(uint32_t) * static_cast<size_t>(total);
    pgicu_block *made = static_cast<pgicu_block *>(::operator new(bytes, std::nothrow));
    if (!made) return nullptr;
    std::memcpy(made->classes, classes, sizeof classes);
    uint16_t *lists[3] = {made->fold_start, made->strip_start, made->skeleton_start};
    int32_t base = 0;
    for (int table = 0; table < 3; table++) {
        for (int i = 0; i < 257; i++) lists[table][i] = static_cast<uint16_t>(starts[table][i] + base);
        std::memcpy(made->pool + base, pools[table].data(), sizeof(uint32_t) * counts[table]);
        base += counts[table];
    }
    const pgicu_block *expected = nullptr;
    if (!__atomic_compare_exchange_n(&pgicu_blocks[block], &expected, made, false, __ATOMIC_ACQ_REL,
                                     __ATOMIC_ACQUIRE)) {
        ::operator delete(made); /* another thread published the same block first */
        return expected;
    }
    return made;
}
struct pgicu_breaker {
    UBreakIterator *iterator;
    UText *text;
};

extern "C" pgicu_breaker *pgicu_breaker_open(const char *locale, int32_t *errorOut) {
    UErrorCode error = U_ZERO_ERROR;
    UBreakIterator *iterator = ubrk_open(UBRK_WORD, locale, nullptr, 0, &error);
    if (U_FAILURE(error)) {
        if (errorOut) *errorOut = -static_cast<int32_t>(error);
        return nullptr;
    }
    pgicu_breaker *breaker = new (std::nothrow) pgicu_breaker{iterator, nullptr};
    if (!breaker) {
        ubrk_close(iterator);
        if (errorOut) *errorOut = -static_cast<int32_t>(U_MEMORY_ALLOCATION_ERROR);
        return nullptr;
    }
    if (errorOut) *errorOut = 0;
    return breaker;
}

extern "C" void pgicu_breaker_close(pgicu_breaker *breaker) {
    if (!breaker) return;
    if (breaker->text) utext_close(breaker->text);
    ubrk_close(breaker->iterator);
    delete breaker;
}

extern "C" int32_t pgicu_breaker_boundaries(pgicu_breaker *breaker, const char *text, int32_t length,
                                            int32_t *out, int32_t capacity) {
    UErrorCode error = U_ZERO_ERROR;
    // Reuse the UText shell: utext_openUTF8 with an existing UText re-targets it without allocating.
    breaker->text = utext_openUTF8(breaker->text, text, length, &error);
    if (U_FAILURE(error)) return -static_cast<int32_t>(error);
    ubrk_setUText(breaker->iterator, breaker->text, &error);
    if (U_FAILURE(error)) return -static_cast<int32_t>(error);
    int32_t count = 0;
    for (int32_t b = ubrk_first(breaker->iterator); b != UBRK_DONE; b = ubrk_next(breaker->iterator)) {
        if (count < capacity) out[count] = b;
        count++;
    }
    return count;
}
