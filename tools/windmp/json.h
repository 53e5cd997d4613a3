/*
 * A minimal streaming JSON writer for windmp --json
 *
 * Addresses are written as "0x..." strings: they do not fit in the
 * doubles that many JSON readers use for numbers.
 *
 * SPDX-License-Identifier: GPL-2.0-or-later
 */

#ifndef WINDMP_JSON_H
#define WINDMP_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

typedef struct Json {
    FILE *f;
    int depth;
    bool need_comma[JSON_MAX_DEPTH];
} Json;

void json_init(Json *j, FILE *f);
/* @key is NULL inside arrays */
void json_object(Json *j, const char *key);
void json_array(Json *j, const char *key);
void json_end(Json *j, char close);
void json_str(Json *j, const char *key, const char *val);
void json_uint(Json *j, const char *key, uint64_t val);
void json_hex(Json *j, const char *key, uint64_t val);
void json_bool(Json *j, const char *key, bool val);
void json_null(Json *j, const char *key);
void json_finish(Json *j);

#endif
