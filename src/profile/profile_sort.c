/* profile_sort.c: the six sort orders of GET /api/v1/profiles and their
 * parser. The order is part of every cursor and cache key, so it is an enum
 * here, never text past the parser. Every order breaks ties by id in the same
 * direction (see profile_db.c), which makes it total. */
#include "profile/profile.h"

#include <string.h>
#include <strings.h>

static const struct {
    const char *field;
    const char *dir;
    const char *name;
} sorts[PROFILE_SORT__COUNT] = {
    [PROFILE_SORT_CREATED_DESC] = { "createdAt", "desc", "createdAt,desc" },
    [PROFILE_SORT_CREATED_ASC] = { "createdAt", "asc", "createdAt,asc" },
    [PROFILE_SORT_NAME_ASC] = { "name", "asc", "name,asc" },
    [PROFILE_SORT_NAME_DESC] = { "name", "desc", "name,desc" },
    [PROFILE_SORT_VIEWS_DESC] = { "viewCount", "desc", "viewCount,desc" },
    [PROFILE_SORT_VIEWS_ASC] = { "viewCount", "asc", "viewCount,asc" },
};

int profile_sort_parse(const char *s, profile_sort_t *out)
{
    if (s == NULL) {
        *out = PROFILE_SORT_CREATED_DESC;
        return 0;
    }
    const char *comma = strchr(s, ',');
    if (comma == NULL)
        return -1; /* the direction is required: no silent default */
    size_t flen = (size_t)(comma - s);
    const char *dir = comma + 1;
    for (int i = 0; i < PROFILE_SORT__COUNT; i++) {
        if (strlen(sorts[i].field) == flen && memcmp(s, sorts[i].field, flen) == 0 &&
            strcasecmp(dir, sorts[i].dir) == 0) {
            *out = (profile_sort_t)i;
            return 0;
        }
    }
    return -1;
}

const char *profile_sort_name(profile_sort_t s)
{
    return (s >= 0 && s < PROFILE_SORT__COUNT) ? sorts[s].name : "?";
}

bool profile_sort_by_name(profile_sort_t s)
{
    return s == PROFILE_SORT_NAME_ASC || s == PROFILE_SORT_NAME_DESC;
}
