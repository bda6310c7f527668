#include "config.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "config_table.h"
#include "config_value.h"

/*
 * The environment read once, row by row of the table (config.c): each
 * variable's value, or the row's default for the profile, stored by
 * config_value.c; then the rules that tie settings together.
 */

static const char *getenv_const(const char *name)
{
	return getenv(name);
}

/* Unset and empty both mean "use the default", as git_env_* does. */
static const char *env_value(config_getenv_fn get, const char *name)
{
	const char *v = name != NULL ? get(name) : NULL;

	return (v != NULL && v[0] != '\0') ? v : NULL;
}

static const char *setting_default(const struct setting *s, enum config_profile p)
{
	return (p == PROFILE_DJANGO_DEFAULT && s->django != NULL) ? s->django : s->tuned;
}

static int setting_load(const struct setting *s, struct config *cfg,
			config_getenv_fn get, char *err, size_t errlen)
{
	const char *v = env_value(get, s->name);

	if (v != NULL)
		return setting_store(s, s->name, v, cfg, err, errlen);
	v = env_value(get, s->alias);
	if (v != NULL)
		return setting_store(s, s->alias, v, cfg, err, errlen);
	if (s->computed != NULL)
		return s->computed(cfg, err, errlen);
	return setting_store(s, s->name, setting_default(s, cfg->profile), cfg,
			     err, errlen);
}

int config_load(struct config *cfg, config_getenv_fn get, char *err, size_t errlen)
{
	if (get == NULL)
		get = getenv_const;
	memset(cfg, 0, sizeof(*cfg));
	cfg->profile = PROFILE_TUNED;
	for (size_t i = 0; i < config_nsettings; i++)
		if (setting_load(&config_settings[i], cfg, get, err, errlen) != 0)
			return -1;
	return check_group_commit(cfg, err, errlen);
}
