/*
 * A minimal streaming JSON writer for windmp --json
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#include <inttypes.h>
#include "json.h"

void json_init(Json *j, FILE *f)
{
    j->f = f;
    j->depth = 0;
    j->need_comma[0] = false;
}

static void put_string(Json *j, const char *s)
{
    fputc('"', j->f);
    for (; *s; s++) {
        unsigned char c = *s;

        if (c == '"' || c == '\\') {
            fprintf(j->f, "\\%c", c);
        } else if (c < 0x20) {
            fprintf(j->f, "\\u%04x", c);
        } else {
            fputc(c, j->f);
        }
    }
    fputc('"', j->f);
}

static void key(Json *j, const char *k)
{
    if (j->need_comma[j->depth]) {
        fputc(',', j->f);
    }
    j->need_comma[j->depth] = true;
    if (k) {
        put_string(j, k);
        fputc(':', j->f);
    }
}

static void begin(Json *j, const char *k, char c)
{
    key(j, k);
    fputc(c, j->f);
    if (j->depth + 1 < JSON_MAX_DEPTH) {
        j->depth++;
    }
    j->need_comma[j->depth] = false;
}

void json_object(Json *j, const char *k)
{
    begin(j, k, '{');
}

void json_array(Json *j, const char *k)
{
    begin(j, k, '[');
}

void json_end(Json *j, char close)
{
    fputc(close, j->f);
    if (j->depth) {
        j->depth--;
    }
}

void json_str(Json *j, const char *k, const char *val)
{
    key(j, k);
    put_string(j, val);
}

void json_uint(Json *j, const char *k, uint64_t val)
{
    key(j, k);
    fprintf(j->f, "%" PRIu64, val);
}

void json_hex(Json *j, const char *k, uint64_t val)
{
    key(j, k);
    fprintf(j->f, "\"0x%" PRIx64 "\"", val);
}

void json_bool(Json *j, const char *k, bool val)
{
    key(j, k);
    fputs(val ? "true" : "false", j->f);
}

void json_null(Json *j, const char *k)
{
    key(j, k);
    fputs("null", j->f);
}

void json_finish(Json *j)
{
    fputc('\n', j->f);
}
