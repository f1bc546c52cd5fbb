/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* relayout library: umbrella header. */
#ifndef RELAYOUT_RELAYOUT_H
#define RELAYOUT_RELAYOUT_H
#include <relayout/fs.h>
#define RELAYOUT_API_VERSION 1
#endif
