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
