/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"
#include "output.h"
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "session.h"

static const struct {
	uint32_t flag;
	const char *name;
} extent_flag_names[] = {
    {RL_EXT_LAST, "last"},
    {RL_EXT_UNKNOWN, "unknown"},
    {RL_EXT_DELALLOC, "delalloc"},
    {RL_EXT_ENCODED, "encoded"},
    {RL_EXT_ENCRYPTED, "encrypted"},
    {RL_EXT_NOT_ALIGNED, "not_aligned"},
    {RL_EXT_DATA_INLINE, "inline"},
    {RL_EXT_DATA_TAIL, "tail"},
    {RL_EXT_UNWRITTEN, "unwritten"},
    {RL_EXT_MERGED, "merged"},
    {RL_EXT_SHARED, "shared"},
};

int out_json_emit(struct rl_session *s, cJSON *obj)
{
	char *text;

	if (!obj)
		return -ENOMEM;
	if (s->cur_cmd && !cJSON_GetObjectItemCaseSensitive(obj, "command")) {
		/* Put "command" first: easier to read in a stream. */
		cJSON *wrap = cJSON_CreateObject();

		if (!wrap || !cJSON_AddStringToObject(wrap, "command",
		                                      s->cur_cmd)) {
			cJSON_Delete(wrap);
			cJSON_Delete(obj);
			return -ENOMEM;
		}
		while (obj->child) {
			cJSON *it = cJSON_DetachItemViaPointer(obj, obj->child);
			const char *key = it->string;
			it->string = NULL;
			cJSON_AddItemToObject(wrap, key, it);
			free((char *)key);
		}
		cJSON_Delete(obj);
		obj = wrap;
	}
	text = cJSON_PrintUnformatted(obj);
	cJSON_Delete(obj);
	if (!text)
		return -ENOMEM;
	fprintf(s->out, "%s\n", text);
	fflush(s->out);
	free(text);
	return 0;
}

void out_json_error(struct rl_session *s, const char *msg)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return;
	cJSON_AddStringToObject(o, "error", msg);
	out_json_emit(s, o);
}

cJSON *out_add_u64(cJSON *obj, const char *key, uint64_t v)
{
	if (v <= (1ull << 53))
		return cJSON_AddNumberToObject(obj, key, (double)v);
	char buf[32];
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return cJSON_AddStringToObject(obj, key, buf);
}

void out_extent_flags(uint32_t flags, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < sizeof(extent_flag_names) /
	                           sizeof(extent_flag_names[0]);
	     i++) {
		if (!(flags & extent_flag_names[i].flag) ||
		    extent_flag_names[i].flag == RL_EXT_LAST)
			continue;
		int n = snprintf(buf + used, size - used, "%s%s",
		                 used ? "," : "", extent_flag_names[i].name);
		if (n < 0 || (size_t)n >= size - used)
			break;
		used += (size_t)n;
	}
}

cJSON *out_extents_json(const struct rl_extent *ext, size_t n)
{
	cJSON *arr = cJSON_CreateArray();

	if (!arr)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		cJSON *e = cJSON_CreateObject();
		cJSON *fl = cJSON_CreateArray();

		if (!e || !fl) {
			cJSON_Delete(e);
			cJSON_Delete(fl);
			cJSON_Delete(arr);
			return NULL;
		}
		out_add_u64(e, "logical", ext[i].logical);
		out_add_u64(e, "physical", ext[i].physical);
		out_add_u64(e, "length", ext[i].length);
		for (size_t k = 0; k < sizeof(extent_flag_names) /
		                           sizeof(extent_flag_names[0]);
		     k++)
			if (ext[i].flags & extent_flag_names[k].flag)
				cJSON_AddItemToArray(
				    fl, cJSON_CreateString(
				            extent_flag_names[k].name));
		cJSON_AddItemToObject(e, "flags", fl);
		cJSON_AddItemToArray(arr, e);
	}
	return arr;
}
