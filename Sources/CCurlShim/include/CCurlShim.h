// Typed wrappers around libcurl's variadic curl_easy_setopt / curl_easy_getinfo.
// Swift cannot call C variadic functions, so each argument type gets one non-variadic function.
#pragma once
#include <curl/curl.h>

CURLcode pgb_curl_setopt_long(CURL *handle, CURLoption option, long value);
CURLcode pgb_curl_setopt_off(CURL *handle, CURLoption option, curl_off_t value);
CURLcode pgb_curl_setopt_string(CURL *handle, CURLoption option, const char *value);
CURLcode pgb_curl_setopt_pointer(CURL *handle, CURLoption option, void *value);
CURLcode pgb_curl_setopt_slist(CURL *handle, CURLoption option, struct curl_slist *value);
CURLcode pgb_curl_setopt_write_callback(CURL *handle, size_t (*callback)(char *, size_t, size_t, void *));
CURLcode pgb_curl_setopt_read_callback(CURL *handle, size_t (*callback)(char *, size_t, size_t, void *));
CURLcode pgb_curl_setopt_header_callback(CURL *handle, size_t (*callback)(char *, size_t, size_t, void *));
CURLcode pgb_curl_getinfo_long(CURL *handle, CURLINFO info, long *value);
CURLcode pgb_curl_getinfo_off(CURL *handle, CURLINFO info, curl_off_t *value);
