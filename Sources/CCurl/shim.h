#ifndef PROMPTGATE_CCURL_SHIM_H
#define PROMPTGATE_CCURL_SHIM_H
#include <curl/curl.h>

/* curl_easy_setopt and curl_easy_getinfo are variadic, which Swift cannot call: typed wrappers. */
static inline CURLcode pgcurl_set_long(CURL *handle, CURLoption option, long value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode pgcurl_set_string(CURL *handle, CURLoption option, const char *value) {
    return curl_easy_setopt(handle, option, value);
}
static inline CURLcode pgcurl_set_pointer(CURL *handle, CURLoption option, void *value) {
    return curl_easy_setopt(handle, option, value);
}
typedef size_t (*pgcurl_write_fn)(char *data, size_t size, size_t count, void *context);
static inline CURLcode pgcurl_set_write_function(CURL *handle, pgcurl_write_fn function) {
    return curl_easy_setopt(handle, CURLOPT_WRITEFUNCTION, function);
}
static inline CURLcode pgcurl_set_header_function(CURL *handle, pgcurl_write_fn function) {
    return curl_easy_setopt(handle, CURLOPT_HEADERFUNCTION, function);
}
static inline CURLcode pgcurl_set_headers(CURL *handle, struct curl_slist *headers) {
    return curl_easy_setopt(handle, CURLOPT_HTTPHEADER, headers);
}
static inline CURLcode pgcurl_set_body(CURL *handle, const char *data, long length) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_POSTFIELDSIZE, length);
    if (code != CURLE_OK) return code;
    return curl_easy_setopt(handle, CURLOPT_COPYPOSTFIELDS, data);
}
/* Called before every connect with the address curl resolved: the function creates the socket or refuses the
   address (CURL_SOCKET_BAD), so a checked address is the one connected to (no second resolution to race). */
typedef curl_socket_t (*pgcurl_opensocket_fn)(void *context, curlsocktype purpose, struct curl_sockaddr *address);
static inline CURLcode pgcurl_set_opensocket(CURL *handle, pgcurl_opensocket_fn function, void *context) {
    CURLcode code = curl_easy_setopt(handle, CURLOPT_OPENSOCKETFUNCTION, function);
    if (code != CURLE_OK) return code;
    return curl_easy_setopt(handle, CURLOPT_OPENSOCKETDATA, context);
}
static const curl_socket_t pgcurl_socket_bad = CURL_SOCKET_BAD;
static inline long pgcurl_response_code(CURL *handle) {
    long code = 0;
    curl_easy_getinfo(handle, CURLINFO_RESPONSE_CODE, &code);
    return code;
}
#endif
