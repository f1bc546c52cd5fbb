/* SPDX-License-Identifier: GPL-2.0-or-later */
/* libFuzzer harness: the command tokenizer and parser (cmd_split +
 * cmd_parse) on one line of arbitrary bytes. */
#include "config.h"
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include "commands.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *line = malloc(size + 1);
	char ***cmds;
	size_t n;

	if (!line)
		return 0;
	memcpy(line, data, size);
	line[size] = '\0';
	if (cmd_split(line, &cmds, &n) == 0) {
		for (size_t i = 0; i < n; i++) {
			struct cmd_call c;
			char err[1024];
			int argc = 0;

			while (cmds[i][argc])
				argc++;
			if (cmd_parse(argc, cmds[i], &c, err, sizeof(err)) ==
			    CMD_OK) {
				/* Every positional argument and option value
				 * points into the words. */
				for (int k = 0; k < c.argc; k++)
					(void)strlen(c.argv[k]);
				for (int k = 0; k < CMD_MAX_OPTS; k++)
					if (c.optval[k])
						(void)strlen(c.optval[k]);
				if (c.argv[c.argc] != NULL)
					abort();
			} else if (!memchr(err, '\0', sizeof(err))) {
				abort();
			}
		}
		cmd_free_split(cmds, n);
	}
	free(line);
	return 0;
}
