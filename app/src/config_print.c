#include "config_table.h"
#include "db.h"

#include <stdio.h>
#include <string.h>

/*
 * The settings printed from the table: their values (`sqlite-fcgi config`),
 * and what each is (`config --list`, `--markdown` for README.md, `--names`
 * for what the tests clear).  The prints are not checked one by one: a
 * failed write sets the stream's error flag, which the caller checks once
 * at the end (main.c, output_done).
 */

static void setting_print_value(const struct setting *s, const struct config *cfg,
				FILE *out)
{
	const void *field = (const char *)cfg + s->offset;

	switch (s->type) {
	case SETTING_PATH:
	case SETTING_ENDPOINTS:
	case SETTING_ADDRESSES:
		fputs(field, out);
		break;
	case SETTING_CHOICE:
		fputs(config_choice_name(s->choices, s->nchoices, *(const int *)field), out);
		break;
	case SETTING_LONG:
		fprintf(out, "%ld", *(const long *)field);
		break;
	case SETTING_DATABASE_URL: {
		char masked[CONFIG_URL_MAX + 16];

		/* Empty for SQLite: DB_PATH names the file. */
		db_mask_url(cfg, masked, sizeof(masked));
		fputs(masked, out);
		break;
	}
	}
}

void config_print(const struct config *cfg, FILE *out)
{
	for (size_t i = 0; i < config_nsettings; i++) {
		fprintf(out, "%s=", config_settings[i].name);
		setting_print_value(&config_settings[i], cfg, out);
		fputc('\n', out);
	}
}

/* What is allowed, as "a, b or c" or "0-600000" (quoted for markdown). */
static void setting_print_allowed(const struct setting *s, const char *q, FILE *out)
{
	switch (s->type) {
	case SETTING_PATH:
		fputs("a path", out);
		break;
	case SETTING_CHOICE:
		for (size_t i = 0; i < s->nchoices; i++)
			fprintf(out, "%s%s%s%s", i == 0 ? "" : i + 1 < s->nchoices ? ", " : " or ",
				q, s->choices[i].name, q);
		break;
	case SETTING_LONG:
		fprintf(out, "%s%ld%s to %s%ld%s", q, s->min, q, q, s->max, q);
		break;
	case SETTING_DATABASE_URL:
		fprintf(out, "%spostgres://...%s, %spostgresql://...%s or %ssqlite:///PATH%s",
			q, q, q, q, q, q);
		break;
	case SETTING_ENDPOINTS:
		if (s->min == 1)
			fprintf(out, "%sADDR:PORT%s", q, q);
		else
			fprintf(out, "%sHOST:PORT%s, %sunix:/PATH%s or %s/PATH%s, comma-separated",
				q, q, q, q, q, q);
		break;
	case SETTING_ADDRESSES:
		fprintf(out, "IPv4 or IPv6 %sADDR%s or %sADDR/BITS%s, comma-separated", q, q, q, q);
		break;
	}
}

static void setting_print_default(const struct setting *s, const char *q, FILE *out)
{
	if (s->computed != NULL)
		fputs(s->computed_text, out);
	else if (s->tuned[0] == '\0')
		fputs("unset", out);
	else if (s->django != NULL && strcmp(s->django, s->tuned) != 0)
		fprintf(out, "%s%s%s (django-default: %s%s%s)", q, s->tuned, q, q,
			s->django, q);
	else
		fprintf(out, "%s%s%s", q, s->tuned, q);
}

static void list_text(FILE *out)
{
	for (size_t i = 0; i < config_nsettings; i++) {
		const struct setting *s = &config_settings[i];

		fprintf(out, "%s\n    %s\n    allowed: ", s->name, s->help);
		setting_print_allowed(s, "", out);
		fputs("; default: ", out);
		setting_print_default(s, "", out);
		fputc('\n', out);
	}
}

static void list_markdown(FILE *out)
{
	fputs("| variable | default | allowed | meaning |\n"
	      "| --- | --- | --- | --- |\n", out);
	for (size_t i = 0; i < config_nsettings; i++) {
		const struct setting *s = &config_settings[i];

		fprintf(out, "| `%s` | ", s->name);
		setting_print_default(s, "`", out);
		fputs(" | ", out);
		setting_print_allowed(s, "`", out);
		fprintf(out, " | %s |\n", s->help);
	}
}

void config_list(enum config_listing how, FILE *out)
{
	if (how == CONFIG_LIST_MARKDOWN) {
		list_markdown(out);
		return;
	}
	if (how == CONFIG_LIST_TEXT) {
		list_text(out);
		return;
	}
	for (size_t i = 0; i < config_nsettings; i++) {
		fprintf(out, "%s\n", config_settings[i].name);
		if (config_settings[i].alias != NULL)
			fprintf(out, "%s\n", config_settings[i].alias);
	}
}
