/* Finds where a JSON pointer points in JSON text, so that errors found after
 * parsing (wrong types, missing fields) can still name a line and column.
 * A small read-only scanner; it assumes the text already parsed. */
#ifndef VX_CORE_JSONPOS_H
#define VX_CORE_JSONPOS_H

#include <stddef.h>
#include <stdint.h>

/* Sets 1-based line and column of the value at `pointer` (or of the deepest
 * existing ancestor); both 0 when the text cannot be scanned. */
void vx__json_locate(const char *text, size_t len, const char *pointer,
                     uint32_t *line, uint32_t *column);

/* Line and byte column (1-based) of byte offset `pos` in `text`. */
void vx__json_pos_of(const char *text, size_t len, size_t pos, uint32_t *line,
                     uint32_t *column);

/* Position of a jansson parse error, with the column in bytes (jansson
 * counts characters): the bytes consumed on the error's line, at least 1. */
void vx__json_error_pos(const char *text, size_t len, size_t pos,
                        uint32_t *line, uint32_t *column);

/* A tolerant scanner over JSON text, for splitting a large document into
 * values that are then parsed (and validated) one by one.
 * vx__json_skip_ws: the position after white space at `pos`.
 * vx__json_skip_value: skips the value after white space at `pos`, storing
 * where it starts in `*start`; returns the position after it, or 0 when the
 * text ends first. It checks nesting and strings, not the grammar inside. */
size_t vx__json_skip_ws(const char *text, size_t len, size_t pos);
size_t vx__json_skip_value(const char *text, size_t len, size_t pos,
                           size_t *start);

#endif
