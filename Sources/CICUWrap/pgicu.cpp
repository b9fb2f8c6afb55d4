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

/* Fold of one scalar; the common case (a scalar that NFKC_Casefold and NFD both leave alone, and no mark)
 * skips normalizing. */
int32_t foldScalar(uint32_t scalar, uint32_t *out, int32_t capacity) {
    UErrorCode error = U_ZERO_ERROR;
    const icu::Normalizer2 *casefold = icu::Normalizer2::getNFKCCasefoldInstance(error);
    const icu::Normalizer2 *nfd = icu::Normalizer2::getNFDInstance(error);
    if (U_SUCCESS(error) && casefold->isInert(static_cast<UChar32>(scalar)) &&
        nfd->isInert(static_cast<UChar32>(scalar))) {
        int8_t type = u_charType(static_cast<UChar32>(scalar));
        if (type != U_NON_SPACING_MARK && type != U_ENCLOSING_MARK) {
            if (capacity > 0) out[0] = scalar;
            return 1;
        }
    }
    return pgicu_fold_scalar(scalar, out, capacity);
}

}  // namespace

extern "C" const pgicu_block *pgicu_compute_block(uint32_t block) {
    if (block >= PGICU_BLOCK_COUNT) return nullptr;
    uint8_t classes[256];
    uint16_t foldStart[257], skeletonStart[257];
    uint32_t folds[256 * 8], skeletons[256 * 16];
    int32_t foldCount = 0, skeletonCount = 0;
    for (uint32_t offset = 0; offset < 256; offset++) {
        uint32_t scalar = block << 8 | offset;
        foldStart[offset] = static_cast<uint16_t>(foldCount);
        skeletonStart[offset] = static_cast<uint16_t>(skeletonCount);
        classes[offset] = 0;
        if (scalar >= 0xD800 && scalar < 0xE000) continue; /* surrogates are no scalars: nothing */
        classes[offset] = static_cast<uint8_t>(pgicu_scalar_class(scalar));
        uint32_t buffer[32];
        int32_t n = foldScalar(scalar, buffer, 32);
        if (n < 0 || n > 32) { buffer[0] = scalar; n = 1; }
        for (int32_t i = 0; i < n && foldCount < 256 * 8; i++) folds[foldCount++] = buffer[i];
        /* Skeleton prototypes are not always lower case (`0` becomes `O`), so the skeleton is folded again. */
        uint32_t skeleton[32];
        int32_t m = pgicu_skeleton_scalar(scalar, skeleton, 32);
        if (m < 0 || m > 32) { skeleton[0] = scalar; m = 1; }
        for (int32_t i = 0; i < m; i++) {
            n = foldScalar(skeleton[i], buffer, 32);
            if (n < 0 || n > 32) { buffer[0] = skeleton[i]; n = 1; }
            for (int32_t k = 0; k < n && skeletonCount < 256 * 16; k++) skeletons[skeletonCount++] = buffer[k];
        }
    }
    foldStart[256] = static_cast<uint16_t>(foldCount);
    skeletonStart[256] = static_cast<uint16_t>(skeletonCount);
    size_t bytes = sizeof(pgicu_block) + sizeof(uint32_t) * static_cast<size_t>(foldCount + skeletonCount);
    pgicu_block *made = static_cast<pgicu_block *>(::operator new(bytes, std::nothrow));
    if (!made) return nullptr;
    std::memcpy(made->classes, classes, sizeof classes);
    std::memcpy(made->fold_start, foldStart, sizeof foldStart);
    for (int i = 0; i < 257; i++) made->skeleton_start[i] = static_cast<uint16_t>(skeletonStart[i] + foldCount);
    std::memcpy(made->pool, folds, sizeof(uint32_t) * foldCount);
    std::memcpy(made->pool + foldCount, skeletons, sizeof(uint32_t) * skeletonCount);
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
