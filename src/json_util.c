/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "config.h"
#include "json_util.h"
#include <inttypes.h>
#include <stdio.h>

cJSON *ju_u64(uint64_t v)
{
	char buf[24];

	if (v <= JU_EXACT_MAX)
		return cJSON_CreateNumber((double)v);
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return cJSON_CreateString(buf);
}

cJSON *ju_add_u64(cJSON *obj, const char *key, uint64_t v)
{
	cJSON *it = ju_u64(v);

	if (!it || !cJSON_AddItemToObject(obj, key, it)) {
		cJSON_Delete(it);
		return NULL;
	}
	return it;
}
