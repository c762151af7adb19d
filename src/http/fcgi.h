/* fcgi.h: the FastCGI side of the HTTP layer (libfcgi request <-> http_req_t).
 *
 * libfcgi facts this respects: the request body is read to EOF before the
 * request finishes (leftover stdin would corrupt a kept connection);
 * CONTENT_LENGTH is capped (a larger body is drained, bounded, and answered
 * 413); the params are copied into the arena because libfcgi frees them at
 * FCGX_Finish_r. */
#ifndef MA_HTTP_FCGI_H
#define MA_HTTP_FCGI_H

#include "http/http.h"

#include <fcgiapp.h>

/* Fills r from the accepted request; reads the body (up to max_body bytes).
 * Returns 0, or -1 when the body stopped arriving (a read error or the
 * socket's read timeout): then r must not be dispatched. r->admin is not
 * set here: the server knows which socket the request came from. */
int http_fcgi_read(http_req_t *r, FCGX_Request *fr, size_t max_body);

/* Writes r's response to the request's stdout. Returns 0, or -1 when the
 * web server went away (the response is lost; nothing else to do). */
int http_fcgi_write(http_req_t *r, FCGX_Request *fr);

#endif
